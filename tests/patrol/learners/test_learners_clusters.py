"""Phase 1: weighted k-means on decayed cell weights, k by the elbow, refit policy."""

from __future__ import annotations

import json
import math
import random
import warnings
from typing import TYPE_CHECKING

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.exceptions import ConvergenceWarning

from patrol.learners import SpatialClusterer
from patrol.learners.base import Observation
from patrol.learners.clusters import Clustering
from patrol.learners.kmeans import _limit_threads, elbow, weighted_kmeans

if TYPE_CHECKING:
    from conftest import District

T0 = 16_900.0
BLOB_CENTRES = [(0.0, 0.0), (4000.0, 500.0), (1500.0, 5000.0)]


def three_blobs(n: int = 200, sd: float = 150.0, seed: int = 1) -> list[Observation]:
    rng = np.random.default_rng(seed)
    out = []
    for cx, cy in BLOB_CENTRES:
        for dx, dy in rng.normal(0.0, sd, size=(n, 2)):
            out.append(Observation(cx + dx, cy + dy, T0 + rng.uniform(0, 30), 0))
    return out


def test_elbow_picks_three_on_three_separated_blobs() -> None:
    m = SpatialClusterer(half_life_days=30.0)
    for o in three_blobs():
        m.learn_one(o)
    c = m.fit(now=T0 + 30)
    assert c.k == 3
    assert c.ks == tuple(range(1, 16))
    labels = {m.predict_one(cx, cy) for cx, cy in BLOB_CENTRES}
    assert labels == {0, 1, 2}
    for cx, cy in BLOB_CENTRES:  # each centroid lands near its blob centre
        assert np.min(np.hypot(c.centroids[:, 0] - cx, c.centroids[:, 1] - cy)) < 60.0


def test_inertia_is_the_weighted_mean_squared_distance(district8: District) -> None:
    m = SpatialClusterer(half_life_days=math.inf, k_max=6)
    for o in district8.observations:
        m.learn_one(o)
    c = m.fit(now=float(district8.t.max()))
    assert 1 <= c.k <= 6
    # recompute from the raw incidents, aggregated on 50 m cell centres by hand
    cx = (np.floor(district8.x / 50.0) + 0.5) * 50.0
    cy = (np.floor(district8.y / 50.0) + 0.5) * 50.0
    d2 = (cx[:, None] - c.centroids[:, 0]) ** 2 + (cy[:, None] - c.centroids[:, 1]) ** 2
    expected = float(np.mean(d2.min(axis=1)))
    assert c.inertia[c.ks.index(c.k)] == pytest.approx(expected, rel=1e-6)
    # k-means converged (to its tolerance): every centroid is near the mean of its members
    lab = d2.argmin(axis=1)
    for j in range(c.k):
        assert c.centroids[j, 0] == pytest.approx(cx[lab == j].mean(), abs=10.0)
        assert c.centroids[j, 1] == pytest.approx(cy[lab == j].mean(), abs=10.0)
    # clusters are numbered by decreasing share of incidents
    sizes = np.bincount(lab, minlength=c.k)
    assert list(sizes) == sorted(sizes, reverse=True)
    # the inertia curve decreases (k-means inertia cannot grow with k at the optimum; allow noise)
    assert all(b <= a * 1.05 for a, b in zip(c.inertia, c.inertia[1:], strict=False))


def test_fit_is_deterministic_and_order_free_with_counts() -> None:
    obs = three_blobs(n=60)
    fits = []
    for seed in range(3):
        shuffled = obs[:]
        random.Random(seed).shuffle(shuffled)
        m = SpatialClusterer(half_life_days=math.inf, k_max=6)
        for o in shuffled:
            m.learn_one(o)
        fits.append(m.fit(now=T0).to_dict())
    assert fits[0] == fits[1] == fits[2]


def test_refit_only_when_stale() -> None:
    obs = three_blobs(n=100)
    m = SpatialClusterer(half_life_days=math.inf, refit_growth=0.25, refit_days=7.0, k_max=5)
    for o in obs:
        m.learn_one(o)
    c1 = m.fit(now=T0)
    assert m.fit(now=T0 + 6.9) is c1  # time alone, within refit_days
    for o in obs[:50]:  # 50 / 300 < 25 % of the mass
        m.learn_one(Observation(o.x + 1.0, o.y, o.t, o.slot))
    assert not m.is_stale(T0 + 1)
    assert m.fit(now=T0 + 1) is c1
    for o in obs[50:100]:  # now 100 / 300 > 25 %
        m.learn_one(Observation(o.x + 1.0, o.y, o.t, o.slot))
    c2 = m.fit(now=T0 + 1)
    assert c2 is not c1 and c2.fitted_at == T0 + 1
    assert m.fit(now=T0 + 8.5) is not c2  # more than refit_days later
    c3 = m.clustering
    assert m.fit(now=T0 + 8.5, force=True) is not c3


