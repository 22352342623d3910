"""The route backtest driver on real incidents of district 8 (bundled sample, Sept 2016).

The no-look-ahead tests change everything from a shift's start onwards and require every
planner except the oracle to plan exactly the same stops for that shift; the forecaster behind
the optimiser's sites must not see anything from the day's midnight on.
"""

from __future__ import annotations

import dataclasses
from datetime import date
from typing import Any

import numpy as np
import pytest

from patrol.engine import Engine
from patrol.evaluation.route_backtest import (
    DEFAULT_PLANNERS,
    PLANNERS,
    RouteBacktestConfig,
    ShiftRecord,
    run_route_backtest,
)
from patrol.evaluation.route_forecast import forecast_levels
from patrol.forecast import LookAheadError
from patrol.incidents.profile import CityProfile
from patrol.incidents.schema import Incident
from patrol.planning import SHIFTS, Shift, SolverOptions, shift_bounds

DAY = date(2016, 9, 26)
SLOTS = [(DAY, SHIFTS[0]), (DAY, SHIFTS[2])]


def _run(
    incidents: list[Incident],
    chicago: CityProfile,
    slots: list[tuple[date, Shift]],
    **cfg: Any,
) -> list[ShiftRecord]:
    # a generous cap: greedy descent then always reaches its (deterministic) local optimum,
    # however loaded the machine is
    cfg.setdefault("planners", PLANNERS)
    config = RouteBacktestConfig(solver=SolverOptions(time_limit_s=60.0), **cfg)
    return run_route_backtest(incidents, chicago, slots, districts={"8"}, config=config)


@pytest.fixture(scope="module")
def records(district8_september: list[Incident], chicago: CityProfile) -> list[ShiftRecord]:
    return _run(district8_september, chicago, SLOTS)


def _stops(records: list[ShiftRecord], shift: str) -> dict[str, tuple[list[float], ...]]:
    return {
        r.planner: (r.visits.x.tolist(), r.visits.y.tolist(), r.visits.arrival_s.tolist())
        for r in records
        if r.shift == shift
    }


def test_every_planner_on_the_same_district_shifts(
    records: list[ShiftRecord], district8_september: list[Incident], chicago: CityProfile
) -> None:
    assert {(r.day, r.shift) for r in records} == {(d, s.label) for d, s in SLOTS}
    for day, shift in SLOTS:
        mine = [r for r in records if (r.day, r.shift) == (day, shift.label)]
        assert [r.planner for r in mine] == list(PLANNERS)
        start, end = shift_bounds(day, shift, chicago.zone)
        actual = sum(start <= i.occurred_at < end for i in district8_september)
        assert actual > 0
        for r in mine:
            c = r.coverage
            assert c.incidents == actual
            assert c.in_presence <= c.in_time <= c.spatial <= c.incidents
    by_planner = {r.planner: r for r in records if r.shift == SLOTS[1][1].label}
    # the CPSPA family shares its way-points (only the order differs): same spatial coverage
    same = {by_planner[p].coverage.spatial for p in ("cpspa", "nearest", "random")}
    assert len(same) == 1
    assert sorted(by_planner["cpspa"].visits.x.tolist()) == sorted(
        by_planner["nearest"].visits.x.tolist()
    )
    # the optimiser's stops fill the 8-hour shift; CPSPA's route ends long before
    assert by_planner["optimizer"].coverage.time_s == pytest.approx(8 * 3600.0)
    assert by_planner["cpspa"].coverage.time_s < 8 * 3600.0


@pytest.mark.parametrize("slot", SLOTS, ids=lambda s: f"{s[0]}_{s[1].label}")
def test_no_look_ahead(
    slot: tuple[date, Shift], district8_september: list[Incident], chicago: CityProfile
) -> None:
    start, _ = shift_bounds(slot[0], slot[1], chicago.zone)
    moved = [
        dataclasses.replace(i, latitude=i.latitude + 0.01, longitude=i.longitude - 0.01)
        if i.occurred_at >= start
        else i
        for i in district8_september
    ]
    dropped = [i for i in district8_september if i.occurred_at < start]
    base = _stops(_run(district8_september, chicago, [slot]), slot[1].label)
    for future in (moved, dropped):
        other = _stops(_run(future, chicago, [slot]), slot[1].label)
        for planner in PLANNERS:
            if planner != "oracle":
                assert other[planner] == base[planner], f"{planner} saw the shift's incidents"
    # the oracle does see them (so the change above is a real one)
    assert _stops(_run(moved, chicago, [slot]), slot[1].label)["oracle"] != base["oracle"]


