"""Tests for the Manhattan street-grid provider (CPSPA phase 4, paper section 5.4).

Expected distances are computed here from first principles: one degree of latitude is
``pi / 180 * R`` metres with the mean Earth radius ``R = 6371008.8`` m, and one degree of
longitude is that times ``cos(latitude)``. The provider's documented route is the shorter
L: its east-west leg runs at the latitude nearer the pole.
"""

from __future__ import annotations

import itertools
import math
import timeit

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from patrol.travel import StreetGridProvider, TravelProvider
from patrol.travel.speed import SpeedProfile

R_EARTH = 6_371_008.8
M_PER_DEG = math.pi / 180.0 * R_EARTH  # 111 195.08 m

Point = tuple[float, float]


def manhattan_m(a: Point, b: Point) -> float:
    """Independent reference: the shorter of the two L-shaped routes from a to b."""
    ns = abs(a[0] - b[0]) * M_PER_DEG
    ew_a = abs(a[1] - b[1]) * math.cos(math.radians(a[0])) * M_PER_DEG
    ew_b = abs(a[1] - b[1]) * math.cos(math.radians(b[0])) * M_PER_DEG
    return ns + min(ew_a, ew_b)


def polyline_m(points: list[Point]) -> float:
    """Length of a polyline of N-S / E-W legs (E-W legs at their own latitude)."""
    total = 0.0
    for (lat1, lon1), (lat2, lon2) in itertools.pairwise(points):
        assert lat1 == lat2 or lon1 == lon2, "legs must be N-S or E-W"
        ew = abs(lon1 - lon2) * math.cos(math.radians(lat1))
        total += (abs(lat1 - lat2) + ew) * M_PER_DEG
    return total


chicago = st.tuples(
    st.floats(min_value=41.64, max_value=42.02), st.floats(min_value=-87.94, max_value=-87.52)
)
continent = st.tuples(
    st.floats(min_value=25.0, max_value=70.0), st.floats(min_value=-125.0, max_value=-65.0)
)


def test_hand_computed_north_south_block() -> None:
    # 0.01 degree of latitude = 1111.95 m, whatever the longitude.
    grid = StreetGridProvider(speed_kmh=36.0, profile=SpeedProfile.constant())
    m = grid.matrix([(41.90, -87.70), (41.91, -87.70)], hour=12)
    assert m.distance_m[0, 1] == pytest.approx(1111.95, abs=0.01)
    assert m.time_s[0, 1] == pytest.approx(111.195, abs=0.001)  # 36 km/h = 10 m/s


def test_hand_computed_manhattan_distance_and_time() -> None:
    a, b, c = (41.90, -87.70), (41.91, -87.68), (41.925, -87.72)
    grid = StreetGridProvider(speed_kmh=30.0, profile=SpeedProfile.constant())
    m = grid.matrix([a, b, c], hour=0)
    # a -> b: 0.01 deg N (1111.95 m) + 0.02 deg E along b's (northern) street at 41.91 N.
    expected_ab = 1111.9508 + 0.02 * math.cos(math.radians(41.91)) * 111_195.08
    assert m.distance_m[0, 1] == pytest.approx(expected_ab, rel=1e-6)
    assert m.distance_m[0, 1] == pytest.approx(2767.0, abs=1.0)
    assert m.distance_m[1, 2] == pytest.approx(manhattan_m(b, c), rel=1e-9)
    assert m.distance_m[0, 2] == pytest.approx(manhattan_m(a, c), rel=1e-9)
    assert m.time_s[0, 1] == pytest.approx(expected_ab / (30.0 / 3.6), rel=1e-6)


def test_circuity_inflates_distance_and_time() -> None:
    pts = [(41.90, -87.70), (41.93, -87.66)]
    plain = StreetGridProvider(profile=SpeedProfile.constant()).matrix(pts, hour=5)
    bent = StreetGridProvider(profile=SpeedProfile.constant(), circuity=1.25).matrix(pts, 5)
    assert bent.distance_m[0, 1] == pytest.approx(1.25 * manhattan_m(*pts), rel=1e-9)
    assert bent.time_s[0, 1] == pytest.approx(1.25 * plain.time_s[0, 1], rel=1e-9)


def test_rush_hour_is_slower_than_night() -> None:
    grid = StreetGridProvider()
    pts = [(41.90, -87.70), (41.93, -87.66), (41.88, -87.63)]
    night, rush = grid.matrix(pts, hour=3), grid.matrix(pts, hour=8)
    np.testing.assert_array_equal(night.distance_m, rush.distance_m)
    off = ~np.eye(3, dtype=bool)
    assert np.all(rush.time_s[off] > night.time_s[off])
    # Default profile: free flow (1.0) at 3 h, 0.6 at 8 h -> times are 1 / 0.6 longer.
    np.testing.assert_allclose(rush.time_s[off], night.time_s[off] / 0.6)


