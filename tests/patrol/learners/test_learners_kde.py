"""Phase 2.1: per-cluster hotspot H_k = peak of a binned Gaussian KDE."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from patrol.learners import KDEHotspot, SpatialClusterer
from patrol.learners.base import Observation
from patrol.learners.clusters import Clustering

if TYPE_CHECKING:
    from conftest import District

T0 = 16_900.0


def learn_cells(kde: KDEHotspot, counts: dict[tuple[int, int], int], t: float = T0) -> None:
    """``counts`` incidents at the centre of each 50 m cell (ix, iy)."""
    for (ix, iy), n in counts.items():
        for _ in range(n):
            kde.learn_one(Observation((ix + 0.5) * 50.0, (iy + 0.5) * 50.0, t, 0))


def direct_kde(points: np.ndarray, at: np.ndarray, h: float) -> np.ndarray:
    """Unbinned Gaussian KDE (up to a constant) of ``points`` evaluated at ``at``."""
    d2 = ((at[:, None, :] - points[None, :, :]) ** 2).sum(axis=-1)
    return np.exp(-d2 / (2.0 * h * h)).sum(axis=1)


ONE = Clustering(np.array([[1000.0, 1000.0]]), 0.0)


def test_peak_at_the_dense_cell() -> None:
    kde = KDEHotspot(bandwidth_m=150.0, half_life_days=math.inf)
    learn_cells(kde, {(20, 20): 12, (22, 20): 1, (20, 23): 1, (17, 18): 1, (25, 25): 2})
    assert kde.predict_hotspots(ONE, T0) == [(1025.0, 1025.0)]


def test_peak_between_two_equal_spots_is_the_density_maximum() -> None:
    # two spots of 5 incidents 100 m apart, h = 150 m: the mixture peaks midway, on an empty
    # cell: 10 * exp(-1/18) = 9.46 there against 5 + 5 * exp(-4/18) = 9.00 on either spot
    kde = KDEHotspot(bandwidth_m=150.0, half_life_days=math.inf)
    learn_cells(kde, {(10, 10): 5, (12, 10): 5})
    assert kde.predict_hotspots(ONE, T0) == [(575.0, 525.0)]
    # a narrow kernel keeps the two modes apart; ties go to the first cell (lowest ix)
    narrow = KDEHotspot(bandwidth_m=30.0, half_life_days=math.inf)
    learn_cells(narrow, {(10, 10): 5, (12, 10): 5})
    assert narrow.predict_hotspots(ONE, T0) == [(525.0, 525.0)]


def test_decay_moves_the_hotspot_to_recent_incidents() -> None:
    old, new = {(0, 0): 10}, {(40, 0): 3}  # 2 km apart
    for half_life, expected in [(math.inf, (25.0, 25.0)), (30.0, (2025.0, 25.0))]:
        kde = KDEHotspot(half_life_days=half_life)
        learn_cells(kde, old, t=T0 - 365.0)
        learn_cells(kde, new, t=T0)
        assert kde.predict_hotspots(ONE, T0) == [expected]


def test_each_cluster_uses_only_its_own_incidents_and_may_be_empty() -> None:
    kde = KDEHotspot(bandwidth_m=150.0, half_life_days=math.inf)
    # cluster 0 (centroid x=0) has a small spot at x=-25; cluster 1 (x=1000) a big one at x=525
    learn_cells(kde, {(-1, 0): 2, (10, 0): 20})
    two = Clustering(np.array([[0.0, 0.0], [1000.0, 0.0], [9000.0, 9000.0]]), 0.0)
    assert kde.predict_hotspots(two, T0) == [(-25.0, 25.0), (525.0, 25.0), None]
    assert kde.predict_hotspots(Clustering(np.zeros((0, 2)), 0.0), T0) == []
    assert KDEHotspot().predict_hotspots(two, T0) == [None, None, None]


def test_hotspot_stays_in_its_cluster_on_a_coarse_raster(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("patrol.learners.kde.MAX_RASTER_CELLS", 9)
    rng = np.random.default_rng(3)
    kde = KDEHotspot(half_life_days=math.inf)
    for x, y in rng.uniform(-3000.0, 3000.0, size=(300, 2)):
        kde.learn_one(Observation(float(x), float(y), T0, 0))
    c = Clustering(np.array([[-1000.0, 0.0], [1000.0, 0.0], [0.0, 2000.0]]), 0.0)
    hot = kde.predict_hotspots(c, T0)
    for j, p in enumerate(hot):
        assert p is not None
        assert int(c.assign(p[0], p[1])) == j


def test_binned_peak_is_a_near_maximum_of_the_exact_kde(district8: District) -> None:
    h = 150.0
    clusterer = SpatialClusterer(half_life_days=math.inf, k_max=8)
    kde = KDEHotspot(bandwidth_m=h, half_life_days=math.inf)
    for o in district8.observations:
        clusterer.learn_one(o)
        kde.learn_one(o)
    c = clusterer.fit(now=float(district8.t.max()))
    hot = kde.predict_hotspots(c, float(district8.t.max()))
    pts = np.column_stack([district8.x, district8.y])
    cells = (np.floor(pts / 50.0) + 0.5) * 50.0
    member = c.assign(cells[:, 0], cells[:, 1])
    for j, p in enumerate(hot):
        assert p is not None
        assert int(c.assign(p[0], p[1])) == j
        own = pts[member == j]
        candidates = np.unique(cells[member == j], axis=0)  # every occupied cell of cluster j
        exact_max = direct_kde(own, candidates, h).max()
        at_peak = direct_kde(own, np.array([p]), h)[0]
        assert at_peak >= 0.95 * exact_max


def test_adaptive_kde_finds_the_dominant_spot() -> None:
    kde = KDEHotspot(bandwidth_m=150.0, half_life_days=math.inf, adaptive=True)
    learn_cells(kde, {(20, 20): 12, (22, 20): 1, (20, 23): 1, (17, 18): 1, (25, 25): 2})
    assert kde.predict_hotspots(ONE, T0) == [(1025.0, 1025.0)]
    # a lone far incident gets a wide kernel but cannot outweigh the dense spot
    kde.learn_one(Observation(3000.0, 3000.0, T0, 0))
    assert kde.predict_hotspots(ONE, T0) == [(1025.0, 1025.0)]


def test_invalid_bandwidth() -> None:
    with pytest.raises(ValueError):
        KDEHotspot(bandwidth_m=0.0)


@settings(max_examples=25, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 39), st.integers(0, 39), st.booleans(), st.booleans()),
        min_size=1,
        max_size=120,
    )
)
def test_cached_hotspots_equal_a_fresh_computation(ops: list[tuple[int, int, bool, bool]]) -> None:
    """Learning, forgetting and asking in any order: the peaks kept between calls are those a
    learner without a cache (rebuilt from the state) computes."""
    kde = KDEHotspot(cell_m=50.0, bandwidth_m=100.0)
    clusterings = [
        Clustering(np.array([[500.0, 500.0], [1500.0, 1500.0]]), 0.0),
        Clustering(np.array([[1500.0, 500.0], [500.0, 1500.0], [1000.0, 1000.0]]), 0.0),
    ]
    learned: list[Observation] = []
    for i, j, forget, other in ops:
        if forget and learned:
            kde.forget_one(learned.pop(i % len(learned)))
        else:
            obs = Observation(i * 50.0 + 10.0, j * 50.0 + 20.0, T0 + i / 10, 0)
            kde.learn_one(obs)
            learned.append(obs)
        clustering = clusterings[int(other)]
        fresh = KDEHotspot.from_dict(kde.to_dict())
        assert kde.predict_hotspots(clustering, T0) == fresh.predict_hotspots(clustering, T0)
