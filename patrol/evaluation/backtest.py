"""Rolling-origin backtest of hotspot forecasters (pure: arrays and forecasters in, scores out).

For every period ``[start, end)`` in turn (Tashman, "Out-of-sample tests of forecasting
accuracy", IJF 16, 2000, for rolling origins):

1. each forecaster is given the incidents between the previous period's start and this
   period's start (the first time: the whole history before the first period), so it holds
   exactly the incidents before ``start``;
2. it forecasts the risk of the city's cells for the period;
3. the forecast is scored on the period's incidents (hit rate at each area share, and on a
   finer set of shares for the hit-rate curves), next to the maximum possible.

**Look-ahead guard.** The driver never hands a forecaster an incident at or after the start of
the period it forecasts (checked before every forecast, :class:`LookAheadError`), the
forecasters themselves refuse to forecast a period they hold incidents of
(:meth:`patrol.forecast.base.Forecaster.predict`), and the arrays they receive are read-only
copies that end before the period (not views: a view's ``.base`` would reach the whole data).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo
from itertools import pairwise
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from patrol.evaluation.compare import PairedComparison, paired_comparison
from patrol.evaluation.events import SECONDS_PER_DAY, Events
from patrol.evaluation.grid import Grid
from patrol.evaluation.measures import SHARES, hit_rates, max_hit_rates

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

CURVE_SHARES = tuple(round(0.0025 * i, 4) for i in range(0, 121))
"""Area shares of the hit-rate curves: 0 to 30% in steps of 0.25%."""


class LookAheadError(RuntimeError):
    """The driver was about to give a forecaster data from the period it forecasts."""


class SupportsForecast(Protocol):
    """What the driver needs of a forecaster (see :class:`patrol.forecast.base.Forecaster`)."""

    name: str

    @property
    def kind(self) -> str: ...

    def fit(self, events: Events, grid: Grid) -> Any: ...

    def learn(self, events: Events) -> None: ...

    def predict(self, cells: I64, period_start: float, period_days: float = 7.0) -> F64: ...


@dataclass(frozen=True, slots=True)
class Period:
    """A forecast period ``[start, end)`` (days since the epoch) and its first local date."""

    start: float
    end: float
    label: str

    @property
    def days(self) -> float:
        """Length in days."""
        return self.end - self.start


def local_midnight(d: date, tz: tzinfo) -> float:
    """Days since the epoch of local midnight starting ``d``."""
    return datetime(d.year, d.month, d.day, tzinfo=tz).timestamp() / SECONDS_PER_DAY


def make_periods(first: date, last: date, period: str, tz: tzinfo) -> list[Period]:
    """Consecutive whole periods (``"day"`` or ``"week"``) from ``first``, ending by ``last``.

    Periods run from local midnight to local midnight; a period that would end after
    ``last`` (inclusive) is left out.

    Examples
    --------
    >>> from zoneinfo import ZoneInfo
    >>> ps = make_periods(date(2016, 1, 1), date(2016, 1, 20), "week", ZoneInfo("UTC"))
    >>> [p.label for p in ps], ps[0].days
    (['2016-01-01', '2016-01-08'], 7.0)
    """
    step = {"day": 1, "week": 7}.get(period)
    if step is None:
        raise ValueError(f"period must be 'day' or 'week', got {period!r}")
    out: list[Period] = []
    d = first
    while d + timedelta(days=step - 1) <= last:
        e = d + timedelta(days=step)
        out.append(Period(local_midnight(d, tz), local_midnight(e, tz), d.isoformat()))
        d = e
    return out


@dataclass
class MethodScores:
    """One method's hit rates per period (rows) and area share (columns); ``kind`` is
    ``"baseline"``, ``"engine"`` or ``"ours"`` (only baselines compete for the strongest)."""

    name: str
    kind: str
    hit: F64
    curve: F64
    seconds: float = 0.0


@dataclass
class BacktestResult:
    """Scores of every method over the periods, with the maximum possible."""

    periods: list[Period]
    shares: tuple[float, ...]
    curve_shares: tuple[float, ...]
    n_city_cells: int
    incidents: I64
    outside: I64
    maximum: F64
    max_curve: F64
    methods: dict[str, MethodScores] = field(default_factory=dict)

    def pai(self, name: str) -> F64:
        """PAI per period and share of a method (``"maximum"`` for the maximum possible)."""
        h = self.maximum if name == "maximum" else self.methods[name].hit
        out: F64 = h / np.asarray(self.shares)
        return out

    def mean_pai(self, name: str, share: float = 0.01) -> float:
        """Mean over periods of the PAI at ``share``."""
        return float(np.nanmean(self.pai(name)[:, self.shares.index(share)]))

    def strongest_baseline(self, share: float = 0.01) -> str:
        """The baseline with the highest mean PAI at ``share``."""
        names = [m.name for m in self.methods.values() if m.kind == "baseline"]
        if not names:
            raise ValueError("no baseline among the methods")
        return max(names, key=lambda n: self.mean_pai(n, share))

    def compare(
        self, method: str, baseline: str, share: float = 0.01, **kw: Any
    ) -> PairedComparison:
        """Paired comparison of PAI at ``share`` (see :func:`paired_comparison`)."""
        j = self.shares.index(share)
        return paired_comparison(
            self.pai(method)[:, j],
            self.pai(baseline)[:, j],
            names=(method, baseline),
            measure=f"PAI@{share * 100:g}%",
            **kw,
        )


def period_counts(grid: Grid, city: I64, events: Events) -> tuple[F64, int]:
    """Incidents per city cell and the number outside the city's cells."""
    pos = np.full(grid.size, -1, dtype=np.int64)
    pos[city] = np.arange(len(city))
    c = grid.cell_of(events.x, events.y)
    p = np.where(c >= 0, pos[np.maximum(c, 0)], -1)
    inside = p >= 0
    counts = np.bincount(p[inside], minlength=len(city)).astype(np.float64)
    return counts, int(np.sum(~inside))


