"""The engine with ``planner="optimizer"``: routes that choose where as well as in what order."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from datetime import date

import numpy as np
import pytest

from patrol.config import EngineConfig
from patrol.engine import Engine, route_key
from patrol.incidents.profile import CityProfile
from patrol.incidents.schema import Incident
from patrol.planning import (
    SHIFTS,
    CellRisk,
    history_risk,
    select_sites,
    shift_bounds,
    shift_duration_s,
    shift_local_hours,
)
from patrol.routes import Route, validate_route_geojson

DAY = date(2016, 10, 1)  # the day after the fixture's last incident


def _engine(chicago: CityProfile, incidents: list[Incident], **cfg: object) -> Engine:
    engine = Engine(chicago, EngineConfig(planner="optimizer", **cfg))  # type: ignore[arg-type]
    for inc in incidents:
        engine.ingest(inc)
    return engine


def _plan(engine: Engine, shift_index: int, **kw: bool) -> list[Route]:
    shift = SHIFTS[shift_index]
    start = shift_bounds(DAY, shift, engine.tz)[0]
    return engine.plan_units("8", DAY, shift, generated_at=start, **kw)


def _cells(c: CellRisk) -> dict[tuple[int, int, int], float]:
    """Non-zero cells as ``(hour row, ix, iy) -> risk`` on the absolute 50 m grid."""
    out = {}
    for h, iy, ix in zip(*np.nonzero(c.risk), strict=True):
        key = (int(h), round(c.x0 / c.cell_m) + int(ix), round(c.y0 / c.cell_m) + int(iy))
        out[key] = float(c.risk[h, iy, ix])
    return out


def _reference(engine: Engine, incidents: list[Incident], shift_index: int) -> CellRisk:
    """history_risk on the raw incidents: what the learned state must reproduce."""
    shift = SHIFTS[shift_index]
    obs = [engine.observe(i) for i in incidents]
    return history_risk(
        [o.x for o in obs],
        [o.y for o in obs],
        [o.t for o in obs],
        [o.slot % 24 for o in obs],
        [o.slot // 24 for o in obs],
        now=shift_bounds(DAY, shift, engine.tz)[0].timestamp() / 86_400.0,
        hours=shift_local_hours(DAY, shift, engine.tz),
        weekday=DAY.weekday(),
        half_life_days=engine.config.half_life_days,
    )


@pytest.fixture(scope="module")
def planned(chicago: CityProfile, district8_september) -> tuple[Engine, list[list[Route]]]:
    engine = _engine(chicago, district8_september)
    return engine, [_plan(engine, i) for i in range(len(SHIFTS))]


def test_the_learned_risk_equals_the_decayed_counts_of_the_incidents(
    planned, district8_september
) -> None:
    engine, _ = planned
    for i, shift in enumerate(SHIFTS):
        ref = _cells(_reference(engine, district8_september, i))
        start = shift_bounds(DAY, shift, engine.tz)[0]
        got = _cells(
            engine.districts["8"].model.cell_risk(
                DAY.weekday(), shift_local_hours(DAY, shift, engine.tz), start.timestamp() / 86400
            )
        )
        assert got.keys() == ref.keys()
        assert all(got[k] == pytest.approx(ref[k], rel=1e-8) for k in ref)


def test_routes_are_valid_and_use_the_whole_shift(planned) -> None:
    engine, plans = planned
    for shift, routes in zip(SHIFTS, plans, strict=True):
        assert len(routes) == 1
        route = routes[0]
        assert validate_route_geojson(route.to_geojson()) == []
        assert route.planner == "optimizer" and route.to_geojson()["planner"] == "optimizer"
        assert route.unit == 1 and route.version == 1
        assert route.total_time_s >= 0.9 * shift_duration_s(DAY, shift, engine.tz)
        assert len(route.waypoints) >= 10  # many more stops than CPSPA's few clusters
        assert all(w.eta >= route.generated_at for w in route.waypoints)
        etas = [w.eta for w in route.waypoints]
        assert etas == sorted(etas)
        assert engine.districts["8"].versions[route_key(DAY, shift)] == 1


def test_routes_reach_the_highest_risk_sites(planned, district8_september) -> None:
    engine, plans = planned
    for i, routes in enumerate(plans):
        sites = select_sites(_reference(engine, district8_september, i), 25)
        wp = np.array(
            [engine.projection.forward(w.latitude, w.longitude) for w in routes[0].waypoints]
        )
        gap = np.hypot(wp[None, :, 0] - sites.x[:, None], wp[None, :, 1] - sites.y[:, None])
        reached = gap.min(axis=1) < 1.0
        assert reached[:5].all()  # the five discs of most risk
        assert sites.risk[reached].sum() >= 0.85 * sites.risk.sum()


def test_same_input_gives_identical_routes_whatever_the_arrival_order(
    chicago: CityProfile, district8_september, planned
) -> None:
    _, plans = planned
    shuffled = random.Random(5).sample(district8_september, len(district8_september))
    other = _engine(chicago, shuffled)
    for i, routes in enumerate(plans):
        again = _plan(other, i)
        assert [r.to_geojson() for r in again] == [r.to_geojson() for r in routes]


def test_a_dry_run_changes_nothing_and_equals_the_real_plan(
    chicago: CityProfile, district8_september
) -> None:
    engine = _engine(chicago, district8_september[:400])
    before = json.dumps(engine.to_dict(), sort_keys=True)
    dry = _plan(engine, 1, dry_run=True)
    assert json.dumps(engine.to_dict(), sort_keys=True) == before
    real = _plan(engine, 1)
    assert [r.to_geojson() for r in real] == [r.to_geojson() for r in dry]
    assert _plan(engine, 1, dry_run=True)[0].version == 2


def test_several_units_split_the_sites(chicago: CityProfile, district8_september) -> None:
    engine = _engine(chicago, district8_september, units=3, sites_per_unit=10)
    routes = _plan(engine, 2)
    assert [r.unit for r in routes] == [1, 2, 3]
    assert {r.version for r in routes} == {1}
    firsts = [{(w.latitude, w.longitude) for w in r.waypoints} for r in routes]
    assert all(f for f in firsts)
    assert not (firsts[0] & firsts[1] or firsts[0] & firsts[2] or firsts[1] & firsts[2])
    assert all(validate_route_geojson(r.to_geojson()) == [] for r in routes)
    assert engine.plan("8", DAY, SHIFTS[2], generated_at=routes[0].generated_at) is not None


def test_config_checks_units_and_planner() -> None:
    assert EngineConfig().planner == "cpspa" and EngineConfig().units == 1
    with pytest.raises(ValueError, match="units"):
        EngineConfig(units=2)  # CPSPA plans one unit
    with pytest.raises(ValueError, match="units"):
        EngineConfig(planner="optimizer", units=0)
    with pytest.raises(ValueError, match="planner"):
        EngineConfig(planner="optimiser")
    assert EngineConfig.from_dict(EngineConfig(planner="optimizer", units=2).to_dict()).units == 2


def test_ortools_is_imported_lazily_with_a_clear_error(
    chicago: CityProfile, district8_september, monkeypatch: pytest.MonkeyPatch
) -> None:
    code = "import sys, patrol.engine, patrol.policy; print('ortools' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
    engine = _engine(chicago, district8_september[:200])
    monkeypatch.setitem(sys.modules, "ortools.constraint_solver", None)
    with pytest.raises(ImportError, match="the 'optimize' extra"):
        _plan(engine, 0)
    with pytest.raises(ImportError, match="the 'optimize' extra"):  # a worker fails at start
        Engine(chicago, EngineConfig(planner="optimizer"))
    assert Engine(chicago).config.planner == "cpspa"  # the default needs no OR-Tools
