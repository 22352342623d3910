"""Per-cell features on hand-built incidents: known values, only the past, any subset of cells."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from patrol.evaluation.events import Events
from patrol.evaluation.grid import Grid
from patrol.forecast.base import period_slots
from patrol.forecast.features import cell_features, feature_names

GRID = Grid(100.0, 0.0, 0.0, 7, 7)
UTC = ZoneInfo("UTC")


def _events() -> Events:
    # cell (3, 3) = 24: incidents at days -10, 300, 360, 361 (a THEFT at 18:00 on day 361),
    # and 370 (the future, relative to the origin 365); cell (4, 3) = 31: one at day 362.
    t = [-10.0, 300.0, 360.0, 361.75, 362.5, 370.0]
    xy = [(350.0, 350.0)] * 4 + [(450.0, 350.0), (350.0, 350.0)]
    kinds = [1, 0, 0, 1, 0, 1]
    hours = [datetime.fromtimestamp(v * 86400, UTC).hour for v in t]
    dows = [datetime.fromtimestamp(v * 86400, UTC).weekday() for v in t]
    return Events.from_arrays(
        t=t, x=[p[0] for p in xy], y=[p[1] for p in xy], hour=hours, dow=dows, kind=kinds,
        domestic=[True, False, False, False, False, False], kinds=("BATTERY", "THEFT"),
    )  # fmt: skip


def _features(cells: list[int], start: float = 365.0, days: float = 7.0) -> dict[str, list]:
    ev = _events()
    x = cell_features(
        ev, GRID.cell_of(ev.x, ev.y), GRID, np.array(cells), start, days,
        period_slots(start, days, UTC), kinds=("THEFT", "ARSON"),
    )  # fmt: skip
    names = feature_names(("THEFT", "ARSON"))
    return {n: x[:, j].tolist() for j, n in enumerate(names)}


def test_known_values_of_the_centre_cell_and_its_neighbour() -> None:
    f = _features([24, 31, 0])
    assert f["n_period"] == [2.0, 1.0, 0.0]  # days 358-365: 360 and 361.75; 362.5
    assert f["n_28d"] == [2.0, 1.0, 0.0]
    assert f["n_365d"] == [3.0, 1.0, 0.0]  # day -10 is older than a year
    assert f["n_730d"] == [4.0, 1.0, 0.0]
    assert f["decay_3d"][0] == pytest.approx(2 ** (-5 / 3) + 2 ** (-3.25 / 3))
    assert f["ring1_365d"] == [1.0, 3.0, 0.0]  # the neighbours' incidents
    assert f["ring1_decay_3d"][1] == pytest.approx(f["decay_3d"][0])
    assert f["ring2_365d"] == [0.0, 0.0, 0.0]
    assert f["active_days_365d"] == [3.0, 1.0, 0.0]
    assert f["days_since_last"] == pytest.approx([3.25, 2.5, 730.0])
    assert f["kind_THEFT"] == [1.0, 0.0, 0.0] and f["kind_ARSON"] == [0.0, 0.0, 0.0]
    assert f["domestic_365d"] == [0.0, 0.0, 0.0]  # the domestic one is two years old
    assert f["tod_18"] == [1.0, 0.0, 0.0]  # day 361.75 = 18:00 UTC
    assert f["period_hours_365d"] == f["n_365d"]  # a week covers every weekly hour


def test_future_incidents_are_never_read() -> None:
    ev = _events()
    full = _features([24, 31])
    past = ev.before(365.0)
    x = cell_features(
        past, GRID.cell_of(past.x, past.y), GRID, np.array([24, 31]), 365.0, 7.0,
        period_slots(365.0, 7.0, UTC), kinds=("THEFT", "ARSON"),
    )  # fmt: skip
    assert x.tolist() == [list(r) for r in zip(*full.values(), strict=True)]


def test_a_subset_of_cells_gets_the_same_rows() -> None:
    everything = np.arange(GRID.size)
    ev = _events()
    args = (ev, GRID.cell_of(ev.x, ev.y), GRID)
    rest = (365.0, 7.0, period_slots(365.0, 7.0, UTC))
    all_rows = cell_features(*args, everything, *rest)
    some = np.array([31, 24, 17])
    assert cell_features(*args, some, *rest).tolist() == all_rows[some].tolist()
