"""Tests for the OpenStreetMap road-network provider (CPSPA phase 4, paper section 5.4).

Expected values come from hand arithmetic on tiny synthetic maps, or from this file's own
reading of the Logan Square fixture with :mod:`xml.etree.ElementTree` and its own haversine.
"""

from __future__ import annotations

import io
import itertools
import math
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from patrol.travel import (
    RoadNetworkProvider,
    SpeedProfile,
    StreetGridProvider,
    TravelProvider,
    make_provider,
)
from patrol.travel.osm_xml import parse_maxspeed_kmh, read_osm_xml, way_directions

FIXTURE = Path(__file__).parents[2] / "fixtures" / "roads" / "chicago_logan_square_small.osm"
# <bounds minlat="41.9247000" minlon="-87.7272000" maxlat="41.9429000" maxlon="-87.7026000"/>
BBOX = (41.9247, -87.7272, 41.9429, -87.7026)
R_EARTH = 6_371_008.8
SIDE_M = math.pi / 180.0 * R_EARTH * 0.01  # 0.01 degree of latitude: 1111.95 m

Point = tuple[float, float]


def haversine(a: Point, b: Point) -> float:
    p1, p2 = math.radians(a[0]), math.radians(b[0])
    h = (
        math.sin((p2 - p1) / 2) ** 2
        + math.cos(p1) * math.cos(p2) * math.sin(math.radians(b[1] - a[1]) / 2) ** 2
    )
    return 2 * R_EARTH * math.asin(math.sqrt(h))


def polyline_m(points: list[Point]) -> float:
    return sum(haversine(p, q) for p, q in itertools.pairwise(points))


@pytest.fixture(scope="module")
def roads() -> RoadNetworkProvider:
    return RoadNetworkProvider.from_osm_xml(FIXTURE, profile=SpeedProfile.constant())


@pytest.fixture(scope="module")
def osm() -> tuple[dict[int, Point], list[tuple[dict[str, str], list[int]]]]:
    """The fixture's nodes and ways as read by this test module."""
    root = ET.parse(FIXTURE).getroot()
    nodes = {
        int(n.attrib["id"]): (float(n.attrib["lat"]), float(n.attrib["lon"]))
        for n in root.iter("node")
    }
    ways = [
        (
            {t.attrib["k"]: t.attrib["v"] for t in w.iter("tag")},
            [int(nd.attrib["ref"]) for nd in w.iter("nd")],
        )
        for w in root.iter("way")
    ]
    return nodes, ways


def on_network(roads: RoadNetworkProvider, points: list[Point]) -> list[Point]:
    _, access = roads.snap(points)
    return [p for p, a in zip(points, access, strict=True) if a < 1e-6]


# --- tiny synthetic maps, hand-computed ---------------------------------------------------

# A 0.01-degree square at the equator (sides 1111.95 m; the top side at 0.01 N is 1111.93 m),
# driven one way 1 -> 2 -> 3 -> 4 -> 1 at 36 km/h = 10 m/s. A footway diagonal 1-3 and a
# reversible lane 2 -> 1 must be ignored.
SQUARE = b"""<osm>
<node id="1" lat="0.00" lon="0.00"/><node id="2" lat="0.00" lon="0.01"/>
<node id="3" lat="0.01" lon="0.01"/><node id="4" lat="0.01" lon="0.00"/>
<way id="10"><nd ref="1"/><nd ref="2"/><nd ref="3"/><nd ref="4"/><nd ref="1"/>
  <tag k="highway" v="tertiary"/><tag k="junction" v="roundabout"/>
  <tag k="maxspeed" v="36"/></way>
<way id="11"><nd ref="1"/><nd ref="3"/><tag k="highway" v="footway"/></way>
<way id="12"><nd ref="2"/><nd ref="1"/><tag k="highway" v="primary"/>
  <tag k="oneway" v="reversible"/></way>
</osm>"""


