"""Placement into districts (point-in-polygon) and the grid / city-wide fallbacks."""

from __future__ import annotations

import csv
import math
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import shapely

from patrol.incidents import Incident, load_profile, profile_from_dict
from patrol.incidents.areas import AreaLocator

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
CHICAGO_DISTRICTS = [str(d) for d in [*range(1, 13), *range(14, 21), 22, 24, 25, 31]]
EARTH_R = 6371008.8


@pytest.fixture(scope="module")
def chicago() -> AreaLocator:
    return AreaLocator(load_profile("chicago"))


@pytest.fixture(scope="module")
def grid() -> AreaLocator:
    return AreaLocator(load_profile("example_grid_city"))


def test_chicago_areas_are_the_districts(chicago: AreaLocator) -> None:
    assert chicago.kind == "districts"
    assert chicago.areas() == CHICAGO_DISTRICTS


def test_each_station_lies_in_its_own_district(chicago: AreaLocator) -> None:
    stations = load_profile("chicago").stations()
    assert len(stations) == 22
    for district, (lat, lon) in stations.items():
        assert chicago.locate(lat, lon) == district, district
        assert chicago.locate_exact(lat, lon) == district, district


@pytest.mark.parametrize(
    ("lat", "lon", "district"),
    [
        (41.8584, -87.6274, "1"),  # 1718 S State St, 1st district (Central) station
        (41.8827, -87.6233, "1"),  # Millennium Park, the Loop
        (41.9484, -87.6553, "19"),  # Wrigley Field, Lakeview
        (41.7664, -87.6057, "3"),  # 7040 S Cottage Grove Ave, 3rd district station
        (41.7079, -87.5683, "4"),  # 2255 E 103rd St, 4th district station
    ],
)
def test_known_places(chicago: AreaLocator, lat: float, lon: float, district: str) -> None:
    assert chicago.locate(lat, lon) == district


def test_points_outside_every_district(chicago: AreaLocator) -> None:
    # Lake Michigan east of the Loop: in no polygon, given to the nearest district.
    assert chicago.locate_exact(41.88, -87.55) is None
    assert chicago.locate(41.88, -87.55) in {"1", "18"}
    # North-west corner of the bbox, beyond O'Hare: nearest is district 16.
    assert chicago.locate_exact(42.06, -87.98) is None
    assert chicago.locate(42.06, -87.98) == "16"


def test_fixture_rows_mostly_match_the_recorded_district(chicago: AreaLocator) -> None:
    with (FIXTURES / "chicago_rows.csv").open(newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["Latitude"] and float(r["Latitude"]) > 41]
    assert len(rows) > 150
    located = [chicago.locate(float(r["Latitude"]), float(r["Longitude"])) for r in rows]
    agree = sum(a == r["District"].lstrip("0") for a, r in zip(located, rows, strict=True))
    assert agree / len(rows) >= 0.95  # 98.5 % on 200,000 rows; boundary streets are ambiguous
    many = chicago.locate_many([float(r["Latitude"]) for r in rows],
                               [float(r["Longitude"]) for r in rows])  # fmt: skip
    assert many == located


def test_locate_many_matches_locate_on_a_lattice(chicago: AreaLocator) -> None:
    lats = [41.60 + 0.47 * i / 40 for i in range(41)]
    lons = [-87.99 + 0.51 * j / 40 for j in range(41)]
    pts = [(a, b) for a in lats for b in lons]
    one = [chicago.locate(a, b) for a, b in pts]
    assert chicago.locate_many([p[0] for p in pts], [p[1] for p in pts]) == one
    assert set(one) <= set(CHICAGO_DISTRICTS)
    assert len(set(one)) >= 20


def test_lookup_grid_agrees_with_brute_force(chicago: AreaLocator) -> None:
    """Over the whole bbox: contained -> that district, else the nearest one (lowest id)."""
    lats = [41.60 + 0.47 * i / 60 for i in range(61)]
    lons = [-87.99 + 0.51 * j / 60 for j in range(61)]
    pts = [(a, b) for a in lats for b in lons]
    geoms = {d: chicago.geometry(d) for d in CHICAGO_DISTRICTS}
    points = shapely.points([b for _, b in pts], [a for a, _ in pts])
    dist = {d: shapely.distance(g, points) for d, g in geoms.items()}
    for k, (lat, lon) in enumerate(pts):
        best = min(CHICAGO_DISTRICTS, key=lambda d: (dist[d][k], CHICAGO_DISTRICTS.index(d)))
        assert chicago.locate(lat, lon) == best, (lat, lon)
    outside = sum(1 for k in range(len(pts)) if min(dist[d][k] for d in geoms) > 0)
    assert outside > 1000  # the lattice really exercises the nearest-district path


