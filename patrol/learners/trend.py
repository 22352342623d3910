"""CPSPA phase 2.2 (paper section 5.2.2, regression in 3.2.2): predicted point L_k per cluster.

The paper orders each cluster's crimes in time and fits two linear regressions, latitude on time
and longitude on time; ``L_k`` is the pair evaluated at the prediction time. :class:`LinearTrend`
does the same in metres with forward-decayed weights (weighted least squares). It keeps, per
grid cell, the additive sufficient statistics ``sum w, w*tau, w*tau^2, w*x, w*tau*x, w*y,
w*tau*y`` with ``tau = t - t_ref`` (time centred on the decay landmark, so the sums stay well
conditioned), and a cluster's regression is the sum over its member cells. ``x`` and ``y`` are
the incidents' exact coordinates; only cluster membership goes by the cell centre.

With no spread in time (weighted variance of event times below one minute squared, or below
``1e-11`` times the squared mean ``tau``, the rounding floor) ``L_k`` is the weighted mean. The
paper extrapolates freely; by default we clamp ``L_k`` to the bounding box of the cluster's
occupied grid cells, because an extrapolated point can land where no crime can occur (in Lake
Michigan, say). Pass ``clamp=False`` for the paper's behaviour.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from patrol.learners.base import Observation
from patrol.learners.clusters import Clustering
from patrol.learners.decay import (
    CellTable,
    ForwardDecay,
    SortedCells,
    cell_of,
    check_cell_m,
    subtract_from,
    table_from_rows,
    table_to_rows,
)

MIN_TIME_VARIANCE = (1.0 / 1440.0) ** 2
"""Below this weighted variance of event times (days², one minute squared): no slope."""

Point = tuple[float, float]


class LinearTrend:
    """Phase 2.2: per-cluster weighted linear regression of ``x`` and ``y`` on event time.

    Parameters
    ----------
    cell_m
        Side of the grid cells, metres.
    half_life_days
        Half-life of an incident's weight (``math.inf``: ordinary least squares).

    Examples
    --------
    >>> import math
    >>> from patrol.learners.base import Observation
    >>> from patrol.learners.clusters import Clustering
    >>> trend = LinearTrend(half_life_days=math.inf)
    >>> for day in range(10):  # moving 10 m east and 5 m south per day
    ...     trend.learn_one(Observation(100.0 + 10.0 * day, 500.0 - 5.0 * day, 16800.0 + day, 0))
    >>> one = Clustering(np.array([[150.0, 480.0]]), fitted_at=0.0)
    >>> [tuple(round(v, 6) for v in p) for p in trend.predict_points(one, at=16805.0)]
    [(150.0, 475.0)]
    >>> trend.predict_points(one, at=16900.0)  # clamped to the occupied cells' bounding box
    [(200.0, 450.0)]
    >>> [tuple(round(v, 6) + 0.0 for v in p) for p in trend.predict_points(one, 16900.0, False)]
    [(1100.0, 0.0)]
    """

    def __init__(self, cell_m: float = 50.0, half_life_days: float = 90.0) -> None:
        self.cell_m = check_cell_m(cell_m)
        self._decay = ForwardDecay(half_life_days, self._rescale)
        self._cells: CellTable = {}
        self._view = SortedCells()  # table_arrays(self._cells), kept up to date

    def learn_one(self, obs: Observation) -> None:
        """Add one incident's weighted sufficient statistics to its cell."""
        x, y = obs.x, obs.y
        key = cell_of(x, y, self.cell_m)
        decay = self._decay
        w = decay.weight(obs.t)
        tau = obs.t - decay.t_ref  # type: ignore[operator]  # set by weight()
        wt = w * tau
        row = self._cells.get(key)
        if row is None:
            self._cells[key] = [w, wt, wt * tau, w * x, wt * x, w * y, wt * y, 1.0]
        else:
            row[0] += w
            row[1] += wt
            row[2] += wt * tau
            row[3] += w * x
            row[4] += wt * x
            row[5] += w * y
            row[6] += wt * y
            row[7] += 1.0
        self._view.touch(key)

    def forget_one(self, obs: Observation) -> None:
        """Undo :meth:`learn_one` of the same observation (``KeyError`` if its cell is empty)."""
        key = cell_of(obs.x, obs.y, self.cell_m)
        w = self._decay.stored_weight(obs.t)
        tau = obs.t - self._decay.t_ref  # type: ignore[operator]  # checked by stored_weight()
        wt = w * tau
        x, y = obs.x, obs.y
        self._view.touch(key)
        subtract_from(self._cells, key, (w, wt, wt * tau, w * x, wt * x, w * y, wt * y))
        if not self._cells:
            self._decay.reset()

    def _rescale(self, factor: float, shift: float) -> None:
        # Decay scales every sum; moving t_ref by D also turns every tau into tau - D.
        self._view.reset()
        for row in self._cells.values():
            w, wt, wx, wy = row[0], row[1], row[3], row[5]
            row[2] = factor * (row[2] - shift * (2.0 * wt - shift * w))
            row[1] = factor * (wt - shift * w)
            row[4] = factor * (row[4] - shift * wx)
            row[6] = factor * (row[6] - shift * wy)
            row[0] = factor * w
            row[3] = factor * wx
            row[5] = factor * wy

    def predict_points(
        self, clustering: Clustering, at: float, clamp: bool = True
    ) -> list[Point | None]:
        """``L_k`` (metres) at event time ``at`` for every cluster; ``None`` when it has no data.

        Decay weights enter as relative weights only, so ``L_k`` depends on ``at``, not on the
        time the prediction is made.
        """
        k = clustering.k
        out: list[Point | None] = [None] * k
        if k == 0 or not self._cells:
            return out
        ij, vals = self._view.arrays(self._cells)
        labels = clustering.assign((ij[:, 0] + 0.5) * self.cell_m, (ij[:, 1] + 0.5) * self.cell_m)
        # Per cluster and column, the rows' sum in row order (bincount adds in input order, as
        # np.add.at does, so the same bits), and the bounding box of the member cells.
        sums = np.stack([np.bincount(labels, vals[:, c], minlength=k) for c in range(7)], axis=1)
        tau_at = at - (self._decay.t_ref or 0.0)
        if clamp:  # min and max are exact: any grouping gives the same box
            order = np.argsort(labels, kind="stable")
            grouped = labels[order]
            starts = np.flatnonzero(np.r_[True, grouped[1:] != grouped[:-1]])
            lo_ij = np.zeros((k, 2), dtype=np.int64)
            hi_ij = np.zeros((k, 2), dtype=np.int64)
            lo_ij[grouped[starts]] = np.minimum.reduceat(ij[order], starts, axis=0)
            hi_ij[grouped[starts]] = np.maximum.reduceat(ij[order], starts, axis=0)
        for j, row in enumerate(sums.tolist()):
            sw, st, stt, sx, stx, sy, sty = row
            if not sw > 0.0:
                continue
            mt, mx, my = st / sw, sx / sw, sy / sw
            var = stt / sw - mt * mt
            if var > max(MIN_TIME_VARIANCE, 1e-11 * mt * mt):
                px = mx + (stx / sw - mt * mx) / var * (tau_at - mt)
                py = my + (sty / sw - mt * my) / var * (tau_at - mt)
            else:
                px, py = mx, my
            if clamp:
                lo = lo_ij[j] * self.cell_m
                hi = (hi_ij[j] + 1) * self.cell_m
                px = min(max(px, float(lo[0])), float(hi[0]))
                py = min(max(py, float(lo[1])), float(hi[1]))
            out[j] = (px, py)
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready state."""
        return {
            "cell_m": self.cell_m,
            "decay": self._decay.to_dict(),
            "cells": table_to_rows(self._cells),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LinearTrend:
        """Inverse of :meth:`to_dict`."""
        m = cls(cell_m=d["cell_m"], half_life_days=ForwardDecay.half_life_from(d["decay"]))
        m._decay.set_landmark(d["decay"]["t_ref"])
        m._cells = table_from_rows(d["cells"])
        return m
