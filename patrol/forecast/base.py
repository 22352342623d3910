"""What every hotspot forecaster shares: past incidents in, risk per grid cell out.

The API follows river / open_cp: :meth:`Forecaster.fit` (reset, then learn a history),
:meth:`Forecaster.learn` / :meth:`Forecaster.learn_one` (newer incidents, in time order) and
:meth:`Forecaster.predict` ``(cells, period_start, period_days) -> risk per cell`` (higher =
more incidents expected in ``[period_start, period_start + period_days)``).

**No look-ahead, by construction.** A forecaster only ever holds incidents it was given, in
time order, and :meth:`Forecaster.predict` raises :class:`LookAheadError` when it holds any
incident at or after ``period_start``: a forecast can never be made with data from its own
period (or later). The backtest driver feeds each period's incidents only after scoring it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, tzinfo
from typing import ClassVar, Self

import numpy as np
import numpy.typing as npt

from patrol.evaluation.backtest import LookAheadError
from patrol.evaluation.events import SECONDS_PER_DAY, Events
from patrol.evaluation.grid import Grid

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

__all__ = ["F64", "I64", "Forecaster", "LookAheadError", "period_slots"]


def period_slots(start: float, days: float, tz: tzinfo | None) -> I64:
    """Local weekly slots (``dow * 24 + hour``, Monday = 0) of every hour of a period.

    Examples
    --------
    >>> from zoneinfo import ZoneInfo
    >>> monday = datetime(2016, 7, 4, tzinfo=ZoneInfo("America/Chicago")).timestamp() / 86400
    >>> period_slots(monday, 1.0, ZoneInfo("America/Chicago")).tolist() == list(range(24))
    True
    """
    t0 = datetime.fromtimestamp(start * SECONDS_PER_DAY, tz or UTC)
    n = max(1, round(days * 24))
    hours = [(t0 + timedelta(hours=h)).astimezone(tz or UTC) for h in range(n)]
    return np.array([h.weekday() * 24 + h.hour for h in hours], dtype=np.int64)


class Forecaster(ABC):
    """Base class: keeps the incidents learned so far (time-sorted) and their grid cells.

    Subclasses implement :meth:`_predict` (and may override :meth:`_learned` to update
    running statistics). Class attributes: ``name`` (the method's key in reports),
    ``kind`` (``"baseline"`` for the baselines of design.md, ``"engine"`` for the engine's own
    forecaster, ``"ours"`` for the forecasters built to beat them).
    """

    name: str = "forecaster"
    kind: ClassVar[str] = "baseline"

    @property
    def baseline(self) -> bool:
        """Whether this is one of the baselines (the strongest is the bar to beat)."""
        return self.kind == "baseline"

    def __init__(self) -> None:
        self._grid: Grid | None = None
        self.events: Events = Events.empty()
        self.cells: I64 = np.zeros(0, dtype=np.int64)
        self._pending: list[tuple[float, float, float, int, int, int, bool, int]] = []

    @property
    def grid(self) -> Grid:
        """The grid given to :meth:`fit` (``RuntimeError`` before)."""
        if self._grid is None:
            raise RuntimeError(f"{type(self).__name__}: call fit() first")
        return self._grid

    # -- learning -----------------------------------------------------------------------------
    def fit(self, events: Events, grid: Grid) -> Self:
        """Forget everything, then learn ``events`` (the history before the first forecast)."""
        self._grid = grid
        self.events = Events.empty(events.kinds, events.areas)
        self.cells = np.zeros(0, dtype=np.int64)
        self._pending.clear()
        self._reset()
        self.learn(events)
        return self

    def learn(self, events: Events) -> None:
        """Learn newer incidents (none may be older than the newest already learned)."""
        self._flush()
        self._append(events)

    def learn_one(
        self,
        x: float,
        y: float,
        t: float,
        *,
        hour: int = 0,
        dow: int = 0,
        kind: int = -1,
        domestic: bool = False,
        area: int = -1,
    ) -> None:
        """Learn one incident (buffered; applied before the next prediction)."""
        self._pending.append((t, x, y, hour, dow, kind, domestic, area))

    def _flush(self) -> None:
        if not self._pending:
            return
        cols = list(zip(*self._pending, strict=True))
        self._pending.clear()
        t, x, y, hour, dow, kind, dom, area = cols
        self._append(
            Events.from_arrays(
                t, x, y, hour, dow, kind, dom, area, self.events.kinds, self.events.areas
            )
        )

    def _append(self, events: Events) -> None:
        if not len(events):
            return
        if events.t[0] < self.events.t_max:
            raise ValueError(
                f"{self.name}: incidents must be learned in time order "
                f"(got t={events.t[0]} after t={self.events.t_max})"
            )
        new_cells = self.grid.cell_of(events.x, events.y)
        if len(self.events):
            self.events = self.events.concat(events)
            self.cells = np.concatenate([self.cells, new_cells])
        else:
            self.events, self.cells = events, new_cells
        self.cells.setflags(write=False)
        self._learned(events, new_cells)

    def _reset(self) -> None:  # noqa: B027  (optional hook)
        """Forget subclass state (called by :meth:`fit`)."""

    def _learned(self, events: Events, cells: I64) -> None:  # noqa: B027  (optional hook)
        """Hook: ``events`` (in ``cells``) were just appended to :attr:`events`."""

    # -- prediction ---------------------------------------------------------------------------
    def predict(
        self, cells: Sequence[int] | I64, period_start: float, period_days: float = 7.0
    ) -> F64:
        """Risk of each cell for ``[period_start, period_start + period_days)``.

        Raises :class:`LookAheadError` if any incident learned is at or after
        ``period_start``.
        """
        grid = self.grid  # RuntimeError before fit()
        self._flush()
        if self.events.t_max >= period_start:
            raise LookAheadError(
                f"{self.name}: asked to forecast the period starting at t={period_start} "
                f"but holds an incident at t={self.events.t_max}"
            )
        if not period_days > 0:
            raise ValueError(f"period_days must be > 0, got {period_days!r}")
        c = np.asarray(cells, dtype=np.int64)
        if c.size and (c.min() < 0 or c.max() >= grid.size):
            raise ValueError(f"cells must be in 0..{grid.size - 1}")
        out = np.asarray(self._predict(c, float(period_start), float(period_days)), np.float64)
        if out.shape != c.shape:
            raise AssertionError(f"{self.name}: {out.shape} risks for {c.shape} cells")
        return out

    @abstractmethod
    def _predict(self, cells: I64, start: float, days: float) -> F64:
        """Risk of ``cells`` for ``[start, start + days)``; only incidents before ``start``
        are held."""

    # -- helpers for subclasses ---------------------------------------------------------------
    def window_counts(self, start: float, end: float) -> F64:
        """Per-cell number of learned incidents with ``start <= t < end`` (whole grid)."""
        i, j = self.events.index_of(start), self.events.index_of(end)
        return self.grid.counts(self.cells[i:j])
