"""CPSPA phase 2.1 (paper section 5.2.1, KDE in 3.2.2): hotspot H_k = density peak per cluster.

The paper applies an adaptive two-stage Gaussian KDE (its Eq. 2: local bandwidths
``h_i = h * lambda_i`` with ``lambda_i = (G / f(x_i)) ** 0.5``, Abramson's square-root law) to
each cluster's crimes and takes the point of highest density as the hotspot ``H_k``.

:class:`KDEHotspot` keeps a forward-decayed weight per grid cell and evaluates a *binned* KDE:
the cluster's cell weights are rasterised (simple binning at the cell centres) and smoothed with
a Gaussian filter (``scipy.ndimage.gaussian_filter``), which is the standard fast way to compute
a kernel density estimate on a grid (Wand, "Fast computation of multivariate kernel
estimators", Journal of Computational and Graphical Statistics 3(4), 1994). The peak is the
centre of the densest raster cell among those whose centre is nearest to the cluster's
centroid, so ``H_k`` always lies in cluster ``k``; its resolution is ``cell_m``. Only the
cluster's own incidents enter its density, as in the paper.

The default is a fixed bandwidth; ``adaptive=True`` adds the paper's second stage (pilot =
the fixed-bandwidth estimate, local factors clipped to ``[1/4, 4]`` and grouped into quarter-
octave bandwidth classes, one filter per class).
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.ndimage import correlate1d
from scipy.ndimage._filters import _gaussian_kernel1d

from patrol.learners.base import Observation
from patrol.learners.clusters import Clustering
from patrol.learners.decay import (
    CellTable,
    ForwardDecay,
    SortedCells,
    add_weight,
    cell_of,
    check_cell_m,
    scale_table,
    subtract_from,
    table_from_rows,
    table_to_rows,
)

MAX_RASTER_CELLS = 512 * 512
"""A cluster spanning more cells than this is binned on proportionally coarser cells."""

Point = tuple[float, float]

TRUNCATE = 4.0
"""Gaussian kernels are cut at this many standard deviations (``gaussian_filter``'s default)."""


@lru_cache(maxsize=64)
def _kernel(sigma: float) -> npt.NDArray[np.float64]:
    """``gaussian_filter1d``'s (reversed, contiguous) weights for ``sigma``, read-only."""
    radius = int(TRUNCATE * float(sigma) + 0.5)
    weights = np.ascontiguousarray(_gaussian_kernel1d(sigma, 0, radius)[::-1], dtype=np.float64)
    weights.setflags(write=False)
    return weights


def smooth(grid: npt.NDArray[np.float64], sigma: float) -> npt.NDArray[np.float64]:
    """``scipy.ndimage.gaussian_filter(grid, sigma, mode="constant")`` of a 2-D float grid.

    The same two ``correlate1d`` passes with the same kernel (hence the same bits), without
    rebuilding the kernel and re-validating the arguments on every call (a plan smooths a
    few small rasters; the overhead was most of the cost).

    Examples
    --------
    >>> from scipy.ndimage import gaussian_filter
    >>> g = np.zeros((5, 7)); g[2, 3] = 1.0; g[0, 6] = 0.5
    >>> bool(np.array_equal(smooth(g, 1.3), gaussian_filter(g, 1.3, mode="constant")))
    True
    """
    if not sigma > 1e-15:  # gaussian_filter copies the grid unchanged
        return grid.copy()
    weights = _kernel(float(sigma))
    out = np.zeros(grid.shape, dtype=grid.dtype.name)
    correlate1d(grid, weights, 0, out, mode="constant", cval=0.0, origin=0)
    correlate1d(out, weights, 1, out, mode="constant", cval=0.0, origin=0)
    return out


class KDEHotspot:
    """Phase 2.1: per-cluster density peak of a binned Gaussian KDE of decayed incidents.

    Parameters
    ----------
    cell_m
        Side of the grid cells (and of the KDE raster cells), metres.
    bandwidth_m
        Gaussian kernel standard deviation ``h``, metres.
    half_life_days
        Half-life of an incident's weight (``math.inf``: no decay).
    adaptive
        Use the paper's adaptive two-stage KDE (Abramson) instead of the fixed bandwidth.

    Examples
    --------
    >>> from patrol.learners.base import Observation
    >>> from patrol.learners.clusters import Clustering
    >>> kde = KDEHotspot(cell_m=50.0, bandwidth_m=100.0)
    >>> for x, y, n in [(1025.0, 25.0, 5), (1075.0, 25.0, 2), (1625.0, 25.0, 3)]:
    ...     for _ in range(n):
    ...         kde.learn_one(Observation(x, y, 16800.0, 0))
    >>> kde.predict_hotspots(Clustering(np.array([[1200.0, 0.0], [9000.0, 0.0]]), 0.0), 16800.0)
    [(1025.0, 25.0), None]
    """

    def __init__(
        self,
        cell_m: float = 50.0,
        bandwidth_m: float = 150.0,
        half_life_days: float = 90.0,
        adaptive: bool = False,
    ) -> None:
        if not (bandwidth_m > 0.0 and math.isfinite(bandwidth_m)):
            raise ValueError(f"bandwidth_m must be positive and finite, got {bandwidth_m!r}")
        self.cell_m = check_cell_m(cell_m)
        self.bandwidth_m = float(bandwidth_m)
        self.adaptive = bool(adaptive)
        self._decay = ForwardDecay(half_life_days, self._rescale)
        self._cells: CellTable = {}
        self._view = SortedCells()  # table_arrays(self._cells), kept up to date
        # Peaks of the last predict_hotspots (a cache, not state: to_dict leaves it out). A
        # cluster's peak depends only on its own cells' weights, so after a few incidents only
        # the clusters of the cells they changed are recomputed.
        self._peaks: list[Point | None] = []
        self._peaks_for: Clustering | None = None
        self._dirty: set[tuple[int, int]] | None = None  # None: every cluster is stale

    def learn_one(self, obs: Observation) -> None:
        """Add one incident to its cell."""
        key = cell_of(obs.x, obs.y, self.cell_m)
        w = self._decay.weight(obs.t)
        add_weight(self._cells, key, w)
        self._view.touch(key)
        if self._dirty is not None:
            self._dirty.add(key)

    def forget_one(self, obs: Observation) -> None:
        """Undo :meth:`learn_one` of the same observation (``KeyError`` if its cell is empty)."""
        key = cell_of(obs.x, obs.y, self.cell_m)
        subtract_from(self._cells, key, (self._decay.stored_weight(obs.t),))
        self._view.touch(key)
        if self._dirty is not None:
            self._dirty.add(key)
        if not self._cells:
            self._decay.reset()

    def _rescale(self, factor: float, shift: float) -> None:
        scale_table(self._cells, factor)
        self._view.reset()
        self._dirty = None  # rescaled weights may round differently: recompute every peak

    def predict_hotspots(self, clustering: Clustering, now: float) -> list[Point | None]:
        """``H_k`` (metres) for every cluster; ``None`` for a cluster with no incident.

        The peak does not depend on ``now``: decay scales every weight by the same factor.
        Only the clusters whose cells changed since the last call with the same clustering
        are recomputed (the others' peaks are the same function of the same cells).
        """
        k = clustering.k
        out: list[Point | None] = [None] * k
        if k == 0 or not self._cells:
            self._peaks_for, self._dirty = None, None
            return out
        ij, vals = self._view.arrays(self._cells)
        centres = (ij + 0.5) * self.cell_m
        labels = clustering.assign(centres[:, 0], centres[:, 1])
        if clustering is self._peaks_for and self._dirty is not None:
            out = list(self._peaks)
            changed = np.array(sorted(self._dirty), dtype=np.int64).reshape(-1, 2)
            stale = set(clustering.assign(*((changed + 0.5) * self.cell_m).T).tolist())
        else:
            stale = set(range(k))
        for j in sorted(stale):
            member = (labels == j) & (vals[:, 0] > 0.0)
            found = member.any()
            out[j] = self._peak(ij[member], vals[member, 0], clustering, j) if found else None
        self._peaks, self._peaks_for, self._dirty = list(out), clustering, set()
        return out

    def _peak(
        self,
        ij: npt.NDArray[np.int64],
        w: npt.NDArray[np.float64],
        clustering: Clustering,
        j: int,
    ) -> Point:
        lo, hi = ij.min(axis=0), ij.max(axis=0)
        span = hi - lo + 1
        f = max(1, math.ceil(math.sqrt(float(span[0]) * float(span[1]) / MAX_RASTER_CELLS)))
        while (span[0] // f + 1) * (span[1] // f + 1) > MAX_RASTER_CELLS:
            f += 1
        size = self.cell_m * f
        lo_c = np.floor_divide(lo, f)
        rc = np.floor_divide(ij, f) - lo_c
        shape = (int(rc[:, 0].max()) + 1, int(rc[:, 1].max()) + 1)
        sigma = self.bandwidth_m / size
        dens = self._density(rc, w, shape, sigma, distinct=f == 1)
        dens = np.round(dens * (1e9 / dens.max()))  # near-ties (1e-9) go to the first cell
        flat = int(np.argmax(dens))
        gx, gy = np.unravel_index(flat, shape)
        cx = (float(lo_c[0]) + float(gx) + 0.5) * size
        cy = (float(lo_c[1]) + float(gy) + 0.5) * size
        if int(clustering.assign(cx, cy)) != j:  # restrict the argmax to cluster j's region
            xs = (lo_c[0] + np.arange(shape[0]) + 0.5) * size
            ys = (lo_c[1] + np.arange(shape[1]) + 0.5) * size
            own = clustering.assign(xs[:, None], ys[None, :]) == j
            flat = int(np.argmax(np.where(own, dens, -np.inf)))
            gx, gy = np.unravel_index(flat, shape)
            cx, cy = float(xs[gx]), float(ys[gy])
        return cx, cy

    def _density(
        self,
        rc: npt.NDArray[np.int64],
        w: npt.NDArray[np.float64],
        shape: tuple[int, int],
        sigma: float,
        distinct: bool = False,
    ) -> npt.NDArray[np.float64]:
        """Binned KDE on the raster; ``distinct``: no two rows of ``rc`` share a raster cell."""
        grid = np.zeros(shape)
        if distinct:  # one cell per raster cell: 0 + v == v, as np.add.at gives
            grid[rc[:, 0], rc[:, 1]] = w / w.max()
        else:
            np.add.at(grid, (rc[:, 0], rc[:, 1]), w / w.max())
        pilot = smooth(grid, sigma)
        if not self.adaptive:
            return pilot
        occupied = np.nonzero(grid)
        f_i = np.maximum(pilot[occupied], 1e-300)
        g_w = grid[occupied]
        log_g = float(np.sum(g_w * np.log(f_i)) / np.sum(g_w))
        lam = np.clip(np.sqrt(np.exp(log_g) / f_i), 0.25, 4.0)
        octave = np.round(np.log2(lam) * 4.0) / 4.0
        dens = np.zeros(shape)
        for q in np.unique(octave):
            part = np.zeros(shape)
            sel = octave == q
            part[occupied[0][sel], occupied[1][sel]] = g_w[sel]
            dens += smooth(part, sigma * 2.0**q)
        return dens

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready state."""
        return {
            "cell_m": self.cell_m,
            "bandwidth_m": self.bandwidth_m,
            "adaptive": self.adaptive,
            "decay": self._decay.to_dict(),
            "cells": table_to_rows(self._cells),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> KDEHotspot:
        """Inverse of :meth:`to_dict`."""
        m = cls(
            cell_m=d["cell_m"],
            bandwidth_m=d["bandwidth_m"],
            half_life_days=ForwardDecay.half_life_from(d["decay"]),
            adaptive=d["adaptive"],
        )
        m._decay.set_landmark(d["decay"]["t_ref"])
        m._cells = table_from_rows(d["cells"])
        return m
