"""Route maps (``simulators.plot``): the PNGs and what is drawn on them."""

from __future__ import annotations

import itertools
import json
import struct
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from matplotlib.figure import Figure

from patrol.incidents.areas import AreaLocator
from patrol.incidents.profile import CityProfile, load_profile
from patrol.routes import Route, Waypoint, validate_route_geojson
from simulators.plot import (
    DPI,
    FIGSIZE,
    city_figure,
    district_figure,
    plot_route,
    plot_routes,
    plot_run,
)

CHICAGO = ZoneInfo("America/Chicago")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
Doc = dict[str, Any]


def make_route(
    start: tuple[float, float],
    district: str,
    offsets: Sequence[tuple[float, float]],
    shift: str = "16-24",
) -> Route:
    """A route from ``start`` through way-points at (dlat, dlon) offsets, 7 minutes apart."""
    t0 = datetime(2016, 10, 31, int(shift[:2]), tzinfo=CHICAGO)
    lat0, lon0 = start
    wps = tuple(
        Waypoint(i, lat0 + a, lon0 + b, t0 + timedelta(minutes=7 * i), 0.3, i, 900.0, 420.0)
        for i, (a, b) in enumerate(offsets, start=1)
    )
    return Route(
        district=district, shift=shift, date="2016-10-31", unit=1, version=1, planner="test",
        generated_at=t0, start=start, waypoints=wps,
        path=(start, *((w.latitude, w.longitude) for w in wps)),
        total_distance_m=900.0 * len(wps), total_time_s=420.0 * len(wps), expected_incidents=2.5,
    )  # fmt: skip


@pytest.fixture(scope="module")
def locator(chicago: CityProfile) -> AreaLocator:
    return AreaLocator(chicago)


@pytest.fixture(scope="module")
def routes(locator: AreaLocator) -> list[Doc]:
    """Districts 12, 1 and 8 (out of natural order); district 8's first two way-points coincide."""
    same = (0.01, 0.01)
    made = [
        make_route(locator.station_for("12"), "12", [(0.01, 0.0), (0.01, 0.012)]),
        make_route(locator.station_for("1"), "1", [(0.006, 0.0), (0.012, 0.004), (-0.004, 0.0)]),
        make_route(locator.station_for("8"), "8", [same, same, (-0.02, 0.0), (0.0, -0.03)]),
    ]
    docs = [r.to_geojson() for r in made]
    assert all(validate_route_geojson(d) == [] for d in docs)
    return docs


def gids(fig: Figure, gid: str) -> list[Any]:
    """Artists of the map with ``gid`` (lines, texts and annotations)."""
    ax = fig.axes[0]
    return [a for a in [*ax.lines, *ax.texts] if a.get_gid() == gid]


def assert_png(path: Path) -> None:
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC
    width, height = struct.unpack(">II", data[16:24])  # the IHDR chunk
    assert (width, height) == (int(FIGSIZE[0] * DPI), int(FIGSIZE[1] * DPI))
    assert 20_000 < len(data) < 1_000_000


def test_plot_routes_writes_a_png(routes: list[Doc], chicago: CityProfile, tmp_path: Path) -> None:
    out = plot_routes(routes, chicago, tmp_path / "sub" / "map.png", "Test routes")
    assert out == tmp_path / "sub" / "map.png"
    assert_png(out)


def test_city_figure_draws_every_route_station_and_way_point(
    routes: list[Doc], locator: AreaLocator
) -> None:
    fig = city_figure(routes, locator, "Test routes")
    assert fig.get_suptitle() == "Test routes"
    assert len(gids(fig, "path")) == len(routes) == len(gids(fig, "station"))
    numbers = [t.get_text() for t in gids(fig, "waypoint")]
    n_points = [len(r["features"]) - 1 for r in routes]
    assert len(numbers) == sum(n_points)
    # routes are drawn in natural district order (1, 8, 12), each numbered 1..n
    assert numbers == [str(i) for n in (3, 4, 2) for i in range(1, n + 1)]
    colours = {line.get_color() for line in gids(fig, "path")}
    assert len(colours) == len(routes)
    assert sorted(t.get_text() for t in gids(fig, "district")) == sorted(locator.areas())
    box = fig.axes[0].get_legend()
    assert box is not None
    legend = [t.get_text().split() for t in box.get_texts()]
    assert [row[0] for row in legend[:3]] == ["1", "8", "12"]
    assert legend[0][1:] == ["2.7", "21", "3"]  # km, minutes, stops of district 1


