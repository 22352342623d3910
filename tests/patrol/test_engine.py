"""The engine on real Chicago incidents: ingest, revisions, planning, state round trips."""

from __future__ import annotations

import json
import random
from dataclasses import replace
from datetime import date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from patrol.config import EngineConfig
from patrol.engine import Engine, Outcome
from patrol.incidents.profile import CityProfile
from patrol.incidents.schema import Incident
from patrol.planning import SHIFTS, shift_bounds
from patrol.routes import Route, validate_route_geojson

DAY = date(2016, 10, 1)  # the day after the fixture's last incident


def _engine(chicago: CityProfile, incidents: list[Incident], **cfg: object) -> Engine:
    eng = Engine(chicago, EngineConfig(**cfg))  # type: ignore[arg-type]
    for inc in incidents:
        eng.ingest(inc)
    return eng


def _plan(eng: Engine, shift_index: int = 2) -> Route:
    shift = SHIFTS[shift_index]
    start, _ = shift_bounds(DAY, shift, eng.tz)
    route = eng.plan("8", DAY, shift, generated_at=start)
    assert route is not None
    return route


def _geometry(route: Route) -> list[tuple[float, float, int]]:
    return [(round(w.latitude, 9), round(w.longitude, 9), w.cluster) for w in route.waypoints]


def test_every_incident_is_learned_once(chicago: CityProfile, district8_september) -> None:
    eng = _engine(chicago, district8_september)
    assert set(eng.districts) == {"8"}
    assert eng.districts["8"].model.n_incidents == len({i.id for i in district8_september})


def test_redelivery_is_not_counted_twice(chicago: CityProfile, district8_september) -> None:
    eng = _engine(chicago, district8_september)
    outcomes = {eng.ingest(i) for i in district8_september}
    assert outcomes == {Outcome.DUPLICATE}
    assert eng.districts["8"].model.n_incidents == len(district8_september)
    assert _geometry(_plan(eng)) == _geometry(_plan(_engine(chicago, district8_september)))


def test_revision_replaces_the_first_record(chicago: CityProfile, district8_september) -> None:
    first = district8_september[:400]
    moved = replace(
        first[10],
        latitude=first[10].latitude + 0.01,
        updated_at=(first[10].updated_at or first[10].occurred_at) + timedelta(days=30),
    )
    revised = _engine(chicago, [*first, moved])
    direct = _engine(chicago, [moved if i.id == moved.id else i for i in first])
    assert revised.districts["8"].model.n_incidents == 400
    a = revised.districts["8"].model.to_dict()
    b = direct.districts["8"].model.to_dict()
    assert json.dumps(a["kde"], sort_keys=True) == json.dumps(b["kde"], sort_keys=True)
    assert a["table"] == b["table"]


def test_arrival_order_does_not_change_the_route(chicago: CityProfile, district8_september) -> None:
    shuffled = list(district8_september)
    random.Random(7).shuffle(shuffled)
    a = _plan(_engine(chicago, district8_september))
    b = _plan(_engine(chicago, shuffled))
    assert [(w.cluster, w.rule) for w in a.waypoints] == [(w.cluster, w.rule) for w in b.waypoints]
    for wa, wb in zip(a.waypoints, b.waypoints, strict=True):
        assert wa.latitude == pytest.approx(wb.latitude, abs=1e-7)
        assert wa.longitude == pytest.approx(wb.longitude, abs=1e-7)


def test_state_round_trips_through_json(chicago: CityProfile, district8_september) -> None:
    eng = _engine(chicago, district8_september)
    before = _plan(eng).to_geojson()
    clone = Engine(chicago, eng.config)
    clone.load_dict(json.loads(json.dumps(eng.to_dict())))
    after = _plan(clone).to_geojson()
    assert after["version"] == before["version"] + 1
    for key in ("features", "total_distance_m", "total_time_s", "expected_incidents"):
        assert after[key] == before[key]


def test_versions_increase_per_district_and_shift(
    chicago: CityProfile, district8_september
) -> None:
    eng = _engine(chicago, district8_september)
    assert [_plan(eng, 0).version, _plan(eng, 0).version, _plan(eng, 1).version] == [1, 2, 1]


