"""Weighted k-means with k-means++ seeding and the elbow rule: the fitting core of CPSPA
phase 1 (:mod:`patrol.learners.clusters`; paper section 5.1, techniques in 3.2.2).

The Lloyd iterations are scikit-learn's own (``KMeans`` with ``sample_weight``); seeding, the
data preparation shared by every ``k`` of an elbow refit, and the thread limit are done here
so that a refit over ``k_min..k_max`` pays them once and stays bit-identical to ``KMeans``.
The knee is ``kneed``'s ``KneeLocator`` (Satopaa et al. 2011, "Finding a kneedle in a
haystack").
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from kneed import KneeLocator
from sklearn.cluster._k_means_common import _is_same_clustering
from sklearn.cluster._kmeans import _kmeans_single_lloyd, _tolerance
from sklearn.utils._openmp_helpers import _openmp_effective_n_threads
from threadpoolctl import ThreadpoolController

N_INIT = 3
"""k-means restarts per ``k`` (k-means++ seeding; the best inertia is kept)."""

MAX_ITER = 300
TOL = 1e-4
"""Lloyd iterations and relative tolerance: scikit-learn ``KMeans`` defaults."""

SINGLE_THREADED = True
"""Refits run k-means on one OpenMP/BLAS thread: a few thousand cells gain nothing from more,
on a busy host (workers sharing cores) multi-threaded k-means measured 10-40x slower, and one
thread makes the floating-point reduction order, hence the fit, independent of the host."""

FALLBACK_SHARE = 0.9
"""Without a knee: the smallest ``k`` achieving this share of the total inertia reduction."""


def elbow(ks: list[int], inertia: list[float]) -> int:
    """The ``k`` at the knee of a decreasing inertia curve.

    ``KneeLocator(curve="convex", direction="decreasing")`` when there are at least three
    points; otherwise, or when it finds no knee, the smallest ``k`` that achieves
    :data:`FALLBACK_SHARE` of the reduction from the first to the lowest inertia (the
    "percentage of variance explained" form of the elbow in the paper's section 3.2.2).

    Examples
    --------
    >>> elbow([1, 2, 3, 4, 5, 6], [100.0, 40.0, 5.0, 4.0, 3.5, 3.0])
    3
    >>> elbow([1, 2], [10.0, 1.0])
    2
    """
    top, bottom = inertia[0], min(inertia)
    if len(ks) == 1 or top - bottom <= 1e-12 * max(abs(top), 1.0):
        return ks[0]
    if len(ks) >= 3:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            knee = KneeLocator(ks, inertia, curve="convex", direction="decreasing").knee
        if knee is not None:
            return int(knee)
    target = top - FALLBACK_SHARE * (top - bottom)
    return next(k for k, v in zip(ks, inertia, strict=True) if v <= target)


_CONTROLLER: ThreadpoolController | None = None

_LLOYD: Any = getattr(_kmeans_single_lloyd, "__wrapped__", _kmeans_single_lloyd)
"""scikit-learn's Lloyd run without its per-call BLAS thread limit (the refit holds one)."""


def _limit_threads() -> Any:
    """One OpenMP/BLAS thread while refitting (see :data:`SINGLE_THREADED`).

    The controller is built once: scanning the loaded libraries on every refit costs ~5 ms.
    """
    global _CONTROLLER
    if _CONTROLLER is None:
        _CONTROLLER = ThreadpoolController()
    return _CONTROLLER.limit(limits=1 if SINGLE_THREADED else None)


def _sq_distances(
    a: npt.NDArray[np.float64], x: npt.NDArray[np.float64], x_sq: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """Squared distances ``(len(a), len(x))`` computed as scikit-learn's
    ``_euclidean_distances(a, x, Y_norm_squared=x_sq, squared=True)`` does (same operations
    in the same order, so the same bits)."""
    d = -2 * (a @ x.T)
    d += np.einsum("ij,ij->i", a, a)[:, None]
    d += x_sq.reshape(1, -1)
    np.maximum(d, 0.0, out=d)
    return d


def _choice_cdf(w: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """The CDF ``RandomState.choice(n, p=w / w.sum())`` draws from (its own steps)."""
    cdf: npt.NDArray[np.float64] = (w / w.sum()).cumsum()
    cdf /= cdf[-1]
    return cdf


def _kmeans_plusplus(
    x: npt.NDArray[np.float64],
    k: int,
    rng: np.random.RandomState,
    x_sq: npt.NDArray[np.float64],
    w: npt.NDArray[np.float64],
    cdf: npt.NDArray[np.float64] | None = None,
) -> npt.NDArray[np.float64]:
    """Greedy k-means++ seeding: scikit-learn's ``_kmeans_plusplus`` for dense input, without
    its per-call validation and array-API dispatch (which cost more than the arithmetic on a
    few hundred cells); the same random draws and operations, hence the same centres.

    The first centre is ``x[rng.choice(n, p=w / w.sum())]``, drawn as ``RandomState.choice``
    does (one ``random_sample``, searched in the CDF :func:`_choice_cdf`, which a caller
    seeding several times may pass in); the clip of the candidate indices is a ``minimum``.
    """
    centers = np.empty((k, x.shape[1]), dtype=x.dtype)
    n_local_trials = 2 + int(np.log(k))
    if cdf is None:
        cdf = _choice_cdf(w)
    first = int(cdf.searchsorted(rng.random_sample(), side="right"))
    centers[0] = x[first]
    closest = _sq_distances(centers[0, np.newaxis], x, x_sq)
    pot = closest @ w
    w_col = w.reshape(-1, 1)
    last = closest.size - 1
    for c in range(1, k):
        rand_vals = rng.uniform(size=n_local_trials) * pot
        ids = (w * closest).cumsum().searchsorted(rand_vals)
        np.minimum(ids, last, out=ids)
        dist = _sq_distances(x[ids], x, x_sq)
        np.minimum(closest, dist, out=dist)
        cand_pot = dist @ w_col
        best = int(cand_pot.argmin())
        pot = cand_pot[best]
        closest = dist[best]
        centers[c] = x[ids[best]]
    return centers


def weighted_kmeans(
    pts: npt.NDArray[np.float64],
    w: npt.NDArray[np.float64],
    k: int,
    *,
    n_init: int = N_INIT,
    seed: int = 0,
) -> tuple[npt.NDArray[np.float64], float]:
    """Weighted k-means (Lloyd, k-means++ seeding): ``(centroids (k, 2), inertia)``.

    Exactly what ``sklearn.cluster.KMeans(n_clusters=k, n_init=n_init, random_state=seed)
    .fit(pts, sample_weight=w)`` gives (``cluster_centers_``, ``inertia_``), bit for bit:
    the same steps on scikit-learn's own Lloyd iteration, minus the estimator's input
    validation and dispatch, which dominate a refit of a few hundred cells (measured ~5x
    faster; ``tests/patrol/learners/test_clusters.py`` checks the equality).

    Examples
    --------
    >>> pts = np.array([[0.0, 0.0], [10.0, 0.0], [1000.0, 0.0], [1010.0, 0.0]])
    >>> c, inertia = weighted_kmeans(pts, np.full(4, 0.25), 2)
    >>> sorted(c[:, 0].tolist()), inertia
    ([5.0, 1005.0], 25.0)
    """
    return _kmeans_prepared(_Prepared.of(pts, w), k, n_init=n_init, seed=seed)


@dataclass(frozen=True, eq=False)
class _Prepared:
    """What :func:`weighted_kmeans` derives from the points and weights before seeding, the
    same for every ``k`` of an elbow (a refit prepares once and runs 14 values of ``k``)."""

    x: npt.NDArray[np.float64]  # centred points, C order
    w: npt.NDArray[np.float64]
    tol: float
    mean: npt.NDArray[np.float64]
    x_sq: npt.NDArray[np.float64]
    cdf: npt.NDArray[np.float64]
    _rngs: dict[int, tuple[np.random.RandomState, Any]] = field(default_factory=dict)

    def rng(self, seed: int) -> np.random.RandomState:
        """``np.random.RandomState(seed)``, freshly seeded: built once per seed, then reset
        to its initial state (the same draws; constructing one costs ~0.2 ms, 14 per refit)."""
        cached = self._rngs.get(seed)
        if cached is None:
            rng = np.random.RandomState(seed)
            self._rngs[seed] = (rng, rng.get_state())
            return rng
        rng, state = cached
        rng.set_state(state)
        return rng

    @classmethod
    def of(cls, pts: npt.NDArray[np.float64], w: npt.NDArray[np.float64]) -> _Prepared:
        x = np.array(pts, dtype=np.float64, order="C", copy=True)
        sample_weight = np.array(w, dtype=np.float64, order="C", copy=True)
        tol = _tolerance(x, TOL)  # KMeans computes it before centring the data
        mean = x.mean(axis=0)
        x -= mean
        x_sq = np.einsum("ij,ij->i", x, x)
        return cls(x, sample_weight, tol, mean, x_sq, _choice_cdf(sample_weight))


def _kmeans_prepared(
    data: _Prepared, k: int, *, n_init: int, seed: int
) -> tuple[npt.NDArray[np.float64], float]:
    """:func:`weighted_kmeans` on prepared data (nothing in ``data`` is modified)."""
    x, sample_weight = data.x, data.w
    rng = data.rng(seed)
    n_threads = 1 if SINGLE_THREADED else _openmp_effective_n_threads()
    best: tuple[float, npt.NDArray[np.int32], npt.NDArray[np.float64]] | None = None
    for _ in range(n_init):
        init = _kmeans_plusplus(x, k, rng, data.x_sq, sample_weight, data.cdf)
        labels, value, centers, _n_iter = _LLOYD(
            x, sample_weight, init, max_iter=MAX_ITER, tol=data.tol, n_threads=n_threads
        )
        if best is None or (value < best[0] and not _is_same_clustering(labels, best[1], k)):
            best = (float(value), labels, centers)
    assert best is not None
    centers = best[2] + data.mean
    return np.asarray(centers, dtype=np.float64), best[0]