def test_one_way_square_is_driven_around() -> None:
    square = RoadNetworkProvider.from_osm_xml(io.BytesIO(SQUARE), profile=SpeedProfile.constant())
    corners = [(0.0, 0.0), (0.0, 0.01), (0.01, 0.01), (0.01, 0.0)]
    m = square.matrix(corners, hour=12)
    assert m.distance_m[0, 1] == pytest.approx(SIDE_M, rel=1e-4)  # 1 -> 2: one side
    assert m.distance_m[1, 0] == pytest.approx(3 * SIDE_M, rel=1e-4)  # 2 -> 1: three sides
    assert m.distance_m[0, 2] == pytest.approx(2 * SIDE_M, rel=1e-4)  # no footway shortcut
    assert m.time_s[0, 1] == pytest.approx(SIDE_M / 10.0, rel=1e-4)
    assert m.time_s[1, 0] == pytest.approx(3 * SIDE_M / 10.0, rel=1e-4)
    assert square.path((0.0, 0.01), (0.0, 0.0)) == [(0.0, 0.01), *corners[2:], (0.0, 0.0)]
    stats = square.stats()
    assert (stats.nodes, stats.edges, stats.drivable_ways, stats.osm_ways) == (4, 4, 1, 3)
    assert stats.road_km == pytest.approx(4 * SIDE_M / 1000.0, rel=1e-4)


def test_points_are_not_snapped_onto_an_expressway() -> None:
    xml = b"""<osm><node id="1" lat="0" lon="0"/><node id="2" lat="0" lon="0.01"/>
    <node id="5" lat="0.004" lon="0.002"/>
    <way id="1"><nd ref="1"/><nd ref="2"/><tag k="highway" v="residential"/></way>
    <way id="2"><nd ref="2"/><nd ref="5"/><nd ref="1"/><tag k="highway" v="motorway"/></way>
    </osm>"""
    net = RoadNetworkProvider.from_osm_xml(io.BytesIO(xml))
    assert net.stats().nodes == 3  # node 5 is routable (2 -> 5 -> 1) ...
    nodes, access = net.snap([(0.004, 0.002)])
    assert net.node_osm_id(int(nodes[0])) == 1  # ... but not a place to join the motorway
    assert access[0] == pytest.approx(haversine((0.004, 0.002), (0.0, 0.0)), rel=1e-9)


def test_access_leg_joins_off_network_points() -> None:
    xml = b"""<osm><node id="1" lat="0" lon="0"/><node id="2" lat="0" lon="0.01"/>
    <way id="1"><nd ref="1"/><nd ref="2"/><tag k="highway" v="residential"/></way></osm>"""
    net = RoadNetworkProvider.from_osm_xml(
        io.BytesIO(xml), profile=SpeedProfile.constant(0.5), access_speed_kmh=3.6
    )
    p, q = (0.001, 0.0), (0.0, 0.0102)  # 111.2 m north of node 1, 22.2 m east of node 2
    leg_p, leg_q = haversine(p, (0.0, 0.0)), haversine(q, (0.0, 0.01))
    m = net.matrix([p, q], hour=9)
    assert m.distance_m[0, 1] == pytest.approx(leg_p + SIDE_M + leg_q, rel=1e-6)
    # Access legs at 1 m/s; the road at 30 km/h (residential default) halved by the profile.
    expected_t = (leg_p + leg_q) / 1.0 + SIDE_M / (30.0 / 3.6 * 0.5)
    assert m.time_s[0, 1] == pytest.approx(expected_t, rel=1e-6)


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        ({"highway": "residential"}, (True, True)),
        ({"highway": "residential", "oneway": "yes"}, (True, False)),
        ({"highway": "secondary", "oneway": "1"}, (True, False)),
        ({"highway": "secondary", "oneway": "true"}, (True, False)),
        ({"highway": "residential", "oneway": "-1"}, (False, True)),
        ({"highway": "primary", "junction": "roundabout"}, (True, False)),
        ({"highway": "primary", "junction": "roundabout", "oneway": "no"}, (True, True)),
        ({"highway": "motorway"}, (True, False)),
        ({"highway": "motorway_link", "oneway": "no"}, (True, True)),
        ({"highway": "service", "service": "alley"}, (True, True)),
        ({"highway": "living_street"}, (True, True)),
        ({"highway": "motorway", "oneway": "reversible"}, None),
        ({"highway": "residential", "access": "private"}, None),
        ({"highway": "residential", "access": "no", "motor_vehicle": "yes"}, (True, True)),
        ({"highway": "footway"}, None),
        ({"highway": "cycleway"}, None),
        ({"highway": "path"}, None),
        ({"highway": "steps"}, None),
        ({"highway": "pedestrian"}, None),
        ({"highway": "construction"}, None),
        ({"railway": "rail"}, None),
    ],
)
def test_way_directions(tags: dict[str, str], expected: tuple[bool, bool] | None) -> None:
    assert way_directions(tags) == expected


