"""The incremental array view of a cell table equals a fresh ``table_arrays`` at every read."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from patrol.learners import KDEHotspot, LinearTrend
from patrol.learners.base import Observation
from patrol.learners.clusters import Clustering
from patrol.learners.decay import SortedCells, add_weight, subtract_from, table_arrays

cells = st.tuples(st.integers(-40, 40), st.integers(-40, 40))
# (cell, weight, read afterwards?); weight 0 means "forget one event of that cell"
edits = st.lists(
    st.tuples(cells, st.sampled_from([0.0, 0.5, 1.0, 2.25, 1e-3]), st.booleans()),
    min_size=1,
    max_size=120,
)


def _same(view: SortedCells, table: dict[tuple[int, int], list[float]]) -> None:
    got_ij, got_vals = view.arrays(table)
    ij, vals = table_arrays(table)
    assert got_ij.dtype == ij.dtype and got_vals.dtype == vals.dtype
    assert got_ij.shape == ij.shape and got_vals.shape == vals.shape
    assert np.array_equal(got_ij, ij)
    assert got_vals.tobytes() == vals.tobytes()  # bit for bit


@settings(max_examples=200, deadline=None)
@given(edits, st.integers(0, 100))
def test_view_matches_table_arrays_after_any_edits(ops: list, prefill: int) -> None:
    # prefilled cells interleave with the edited ones, so that most reads update in place
    table = {(i % 50 - 25, 2 * (i // 50) - 1): [0.25 * i, 1.0] for i in range(prefill)}
    view = SortedCells()
    _same(view, table)
    for key, w, read in ops:
        if w == 0.0:
            if key in table:
                subtract_from(table, key, (table[key][0] / table[key][-1],))
                view.touch(key)
        else:
            add_weight(table, key, w)
            view.touch(key)
        if read:
            _same(view, table)
    _same(view, table)


def test_arrays_returned_earlier_are_never_changed() -> None:
    table = {(i, 0): [1.0, 1.0] for i in range(20)}
    view = SortedCells()
    ij, vals = view.arrays(table)
    before = (ij.copy(), vals.copy())
    add_weight(table, (3, 0), 5.0)
    view.touch((3, 0))
    add_weight(table, (-7, 2), 1.0)
    view.touch((-7, 2))
    new_ij, new_vals = view.arrays(table)
    assert np.array_equal(ij, before[0]) and np.array_equal(vals, before[1])
    assert new_vals[new_ij.tolist().index([3, 0]), 0] == 6.0
    with pytest.raises(ValueError):
        new_vals[0, 0] = 1.0  # read-only


def test_huge_cell_indices_fall_back_to_full_rebuilds() -> None:
    table = {(0, 0): [1.0, 1.0], (2**40, -(2**41)): [2.0, 1.0]}
    view = SortedCells()
    _same(view, table)
    for i in range(10):
        add_weight(table, (i, 2**35), 1.0)
        view.touch((i, 2**35))
        _same(view, table)


def _observations(n: int) -> list[Observation]:
    rng = np.random.default_rng(5)
    xy = rng.normal(0.0, 800.0, size=(n, 2))
    t = 17000.0 + np.sort(rng.uniform(0.0, 400.0, size=n))  # crosses landmark moves
    return [Observation(float(x), float(y), float(ti), 0) for (x, y), ti in zip(xy, t, strict=True)]


@pytest.mark.parametrize("half_life", [30.0, math.inf])
def test_learners_predict_as_with_fresh_arrays(half_life: float) -> None:
    """KDE hotspots and trend points read through the view equal those of a fresh learner
    rebuilt from the same state (whose view starts empty), after learning and forgetting."""
    obs = _observations(600)
    kde, trend = KDEHotspot(half_life_days=half_life), LinearTrend(half_life_days=half_life)
    clustering = Clustering(np.array([[0.0, 0.0], [900.0, 900.0], [-900.0, 400.0]]), 0.0)
    for i, o in enumerate(obs):
        kde.learn_one(o)
        trend.learn_one(o)
        if i % 7 == 3:
            kde.forget_one(obs[i - 2])
            trend.forget_one(obs[i - 2])
        if i % 50 == 49:
            fresh_kde = KDEHotspot.from_dict(kde.to_dict())
            fresh_trend = LinearTrend.from_dict(trend.to_dict())
            assert kde.predict_hotspots(clustering, o.t) == fresh_kde.predict_hotspots(
                clustering, o.t
            )
            assert trend.predict_points(clustering, o.t + 0.2) == fresh_trend.predict_points(
                clustering, o.t + 0.2
            )
