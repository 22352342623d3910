"""The emission policy (patrol.policy) on hand-built and real incident sequences."""

from __future__ import annotations

import io
import itertools
import json
import random
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from patrol.config import EngineConfig
from patrol.engine import Engine, Outcome
from patrol.incidents.parse import read_csv
from patrol.incidents.profile import CityProfile
from patrol.incidents.schema import Incident
from patrol.planning import SHIFTS, shift_bounds
from patrol.policy import EmissionPolicy, Fingerprint, PolicyConfig, material_change, next_shift
from patrol.routes import Route
from simulators.embedded import replay, replay_stream

TZ = ZoneInfo("America/Chicago")
HOTSPOTS = [(41.775, -87.695), (41.790, -87.730), (41.760, -87.740)]  # inside district 8


def synthetic(n: int, start: datetime, step: timedelta, first_id: int = 0) -> list[Incident]:
    """``n`` district-8 incidents around three hotspots, one every ``step``."""
    rng = random.Random(first_id)
    out = []
    for i in range(n):
        lat, lon = HOTSPOTS[i % 3]
        out.append(
            Incident(
                id=f"s{first_id + i}",
                occurred_at=start + i * step,
                latitude=lat + rng.uniform(-0.002, 0.002),
                longitude=lon + rng.uniform(-0.002, 0.002),
                district="8",
            )
        )
    return out


def run_policy(
    chicago: CityProfile, incidents: Iterable[Incident], **cfg: object
) -> tuple[EmissionPolicy, list[Route], dict[str, list[dict[str, object]]]]:
    engine_cfg = EngineConfig(min_incidents=int(cfg.pop("min_incidents", 20)))  # type: ignore[call-overload]
    policy = EmissionPolicy(Engine(chicago, engine_cfg), PolicyConfig(**cfg))  # type: ignore[arg-type]
    routes: list[Route] = []
    history: dict[str, list[dict[str, object]]] = defaultdict(list)
    for inc in incidents:
        step = policy.process(inc)
        routes += step.routes
        if step.entry is not None:
            history[step.district].append(step.entry)
            assert step.seq == len(history[step.district])
    return policy, routes, dict(history)


def is_shift_start(route: Route) -> bool:
    shift = next(s for s in SHIFTS if s.label == route.shift)
    day = datetime.fromisoformat(route.date).date()
    return route.generated_at == shift_bounds(day, shift, TZ)[0]


def by_slot(routes: Iterable[Route]) -> dict[tuple[str, str, str], list[Route]]:
    out: dict[tuple[str, str, str], list[Route]] = defaultdict(list)
    for r in routes:
        out[(r.district, r.date, r.shift)].append(r)
    return dict(out)


@pytest.fixture(scope="module")
def two_districts(slicer: Callable[[set[str], int], str], chicago: CityProfile) -> list[Incident]:
    """Real incidents of districts 8 and 11, 1-5 Sept 2016, in event-time order."""
    batch = read_csv(io.StringIO(slicer({"008", "011"}, 5)), chicago)
    return sorted(batch.incidents, key=lambda i: i.occurred_at)


# -- hand-built sequences ---------------------------------------------------------------------
def test_each_shift_start_is_planned_once(chicago: CityProfile) -> None:
    start = datetime(2016, 9, 1, 0, 30, tzinfo=TZ)
    incidents = synthetic(3 * 24, start, timedelta(hours=1))  # three days, every hour
    _, routes, _ = run_policy(chicago, incidents, replan_every=10**6)
    assert routes and all(is_shift_start(r) for r in routes)
    slots = [(r.date, r.shift) for r in routes]
    assert len(slots) == len(set(slots))  # once per shift
    assert {r.version for r in routes} == {1}
    starts = [r.generated_at for r in routes]
    assert starts == sorted(starts)
    assert all(b - a == timedelta(hours=8) for a, b in itertools.pairwise(starts))
    # Each was planned from the incidents before its start only (20 warm-up incidents).
    assert starts[0] > incidents[19].occurred_at