def test_overlapping_way_points_are_nudged_apart(routes: list[Doc], locator: AreaLocator) -> None:
    fig = city_figure(routes, locator, "")
    xy = np.array([t.get_position() for t in gids(fig, "waypoint")])
    gaps = [np.hypot(*(a - b)) for a, b in itertools.combinations(xy, 2)]
    assert min(gaps) > 0.5  # km: a 12 pt marker is about 0.7 km at city scale
    assert np.all(np.isfinite(xy))


def test_district_figure_zooms_and_labels_each_eta(routes: list[Doc], locator: AreaLocator) -> None:
    route = routes[2]  # district 8
    fig = district_figure(route, locator)
    assert fig.get_suptitle().startswith("District 8  ·  2016-10-31  ·  shift 16-24")
    assert len(gids(fig, "path")) == 1 == len(gids(fig, "station")) == len(gids(fig, "start"))
    etas = [t.get_text() for t in gids(fig, "eta")]
    assert etas == ["1 · 16:07", "2 · 16:14", "3 · 16:21", "4 · 16:28"]
    assert [t.get_text() for t in gids(fig, "waypoint")] == ["1", "2", "3", "4"]
    assert gids(fig, "start")[0].get_text() == "start 16:00"
    city = city_figure(routes, locator, "").axes[0]
    zoom = fig.axes[0]
    assert np.ptp(zoom.get_xlim()) < np.ptp(city.get_xlim()) / 2  # zoomed in
    assert "8" not in {t.get_text() for t in gids(fig, "district")}  # only neighbours' ids


def test_plot_route_writes_a_png(routes: list[Doc], chicago: CityProfile, tmp_path: Path) -> None:
    assert_png(plot_route(routes[1], chicago, tmp_path / "route.png", title="District 1"))


def test_route_objects_are_accepted(locator: AreaLocator) -> None:
    route = make_route(locator.station_for("11"), "11", [(0.005, 0.005), (-0.005, 0.01)])
    fig = city_figure([route], locator, "")
    assert len(gids(fig, "path")) == 1
    assert len(gids(fig, "waypoint")) == 2


def test_plot_run_writes_one_overview_per_date_and_shift(
    routes: list[Doc], locator: AreaLocator, chicago: CityProfile, tmp_path: Path
) -> None:
    assert plot_run(tmp_path, chicago) == []
    night = make_route(locator.station_for("8"), "8", [(0.01, 0.0)], shift="00-08").to_geojson()
    for doc in [*routes, night]:
        name = f"{doc['date']}_{doc['shift']}_district-{doc['district']}.geojson"
        (tmp_path / name).write_text(json.dumps(doc))
    (tmp_path / "run_report.json").write_text("{}")
    (tmp_path / "not-a-route.geojson").write_text(json.dumps({"type": "FeatureCollection"}))
    written = plot_run(tmp_path, chicago)
    assert written == [tmp_path / "2016-10-31_00-08.png", tmp_path / "2016-10-31_16-24.png"]
    for path in written:
        assert_png(path)


def test_a_city_without_districts_still_gets_a_map(tmp_path: Path) -> None:
    grid = load_profile("example_grid_city")
    route = make_route(grid.bbox.centre, "g0_0", [(0.004, 0.0), (0.004, 0.006)], "08-16")
    fig = city_figure([route.to_geojson()], grid, "Springfield")
    assert len(gids(fig, "path")) == 1
    assert gids(fig, "district") == []
    assert_png(plot_route(route, grid, tmp_path / "grid.png"))