def test_route_is_a_valid_plan_for_the_shift(chicago: CityProfile, district8_september) -> None:
    eng = _engine(chicago, district8_september)
    route = _plan(eng, 2)
    start, end = shift_bounds(DAY, SHIFTS[2], eng.tz)
    doc = route.to_geojson()
    assert validate_route_geojson(doc) == []
    assert route.start == eng.station("8")
    assert route.path[0] == eng.station("8")
    etas = [w.eta for w in route.waypoints]
    assert etas == sorted(etas) and start <= etas[0] and etas[-1] <= end
    assert route.total_time_s <= (end - start).total_seconds()
    assert route.total_distance_m == pytest.approx(sum(w.leg_distance_m for w in route.waypoints))
    # every way-point lies in (or within 1 km of) district 8's boundary
    polygon = eng.locator.geometry("8")
    from shapely.geometry import Point

    for w in route.waypoints:
        assert polygon.distance(Point(w.longitude, w.latitude)) < 0.012
    # the paper's elbow typically gives a handful of clusters per district (3-15)
    assert 2 <= len(route.waypoints) <= 15


def test_a_district_is_not_planned_before_its_warm_up(chicago: CityProfile, district8_september):
    eng = _engine(chicago, district8_september[:49], min_incidents=50)
    start, _ = shift_bounds(DAY, SHIFTS[0], eng.tz)
    assert eng.plan("8", DAY, SHIFTS[0], generated_at=start) is None
    eng.ingest(district8_september[49])
    assert eng.plan("8", DAY, SHIFTS[0], generated_at=start) is not None


def test_incident_without_district_is_placed_by_its_coordinates(chicago: CityProfile) -> None:
    t = datetime(2016, 9, 1, 12, tzinfo=chicago.zone)
    # 1718 S State St, the 1st district's station
    eng = Engine(chicago)
    eng.ingest(Incident("x1", t, 41.8583725929, -87.627356171))
    assert set(eng.districts) == {"1"}


def test_due_shifts_follow_local_time(chicago: CityProfile) -> None:
    eng = Engine(chicago)
    tz = chicago.zone
    before = datetime(2016, 11, 5, 23, 0, tzinfo=tz)
    after = datetime(2016, 11, 6, 16, 0, tzinfo=tz)  # across the fall-back night
    due = eng.due_shifts(before, after)
    assert [(d.isoformat(), s.label) for d, s in due] == [
        ("2016-11-06", "00-08"),
        ("2016-11-06", "08-16"),
        ("2016-11-06", "16-24"),
    ]
    assert eng.due_shifts(after, before) == []


ids = st.sampled_from(["a", "b", "c", "d"])


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(ids, st.integers(0, 3), st.floats(-0.01, 0.01), st.integers(0, 5)),
        min_size=1,
        max_size=30,
    )
)
def test_no_double_count_under_any_revision_sequence(
    chicago: CityProfile, events: list[tuple[str, int, float, int]]
) -> None:
    base = datetime(2016, 9, 1, 12, tzinfo=chicago.zone)
    eng = Engine(chicago)
    for rid, dt_h, dlat, upd in events:
        eng.ingest(
            Incident(
                rid,
                base + timedelta(hours=dt_h),
                41.77 + dlat,
                -87.70,
                district="8",
                updated_at=base + timedelta(days=upd),
            )
        )
    st8 = eng.districts["8"]
    assert st8.model.n_incidents == len({e[0] for e in events})
    assert st8.model.table.n_observations == st8.model.n_incidents


def test_a_recorded_district_far_from_the_coordinates_is_corrected(chicago: CityProfile) -> None:
    t = datetime(2016, 9, 1, 12, tzinfo=chicago.zone)
    eng = Engine(chicago)
    station1 = (41.8583725929, -87.627356171)  # 1718 S State St, inside district 1
    # recorded as district 16 (the far north-west): re-placed where it happened
    assert eng.district_of(Incident("a", t, *station1, district="16")) == "1"
    # recorded correctly, or a boundary-street incident a few metres outside: kept
    assert eng.district_of(Incident("b", t, *station1, district="1")) == "1"
    polygon = eng.locator.geometry("1")
    _minx, miny, maxx, maxy = polygon.bounds
    just_out = (miny + (maxy - miny) / 2, maxx + 0.002)  # ~165 m east of the east edge
    assert eng.locator.locate_exact(*just_out) != "1"
    assert eng.district_of(Incident("c", t, *just_out, district="1")) == "1"
    # an unknown district id is placed by the coordinates too
    assert eng.district_of(Incident("d", t, *station1, district="99")) == "1"
