"""Forward exponential decay and the grid cells the CPSPA learners keep their statistics on.

The design (design.md, "The CPSPA method": the paper's statistics, section 5.2, with exponential
decay so that old data fades) keeps every learner's state as additive, per-cell sufficient
statistics. Exponential decay is implemented as *forward decay* (Cormode, Shkapenyuk,
Srivastava & Xu, "Forward decay: a practical time decay model for streaming systems", ICDE
2009): an event at time ``t`` adds weight ``exp(rate * (t - t_ref))`` with ``rate = ln 2 /
half_life_days``, and a reader at ``now`` multiplies the stored sums by
``exp(-rate * (now - t_ref))``. So

* the state after a set of events does not depend on their arrival order (up to float
  rounding), and a revision is undone exactly by subtracting the same contribution;
* ratios of decayed sums (probabilities, weighted means, regressions, density peaks) do not
  depend on ``now`` at all: the reader's factor is common to every term and cancels.

The landmark ``t_ref`` only ever moves forward, in fixed steps of ``span = min(8 / rate, 1024)``
days (``t_ref = floor(max_t / span) * span``), so the newest weight stays below ``e**8``, times
measured from the landmark stay small, and the landmark itself is a function of the newest event
time, independent of arrival order. When it moves by ``shift`` days, every stored decayed sum
is multiplied by ``exp(-rate * shift)`` (the learner's ``on_rebase`` callback). Events older
than about ``700 / rate`` days before the newest one underflow to weight 0 (they are negligible
next to the newest anyway). ``half_life_days = math.inf`` switches decay off (weights are plain
counts; the landmark still moves, to keep ``t - t_ref`` small).

Every learner keys its cells by ``(ix, iy) = (floor(x / cell_m), floor(y / cell_m))`` and stores
per cell a list of floats whose last element is the exact number of live events (as a float);
a cell is deleted when that count returns to 0, so learn-then-forget restores an empty state
exactly.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from itertools import chain
from typing import Any

import numpy as np
import numpy.typing as npt

REBASE_EXPONENT = 8.0
"""The landmark moves before the newest event's weight would reach ``exp(REBASE_EXPONENT)``."""

MAX_SPAN_DAYS = 1024.0
"""... and at least every this many days, so ``t - t_ref`` stays small (well-conditioned sums)."""

_MIN_EXPONENT = -700.0
_MAX_EXPONENT = 709.0

CANCELLATION = 1e-9
"""See :func:`subtract_from`."""

Cell = tuple[int, int]
"""A grid cell ``(ix, iy)``."""

CellTable = dict[Cell, list[float]]
"""Per-cell statistics: decayed sums followed by the live-event count (last element)."""


