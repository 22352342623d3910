"""The fairness audit's measures on hand-built cases with known answers."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from patrol.evaluation.fairness import (
    CommunityAreas,
    area_id,
    audit_summary,
    audit_table,
    count_by_area,
    patrol_minutes,
    read_population,
    shares,
    total_variation,
)
from patrol.geo import LocalProjection
from patrol.routes import Route, Waypoint

PROJ = LocalProjection(41.9, -87.7)
T0 = datetime(2016, 9, 5, 16, tzinfo=UTC)


def _route(points_m: list[tuple[float, float]], etas_min: list[float], legs_min: list[float],
           total_min: float) -> Route:  # fmt: skip
    """A route from the origin through way-points at ``points_m`` (metres) in a straight path."""
    lls = [PROJ.inverse(x, y) for x, y in points_m]
    wps = tuple(
        Waypoint(k + 1, lat, lon, T0 + timedelta(minutes=eta), 0.5, k, 0.0, leg * 60.0)
        for k, ((lat, lon), eta, leg) in enumerate(zip(lls, etas_min, legs_min, strict=True))
    )
    path = (PROJ.inverse(0.0, 0.0), *lls)
    return Route("1", "16-24", "2016-09-05", 1, 1, "x", T0, path[0], wps, path, 0.0,
                 total_min * 60.0, 1.0)  # fmt: skip


def test_total_variation_known_values() -> None:
    assert total_variation({"a": 1.0, "b": 0.0}, {"a": 0.0, "b": 1.0}) == 1.0
    assert total_variation({"a": 2.0, "b": 2.0}, {"a": 5.0, "b": 5.0}) == 0.0
    # shares (0.5, 0.5, 0) vs (0.2, 0.3, 0.5): |0.3| + |0.2| + |0.5| = 1.0 -> 0.5
    assert total_variation({"a": 1, "b": 1}, {"a": 2, "b": 3, "c": 5}) == pytest.approx(0.5)
    assert math.isnan(total_variation({}, {"a": 1.0}))


@given(
    st.dictionaries(st.sampled_from("abcdef"), st.floats(0, 100), min_size=1),
    st.dictionaries(st.sampled_from("abcdef"), st.floats(0, 100), min_size=1),
)
def test_total_variation_is_a_bounded_symmetric_distance(
    p: dict[str, float], q: dict[str, float]
) -> None:
    d = total_variation(p, q)
    if sum(p.values()) == 0 or sum(q.values()) == 0:
        assert math.isnan(d)
        return
    assert 0.0 <= d <= 1.0 + 1e-12
    assert d == pytest.approx(total_variation(q, p))
    assert total_variation(p, p) == pytest.approx(0.0, abs=1e-12)


def test_shares_reject_negative_values() -> None:
    with pytest.raises(ValueError, match="must be >= 0"):
        shares({"a": -1.0, "b": 2.0})


def test_patrol_minutes_spread_driving_along_the_path_and_dwell_at_waypoints() -> None:
    # 0 -> (400, 0): 4 min drive, ETA 4, dwell until 10 (next leg of 2 min leaves at 10 -> ETA 12)
    # -> (400, 300): 2 min drive, ETA 12; route ends at 20 min -> dwell 8 at the last way-point
    r = _route([(400.0, 0.0), (400.0, 300.0)], [4.0, 12.0], [4.0, 2.0], 20.0)
    s = patrol_minutes(r, PROJ, T0, step_m=100.0)
    assert sum(m for _, _, m in s) == pytest.approx(20.0)
    driving = [(round(x), round(y), m) for x, y, m in s[:-2]]
    # 700 m of path in 7 pieces of 100 m, 6 driving minutes spread by length
    assert len(driving) == 7
    assert all(m == pytest.approx(6.0 / 7.0) for *_, m in driving)
    assert driving[0][:2] == (50, 0) and driving[-1][:2] == (400, 250)
    dwell = [(round(x), round(y), round(m, 6)) for x, y, m in s[-2:]]
    assert dwell == [(400, 0, 6.0), (400, 300, 8.0)]
    stay = patrol_minutes(r, PROJ, T0, stay_until=T0 + timedelta(hours=8))
    assert sum(m for _, _, m in stay) == pytest.approx(480.0)


def test_audit_table_and_summary_known_answers() -> None:
    rows = audit_table(
        {"1": 60.0, "2": 20.0, "4": 20.0},
        {"1": 10, "2": 20, "3": 10},
        population={"1": 1000.0, "2": 3000.0, "3": 0.0, "4": 1000.0},
        names={"1": "One"},
    )
    by = {r.area: r for r in rows}
    assert [r.area for r in rows] == ["2", "1", "3", "4"]
    assert by["1"].name == "One" and by["2"].name == "2"
    assert by["1"].incident_share == 0.25 and by["1"].patrol_share == 0.6
    assert by["1"].patrol_per_incident_share == pytest.approx(2.4)
    assert math.isnan(by["4"].patrol_per_incident_share)
    assert by["2"].population_share == 0.6 and by["3"].population_share == 0.0
    s = audit_summary(rows)
    # patrol (.6, .2, 0, .2) vs incidents (.25, .5, .25, 0): (.35 + .3 + .25 + .2) / 2 = .55
    assert s["tv_patrol_incidents"] == pytest.approx(0.55)
    assert s["areas_unpatrolled"] == 1 and s["incident_share_unpatrolled"] == 0.25
    # patrol vs population (.2, .6, 0, .2): (.4 + .4 + 0 + 0) / 2 = .4
    assert s["tv_patrol_population"] == pytest.approx(0.4)
    assert s["patrol_minutes"] == 100.0 and s["incidents"] == 40


def test_read_population(tmp_path: Path) -> None:
    good = tmp_path / "pop.csv"
    good.write_text("community_area,population\n01,54991\n32,29283\n")
    assert read_population(good) == {"1": 54991.0, "32": 29283.0}
    for body, message in [
        ("area,population\n1,5\n", "header must have"),
        ("community_area,population\n1,many\n", "row 2: population: 'many' is not a number"),
        ("community_area,population\n1,-4\n", "row 2: population: must be >= 0"),
        ("community_area,population\n1,4\n01,5\n", "row 3: community_area: 1 appears twice"),
        ("community_area,population\n,5\n", "row 2: community_area: missing"),
    ]:
        bad = tmp_path / "bad.csv"
        bad.write_text(body)
        with pytest.raises(ValueError, match=message):
            read_population(bad)


def test_community_areas_locate_known_places() -> None:
    ca = CommunityAreas()
    # The Loop (Clark/Madison), Hyde Park (57th/Ellis), O'Hare terminal area, Lake Michigan
    got = ca.locate_many([41.8819, 41.7911, 41.9786, 41.90], [-87.6310, -87.6010, -87.9048, -87.55])
    assert got == ["32", "41", "76", None]
    assert ca.names["41"] == "Hyde Park"


def test_area_ids_and_counts() -> None:
    assert area_id("007") == "7" and area_id("0") == "0" and area_id("  ") is None
    assert count_by_area(["3", "3", None, "10"]) == {"3": 2, "10": 1}
