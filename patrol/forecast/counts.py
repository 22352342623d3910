"""Naive per-cell count baselines: the previous period(s) and all history.

The "naive" forecasts that every hotspot method must beat (design.md "Measures we report";
e.g. Chainey, Tompson & Uhlig 2008, and the naive baselines of the NIJ Real-Time Crime
Forecasting Challenge, 2017): the risk of a cell is the number of incidents it held

* :class:`PreviousPeriods` -- in the ``n`` periods (of the forecast's own length) just before
  the period (``n = 1``: previous-period counts, ``n = 4``: previous-4-periods counts);
* :class:`WindowCounts` -- in a fixed window of days before the period (e.g. the last year);
* :class:`AllHistory` -- in everything learned so far.
"""

from __future__ import annotations

import numpy as np

from patrol.evaluation.events import Events
from patrol.forecast.base import F64, I64, Forecaster


class PreviousPeriods(Forecaster):
    """Counts in the ``n_periods`` periods before the forecast period.

    Parameters
    ----------
    n_periods
        How many periods back (each as long as the forecast period).

    Examples
    --------
    >>> from patrol.evaluation.grid import Grid
    >>> g = Grid(100.0, 0.0, 0.0, 3, 1)
    >>> ev = Events.from_arrays(t=[1.0, 8.0, 9.0, 12.0], x=[50.0, 150.0, 150.0, 250.0],
    ...                         y=[50.0, 50.0, 50.0, 50.0])
    >>> PreviousPeriods(1).fit(ev, g).predict([0, 1, 2], 14.0, 7.0).tolist()
    [0.0, 2.0, 1.0]
    >>> PreviousPeriods(4).fit(ev, g).predict([0, 1, 2], 14.0, 7.0).tolist()
    [1.0, 2.0, 1.0]
    """

    name: str = "prev-period"

    def __init__(self, n_periods: int = 1) -> None:
        super().__init__()
        if n_periods < 1:
            raise ValueError(f"n_periods must be >= 1, got {n_periods}")
        self.n_periods = int(n_periods)
        self.name = "prev-period" if n_periods == 1 else f"prev-{n_periods}-periods"

    def _predict(self, cells: I64, start: float, days: float) -> F64:
        return self.window_counts(start - self.n_periods * days, start)[cells]


class WindowCounts(Forecaster):
    """Counts in the ``days`` days before the forecast period.

    Examples
    --------
    >>> from patrol.evaluation.grid import Grid
    >>> g = Grid(100.0, 0.0, 0.0, 2, 1)
    >>> ev = Events.from_arrays(t=[1.0, 300.0, 310.0], x=[50.0, 150.0, 150.0], y=[0.0] * 3)
    >>> WindowCounts(365.0).fit(ev, g).predict([0, 1], 367.0).tolist()
    [0.0, 2.0]
    """

    name: str = "last-365-days"

    def __init__(self, days: float = 365.0) -> None:
        super().__init__()
        if not days > 0:
            raise ValueError(f"days must be > 0, got {days!r}")
        self.days = float(days)
        self.name = f"last-{days:g}-days"

    def _predict(self, cells: I64, start: float, days: float) -> F64:
        return self.window_counts(start - self.days, start)[cells]


class AllHistory(Forecaster):
    """Counts of every incident learned (a running per-cell total).

    Examples
    --------
    >>> from patrol.evaluation.grid import Grid
    >>> g = Grid(100.0, 0.0, 0.0, 2, 1)
    >>> f = AllHistory().fit(Events.from_arrays([1.0, 2.0], [50.0, 150.0], [0.0, 0.0]), g)
    >>> f.learn(Events.from_arrays([5.0], [150.0], [0.0]))
    >>> f.predict([0, 1], 9.0).tolist()
    [1.0, 2.0]
    """

    name: str = "all-history"

    def __init__(self) -> None:
        super().__init__()
        self._total: F64 = np.zeros(0)

    def _reset(self) -> None:
        self._total = np.zeros(self.grid.size)

    def _learned(self, events: Events, cells: I64) -> None:
        self._total += self.grid.counts(cells)

    def _predict(self, cells: I64, start: float, days: float) -> F64:
        out: F64 = self._total[cells].copy()
        return out
