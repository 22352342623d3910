"""Candidate sites for the optimiser (risk per cell, forecaster level, greedy discs) and its
routes as GeoJSON."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime

import numpy as np
import pytest

from patrol.incidents.profile import CityProfile
from patrol.planner import plan_team
from patrol.planning import (
    SHIFTS,
    CellRisk,
    Sites,
    forecast_level,
    history_risk,
    relevel_risk,
    select_sites,
    shift_bounds,
    weekly_counts,
)
from patrol.routes import validate_route_geojson
from patrol.travel import StreetGridProvider


def test_history_risk_counts_by_hand() -> None:
    # cell (0, 0): three Monday-18h incidents; cell (2, 0): one Tuesday-18h; one Monday-19h at
    # (0, 0); one Monday-18h incident at the shift start itself (t == now: the future).
    x = [10.0, 20.0, 30.0, 110.0, 40.0, 10.0]
    y = [10.0, 10.0, 10.0, 10.0, 10.0, 10.0]
    t = [0.0, 7.0, 13.0, 1.0, 8.0, 14.0]
    hour = [18, 18, 18, 18, 19, 18]
    dow = [0, 0, 0, 1, 0, 0]
    r = history_risk(
        x,
        y,
        t,
        hour,
        dow,
        now=14.0,
        hours=[18, 19],
        weekday=0,
        half_life_days=math.inf,
        week_share=0.5,
    )
    # 14 days of history: 2 weeks, 14 days. Monday 18h at (0,0): 0.5 * 3/2 + 0.5 * 3/14
    assert r.cell_m == 50.0 and r.risk.shape == (2, 1, 3)
    assert r.risk[0, 0, 0] == pytest.approx(0.5 * 3 / 2 + 0.5 * 3 / 14)
    # Tuesday 18h at (2, 0) counts only in the hour-of-day part: 0.5 * 1/14
    assert r.risk[0, 0, 2] == pytest.approx(0.5 / 14)
    # Monday 19h: 0.5 * 1/2 + 0.5 * 1/14
    assert r.risk[1, 0, 0] == pytest.approx(0.5 / 2 + 0.5 / 14)
    assert r.risk[1, 0, 2] == 0.0


def test_history_risk_decays_old_incidents() -> None:
    # with a 7-day half-life, an incident 7 days old weighs 1/2 and one 14 days old 1/4
    r = history_risk(
        [0.0, 0.0],
        [0.0, 0.0],
        [0.0, 7.0],
        [3, 3],
        [2, 2],
        now=14.0,
        hours=[3],
        weekday=2,
        half_life_days=7.0,
        week_share=1.0,
    )
    weeks = 1 + 0.5  # decayed number of weeks in 14 days: q^0 + q^1 with q = 1/2
    assert r.risk[0, 0, 0] == pytest.approx((0.25 + 0.5) / weeks)


def test_history_risk_with_no_past_is_empty() -> None:
    r = history_risk([5.0], [5.0], [10.0], [1], [1], now=10.0, hours=[1, 2], weekday=1)
    assert r.risk.shape == (2, 1, 1) and not r.risk.any()


def test_select_sites_keeps_discs_apart_and_sums_them() -> None:
    rng = np.random.default_rng(3)
    grid = rng.pareto(1.2, size=(2, 40, 60)) * (rng.random((2, 40, 60)) < 0.3)
    cells = CellRisk(1000.0, -500.0, 50.0, grid)
    sites = select_sites(cells, 12, radius_m=250.0)
    assert 1 <= len(sites.x) <= 12
    d = np.hypot(sites.x[:, None] - sites.x[None, :], sites.y[:, None] - sites.y[None, :])
    assert (d[np.triu_indices(len(sites.x), 1)] > 500.0).all()
    # each site's risk is the sum of the cells whose centres lie within 250 m (brute force)
    cy, cx = np.mgrid[0:40, 0:60]
    centre_x, centre_y = 1000.0 + (cx + 0.5) * 50.0, -500.0 + (cy + 0.5) * 50.0
    for k in range(len(sites.x)):
        inside = np.hypot(centre_x - sites.x[k], centre_y - sites.y[k]) <= 250.0
        assert sites.risk[k] == pytest.approx(grid[:, inside].sum(axis=1))
    totals = sites.risk.sum(axis=1)
    assert (np.diff(totals) <= 1e-12).all() and (totals > 0).all()


def test_select_sites_never_offers_empty_ground() -> None:
    grid = np.zeros((1, 10, 10))
    grid[0, 5, 5] = 1.0
    sites = select_sites(CellRisk(0.0, 0.0, 50.0, grid), 5)
    assert len(sites.x) == 1 and sites.risk.tolist() == [[1.0]]


def test_plan_team_builds_valid_routes(chicago: CityProfile) -> None:
    proj = chicago.projection
    sx, sy = proj.forward(41.92, -87.72)
    offsets = [(600.0, 0.0), (-900.0, 300.0), (0.0, 1500.0), (1200.0, -800.0), (-300.0, -1200.0)]
    risk = np.array([[0.3] * 8, [0.2] * 8, [0.5] * 8, [0.1] * 8, [0.25] * 8])
    sites = Sites(
        np.array([sx + a for a, _ in offsets]), np.array([sy + b for _, b in offsets]), risk
    )
    day, shift = date(2016, 9, 5), SHIFTS[2]
    start, _ = shift_bounds(day, shift, chicago.zone)
    plan, routes = plan_team(
        district="14",
        sites=sites,
        station=(41.92, -87.72),
        day=day,
        shift=shift,
        tz=chicago.zone,
        projection=proj,
        travel=StreetGridProvider(),
        version=3,
        generated_at=datetime(2016, 9, 5, 21, tzinfo=UTC),
        units=2,
        dwell_s=1800.0,
    )
    assert [r.unit for r in routes] == [1, 2]
    for route, order, value in zip(routes, plan.orders, plan.unit_values, strict=True):
        doc = route.to_geojson()
        assert validate_route_geojson(doc) == []
        assert doc["planner"] == "optimizer" and doc["version"] == 3
        assert route.expected_incidents == pytest.approx(value)
        etas = [(w.eta - start).total_seconds() for w in route.waypoints]
        assert etas == [round(a) for a in order.arrival_s]
        assert {w.rule for w in route.waypoints} == {"risk"}
        assert [w.cluster for w in route.waypoints] == [n - 1 for n in order.order]


def test_weekly_counts_by_hand() -> None:
    # 28 days of history; cell 0: 4 incidents, cell 2: 2; one at t == now (future), one outside
    t = [0.0, 5.0, 12.0, 27.0, 3.0, 20.0, 28.0, 10.0]
    cells = [0, 0, 0, 0, 2, 2, 0, -1]
    got = weekly_counts(cells, t, now=28.0, n_cells=3, half_life_days=math.inf)
    assert got.tolist() == [1.0, 0.0, 0.5]  # per week over 4 weeks
    # a half-life of 7 days over 28: weeks weigh 1, 1/2, 1/4, 1/8 (sum 15/8); incidents 7 and
    # 28 days old weigh 1/2 and 1/16
    two = weekly_counts([0, 0], [0.0, 21.0], now=28.0, n_cells=1, half_life_days=7.0)
    assert two[0] == pytest.approx((1 / 2 + 1 / 16) / (15 / 8))


def test_forecast_level_and_relevel_keep_the_shares_and_carry_the_forecast() -> None:
    # a 150 m coarse grid of 2 cells along x; 50 m fine cells: 6 along x, 1 row, 2 hours
    fine = np.zeros((2, 1, 6))
    fine[0, 0, :3] = [1.0, 2.0, 1.0]  # coarse cell 0, hour 0
    fine[1, 0, 1] = 4.0  # coarse cell 0, hour 1
    fine[0, 0, 4] = 3.0  # coarse cell 1
    cells = CellRisk(0.0, 0.0, 50.0, fine)
    counts = np.array([8.0, 3.0])  # the counts' weekly level of each coarse cell
    forecast = np.array([4.0, 6.0])  # the forecaster's
    factor = forecast_level(forecast, counts)
    assert factor.tolist() == [0.5, 2.0]
    out = relevel_risk(cells, lambda x, y: factor[(x // 150.0).astype(int)])
    assert out.risk[0, 0].tolist() == [0.5, 1.0, 0.5, 0.0, 6.0, 0.0]
    assert out.risk[1, 0].tolist() == [0.0, 2.0, 0.0, 0.0, 0.0, 0.0]
    # no history in a coarse cell: nothing to spread its forecast over
    assert forecast_level([1.0], [0.0]).tolist() == [0.0]
    with pytest.raises(ValueError, match="factor"):
        relevel_risk(cells, lambda x, y: np.full(x.shape, -1.0))