def test_a_burst_gives_at_most_one_revised_route(chicago: CityProfile) -> None:
    start = datetime(2016, 9, 1, 0, 30, tzinfo=TZ)
    warm = synthetic(60, start, timedelta(minutes=20))  # 20 h: up to 16:30
    policy, _, _ = run_policy(chicago, warm, replan_every=25)
    burst_at = datetime(2016, 9, 1, 17, 0, tzinfo=TZ)
    burst = synthetic(25, burst_at, timedelta(seconds=30), first_id=1000)
    burst = [replace(b, latitude=41.745, longitude=-87.700) for b in burst]  # a new hotspot
    emitted = [r for b in burst for r in policy.process(b).routes]
    assert len(emitted) <= 1
    assert [(r.date, r.shift) for r in emitted] == [("2016-09-02", "00-08")]  # the next shift
    again = synthetic(10, burst_at + timedelta(minutes=20), timedelta(seconds=30), 2000)
    assert not [r for b in again for r in policy.process(b).routes]  # debounced


def test_versions_increase_by_one_per_emission(chicago: CityProfile, two_districts) -> None:
    _, routes, _ = run_policy(chicago, two_districts, replan_every=10, min_incidents=50)
    slots = by_slot(routes)
    assert any(len(v) > 1 for v in slots.values())
    for slot, rs in slots.items():
        assert [r.version for r in rs] == list(range(1, len(rs) + 1)), slot


def test_duplicates_and_stale_versions_trigger_nothing(chicago: CityProfile, two_districts) -> None:
    policy, _, _ = run_policy(chicago, two_districts, replan_every=10)

    def snapshot() -> str:
        cursors = {d: c.to_dict() for d, c in policy.cursors.items()}
        return json.dumps([policy.engine.to_dict(), cursors], sort_keys=True)

    before = snapshot()
    for inc in two_districts[-200:]:
        step = policy.process(inc)
        assert (step.outcome, step.routes, step.entry) == (Outcome.DUPLICATE, (), None)
    kept = two_districts[-1]
    older = replace(kept, arrest=not kept.arrest, updated_at=datetime(2017, 1, 1, tzinfo=TZ))
    step = policy.process(older)
    assert (step.outcome, step.routes, step.entry) == (Outcome.STALE, (), None)
    assert snapshot() == before
    newer = replace(older, updated_at=datetime(2018, 3, 1, tzinfo=TZ))
    step = policy.process(newer)
    assert step.outcome is Outcome.REVISION and step.entry is not None
    assert snapshot() != before


def test_an_unemitted_forecast_burns_no_version(
    chicago: CityProfile, two_districts, monkeypatch: pytest.MonkeyPatch
) -> None:
    import patrol.policy

    monkeypatch.setattr(patrol.policy, "material_change", lambda old, *a: old is None)
    _, routes, _ = run_policy(chicago, two_districts[:400], replan_every=5)
    slots = by_slot(routes)
    with_forecast = 0
    for rs in slots.values():  # at most the first forecast of a slot is emitted ...
        forecasts = [r for r in rs if not is_shift_start(r)]
        assert len(forecasts) <= 1
        with_forecast += len(forecasts)
        # ... and the shift-start plan takes the very next version: the many forecasts
        # planned and not emitted in between took none
        assert [r.version for r in rs] == list(range(1, len(rs) + 1))
    assert with_forecast >= 5
    assert len(routes) < len(two_districts[:400]) // 5  # most forecasts were not emitted


def test_catching_up_over_a_long_gap_is_bounded(chicago: CityProfile) -> None:
    start = datetime(2016, 9, 1, 0, 30, tzinfo=TZ)
    policy, _, _ = run_policy(chicago, synthetic(40, start, timedelta(hours=1)))
    late = synthetic(1, start + timedelta(days=20), timedelta(0), first_id=500)[0]
    step = policy.process(late)
    assert len(step.routes) == PolicyConfig().max_catchup_shifts
    assert max(r.generated_at for r in step.routes) <= late.occurred_at


