"""The evaluation grid, the city's area and the incident arrays."""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np
import pytest

from patrol.evaluation.events import Events, events_from_incidents
from patrol.evaluation.grid import Grid, city_cells
from patrol.incidents.parse import read_csv
from patrol.incidents.profile import CityProfile


def test_grid_cells_and_alignment() -> None:
    g = Grid.covering(-140.0, 10.0, 290.0, 160.0, cell_m=150.0)
    assert (g.x0, g.y0, g.nx, g.ny) == (-150.0, 0.0, 3, 2)
    assert g.cell_of([-150.0, -0.1, 0.0, 299.9, 300.0], [0.0, 0.0, 150.0, 299.9, 0.0]).tolist() == [
        0,
        0,
        3,
        5,
        -1,
    ]
    assert g.cell_of([np.nan], [0.0]).tolist() == [-1]
    xs, ys = g.centres([0, 5])
    assert xs.tolist() == [-75.0, 225.0] and ys.tolist() == [75.0, 225.0]
    assert g.counts([0, 0, 5, -1]).tolist() == [2.0, 0, 0, 0, 0, 1.0]
    assert g.flat(g.raster(np.arange(6.0))).tolist() == list(range(6))
    with pytest.raises(ValueError):
        Grid(0.0, 0.0, 0.0, 1, 1)


def test_grid_for_chicago_covers_every_incident(chicago: CityProfile) -> None:
    g = Grid.for_bbox(chicago.projection, chicago.bbox, 150.0)
    x, y = chicago.projection.forward_many(
        [chicago.bbox.min_lat, chicago.bbox.max_lat], [chicago.bbox.min_lon, chicago.bbox.max_lon]
    )
    assert (g.cell_of(x, y) >= 0).all()
    assert g.x0 % 150.0 == 0 and g.y0 % 150.0 == 0


def test_city_cells_two_years_window() -> None:
    cells = np.array([3, 3, 8, 1, 9, -1])
    t = np.array([0.0, 10.0, 20.0, 800.0, 5.0, 30.0])
    assert city_cells(cells, t, 0.0, 730.0).tolist() == [3, 8, 9]


def test_events_sorted_slices_and_read_only() -> None:
    ev = Events.from_arrays(t=[5.0, 1.0, 3.0, 3.0], x=[50, 10, 30, 31], y=[0, 0, 0, 0])
    assert ev.t.tolist() == [1.0, 3.0, 3.0, 5.0]
    assert ev.x.tolist() == [10.0, 30.0, 31.0, 50.0]  # stable: equal times keep their order
    assert len(ev.between(3.0, 5.0)) == 2 and len(ev.before(3.0)) == 1
    assert ev.index_of(3.0) == 1 and ev.t_max == 5.0
    with pytest.raises(ValueError):
        ev.t[0] = 99.0
    with pytest.raises(ValueError, match="sorted"):
        Events(np.array([2.0, 1.0]), *(np.zeros(2) for _ in range(2)),
               *(np.zeros(2, np.int8) for _ in range(2)), np.zeros(2, np.int16),
               np.zeros(2, bool), np.zeros(2, np.int16))  # fmt: skip
    both = ev.before(3.0).concat(ev.between(3.0, 9.0))
    assert both.t.tolist() == ev.t.tolist()
    with pytest.raises(ValueError, match="older"):
        ev.concat(ev)


def test_events_from_real_incidents(
    chicago: CityProfile, slicer: Callable[[set[str], int], str]
) -> None:
    text = slicer({"008", "011"}, 3)
    incidents = read_csv(io.StringIO(text), chicago).incidents
    ev = events_from_incidents(iter(incidents), chicago.projection)
    assert len(ev) == len(incidents) > 100
    assert set(ev.areas) == {"8", "11"} and (ev.area >= 0).all()
    first = min(incidents, key=lambda i: (i.occurred_at, incidents.index(i)))
    assert ev.t[0] == pytest.approx(first.occurred_at.timestamp() / 86400)
    assert ev.hour[0] == first.occurred_at.hour and ev.dow[0] == first.occurred_at.weekday()
    assert ev.kinds[ev.kind[0]] == first.primary_type
    assert ev.in_area("8").area.tolist() == [ev.areas.index("8")] * len(ev.in_area("8"))
    assert len(ev.in_area("99")) == 0
