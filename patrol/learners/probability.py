"""CPSPA phase 2.3 (paper section 5.2.3, Algorithm 1, Eq. 5): the crime probability table M_p.

Algorithm 1 counts, for every day ``dy``, hour ``hr`` of the patrol turn and cluster ``Cl_i``,
``repCr`` = crimes at that day and hour in the cluster and ``totCrCl`` = crimes at that day and
hour in the whole circuit, and stores the row ``[dy, hr, Cl, repCr / totCrCl]``.
:class:`SpaceTimeTable` computes the same quotient from forward-decayed counts, indexed slot
first (``slot = dow * 24 + hour``, Monday = 0) and then by grid cell, so a plan only touches
the cells of the slots it needs; a cell belongs to the cluster its centre is nearest to. Days,
hours and clusters are 0-based here (the paper's example is 1-based).

The quotient does not depend on ``now``: decay multiplies numerator and denominator by the same
factor. :meth:`SpaceTimeTable.decayed_counts` gives the decayed counts themselves at ``now``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import numpy.typing as npt

from patrol.learners.base import Observation
from patrol.learners.clusters import Clustering
from patrol.learners.decay import (
    CellTable,
    ForwardDecay,
    cell_of,
    check_cell_m,
    scale_table,
    subtract_from,
    table_arrays,
    table_from_rows,
    table_to_rows,
)

N_SLOTS = 7 * 24


def _slot(dow: int, hour: int) -> int:
    if not (0 <= dow < 7 and 0 <= hour < 24):
        raise ValueError(f"need 0 <= dow < 7 and 0 <= hour < 24, got dow={dow}, hour={hour}")
    return dow * 24 + hour


class SpaceTimeTable:
    """Algorithm 1: P(day, hour, cluster) = decayed crimes in the cluster / in the district.

    Parameters
    ----------
    cell_m
        Side of the grid cells, metres.
    half_life_days
        Half-life of an incident's weight (``math.inf``: plain counts, as in the paper).

    Examples
    --------
    >>> import math
    >>> from patrol.learners.base import Observation
    >>> from patrol.learners.clusters import Clustering
    >>> st = SpaceTimeTable(half_life_days=math.inf)
    >>> monday_18 = 0 * 24 + 18
    >>> for x in [10.0, 20.0, 30.0, 5000.0]:
    ...     st.learn_one(Observation(x, 0.0, 16800.0, monday_18))
    >>> two = Clustering(np.array([[0.0, 0.0], [5000.0, 0.0]]), fitted_at=0.0)
    >>> st.predict_proba(two, dow=0, hour=18, now=16800.0).tolist()
    [0.75, 0.25]
    >>> st.table(two, dows=[0], hours=[18, 19], now=16800.0)
    [(0, 18, 0, 0.75), (0, 18, 1, 0.25), (0, 19, 0, 0.0), (0, 19, 1, 0.0)]
    """

    def __init__(self, cell_m: float = 50.0, half_life_days: float = 90.0) -> None:
        self.cell_m = check_cell_m(cell_m)
        self._decay = ForwardDecay(half_life_days, self._rescale)
        self._slots: list[CellTable] = [{} for _ in range(N_SLOTS)]
        self._n = 0
        # Per slot, the last _cluster_sums and the clustering they are for (a cache, not state:
        # to_dict leaves it out). Learning or forgetting in a slot drops its entry, a rescale
        # all of them; a plan's hours are mostly slots nothing was learned in since the last.
        self._sums: dict[int, tuple[Clustering, npt.NDArray[np.float64], float]] = {}

    def learn_one(self, obs: Observation) -> None:
        """Count one incident in its slot and cell."""
        slot = obs.slot
        if not 0 <= slot < N_SLOTS:
            raise ValueError(f"slot must be in 0..167, got {slot!r}")
        key = cell_of(obs.x, obs.y, self.cell_m)
        w = self._decay.weight(obs.t)
        table = self._slots[slot]
        row = table.get(key)
        if row is None:
            table[key] = [w, 1.0]
        else:
            row[0] += w
            row[1] += 1.0
        self._n += 1
        self._sums.pop(slot, None)

    def forget_one(self, obs: Observation) -> None:
        """Undo :meth:`learn_one` of the same observation (``KeyError`` if never learned)."""
        slot = obs.slot
        if not 0 <= slot < N_SLOTS:
            raise ValueError(f"slot must be in 0..167, got {slot!r}")
        key = cell_of(obs.x, obs.y, self.cell_m)
        self._sums.pop(slot, None)
        subtract_from(self._slots[slot], key, (self._decay.stored_weight(obs.t),))
        self._n -= 1
        if self._n == 0:
            self._decay.reset()

    def _rescale(self, factor: float, shift: float) -> None:
        self._sums.clear()
        for table in self._slots:
            scale_table(table, factor)

    def _cluster_sums(
        self, clustering: Clustering, slot: int
    ) -> tuple[npt.NDArray[np.float64], float]:
        """Stored (undecayed-to-now) ``repCr`` per cluster and ``totCrCl`` for one slot.

        ``repCr`` is read-only (it may be the cached array of an earlier call).
        """
        k = clustering.k
        table = self._slots[slot]
        if not table or k == 0:
            return np.zeros(k), 0.0
        cached = self._sums.get(slot)
        if cached is not None and cached[0] is clustering:
            return cached[1], cached[2]
        ij, vals = table_arrays(table)
        labels = clustering.assign((ij[:, 0] + 0.5) * self.cell_m, (ij[:, 1] + 0.5) * self.cell_m)
        rep = np.bincount(labels, weights=vals[:, 0], minlength=k).astype(np.float64)
        rep.setflags(write=False)
        tot = float(vals[:, 0].sum())
        self._sums[slot] = (clustering, rep, tot)
        return rep, tot

    def predict_proba(
        self, clustering: Clustering, dow: int, hour: int, now: float
    ) -> npt.NDArray[np.float64]:
        """``repCr / totCrCl`` for every cluster at ``(dow, hour)``; zeros when no crime."""
        rep, tot = self._cluster_sums(clustering, _slot(dow, hour))
        if not tot > 0.0:
            return np.zeros(clustering.k)
        out: npt.NDArray[np.float64] = rep / tot
        return out

    def decayed_counts(
        self, clustering: Clustering, dow: int, hour: int, now: float
    ) -> tuple[npt.NDArray[np.float64], float]:
        """Decayed ``repCr`` per cluster and ``totCrCl`` at ``(dow, hour)``, as of ``now``."""
        rep, tot = self._cluster_sums(clustering, _slot(dow, hour))
        f = self._decay.factor(now)
        return rep * f, tot * f

    def decayed_cells(
        self, dow: int, hour: int, now: float
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
        """Cells ``(n, 2)`` (``ix, iy``) of the slot ``(dow, hour)`` and their decayed counts
        as of ``now``, in cell order (the per-cell ``repCr`` before grouping into clusters).

        Examples
        --------
        >>> import math
        >>> st = SpaceTimeTable(cell_m=50.0, half_life_days=math.inf)
        >>> for x in [10.0, 20.0, 130.0]:
        ...     st.learn_one(Observation(x, 0.0, 16800.0, 18))
        >>> ij, w = st.decayed_cells(0, 18, 16800.0)
        >>> ij.tolist(), w.tolist()
        ([[0, 0], [2, 0]], [2.0, 1.0])
        """
        table = self._slots[_slot(dow, hour)]
        if not table:
            return np.zeros((0, 2), dtype=np.int64), np.zeros(0)
        ij, vals = table_arrays(table)
        w: npt.NDArray[np.float64] = vals[:, 0] * self._decay.factor(now)
        return ij, w

    def table(
        self, clustering: Clustering, dows: Iterable[int], hours: Iterable[int], now: float
    ) -> list[tuple[int, int, int, float]]:
        """The rows ``(day, hour, cluster, p)`` of ``M_p``, in Algorithm 1's loop order."""
        hour_list = list(hours)
        rows: list[tuple[int, int, int, float]] = []
        for dow in dows:
            for hour in hour_list:
                p = self.predict_proba(clustering, dow, hour, now)
                rows.extend((dow, hour, c, float(v)) for c, v in enumerate(p))
        return rows

    @property
    def n_observations(self) -> int:
        """Number of live (learned and not forgotten) incidents."""
        return self._n

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready state; ``slots`` rows are ``[slot, ix, iy, weight, count]``."""
        return {
            "cell_m": self.cell_m,
            "decay": self._decay.to_dict(),
            "slots": [
                [s, *row] for s, table in enumerate(self._slots) for row in table_to_rows(table)
            ],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SpaceTimeTable:
        """Inverse of :meth:`to_dict`."""
        m = cls(cell_m=d["cell_m"], half_life_days=ForwardDecay.half_life_from(d["decay"]))
        m._decay.set_landmark(d["decay"]["t_ref"])
        grouped: list[list[list[float | int]]] = [[] for _ in range(N_SLOTS)]
        for r in d["slots"]:
            grouped[int(r[0])].append(r[1:])
        m._slots = [table_from_rows(rows) for rows in grouped]
        m._n = sum(int(r[-1]) for r in d["slots"])
        return m