def test_material_change_and_fingerprints() -> None:
    a = Fingerprint(((41.88, -87.63), (41.89, -87.64)), 2.0)
    assert Fingerprint.from_list(json.loads(json.dumps(a.to_list()))) == a
    assert material_change(None, a, 50.0, 0.05)
    assert not material_change(a, a, 50.0, 0.05)
    assert material_change(a, replace(a, points=a.points[:1]), 50.0, 0.05)
    moved = ((41.88 + 0.0006, -87.63), a.points[1])  # about 67 m north
    assert material_change(a, replace(a, points=moved), 50.0, 0.05)
    assert not material_change(a, replace(a, points=moved), 100.0, 0.05)
    d, s = next_shift(datetime(2016, 9, 5, 16, 0, tzinfo=TZ), TZ)
    assert (d.isoformat(), s.label) == ("2016-09-06", "00-08")
    with pytest.raises(ValueError):
        PolicyConfig(replan_every=0)


# -- recovery: entries rebuild the state exactly ------------------------------------------------
def test_history_entries_rebuild_the_state_exactly(chicago: CityProfile, two_districts) -> None:
    rng = random.Random(3)
    mixed = list(two_districts)
    for i in sorted(rng.sample(range(len(mixed) - 40), 30), reverse=True):
        x = mixed[i]
        later = (x.updated_at or x.occurred_at) + timedelta(days=2)
        mixed.insert(i + 40, replace(x, arrest=not x.arrest, updated_at=later))  # revisions
    mixed += two_districts[100:150]  # redeliveries
    half = len(mixed) // 2
    live, _, history = run_policy(chicago, mixed[:half], replan_every=10)
    restored = EmissionPolicy(Engine(chicago, live.engine.config), live.config)
    for district, entries in json.loads(json.dumps(history)).items():
        assert restored.restore(district, entries) == len(entries)
    state = json.dumps(live.engine.to_dict(), sort_keys=True)
    assert json.dumps(restored.engine.to_dict(), sort_keys=True) == state
    assert {d: c.to_dict() for d, c in restored.cursors.items()} == {
        d: c.to_dict() for d, c in live.cursors.items()
    }
    for inc in mixed[half:]:  # and both continue identically, routes included
        a, b = live.process(inc), restored.process(inc)
        assert [r.to_geojson() for r in a.routes] == [r.to_geojson() for r in b.routes]
        assert (a.entry, a.seq) == (b.entry, b.seq)


def test_restore_rejects_unknown_entries(chicago: CityProfile) -> None:
    policy = EmissionPolicy(Engine(chicago))
    with pytest.raises(ValueError, match="version"):
        policy.restore("8", [{"v": 99, "ops": []}])
    with pytest.raises(ValueError, match="unknown operation"):
        policy.restore("8", [{"v": 1, "ops": [["teleport"]]}])


# -- parity with the embedded mode --------------------------------------------------------------
def test_replay_stream_contains_what_run_plans_at_each_shift_start(
    chicago: CityProfile, two_districts
) -> None:
    stream = replay_stream(Engine(chicago), two_districts)
    run: list[Route] = []
    replay(Engine(chicago), two_districts, lambda d, s: True, run.append, progress=False)

    def content(r: Route) -> dict[str, object]:
        doc = r.to_geojson()
        doc.pop("version")
        return doc

    starts = {(r.district, r.date, r.shift): r for r in stream if is_shift_start(r)}
    assert len(starts) == len(run) > 20
    for r in run:  # the same features and totals, way-point for way-point
        assert content(starts[(r.district, r.date, r.shift)]) == content(r)
    revisions = [r for r in stream if not is_shift_start(r)]
    assert revisions and all(r.generated_at <= two_districts[-1].occurred_at for r in revisions)
    again = replay_stream(Engine(chicago), two_districts)  # deterministic
    assert [r.to_geojson() for r in again] == [r.to_geojson() for r in stream]