@pytest.mark.parametrize(
    ("value", "kmh"),
    [
        ("55 mph", 88.51392),
        ("25mph", 40.2336),
        ("50", 50.0),
        ("30 km/h", 30.0),
        ("40;30", 40.0),
        ("none", None),
        ("signals", None),
        (None, None),
        ("0", None),
    ],
)
def test_parse_maxspeed(value: str | None, kmh: float | None) -> None:
    assert parse_maxspeed_kmh(value) == (None if kmh is None else pytest.approx(kmh))


def test_empty_map_is_rejected() -> None:
    with pytest.raises(ValueError, match="no drivable"):
        RoadNetworkProvider.from_osm_xml(io.BytesIO(b'<osm><node id="1" lat="0" lon="0"/></osm>'))


# --- the Logan Square fixture -------------------------------------------------------------


def test_graph_size_matches_the_extract(roads: RoadNetworkProvider) -> None:
    s = roads.stats()
    assert s.osm_nodes == 1984 and s.highway_ways == 258 and s.osm_ways == 318
    assert 200 < s.drivable_ways < 258  # reversible express lanes are dropped
    assert 500 < s.nodes < 1984 and s.nodes < s.edges < 4 * s.nodes
    assert 50.0 < s.road_km < 400.0


def test_road_km_is_bounded_by_the_drivable_ways(
    roads: RoadNetworkProvider, osm: tuple[dict[int, Point], list[tuple[dict[str, str], list[int]]]]
) -> None:
    nodes, ways = osm
    total = sum(
        polyline_m([nodes[r] for r in refs if r in nodes])
        for tags, refs in ways
        if way_directions(tags) is not None
    )
    assert 0.5 * total / 1000.0 < roads.stats().road_km <= total / 1000.0 + 1e-9


def test_sample_points_are_all_reachable(roads: RoadNetworkProvider) -> None:
    lat = np.linspace(BBOX[0], BBOX[2], 4)
    lon = np.linspace(BBOX[1], BBOX[3], 3)
    pts = [(float(a), float(b)) for a in lat for b in lon]
    m = roads.matrix(pts, hour=8)
    off = ~np.eye(len(pts), dtype=bool)
    assert np.all(np.isfinite(m.time_s)) and np.all(np.isfinite(m.distance_m))
    assert np.all(m.time_s[off] > 0.0) and np.all(m.distance_m[off] > 0.0)


