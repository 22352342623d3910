"""Hotspot forecasters: past incidents in, risk per grid cell for the next period out.

One module per method, each a small class with the same river/open_cp-like API
(:class:`~patrol.forecast.base.Forecaster`: ``fit`` / ``learn`` / ``learn_one`` on past
incidents, ``predict(cells, period_start, period_days)``):

============================  ==========================================================
``prev-period``               counts in the previous period (:mod:`~patrol.forecast.counts`)
``prev-4-periods``            counts in the previous four periods
``last-182-days``             counts in the last 182 days (an extra, stronger count baseline)
``last-365-days``             counts in the last 365 days (an extra, stronger count baseline)
``all-history``               counts of all history
``retrospective-kde``         Gaussian KDE of the last half year (:mod:`~patrol.forecast.kde`)
``prospective-hotspot``       Bowers, Johnson & Pease 2004 (:mod:`~patrol.forecast.prospective`)
``sepp``                      grid self-exciting point process, Mohler et al. 2011/2015
``engine-kde-table``          the engine's CPSPA KDE hotspots x space-time table
``ours-boosted``              ours: gradient-boosted Poisson regression on cell features
``ours-served``               ours-boosted on per-district rows, as the stream serves it
                              (:mod:`~patrol.forecast.served`)
============================  ==========================================================

:func:`make_forecasters` builds them by name with the parameters documented in
docs/backtest.md: the baselines' free parameters (KDE bandwidth and window, SEPP window) and
ours were chosen on a validation year (the first 26 weeks of 2015, history before), never on
the evaluation year.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import tzinfo

from patrol.forecast.base import Forecaster, LookAheadError, period_slots
from patrol.forecast.boosted import BoostedCells
from patrol.forecast.counts import AllHistory, PreviousPeriods, WindowCounts
from patrol.forecast.engine import EngineForecaster
from patrol.forecast.kde import RetrospectiveKDE
from patrol.forecast.prospective import ProspectiveHotspot
from patrol.forecast.sepp import GridSEPP
from patrol.forecast.served import CellRateModel, DistrictBoosted

__all__ = [
    "METHODS",
    "AllHistory",
    "BoostedCells",
    "CellRateModel",
    "DistrictBoosted",
    "EngineForecaster",
    "Forecaster",
    "GridSEPP",
    "LookAheadError",
    "PreviousPeriods",
    "ProspectiveHotspot",
    "RetrospectiveKDE",
    "WindowCounts",
    "make_forecasters",
    "period_slots",
]

Factory = Callable[[tzinfo | None, float], Forecaster]


def _boosted(tz: tzinfo | None, period_days: float) -> Forecaster:
    if period_days >= 7:
        return BoostedCells(n_origins=52, retrain_every=4, tz=tz)
    return BoostedCells(n_origins=56, retrain_every=7, tz=tz)


def _served(tz: tzinfo | None, period_days: float) -> Forecaster:
    if period_days >= 7:
        return DistrictBoosted(n_origins=52, retrain_every=4, tz=tz)
    return DistrictBoosted(n_origins=56, retrain_every=7, tz=tz)


METHODS: dict[str, Factory] = {
    "prev-period": lambda tz, p: PreviousPeriods(1),
    "prev-4-periods": lambda tz, p: PreviousPeriods(4),
    "last-182-days": lambda tz, p: WindowCounts(182.0),
    "last-365-days": lambda tz, p: WindowCounts(365.0),
    "all-history": lambda tz, p: AllHistory(),
    "retrospective-kde": lambda tz, p: RetrospectiveKDE(),
    "prospective-hotspot": lambda tz, p: ProspectiveHotspot(),
    "sepp": lambda tz, p: GridSEPP(),
    "engine-kde-table": lambda tz, p: EngineForecaster(tz=tz),
    "ours-boosted": _boosted,
    "ours-served": _served,
}
"""Every method by name (report order): ``factory(tz, period_days) -> Forecaster``."""


def make_forecasters(
    names: Sequence[str] | None = None, tz: tzinfo | None = None, period_days: float = 7.0
) -> list[Forecaster]:
    """Fresh forecasters by name (default: all of :data:`METHODS`).

    Examples
    --------
    >>> [f.name for f in make_forecasters(["prev-period", "sepp"])]
    ['prev-period', 'sepp']
    >>> make_forecasters(["crystal-ball"])
    Traceback (most recent call last):
    ...
    ValueError: unknown method 'crystal-ball' (known: prev-period, prev-4-periods, ...)
    """
    out = []
    for name in names if names is not None else list(METHODS):
        factory = METHODS.get(name)
        if factory is None:
            raise ValueError(f"unknown method {name!r} (known: {', '.join(METHODS)})")
        out.append(factory(tz, period_days))
    return out