class ForwardDecay:
    """Forward exponential decay with a landmark that moves in fixed, order-independent steps.

    Parameters
    ----------
    half_life_days
        Time after which an event's weight has halved; ``math.inf`` disables decay.
    on_rebase
        Called as ``on_rebase(factor, shift_days)`` when the landmark moves forward by
        ``shift_days``: every stored decayed sum must be multiplied by ``factor``, and any
        stored ``t - t_ref`` becomes ``t - t_ref - shift_days``.

    Examples
    --------
    >>> d = ForwardDecay(half_life_days=10.0)
    >>> w_old, w_new = d.weight(100.0), d.weight(110.0)
    >>> round(w_old / w_new, 12)
    0.5
    >>> round(w_new * d.factor(110.0), 12)  # an event read at its own time weighs 1
    1.0
    >>> round(w_old * d.factor(120.0), 12)  # two half-lives later it weighs a quarter
    0.25
    """

    __slots__ = ("_on_rebase", "_t_next", "half_life_days", "rate", "span", "t_ref")

    def __init__(
        self, half_life_days: float, on_rebase: Callable[[float, float], None] | None = None
    ) -> None:
        if not half_life_days > 0.0:
            raise ValueError(f"half_life_days must be > 0, got {half_life_days!r}")
        self.half_life_days = float(half_life_days)
        self.rate = math.log(2.0) / self.half_life_days
        self.span = min(REBASE_EXPONENT / self.rate, MAX_SPAN_DAYS) if self.rate else MAX_SPAN_DAYS
        self.t_ref: float | None = None
        self._t_next = -math.inf  # t_ref + span: events at or after it move the landmark
        self._on_rebase = on_rebase

    def weight(self, t: float) -> float:
        """Forward-decay weight of an event at ``t``; may move the landmark forward (hot path)."""
        if t < self._t_next:
            e = self.rate * (t - self.t_ref)  # type: ignore[operator]  # set with _t_next
            if e > _MIN_EXPONENT:
                return math.exp(e)
        return self._slow_weight(t)

    def _slow_weight(self, t: float) -> float:
        if not math.isfinite(t):
            raise ValueError(f"event time must be finite, got {t!r}")
        landmark = math.floor(t / self.span) * self.span
        if self.t_ref is None:
            self.set_landmark(landmark)
        elif landmark > self.t_ref:
            shift = landmark - self.t_ref
            factor = math.exp(max(-self.rate * shift, -745.0))
            self.set_landmark(landmark)
            if self._on_rebase is not None:
                self._on_rebase(factor, shift)
        assert self.t_ref is not None
        return math.exp(min(self.rate * (t - self.t_ref), _MAX_EXPONENT))

    def set_landmark(self, t_ref: float | None) -> None:
        """Set ``t_ref`` (``None``: empty) without rescaling anything (restoring a state)."""
        if t_ref is None:
            self.t_ref, self._t_next = None, -math.inf
        else:
            self.t_ref = float(t_ref)
            self._t_next = self.t_ref + self.span

    def stored_weight(self, t: float) -> float:
        """The weight an already-learned event at ``t`` contributed (never moves the landmark).

        ``KeyError`` when no event at ``t`` can have been learned, ``ValueError`` if not finite.
        """
        if not math.isfinite(t):
            raise ValueError(f"event time must be finite, got {t!r}")
        if self.t_ref is None or t >= self._t_next:
            raise KeyError(f"no observation at t={t!r} has been learned")
        return math.exp(self.rate * (t - self.t_ref))

    def factor(self, now: float) -> float:
        """Multiplier turning stored sums into sums decayed to ``now`` (saturates, never raises)."""
        if self.t_ref is None:
            return 1.0
        e = -self.rate * (now - self.t_ref)
        return math.exp(min(max(e, -745.0), _MAX_EXPONENT))

    def reset(self) -> None:
        """Forget the landmark (called when the learner becomes empty)."""
        self.set_landmark(None)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready state; an infinite half-life is written as ``None``."""
        h = None if math.isinf(self.half_life_days) else self.half_life_days
        return {"half_life_days": h, "t_ref": self.t_ref}

    @staticmethod
    def half_life_from(d: Mapping[str, Any]) -> float:
        """The half-life stored by :meth:`to_dict` (``None`` means infinite)."""
        h = d["half_life_days"]
        return math.inf if h is None else float(h)


def cell_of(x: float, y: float, cell_m: float) -> Cell:
    """Grid cell ``(floor(x / cell_m), floor(y / cell_m))``; ``ValueError`` if not finite.

    Examples
    --------
    >>> cell_of(120.0, -10.0, 50.0)
    (2, -1)
    """
    try:
        return math.floor(x / cell_m), math.floor(y / cell_m)
    except (ValueError, OverflowError):
        raise ValueError(f"coordinates must be finite, got ({x!r}, {y!r})") from None


def cell_centres(cells: Iterable[Cell], cell_m: float) -> npt.NDArray[np.float64]:
    """Centres ``(n, 2)`` in metres of the given cells."""
    ij = np.array(list(cells), dtype=np.float64).reshape(-1, 2)
    return (ij + 0.5) * cell_m


def check_cell_m(cell_m: float) -> float:
    """Validate a cell size in metres."""
    if not (cell_m > 0.0 and math.isfinite(cell_m)):
        raise ValueError(f"cell_m must be a positive finite number, got {cell_m!r}")
    return float(cell_m)


def add_weight(table: CellTable, key: Cell, w: float) -> None:
    """Hot-path :func:`add_to` for tables holding one decayed weight and a count per cell."""
    row = table.get(key)
    if row is None:
        table[key] = [w, 1.0]
    else:
        row[0] += w
        row[1] += 1.0


def add_to(table: CellTable, key: Cell, values: Sequence[float]) -> None:
    """Add ``values`` (decayed sums) and one event to ``table[key]`` (cold-path helper)."""
    row = table.get(key)
    if row is None:
        table[key] = [*values, 1.0]
    else:
        for i, v in enumerate(values):
            row[i] += v
        row[-1] += 1.0


def subtract_from(table: CellTable, key: Cell, values: Sequence[float]) -> bool:
    """Remove one event's ``values`` from ``table[key]``; True when the cell became empty.

    ``values[0]`` is the event's weight. When what remains weighs less than
    :data:`CANCELLATION` times it, the remainder is rounding noise of the subtraction (the other
    events are over 30 half-lives older), so the cell's sums are set to 0 (its count is kept).
    Raises ``KeyError`` when the cell holds no event (it was never learned).
    """
    row = table.get(key)
    if row is None:
        raise KeyError(f"cell {key} holds no learned observation")
    if row[-1] <= 1.0:
        del table[key]
        return True
    for i, v in enumerate(values):
        row[i] -= v
    row[-1] -= 1.0
    if row[0] <= CANCELLATION * values[0]:
        for i in range(len(row) - 1):
            row[i] = 0.0
    return False


def scale_table(table: CellTable, factor: float) -> None:
    """Multiply every decayed sum (not the counts) by ``factor`` in place."""
    for row in table.values():
        for i in range(len(row) - 1):
            row[i] *= factor


def table_to_rows(table: CellTable) -> list[list[float | int]]:
    """Sorted JSON rows ``[ix, iy, *sums, count]``."""
    return [[ix, iy, *row[:-1], int(row[-1])] for (ix, iy), row in sorted(table.items())]


def table_from_rows(rows: Iterable[Sequence[float | int]]) -> CellTable:
    """Inverse of :func:`table_to_rows`."""
    return {(int(r[0]), int(r[1])): [float(v) for v in r[2:]] for r in rows}


def quantize(a: npt.NDArray[np.float64], bits: int = 30) -> npt.NDArray[np.float64]:
    """Round to ``bits`` significant bits (relative 1e-9 for 30): float sums that differ only by
    summation order then give bit-identical inputs to k-means and to arg-max tie-breaking.

    Examples
    --------
    >>> a = np.array([0.1 + 0.2, 0.3, 0.0])
    >>> bool(a[0] == a[1]), bool(np.all(quantize(a)[:2] == quantize(a)[1]))
    (False, True)
    """
    m, e = np.frexp(a)
    out: npt.NDArray[np.float64] = np.ldexp(np.round(m * 2.0**bits) / 2.0**bits, e)
    return out


def table_arrays(
    table: CellTable,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """Cells ``(n, 2)`` and their rows ``(n, m)`` (sums then count) as arrays, in key order.

    Key order is ``(ix, iy)`` lexicographic, as ``sorted(table)``; the values are the rows'
    floats unchanged (flattened with :func:`numpy.fromiter`, then sorted by
    :func:`numpy.lexsort`: several times faster than sorting tuples in Python).

    Examples
    --------
    >>> ij, vals = table_arrays({(1, 0): [2.0, 1.0], (0, 5): [3.0, 2.0], (0, -1): [1.0, 1.0]})
    >>> ij.tolist(), vals[:, 0].tolist()
    ([[0, -1], [0, 5], [1, 0]], [1.0, 3.0, 2.0])
    """
    n = len(table)
    if n == 0:
        return np.zeros((0, 2), dtype=np.int64), np.zeros((0, 1), dtype=np.float64)
    width = len(next(iter(table.values())))
    ij = np.fromiter(chain.from_iterable(table), dtype=np.int64, count=2 * n).reshape(n, 2)
    vals = np.fromiter(
        chain.from_iterable(table.values()), dtype=np.float64, count=width * n
    ).reshape(n, width)
    order = np.lexsort((ij[:, 1], ij[:, 0]))
    return ij[order], vals[order]


_CODE_LIMIT = 1 << 30
"""Cells with ``|ix|`` or ``|iy|`` at or beyond this are not kept incrementally (see
:class:`SortedCells`): the one-number key ``ix * 2**32 + iy`` must not overflow."""


def _codes(ij: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """One int64 per cell, ordered as the ``(ix, iy)`` tuples (when within the limit)."""
    out: npt.NDArray[np.int64] = (ij[:, 0] << 32) + ij[:, 1]
    return out


class SortedCells:
    """:func:`table_arrays` of one table, kept up to date from the cells touched since.

    A learner calls :meth:`touch` with every cell it changes and :meth:`reset` when it changes
    them all (a rescale); :meth:`arrays` then returns what ``table_arrays(table)`` would,
    rebuilding only the touched rows (a plan reads a district's whole table; a few dozen of its
    thousands of cells changed since the last plan). A cache, not state: never serialised.

    The arrays returned are read-only and never modified afterwards (an update builds new
    ones), so a caller may keep them.

    Examples
    --------
    >>> table = {(0, 0): [1.0, 1.0]}
    >>> view = SortedCells()
    >>> view.arrays(table)[0].tolist()
    [[0, 0]]
    >>> add_weight(table, (-1, 3), 2.0); view.touch((-1, 3))
    >>> ij, vals = view.arrays(table)
    >>> ij.tolist(), vals.tolist()
    ([[-1, 3], [0, 0]], [[2.0, 1.0], [1.0, 1.0]])
    """

    __slots__ = ("_codes", "_ij", "_touched", "_vals")

    def __init__(self) -> None:
        self._ij: npt.NDArray[np.int64] | None = None
        self._vals: npt.NDArray[np.float64] = np.zeros((0, 1))
        self._codes: npt.NDArray[np.int64] = np.zeros(0, dtype=np.int64)
        self._touched: set[Cell] = set()

    def reset(self) -> None:
        """Forget the arrays: the next :meth:`arrays` rebuilds them from the whole table."""
        self._ij = None
        self._touched = set()

    def touch(self, key: Cell) -> None:
        """Note that ``table[key]`` was added, changed or deleted."""
        if self._ij is not None:
            self._touched.add(key)

    def arrays(self, table: CellTable) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
        """``table_arrays(table)`` (read-only arrays)."""
        if self._ij is None or self._ij.shape[0] == 0 or 4 * len(self._touched) > len(table):
            return self._rebuild(table)
        if self._touched:
            self._update(table)
        return self._ij, self._vals

    def _rebuild(self, table: CellTable) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
        ij, vals = table_arrays(table)
        ij.setflags(write=False)
        vals.setflags(write=False)
        self._touched = set()
        if ij.size and int(np.abs(ij).max()) >= _CODE_LIMIT:
            self._ij = None  # not kept: rebuilt on every read
        else:
            self._ij, self._vals, self._codes = ij, vals, _codes(ij)
        return ij, vals

    def _update(self, table: CellTable) -> None:
        assert self._ij is not None
        keys = sorted(self._touched)
        self._touched = set()
        tij = np.array(keys, dtype=np.int64).reshape(-1, 2)
        if int(np.abs(tij).max()) >= _CODE_LIMIT:
            self._rebuild(table)
            return
        tcodes = _codes(tij)
        codes, ij, vals = self._codes, self._ij, self._vals
        pos = np.searchsorted(codes, tcodes)
        present = np.zeros(len(keys), dtype=bool)
        inside = pos < codes.size
        present[inside] = codes[pos[inside]] == tcodes[inside]
        alive = np.array([k in table for k in keys], dtype=bool)
        vals = vals.copy()
        change = present & alive
        if change.any():
            vals[pos[change]] = [table[keys[i]] for i in np.flatnonzero(change)]
        drop = present & ~alive
        if drop.any():
            keep = np.ones(codes.size, dtype=bool)
            keep[pos[drop]] = False
            codes, ij, vals = codes[keep], ij[keep], vals[keep]
        add = ~present & alive
        if add.any():
            new = np.flatnonzero(add)
            # where the new cells go in the merged order (tcodes is sorted, so is `at`)
            at = np.searchsorted(codes, tcodes[new]) + np.arange(new.size)
            old = np.ones(codes.size + new.size, dtype=bool)
            old[at] = False
            merged_codes = np.empty(old.size, dtype=np.int64)
            merged_codes[old], merged_codes[at] = codes, tcodes[new]
            merged_ij = np.empty((old.size, 2), dtype=np.int64)
            merged_ij[old], merged_ij[at] = ij, tij[new]
            merged_vals = np.empty((old.size, vals.shape[1]), dtype=np.float64)
            merged_vals[old] = vals
            merged_vals[at] = [table[keys[i]] for i in new]
            codes, ij, vals = merged_codes, merged_ij, merged_vals
        ij.setflags(write=False)
        vals.setflags(write=False)
        self._codes, self._ij, self._vals = codes, ij, vals