def test_forgetting_counts_as_change() -> None:
    obs = three_blobs(n=50)
    m = SpatialClusterer(half_life_days=math.inf, k_max=4)
    for o in obs:
        m.learn_one(o)
    c1 = m.fit(now=T0)
    for o in obs[:40]:  # 40 / 150 > 25 %
        m.forget_one(o)
    assert m.fit(now=T0) is not c1


def test_empty_state_gives_empty_clustering_and_predict_needs_a_fit() -> None:
    m = SpatialClusterer()
    with pytest.raises(RuntimeError):
        m.predict_one(0.0, 0.0)
    o = Observation(10.0, 10.0, T0, 3)
    m.learn_one(o)
    assert m.fit(now=T0).k == 1
    m.forget_one(o)
    c = m.fit(now=T0)
    assert c.k == 0 and c.centroids.shape == (0, 2)
    with pytest.raises(KeyError):
        m.forget_one(o)


def test_fewer_cells_than_k_min() -> None:
    m = SpatialClusterer(k_min=3, k_max=5)
    m.learn_one(Observation(0.0, 0.0, T0, 0))
    m.learn_one(Observation(900.0, 0.0, T0, 0))
    c = m.fit(now=T0)
    assert c.k == 2
    assert sorted(c.centroids[:, 0].tolist()) == [25.0, 925.0]


def test_clustering_round_trip_and_assign() -> None:
    c = Clustering(np.array([[0.0, 0.0], [100.0, 0.0]]), 5.0, (1, 2), (10.0, 1.0))
    back = Clustering.from_dict(json.loads(json.dumps(c.to_dict())))
    assert back.to_dict() == c.to_dict()
    assert c.assign([50.0, 49.0, 51.0], [0.0, 0.0, 0.0]).tolist() == [0, 0, 1]  # tie -> lower
    assert c.assign(np.zeros((2, 3)), np.zeros((2, 3))).shape == (2, 3)
    assert not c.centroids.flags.writeable
    with pytest.raises(ValueError):
        Clustering(np.zeros((0, 2)), 0.0).assign([1.0], [1.0])


def test_elbow_fallback_without_knee() -> None:
    # straight line: kneed finds no knee; 90 % of the reduction (to <= 5) is reached at k=6
    assert elbow([1, 2, 3, 4, 5, 6], [50.0, 40.0, 30.0, 20.0, 10.0, 0.0]) == 6
    assert elbow([2, 3, 4], [7.0, 7.0, 7.0]) == 2  # flat: no gain from more clusters
    assert elbow([4], [1.0]) == 4


def test_elbow_fallback_rule_when_kneed_finds_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    class NoKnee:
        knee = None

        def __init__(self, *args: object, **kwargs: object) -> None:
            pass

    monkeypatch.setattr("patrol.learners.kmeans.KneeLocator", NoKnee)
    # reduction 100 -> 10; 90 % of it means inertia <= 19, first reached at k=4
    assert elbow([1, 2, 3, 4, 5], [100.0, 60.0, 30.0, 12.0, 10.0]) == 4


def test_invalid_parameters() -> None:
    with pytest.raises(ValueError):
        SpatialClusterer(k_min=0)
    with pytest.raises(ValueError):
        SpatialClusterer(k_min=5, k_max=4)
    with pytest.raises(ValueError):
        SpatialClusterer(cell_m=0.0)
    with pytest.raises(ValueError):
        SpatialClusterer().fit(now=math.nan)


@settings(max_examples=30, deadline=None)
@given(
    st.integers(2, 120),
    st.integers(1, 9),
    st.integers(0, 2**16),
)
def test_weighted_kmeans_is_scikit_learns_kmeans_bit_for_bit(n: int, k: int, seed: int) -> None:
    from sklearn.cluster import KMeans

    rng = np.random.default_rng(seed)
    centres = rng.uniform(-5000.0, 5000.0, size=(3, 2))
    pts = np.round(centres[rng.integers(0, 3, n)] + rng.normal(0.0, 400.0, (n, 2)), -1) + 25.0
    w = rng.random(n) ** 3 + 1e-9
    w = w / w.sum()
    k = min(k, n)
    with _limit_threads(), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        km = KMeans(n_clusters=k, n_init=3, random_state=seed % 7).fit(pts, sample_weight=w)
        centroids, inertia = weighted_kmeans(pts, w, k, n_init=3, seed=seed % 7)
    assert np.array_equal(centroids, km.cluster_centers_)
    assert inertia == km.inertia_
