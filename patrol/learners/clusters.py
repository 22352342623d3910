"""CPSPA phase 1 (paper section 5.1, techniques in 3.2.2): k-means clusters, k by the elbow.

The paper clusters a circuit's crimes with k-means and picks ``k`` with the elbow method. Online,
:class:`SpatialClusterer` keeps a forward-decayed weight per square grid cell (see
:mod:`patrol.learners.decay`) and, when its state has changed materially, refits a *weighted*
k-means on the occupied cell centres (scikit-learn ``KMeans`` with ``sample_weight``) for every
``k`` in ``k_min..k_max`` and picks ``k`` at the knee of the inertia curve (``kneed``'s
``KneeLocator``; Satopaa et al. 2011, "Finding a kneedle in a haystack"). Clustering aggregated
cells instead of raw incidents keeps a refit cheap: its cost depends on the number of occupied
cells, not on the number of incidents.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from patrol.learners.base import Observation
from patrol.learners.decay import (
    CellTable,
    ForwardDecay,
    add_weight,
    cell_of,
    check_cell_m,
    quantize,
    scale_table,
    subtract_from,
    table_arrays,
    table_from_rows,
    table_to_rows,
)
from patrol.learners.kmeans import (  # the fitting core: weighted k-means and the elbow
    N_INIT,
    _kmeans_prepared,
    _limit_threads,
    _Prepared,
    elbow,
)

NEGLIGIBLE = 1e-12
"""Cells whose share of the decayed mass is below this are left out of the k-means fit."""


@dataclass(frozen=True, eq=False)
class Clustering:
    """A fitted clustering: centroids ``(k, 2)`` in metres, ordered by decreasing weight.

    ``ks`` and ``inertia`` are the elbow curve that chose ``k`` (inertia is the weighted mean
    squared distance to the nearest centroid, m², with weights normalised to sum 1).

    Examples
    --------
    >>> c = Clustering(np.array([[0.0, 0.0], [1000.0, 0.0]]), fitted_at=0.0)
    >>> c.k
    2
    >>> c.assign([10.0, 900.0, 499.0], [0.0, 50.0, 0.0]).tolist()
    [0, 1, 0]
    """

    centroids: npt.NDArray[np.float64]
    fitted_at: float
    ks: tuple[int, ...] = ()
    inertia: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        c = np.array(self.centroids, dtype=np.float64).reshape(-1, 2)
        c.setflags(write=False)
        object.__setattr__(self, "centroids", c)

    @property
    def k(self) -> int:
        """Number of clusters (0 for a clustering of an empty state)."""
        return int(self.centroids.shape[0])

    def assign(self, x: npt.ArrayLike, y: npt.ArrayLike) -> npt.NDArray[np.int64]:
        """Index of the nearest centroid for every point (ties go to the lower index)."""
        xa, ya = np.asarray(x, np.float64), np.asarray(y, np.float64)
        if xa.shape != ya.shape:
            xa, ya = np.broadcast_arrays(xa, ya)
        if xa.size == 0:
            return np.zeros(xa.shape, dtype=np.int64)
        if self.k == 0:
            raise ValueError("an empty clustering has no cluster to assign to")
        cx, cy = self.centroids[:, 0], self.centroids[:, 1]
        d2 = (xa[..., None] - cx) ** 2 + (ya[..., None] - cy) ** 2
        labels: npt.NDArray[np.int64] = d2.argmin(axis=-1).astype(np.int64, copy=False)
        return labels

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "centroids": self.centroids.tolist(),
            "fitted_at": self.fitted_at,
            "ks": list(self.ks),
            "inertia": list(self.inertia),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Clustering:
        """Inverse of :meth:`to_dict`."""
        return cls(
            np.array(d["centroids"], dtype=np.float64).reshape(-1, 2),
            float(d["fitted_at"]),
            tuple(int(k) for k in d["ks"]),
            tuple(float(v) for v in d["inertia"]),
        )


class SpatialClusterer:
    """Phase 1: decayed per-cell weights and a weighted k-means refit with an elbow-chosen k.

    Parameters
    ----------
    cell_m
        Side of the square grid cells, metres.
    half_life_days
        Half-life of an incident's weight (``math.inf``: no decay).
    k_min, k_max
        Range of ``k`` tried by the elbow method (``k_max`` is capped by the occupied cells).
    refit_growth
        :meth:`fit` refits when the decayed mass learned plus forgotten since the last fit
        exceeds this share of the mass at that fit.
    refit_days
        ... or when ``now`` is more than this many days from the last fit.
    seed
        ``random_state`` of k-means: a fit is a deterministic function of the state.

    Examples
    --------
    >>> from patrol.learners.base import Observation
    >>> m = SpatialClusterer(k_max=5)
    >>> for i in range(30):
    ...     for cx, cy in [(0.0, 0.0), (3000.0, 0.0), (0.0, 3000.0)]:
    ...         m.learn_one(Observation(cx + 20.0 * (i % 5), cy + 20.0 * (i // 5), 16800.0, 0))
    >>> c = m.fit(now=16800.0)
    >>> c.k
    3
    >>> m.predict_one(2900.0, 100.0) == m.predict_one(3100.0, -50.0) != m.predict_one(0.0, 0.0)
    True
    >>> m.fit(now=16801.0) is c  # nothing changed materially: no refit
    True
    """

    def __init__(
        self,
        cell_m: float = 50.0,
        half_life_days: float = 90.0,
        k_min: int = 1,
        k_max: int = 15,
        refit_growth: float = 0.25,
        refit_days: float = 7.0,
        seed: int = 0,
    ) -> None:
        if not 1 <= k_min <= k_max:
            raise ValueError(f"need 1 <= k_min <= k_max, got {k_min}, {k_max}")
        if not refit_growth >= 0.0 or not refit_days >= 0.0:
            raise ValueError("refit_growth and refit_days must be >= 0")
        self.cell_m = check_cell_m(cell_m)
        self.half_life_days = half_life_days
        self.k_min = int(k_min)
        self.k_max = int(k_max)
        self.refit_growth = float(refit_growth)
        self.refit_days = float(refit_days)
        self.seed = int(seed)
        self._decay = ForwardDecay(half_life_days, self._rescale)
        self._cells: CellTable = {}
        self._churn = 0.0
        self._fit_mass = 0.0
        self._clustering: Clustering | None = None

    # -- incremental state -------------------------------------------------------------------
    def learn_one(self, obs: Observation) -> None:
        """Add one incident to its cell."""
        key = cell_of(obs.x, obs.y, self.cell_m)
        w = self._decay.weight(obs.t)
        add_weight(self._cells, key, w)
        self._churn += w

    def forget_one(self, obs: Observation) -> None:
        """Undo :meth:`learn_one` of the same observation (``KeyError`` if its cell is empty)."""
        key = cell_of(obs.x, obs.y, self.cell_m)
        w = self._decay.stored_weight(obs.t)
        subtract_from(self._cells, key, (w,))
        self._churn += w
        if not self._cells:
            self._decay.reset()
            self._churn = self._fit_mass = 0.0

    def _rescale(self, factor: float, shift: float) -> None:
        scale_table(self._cells, factor)
        self._churn *= factor
        self._fit_mass *= factor

    def total_weight(self, now: float) -> float:
        """Decayed number of incidents at ``now``."""
        return math.fsum(r[0] for r in self._cells.values()) * self._decay.factor(now)

    @property
    def n_cells(self) -> int:
        """Number of occupied cells."""
        return len(self._cells)

    # -- clustering --------------------------------------------------------------------------
    @property
    def clustering(self) -> Clustering | None:
        """The clustering of the last :meth:`fit`, or ``None`` before the first."""
        return self._clustering

    def is_stale(self, now: float) -> bool:
        """Whether :meth:`fit` at ``now`` would refit."""
        c = self._clustering
        if c is None or abs(now - c.fitted_at) > self.refit_days:
            return True
        if not self._cells:
            return c.k != 0
        return self._churn > self.refit_growth * self._fit_mass

    def fit(self, now: float, force: bool = False) -> Clustering:
        """Refit if stale (or ``force``) and return the current clustering.

        With no incident the clustering has ``k == 0``.
        """
        if not math.isfinite(now):
            raise ValueError(f"now must be finite, got {now!r}")
        if force or self.is_stale(now) or self._clustering is None:
            ij, vals = table_arrays(self._cells)
            self._clustering = self._refit(ij, vals[:, 0], now)
            self._fit_mass = float(vals[:, 0].sum())
            self._churn = 0.0
        return self._clustering

    def _refit(
        self, ij: npt.NDArray[np.int64], w: npt.NDArray[np.float64], now: float
    ) -> Clustering:
        total = float(w.sum())
        keep = w > NEGLIGIBLE * total  # cells > 40 half-lives older than the rest: no say
        pts = np.asarray((ij[keep] + 0.5) * self.cell_m, dtype=np.float64)
        w = w[keep]
        n = len(w)
        if n == 0 or not total > 0.0:
            return Clustering(np.zeros((0, 2)), now)
        w = quantize(w / w.sum())
        hi = min(self.k_max, n)
        ks = list(range(min(self.k_min, hi), hi + 1))
        inertia: list[float] = []
        fits: list[npt.NDArray[np.float64]] = []
        data = _Prepared.of(pts, w)
        with _limit_threads():
            for k in ks:
                self._fit_k(k, pts, w, inertia, fits, data)
        k = elbow(ks, inertia)
        centroids = fits[ks.index(k)]
        provisional = Clustering(centroids, now)
        mass = np.bincount(provisional.assign(pts[:, 0], pts[:, 1]), weights=w, minlength=k)
        order = np.lexsort((centroids[:, 1], centroids[:, 0], -mass))
        return Clustering(centroids[order], now, tuple(ks), tuple(inertia))

    def _fit_k(
        self,
        k: int,
        pts: npt.NDArray[np.float64],
        w: npt.NDArray[np.float64],
        inertia: list[float],
        fits: list[npt.NDArray[np.float64]],
        data: _Prepared,
    ) -> None:
        if k == 1:  # closed form
            c = (w @ pts)[None, :]
            inertia.append(float(w @ ((pts - c) ** 2).sum(axis=1)))
            fits.append(c)
            return
        centroids, value = _kmeans_prepared(data, k, n_init=N_INIT, seed=self.seed)
        inertia.append(value)
        fits.append(centroids)

    def predict_one(self, x: float, y: float) -> int:
        """Cluster of the point ``(x, y)`` under the current clustering."""
        c = self._clustering
        if c is None or c.k == 0:
            raise RuntimeError("no clustering yet: call fit() after learning incidents")
        return int(c.assign(x, y))

    # -- persistence -------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """JSON-ready state (parameters, decay landmark, cells, fit bookkeeping)."""
        return {
            "cell_m": self.cell_m,
            "k_min": self.k_min,
            "k_max": self.k_max,
            "refit_growth": self.refit_growth,
            "refit_days": self.refit_days,
            "seed": self.seed,
            "decay": self._decay.to_dict(),
            "cells": table_to_rows(self._cells),
            "churn": self._churn,
            "fit_mass": self._fit_mass,
            "clustering": None if self._clustering is None else self._clustering.to_dict(),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SpatialClusterer:
        """Inverse of :meth:`to_dict`."""
        m = cls(
            cell_m=d["cell_m"],
            half_life_days=ForwardDecay.half_life_from(d["decay"]),
            k_min=d["k_min"],
            k_max=d["k_max"],
            refit_growth=d["refit_growth"],
            refit_days=d["refit_days"],
            seed=d["seed"],
        )
        m._decay.set_landmark(d["decay"]["t_ref"])
        m._cells = table_from_rows(d["cells"])
        m._churn = float(d["churn"])
        m._fit_mass = float(d["fit_mass"])
        c = d["clustering"]
        m._clustering = None if c is None else Clustering.from_dict(c)
        return m