def test_road_distance_is_at_least_straight_line_and_matches_path(
    roads: RoadNetworkProvider, osm: tuple[dict[int, Point], list[tuple[dict[str, str], list[int]]]]
) -> None:
    nodes, ways = osm
    candidates = [
        nodes[refs[len(refs) // 2]]
        for tags, refs in ways
        if tags.get("highway") in ("residential", "secondary", "tertiary")
    ]
    pts = on_network(roads, candidates)[::6]
    assert len(pts) >= 8
    m = roads.matrix(pts, hour=3)
    for i, j in itertools.permutations(range(len(pts)), 2):
        assert m.distance_m[i, j] >= haversine(pts[i], pts[j]) - 1e-6
        assert m.distance_m[i, j] < 4.0 * haversine(pts[i], pts[j]) + 500.0
        assert polyline_m(roads.path(pts[i], pts[j])) == pytest.approx(m.distance_m[i, j])


@pytest.mark.parametrize("oneway", ["yes", "-1"])
def test_one_way_streets_are_respected(
    roads: RoadNetworkProvider,
    osm: tuple[dict[int, Point], list[tuple[dict[str, str], list[int]]]],
    oneway: str,
) -> None:
    nodes, ways = osm
    checked = 0
    for tags, refs in ways:
        if (tags.get("highway"), tags.get("oneway"), tags.get("maxspeed")) != (
            "residential",
            oneway,
            None,
        ):
            continue
        a, b = nodes[refs[0]], nodes[refs[1]]
        if oneway == "-1":
            a, b = b, a  # legal direction is against the drawing order
        if len(on_network(roads, [a, b])) < 2:
            continue
        m = roads.matrix([a, b], hour=3)
        assert m.distance_m[0, 1] == pytest.approx(haversine(a, b), rel=1e-6)
        assert m.time_s[0, 1] == pytest.approx(haversine(a, b) / (30.0 / 3.6), rel=1e-6)
        assert m.distance_m[1, 0] > m.distance_m[0, 1] + 5.0  # must go around the block
        checked += 1
    assert checked >= 3


def test_path_starts_and_ends_at_the_query_points(roads: RoadNetworkProvider) -> None:
    a, b = (41.9260, -87.7250), (41.9410, -87.7050)
    path = roads.path(a, b)
    assert path[0] == a and path[-1] == b and len(path) > 3
    _, access = roads.snap([a, b])
    assert haversine(a, path[1]) == pytest.approx(access[0], abs=1e-6)
    assert haversine(path[-2], b) == pytest.approx(access[1], abs=1e-6)
    assert access.max() < 150.0
    assert roads.path(a, a) == [a]


def test_times_scale_with_the_hour_profile(
    osm: tuple[dict[int, Point], list[tuple[dict[str, str], list[int]]]],
) -> None:
    slow_at_8 = SpeedProfile(tuple(0.5 if h == 8 else 1.0 for h in range(24)))
    net = RoadNetworkProvider.from_osm_xml(FIXTURE, profile=slow_at_8)
    nodes, ways = osm
    pts = on_network(net, [nodes[refs[0]] for tags, refs in ways if "highway" in tags])[:10]
    night, rush = net.matrix(pts, hour=3), net.matrix(pts, hour=8)
    np.testing.assert_allclose(rush.time_s, 2.0 * night.time_s, rtol=1e-12)
    np.testing.assert_array_equal(rush.distance_m, night.distance_m)
    default = RoadNetworkProvider.from_osm_xml(FIXTURE)
    off = ~np.eye(len(pts), dtype=bool)
    assert np.all(default.matrix(pts, 17).time_s[off] > default.matrix(pts, 2).time_s[off])


def test_cache_does_not_change_results(roads: RoadNetworkProvider) -> None:
    pts = [(41.93, -87.72), (41.94, -87.71), (41.925, -87.705)]
    uncached = RoadNetworkProvider.from_osm_xml(
        FIXTURE, profile=SpeedProfile.constant(), cache_size=0
    )
    first, again = roads.matrix(pts, 4), roads.matrix(pts, 4)
    np.testing.assert_array_equal(first.time_s, again.time_s)
    np.testing.assert_array_equal(first.time_s, uncached.matrix(pts, 4).time_s)
    np.testing.assert_array_equal(first.distance_m, uncached.matrix(pts, 4).distance_m)


def test_factory_and_protocol() -> None:
    net = make_provider("osm-road", osm_path=FIXTURE, profile={"multipliers": [1.0] * 24})
    assert isinstance(net, RoadNetworkProvider) and isinstance(net, TravelProvider)
    assert net.name == "osm-road"
    assert isinstance(make_provider("street-grid"), StreetGridProvider)
    with pytest.raises(ValueError, match="osm_path"):
        make_provider("osm-road")
    with pytest.raises(ValueError, match="unknown"):
        make_provider("osrm")
    assert read_osm_xml(FIXTURE).drivable_ways == net.stats().drivable_ways


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.floats(BBOX[0], BBOX[2]), st.floats(BBOX[1], BBOX[3])),
        min_size=1,
        max_size=10,
    ),
    st.integers(0, 23),
)
def test_matrix_is_well_formed_inside_the_bbox(
    roads: RoadNetworkProvider, points: list[Point], hour: int
) -> None:
    m = roads.matrix(points, hour)
    n = len(points)
    assert m.distance_m.shape == m.time_s.shape == (n, n)
    assert np.all(np.isfinite(m.distance_m)) and np.all(np.isfinite(m.time_s))
    assert np.all(m.distance_m >= 0.0) and np.all(m.time_s >= 0.0)
    assert np.all(np.diag(m.distance_m) == 0.0) and np.all(np.diag(m.time_s) == 0.0)
    for i, j in itertools.permutations(range(n), 2):
        assert m.distance_m[i, j] >= haversine(points[i], points[j]) - 1e-6
