"""The engine hooks the streaming policy relies on: preview, dry-run plans, versions, refits."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from patrol.config import EngineConfig
from patrol.engine import Engine, Outcome, route_key
from patrol.incidents.profile import CityProfile
from patrol.incidents.schema import Incident
from patrol.planning import SHIFTS, shift_bounds

DAY = date(2016, 9, 20)


def _state(engine: Engine) -> str:
    return json.dumps(engine.to_dict(), sort_keys=True)


def _variant(inc: Incident, kind: int, k: int) -> Incident:
    """0: as is; 1: revised later; 2: an older version; 3: occurred a year earlier."""
    base = inc.updated_at or inc.occurred_at
    if kind == 1:
        return replace(inc, arrest=not inc.arrest, updated_at=base + timedelta(days=k + 1))
    if kind == 2:
        return replace(inc, arrest=not inc.arrest, updated_at=base - timedelta(days=k + 1))
    if kind == 3:
        return replace(inc, id=f"old-{inc.id}", occurred_at=inc.occurred_at - timedelta(days=400))
    return inc


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, 59), st.integers(0, 3), st.integers(0, 5)), max_size=80))
def test_preview_says_what_ingest_does(chicago: CityProfile, district8_september, ops) -> None:
    engine = Engine(chicago, EngineConfig(retention_days=30))
    pool = district8_september[:60]
    for i, kind, k in ops:
        inc = _variant(pool[i], kind, k)
        expected = engine.preview(inc)
        before = _state(engine)
        assert engine.preview(inc) is expected and _state(engine) == before  # changes nothing
        assert engine.ingest(inc) is expected


def test_preview_knows_late_and_expired_records(chicago: CityProfile, district8_september) -> None:
    engine = Engine(chicago, EngineConfig(retention_days=5))
    first, last = district8_september[0], district8_september[-1]
    assert engine.preview(first) is Outcome.NEW
    engine.ingest(first)
    assert engine.preview(first) is Outcome.DUPLICATE
    assert engine.preview(last) is Outcome.NEW
    engine.ingest(last)  # 29 days later: the first record expires
    assert engine.preview(first) is Outcome.LATE
    assert engine.ingest(first) is Outcome.LATE
    assert Outcome.NEW.learned and Outcome.REVISION.learned and not Outcome.STALE.learned


def test_a_dry_run_plan_changes_nothing(chicago: CityProfile, district8_september) -> None:
    engine = Engine(chicago, EngineConfig())
    for inc in district8_september:
        engine.ingest(inc)
    shift = SHIFTS[1]
    start = shift_bounds(DAY, shift, engine.tz)[0]
    before = _state(engine)
    dry = engine.plan("8", DAY, shift, generated_at=start, dry_run=True)
    assert dry is not None and dry.version == 1
    assert _state(engine) == before  # no refit kept, no version taken
    assert engine.plan("8", DAY, shift, generated_at=start, dry_run=True) == dry
    real = engine.plan("8", DAY, shift, generated_at=start)
    assert real is not None and real.to_geojson() == dry.to_geojson()
    assert _state(engine) != before  # the real plan refit the clusters and took version 1
    assert engine.districts["8"].versions == {route_key(DAY, shift): 1}
    second = engine.plan("8", DAY, shift, generated_at=start, dry_run=True)
    assert second is not None and second.version == 2
    engine.commit_version(second)
    engine.commit_version(real)  # never goes back
    assert engine.districts["8"].versions[route_key(DAY, shift)] == 2


def test_adopting_a_recorded_refit_equals_refitting(
    chicago: CityProfile, district8_september
) -> None:
    a, b = Engine(chicago), Engine(chicago)
    for inc in district8_september:
        a.ingest(inc)
        b.ingest(inc)
    start = shift_bounds(DAY, SHIFTS[0], a.tz)[0]
    a.plan("8", DAY, SHIFTS[0], generated_at=start)
    clustering = a.districts["8"].model.clusterer.clustering
    assert clustering is not None
    b.adopt_clustering("8", clustering)
    b.districts["8"].versions.update(a.districts["8"].versions)
    assert _state(b) == _state(a)
    b.drop_district("8")
    assert "8" not in b.districts


def test_a_forecast_keeps_the_last_clusters_even_when_stale(
    chicago: CityProfile, district8_september
) -> None:
    engine = Engine(chicago, EngineConfig())
    half = len(district8_september) // 2
    for inc in district8_september[:half]:
        engine.ingest(inc)
    first = shift_bounds(DAY, SHIFTS[0], engine.tz)[0]
    engine.plan("8", DAY, SHIFTS[0], generated_at=first)
    fitted = engine.districts["8"].model.clusterer.clustering
    assert fitted is not None
    for inc in district8_september[half:]:  # doubles the mass: the clusters are stale
        engine.ingest(inc)
    later = DAY + timedelta(days=1)
    start = shift_bounds(later, SHIFTS[1], engine.tz)[0]
    assert engine.districts["8"].model.clusterer.is_stale(start.timestamp() / 86_400.0)
    before = _state(engine)
    dry = engine.plan("8", later, SHIFTS[1], generated_at=start, dry_run=True)
    assert dry is not None and dry.model["clusters_fitted_at"] == fitted.fitted_at
    assert _state(engine) == before
    real = engine.plan("8", later, SHIFTS[1], generated_at=start)
    assert real is not None and real.model["clusters_fitted_at"] == start.timestamp() / 86_400.0
