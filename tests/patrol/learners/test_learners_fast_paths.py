"""The learners' fast paths give the bits of the straightforward computations they replace.

Each test computes the result the plain way (scipy's ``gaussian_filter``, ``np.add.at`` and
per-cluster masks, a fresh ``RandomState`` per ``k``, a learner rebuilt from its dict with no
cache) and requires exact equality, not closeness: the streaming policy's routes must not move.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.ndimage import gaussian_filter

from patrol.learners import LinearTrend, SpaceTimeTable, SpatialClusterer
from patrol.learners.base import Observation
from patrol.learners.clusters import Clustering
from patrol.learners.decay import quantize, table_arrays
from patrol.learners.kde import KDEHotspot, smooth
from patrol.learners.kmeans import _kmeans_prepared, _Prepared, weighted_kmeans

if TYPE_CHECKING:
    from conftest import District


@settings(max_examples=150, deadline=None)
@given(
    st.integers(1, 40),
    st.integers(1, 40),
    st.floats(0.05, 12.0),
    st.integers(0, 2**16),
)
def test_smooth_is_gaussian_filter_bit_for_bit(nx: int, ny: int, sigma: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    grid = np.where(rng.random((nx, ny)) < 0.3, rng.random((nx, ny)), 0.0)
    got = smooth(grid, sigma)
    assert got.tobytes() == gaussian_filter(grid, sigma, mode="constant").tobytes()
    assert not np.shares_memory(got, grid)


def test_kde_density_of_distinct_cells_is_the_add_at_density() -> None:
    rng = np.random.default_rng(3)
    kde = KDEHotspot()
    rc = np.unique(rng.integers(0, 30, size=(200, 2)), axis=0)
    w = rng.random(len(rc)) + 1e-3
    fast = kde._density(rc, w, (30, 30), 3.0, distinct=True)
    plain = kde._density(rc, w, (30, 30), 3.0, distinct=False)
    assert fast.tobytes() == plain.tobytes()


def test_elbow_fits_sharing_prepared_data_equal_separate_fits() -> None:
    rng = np.random.default_rng(11)
    pts = np.round(rng.normal(0.0, 1500.0, size=(260, 2)) / 150.0) * 150.0 + 75.0
    pts = np.unique(pts, axis=0)
    w = quantize(rng.random(len(pts)) ** 2 + 1e-6)
    w = quantize(w / w.sum())
    data = _Prepared.of(pts, w)
    for k in [2, 3, 5, 3, 8, 15, 2]:  # the seeded generator is reused and reset per fit
        shared = _kmeans_prepared(data, k, n_init=3, seed=0)
        alone = weighted_kmeans(pts, w, k, n_init=3, seed=0)
        assert shared[0].tobytes() == alone[0].tobytes()
        assert shared[1] == alone[1]


def _reference_points(
    trend: LinearTrend, clustering: Clustering, at: float
) -> list[tuple[float, float] | None]:
    """``predict_points`` as first written: ``np.add.at`` sums and per-cluster boxes."""
    ij, vals = table_arrays(trend._cells)
    cell = trend.cell_m
    labels = clustering.assign((ij[:, 0] + 0.5) * cell, (ij[:, 1] + 0.5) * cell)
    sums = np.zeros((clustering.k, 7))
    np.add.at(sums, labels, vals[:, :7])
    tau_at = at - (trend._decay.t_ref or 0.0)
    out: list[tuple[float, float] | None] = [None] * clustering.k
    for j in range(clustering.k):
        sw, st_, stt, sx, stx, sy, sty = (float(v) for v in sums[j])
        if not sw > 0.0:
            continue
        mt, mx, my = st_ / sw, sx / sw, sy / sw
        var = stt / sw - mt * mt
        if var > max((1.0 / 1440.0) ** 2, 1e-11 * mt * mt):
            px = mx + (stx / sw - mt * mx) / var * (tau_at - mt)
            py = my + (sty / sw - mt * my) / var * (tau_at - mt)
        else:
            px, py = mx, my
        cells = ij[labels == j]
        lo = cells.min(axis=0) * cell
        hi = (cells.max(axis=0) + 1) * cell
        out[j] = (
            min(max(px, float(lo[0])), float(hi[0])),
            min(max(py, float(lo[1])), float(hi[1])),
        )
    return out


def test_trend_points_equal_the_reference_computation(district8: District) -> None:
    trend = LinearTrend(half_life_days=30.0)
    clusterer = SpatialClusterer(k_max=9)
    for i, o in enumerate(district8.observations):
        trend.learn_one(o)
        clusterer.learn_one(o)
        if i % 400 == 399:
            clustering = clusterer.fit(o.t)
            for at in (o.t, o.t + 0.3, o.t + 40.0):  # the last one clamps
                assert trend.predict_points(clustering, at) == _reference_points(
                    trend, clustering, at
                )


def test_probability_cache_follows_learning_and_forgetting(district8: District) -> None:
    obs = district8.observations[:1500]
    table = SpaceTimeTable(half_life_days=60.0)
    clusterer = SpatialClusterer(k_max=6)
    for o in obs[:1000]:
        table.learn_one(o)
        clusterer.learn_one(o)
    clustering = clusterer.fit(obs[999].t)
    for i, o in enumerate(obs[1000:]):
        table.learn_one(o)
        if i % 5 == 0:
            table.forget_one(obs[1000 + i // 2])
        if i % 25 == 0:
            fresh = SpaceTimeTable.from_dict(table.to_dict())  # no cache
            for dow, hour in [(o.slot // 24, o.slot % 24), (0, 0), (4, 17)]:
                got = table.decayed_counts(clustering, dow, hour, o.t)
                want = fresh.decayed_counts(clustering, dow, hour, o.t)
                assert got[0].tobytes() == want[0].tobytes() and got[1] == want[1]
                # twice in a row: the second read comes from the cache
                again = table.decayed_counts(clustering, dow, hour, o.t)
                assert again[0].tobytes() == got[0].tobytes()


def test_cached_sums_are_not_shared_between_clusterings() -> None:
    table = SpaceTimeTable(half_life_days=math.inf)
    for x in (10.0, 20.0, 5000.0):
        table.learn_one(Observation(x, 0.0, 16800.0, 18))
    one = Clustering(np.array([[0.0, 0.0]]), 0.0)
    two = Clustering(np.array([[0.0, 0.0], [5000.0, 0.0]]), 0.0)
    assert table.predict_proba(one, 0, 18, 16800.0).tolist() == [1.0]
    assert table.predict_proba(two, 0, 18, 16800.0).tolist() == [2 / 3, 1 / 3]
    assert table.predict_proba(one, 0, 18, 16800.0).tolist() == [1.0]