def test_the_past_does_change_the_plans(
    district8_september: list[Incident], chicago: CityProfile
) -> None:
    """Control for the no-look-ahead test: moving the last days before the shift matters."""
    slot = SLOTS[1]
    start, _ = shift_bounds(slot[0], slot[1], chicago.zone)
    recent = start.timestamp() - 3 * 86_400
    moved = [
        dataclasses.replace(i, latitude=i.latitude + 0.01)
        if recent <= i.occurred_at.timestamp() < start.timestamp()
        else i
        for i in district8_september
    ]
    base = _stops(_run(district8_september, chicago, [slot], planners=("optimizer",)), "16-24")
    other = _stops(_run(moved, chicago, [slot], planners=("optimizer",)), "16-24")
    assert other["optimizer"] != base["optimizer"]


def test_two_units_cover_as_a_team(
    district8_september: list[Incident], chicago: CityProfile
) -> None:
    one = _run(district8_september, chicago, [SLOTS[1]], planners=("optimizer",))
    two = _run(district8_september, chicago, [SLOTS[1]], planners=("optimizer",), units=2)
    assert two[0].coverage.time_s == pytest.approx(2 * 8 * 3600.0)
    xy = np.stack([two[0].visits.x, two[0].visits.y])
    assert (
        np.unique(xy, axis=1).shape[1]
        > np.unique(np.stack([one[0].visits.x, one[0].visits.y]), axis=1).shape[1]
    )


def test_the_forecaster_changes_the_optimisers_sites(records: list[ShiftRecord]) -> None:
    by_planner = {r.planner: r for r in records if r.shift == SLOTS[1][1].label}
    boosted, counts = by_planner["optimizer"].visits, by_planner["optimizer-counts"].visits
    assert (boosted.x.tolist(), boosted.y.tolist()) != (counts.x.tolist(), counts.y.tolist())


def test_forecast_levels_learn_only_before_the_days_midnight(
    district8_september: list[Incident], chicago: CityProfile
) -> None:
    days = [date(2016, 9, 20), DAY]
    midnight = shift_bounds(DAY, SHIFTS[0], chicago.zone)[0]  # the 00-08 shift starts then
    engine = Engine(chicago)
    base = forecast_levels(district8_september, engine, days)
    before = [i for i in district8_september if i.occurred_at < midnight]
    moved = before + [
        dataclasses.replace(i, latitude=i.latitude + 0.01)
        for i in district8_september
        if i.occurred_at >= midnight
    ]
    for other in (before, moved):
        got = forecast_levels(other, engine, days)
        assert got.grid == base.grid
        for day in days:
            np.testing.assert_array_equal(got.by_day[day], base.by_day[day])
    # control: the days before do change the level of the later day
    shifted = [
        dataclasses.replace(i, latitude=i.latitude + 0.01)
        if days[0] <= i.occurred_at.date() < DAY
        else i
        for i in district8_september
    ]
    other = forecast_levels(shifted, engine, days)
    assert not np.array_equal(other.by_day[DAY], base.by_day[DAY])


def test_the_forecaster_refuses_to_look_ahead(
    district8_september: list[Incident], chicago: CityProfile
) -> None:
    from patrol.evaluation.events import events_from_incidents
    from patrol.evaluation.grid import Grid
    from patrol.forecast import BoostedCells

    engine = Engine(chicago)
    ev = events_from_incidents(district8_september, engine.projection)
    grid = Grid.covering(ev.x.min(), ev.y.min(), ev.x.max(), ev.y.max(), 150.0)
    model = BoostedCells(n_origins=4).fit(ev, grid)
    with pytest.raises(LookAheadError):
        model.predict(np.arange(3), float(ev.t[len(ev) // 2]), 7.0)


def test_default_planners() -> None:
    assert RouteBacktestConfig().planners == DEFAULT_PLANNERS
    assert "optimizer-counts" not in DEFAULT_PLANNERS
    assert RouteBacktestConfig().uses_forecaster
    assert not RouteBacktestConfig(risk="counts").uses_forecaster


def test_config_is_checked() -> None:
    with pytest.raises(ValueError, match="risk"):
        RouteBacktestConfig(risk="magic")
    with pytest.raises(ValueError, match="planners"):
        RouteBacktestConfig(planners=("cpspa", "magic"))
    with pytest.raises(ValueError, match="units"):
        RouteBacktestConfig(units=0)
