"""Route coverage (design.md "Route quality") on hand-built stops and incidents."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from patrol.evaluation.coverage import Visits, coverage, summarise, visits_from_route
from patrol.geo import LocalProjection
from patrol.routes import Route, Waypoint


def test_reached_at_or_before_the_incident() -> None:
    # One stop at (0, 0) reached at t = 1000 s, left at once (no dwell).
    v = Visits.of([0.0], [0.0], [1000.0])
    # incidents at the stop at 999 s (before: not in time), 1000 s (at: in time), 5000 s (after)
    c = coverage(v, [0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [999.0, 1000.0, 5000.0])
    assert (c.incidents, c.in_time, c.spatial) == (3, 2, 3)
    assert c.share_in_time == pytest.approx(2 / 3)
    # presence needs the unit there: only the incident at exactly 1000 s
    assert c.in_presence == 1


def test_radius_is_inclusive_250_m() -> None:
    v = Visits.of([0.0], [0.0], [0.0])
    c = coverage(v, [250.0, 0.0, 150.0, 250.01], [0.0, -250.0, 200.0, 0.0], [10.0] * 4)
    # 250 east, 250 south, (150, 200) = 250 exactly: covered; 250.01 m: not
    assert (c.in_time, c.spatial) == (3, 3)


def test_first_arrival_counts_with_revisits_and_dwell() -> None:
    # stop A at (0,0): 600-1500 s, then B at (1000, 0): 1800-2400 s, then A again 2700-3600 s
    v = Visits.of(
        [0.0, 1000.0, 0.0], [0.0, 0.0, 0.0], [600.0, 1800.0, 2700.0], [1500.0, 2400.0, 3600.0]
    )
    inc_x = [100.0, 100.0, 100.0, 1000.0, 1000.0, 2000.0]
    inc_t = [300.0, 1000.0, 2000.0, 1700.0, 3000.0, 1000.0]
    c = coverage(v, inc_x, [0.0] * 6, inc_t)
    # near A: 300 (before any arrival): no; 1000 (A reached at 600, unit there): yes, present;
    # 2000 (A reached before; unit at B): in time, not present. Near B: 1700 (B reached at 1800):
    # no; 3000 (B reached earlier; unit back at A): in time, not present. (2000, 0): never near.
    assert (c.in_time, c.in_presence, c.spatial) == (3, 1, 5)
    assert c.waypoints == 2


def test_team_of_units_counts_an_incident_once() -> None:
    a = Visits.of([0.0], [0.0], [100.0], distance_m=3000.0, time_s=1200.0)
    b = Visits.of([50.0], [0.0], [200.0], distance_m=1000.0, time_s=600.0)
    team = Visits.merge([a, b])
    c = coverage(team, [10.0, 5000.0], [0.0, 0.0], [300.0, 300.0])
    assert (c.incidents, c.in_time, c.spatial, c.waypoints) == (2, 1, 1, 2)
    assert (c.distance_m, c.time_s) == (4000.0, 1800.0)
    assert c.per_km == pytest.approx(1 / 4)


def test_empty_cases() -> None:
    none = coverage(Visits.of([0.0], [0.0], [0.0]), [], [], [])
    assert none.incidents == 0 and math.isnan(none.share_in_time) and math.isnan(none.per_km)
    no_stops = coverage(Visits.merge([]), [1.0], [1.0], [1.0])
    assert (no_stops.incidents, no_stops.in_time, no_stops.waypoints) == (1, 0, 0)
    with pytest.raises(ValueError, match="departs before"):
        Visits.of([0.0], [0.0], [10.0], [5.0])


def test_visits_from_route_reads_dwell_from_the_legs() -> None:
    t0 = datetime(2016, 9, 5, 16, tzinfo=UTC)
    proj = LocalProjection(41.9, -87.7)
    # way-points 1 km east and 1 km east + 1 km north; arrive 120 s and 1500 s; the second leg
    # takes 480 s, so the unit left the first at 1500 - 480 = 1020 s (900 s dwell).
    p1, p2 = proj.inverse(1000.0, 0.0), proj.inverse(1000.0, 1000.0)
    wps = (
        Waypoint(1, *p1, t0 + timedelta(seconds=120), 0.4, 0, 1000.0, 120.0),
        Waypoint(2, *p2, t0 + timedelta(seconds=1500), 0.6, 1, 1000.0, 480.0),
    )
    route = Route(
        "8",
        "16-24",
        "2016-09-05",
        1,
        1,
        "optimizer",
        t0,
        (41.9, -87.7),
        wps,
        ((41.9, -87.7), p1, p2),
        2000.0,
        2400.0,
        1.0,
    )
    v = visits_from_route(route, proj, t0, t0 + timedelta(hours=8))
    assert v.x == pytest.approx([1000.0, 1000.0]) and v.y == pytest.approx([0.0, 1000.0])
    assert v.arrival_s.tolist() == [120.0, 1500.0]
    assert v.departure_s.tolist() == [1020.0, 28800.0]  # stays at the last until the end
    assert (v.distance_m, v.time_s) == (2000.0, 2400.0)


def _rows(per_day: dict[str, list[tuple[str, int, int]]]) -> list[dict[str, object]]:
    """Rows of district '1', shift 's': per day, (planner, incidents, covered in time)."""
    return [
        {
            "date": day,
            "district": "1",
            "shift": "s",
            "planner": p,
            "incidents": n,
            "in_time": k,
            "in_presence": 0,
            "spatial": k,
            "distance_m": 2000.0,
            "time_s": 600.0,
            "waypoints": 3,
        }
        for day, entries in per_day.items()
        for p, n, k in entries
    ]


def test_summarise_pools_counts_and_ratios() -> None:
    rows = _rows({"d1": [("a", 10, 1), ("b", 10, 4)], "d2": [("a", 30, 3), ("b", 30, 6)]})
    out = summarise(rows, ["a", "b"], reference="a", n_boot=200, seed=1)
    # pooled: a = 4/40, b = 10/40 (not the mean of 0.1 and 0.4 / 0.2); ratio b/a = 10/4
    assert out["planners"]["a"]["in_time"]["value"] == pytest.approx(0.1)
    assert out["planners"]["b"]["in_time"]["value"] == pytest.approx(0.25)
    assert out["planners"]["b"]["mean_shift_share_in_time"] == pytest.approx(0.3)
    assert out["ratios"]["b"]["value"] == pytest.approx(2.5)
    # resampling the two days: b's share is 0.4 (d1 twice), 0.2 (d2 twice) or 0.25 (both)
    b = out["planners"]["b"]["in_time"]
    assert 0.2 - 1e-12 <= b["low"] <= b["value"] <= b["high"] <= 0.4 + 1e-12
    assert out["planners"]["b"]["in_time_per_km"]["value"] == pytest.approx(10 / 4)
    assert out["planners"]["a"]["mean_km"] == pytest.approx(2.0)
    assert (out["days"], out["district_shifts"]) == (2, 2)


def test_summarise_uses_only_shifts_every_planner_planned() -> None:
    rows = _rows({"d1": [("a", 10, 1), ("b", 10, 4)], "d2": [("a", 30, 3)]})
    out = summarise(rows, ["a", "b"], reference="a", n_boot=20)
    assert out["district_shifts"] == 1
    assert out["planners"]["a"]["in_time"]["value"] == pytest.approx(0.1)
    # identical days give a degenerate interval
    same = summarise(_rows({"d1": [("a", 10, 2)], "d2": [("a", 10, 2)]}), ["a"], n_boot=50)
    assert same["planners"]["a"]["in_time"]["low"] == pytest.approx(0.2)
    assert same["planners"]["a"]["in_time"]["high"] == pytest.approx(0.2)
    assert np.isnan(summarise([], ["a"], n_boot=5)["planners"]["a"]["in_time"]["value"])