def run_backtest(
    events: Events,
    grid: Grid,
    forecasters: Sequence[SupportsForecast],
    periods: Sequence[Period],
    city: I64,
    shares: Sequence[float] = SHARES,
    curve_shares: Sequence[float] = CURVE_SHARES,
    on_period: Callable[[int, Period], None] | None = None,
    clock: Callable[[], float] | None = None,
) -> BacktestResult:
    """Score every forecaster on every period, each forecast made from earlier data only.

    Parameters
    ----------
    events
        All incidents (history and evaluation periods), sorted by time.
    grid
        The evaluation grid.
    forecasters
        The methods (names must be distinct).
    periods
        Increasing, non-overlapping periods.
    city
        The city's cells (see :func:`patrol.evaluation.grid.city_cells`).
    shares, curve_shares
        Area shares of the reported hit rates and of the curves.
    on_period
        Called after each period (progress bars).
    clock
        A monotonic clock (e.g. ``time.perf_counter``) to time each method; ``None``: no
        timing (the driver reads no clock of its own).
    """
    names = [f.name for f in forecasters]
    if len(set(names)) != len(names):
        raise ValueError(f"forecaster names must be distinct, got {names}")
    ps = list(periods)
    for a, b in pairwise(ps):
        if not (a.start < a.end <= b.start):
            raise ValueError(f"periods must increase and not overlap: {a.label}, {b.label}")
    n, city = len(ps), np.asarray(city, dtype=np.int64)
    res = BacktestResult(
        periods=ps,
        shares=tuple(shares),
        curve_shares=tuple(curve_shares),
        n_city_cells=len(city),
        incidents=np.zeros(n, dtype=np.int64),
        outside=np.zeros(n, dtype=np.int64),
        maximum=np.zeros((n, len(shares))),
        max_curve=np.zeros((n, len(curve_shares))),
    )
    for f in forecasters:
        res.methods[f.name] = MethodScores(
            f.name, str(f.kind), np.zeros((n, len(shares))), np.zeros((n, len(curve_shares)))
        )
    if not ps:
        return res
    tick = clock or (lambda: 0.0)
    history = events.before(ps[0].start).copy()
    for f in forecasters:
        t0 = tick()
        f.fit(history, grid)
        res.methods[f.name].seconds += tick() - t0
    fed_until = ps[0].start
    for i, p in enumerate(ps):
        feed = events.between(fed_until, p.start).copy()
        if feed.t_max >= p.start:  # pragma: no cover - between() guarantees it
            raise LookAheadError(f"period {p.label}: feeding an incident at t={feed.t_max}")
        fed_until = p.start
        counts, outside = period_counts(grid, city, events.between(p.start, p.end))
        res.incidents[i], res.outside[i] = int(counts.sum()) + outside, outside
        res.maximum[i] = max_hit_rates(counts, shares, outside)
        res.max_curve[i] = max_hit_rates(counts, curve_shares, outside)
        for f in forecasters:
            t0 = tick()
            if len(feed):
                f.learn(feed)
            risk = f.predict(city, p.start, p.days)
            res.methods[f.name].seconds += tick() - t0
            ms = res.methods[f.name]
            both = hit_rates(risk, counts, [*shares, *curve_shares], outside)
            ms.hit[i], ms.curve[i] = both[: len(shares)], both[len(shares) :]
        if on_period is not None:
            on_period(i, p)
    return res