def test_station_for(chicago: AreaLocator) -> None:
    assert chicago.station_for("1") == (41.85837259, -87.62735617)
    assert chicago.station_for("001") == (41.85837259, -87.62735617)
    lat, lon = chicago.station_for("31")  # no station: a point of district 31 itself
    assert chicago.geometry("31").contains(shapely.Point(lon, lat))
    with pytest.raises(KeyError, match="13"):
        chicago.station_for("13")  # district 13 was merged away in 2012


def test_place_fills_only_a_missing_district(chicago: AreaLocator) -> None:
    t = datetime(2016, 5, 1, tzinfo=timezone(timedelta(hours=-5)))
    bare = Incident("1", t, 41.9484, -87.6553)
    assert chicago.place(bare).district == "19"
    recorded = Incident("2", t, 41.9484, -87.6553, district="18")
    assert chicago.place(recorded) is recorded


def _cell(lat: float, lon: float, lat0: float, lon0: float, size: float) -> str:
    """Independent re-derivation of the grid cell id (equirectangular, origin lat0/lon0)."""
    ky = math.radians(1) * EARTH_R
    kx = ky * math.cos(math.radians(lat0))
    return f"g{math.floor((lon - lon0) * kx / size)}_{math.floor((lat - lat0) * ky / size)}"


@pytest.mark.parametrize(
    ("lat", "lon", "cell"),
    [
        (39.781, -89.649, "g0_0"),
        (39.8012, -89.6510, "g-1_4"),
        (39.77, -89.67, "g-4_-3"),
        (39.755, -89.62, "g5_-6"),
        (39.79, -89.63, "g3_2"),
    ],
)
def test_grid_cells(grid: AreaLocator, lat: float, lon: float, cell: str) -> None:
    assert grid.kind == "grid"
    assert _cell(lat, lon, 39.78, -89.65, 500.0) == cell  # the hand values are consistent
    assert grid.locate(lat, lon) == cell
    assert grid.locate_many([lat], [lon]) == [cell]


def test_grid_station_is_the_cell_centre(grid: AreaLocator) -> None:
    ky = math.radians(1) * EARTH_R
    kx = ky * math.cos(math.radians(39.78))
    lat, lon = grid.station_for("g3_2")
    assert lat == pytest.approx(39.78 + 2.5 * 500 / ky, abs=1e-9)
    assert lon == pytest.approx(-89.65 + 3.5 * 500 / kx, abs=1e-9)
    assert grid.locate(lat, lon) == "g3_2"
    assert grid.geometry("g3_2").contains(shapely.Point(lon, lat))
    with pytest.raises(KeyError):
        grid.station_for("district-7")


def test_grid_areas_cover_the_bbox(grid: AreaLocator) -> None:
    # bbox 39.70..39.86 x -89.75..-89.55 around (39.78, -89.65): cells -18..17 both ways.
    areas = grid.areas()
    assert len(areas) == 36 * 36
    assert {"g-18_-18", "g17_17", "g0_0"} <= set(areas)
    assert grid.locate(39.70, -89.75) in areas and grid.locate(39.86, -89.55) in areas


def test_city_wide_area() -> None:
    p = profile_from_dict(
        {
            "name": "one",
            "timezone": "UTC",
            "columns": {"id": "i", "occurred_at": "t", "latitude": "y", "longitude": "x"},
            "bbox": {"min_lat": 10, "max_lat": 12, "min_lon": 20, "max_lon": 24},
        }
    )
    loc = AreaLocator(p)
    assert loc.kind == "city"
    assert loc.locate(11.5, 21.0) == "city"
    assert loc.areas() == ["city"]
    assert loc.station_for("city") == (11.0, 22.0)
    with pytest.raises(KeyError):
        loc.station_for("g0_0")