def test_empty_and_single_point() -> None:
    grid = StreetGridProvider()
    assert grid.matrix([], hour=0).distance_m.shape == (0, 0)
    one = grid.matrix([(41.9, -87.7)], hour=0)
    assert one.distance_m.tolist() == [[0.0]] and one.time_s.tolist() == [[0.0]]


@pytest.mark.parametrize("kwargs", [{"speed_kmh": 0.0}, {"speed_kmh": math.nan}, {"circuity": 0.9}])
def test_invalid_options_are_rejected(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        StreetGridProvider(**kwargs)  # type: ignore[arg-type]


def test_invalid_queries_are_rejected() -> None:
    grid = StreetGridProvider()
    with pytest.raises(ValueError):
        grid.matrix([(41.9, -87.7)], hour=24)
    with pytest.raises(ValueError):
        grid.matrix([(141.9, -87.7)], hour=0)
    with pytest.raises(ValueError):
        grid.path((41.9, math.nan), (41.9, -87.7))


def test_is_a_travel_provider() -> None:
    grid = StreetGridProvider(name="grid-test")
    assert isinstance(grid, TravelProvider)
    assert grid.name == "grid-test"


@given(st.lists(chicago, min_size=1, max_size=12), st.integers(min_value=0, max_value=23))
def test_matrix_shape_symmetry_and_zero_diagonal(points: list[Point], hour: int) -> None:
    m = StreetGridProvider().matrix(points, hour)
    n = len(points)
    assert m.distance_m.shape == m.time_s.shape == (n, n)
    assert np.all(np.isfinite(m.time_s)) and np.all(m.distance_m >= 0.0)
    assert np.all(np.diag(m.distance_m) == 0.0) and np.all(np.diag(m.time_s) == 0.0)
    np.testing.assert_array_equal(m.distance_m, m.distance_m.T)
    np.testing.assert_array_equal(m.time_s, m.time_s.T)


@given(chicago, chicago)
def test_matches_independent_reference(a: Point, b: Point) -> None:
    m = StreetGridProvider().matrix([a, b], hour=0)
    # abs: float noise of a micrometre when the two points nearly coincide
    assert m.distance_m[0, 1] == pytest.approx(manhattan_m(a, b), rel=1e-9, abs=1e-6)


@settings(max_examples=300)
@given(st.sampled_from([chicago, continent]).flatmap(lambda s: st.tuples(s, s, s)))
def test_triangle_inequality(triple: tuple[Point, Point, Point]) -> None:
    a, b, c = triple
    d = StreetGridProvider().matrix([a, b, c], hour=10).distance_m
    tol = 1e-9 * (1.0 + d.max())
    assert d[0, 2] <= d[0, 1] + d[1, 2] + tol
    assert d[0, 1] <= d[0, 2] + d[2, 1] + tol
    assert d[1, 2] <= d[1, 0] + d[0, 2] + tol


@given(st.lists(chicago, min_size=2, max_size=8, unique=True))
def test_entries_do_not_depend_on_the_other_points(points: list[Point]) -> None:
    grid = StreetGridProvider()
    full = grid.matrix(points, hour=17).distance_m
    pair = grid.matrix([points[0], points[-1]], hour=17).distance_m
    assert full[0, -1] == pytest.approx(pair[0, 1], rel=1e-12, abs=1e-9)


@given(chicago, chicago)
def test_path_is_an_l_with_the_matrix_length(a: Point, b: Point) -> None:
    grid = StreetGridProvider()
    path = grid.path(a, b)
    assert path[0] == a and path[-1] == b
    assert len(path) <= 3
    if len(path) == 3:
        northern, southern = (a, b) if a[0] >= b[0] else (b, a)
        assert path[1] == (northern[0], southern[1])  # E-W leg on the northern street
    expected = grid.matrix([a, b], hour=0).distance_m[0, 1]
    assert polyline_m(path) == pytest.approx(expected, rel=1e-9, abs=1e-6)
    assert polyline_m(path) == pytest.approx(manhattan_m(a, b), rel=1e-9, abs=1e-6)


def test_path_to_itself_is_a_single_point() -> None:
    assert StreetGridProvider().path((41.9, -87.7), (41.9, -87.7)) == [(41.9, -87.7)]


def test_fifteen_point_matrix_is_well_under_a_millisecond() -> None:
    rng = np.random.default_rng(7)
    pts = list(zip(rng.uniform(41.64, 42.02, 15), rng.uniform(-87.94, -87.52, 15), strict=True))
    grid = StreetGridProvider()
    best = min(timeit.repeat(lambda: grid.matrix(pts, hour=8), number=50, repeat=5)) / 50
    assert best < 1e-3
