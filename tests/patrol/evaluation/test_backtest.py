"""The rolling-origin driver: no look-ahead, known scores, periods, paired comparison."""

from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from patrol.evaluation.backtest import (
    BacktestResult,
    LookAheadError,
    Period,
    make_periods,
    period_counts,
    run_backtest,
)
from patrol.evaluation.compare import block_bootstrap_means, paired_comparison
from patrol.evaluation.events import Events
from patrol.evaluation.grid import Grid
from patrol.forecast import make_forecasters
from patrol.forecast.base import F64, I64, Forecaster

GRID = Grid(100.0, 0.0, 0.0, 10, 1)  # ten cells in a row, cell i = [100 i, 100 i + 100)
CITY = np.arange(10)


def _events(cells_by_day: dict[int, list[int]]) -> Events:
    t, x = [], []
    for day, cells in cells_by_day.items():
        for k, c in enumerate(cells):
            t.append(day + 0.01 * (k + 1))
            x.append(100.0 * c + 50.0)
    return Events.from_arrays(t=t, x=x, y=[50.0] * len(t))


class Spy(Forecaster):
    """Records, at each forecast, the newest incident it holds; risk = cell index."""

    name = "spy"

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[float, float]] = []

    def _predict(self, cells: I64, start: float, days: float) -> F64:
        self.seen.append((self.events.t_max, start))
        return cells.astype(np.float64)


class Cheat(Spy):
    """Tries to peek: learns an incident of its own period before forecasting."""

    name = "cheat"

    def _predict(self, cells: I64, start: float, days: float) -> F64:
        return cells.astype(np.float64)

    def learn(self, events: Events) -> None:
        super().learn(events)
        if len(events):
            super().learn(Events.from_arrays([events.t_max + 1.0], [50.0], [50.0]))


def test_no_forecast_sees_data_from_its_own_period() -> None:
    ev = _events({d: [d % 10, 3] for d in range(0, 40)})
    periods = [Period(float(s), float(s + 7), str(s)) for s in range(14, 35, 7)]
    spy = Spy()
    run_backtest(ev, GRID, [spy], periods, CITY)
    assert len(spy.seen) == 3
    for newest, start in spy.seen:
        assert newest < start  # the forecaster never held an incident of its own period
    # ... but it did hold everything before the period (the data is used, not withheld)
    assert [s for _, s in spy.seen] == [14.0, 21.0, 28.0]
    assert [n for n, _ in spy.seen] == pytest.approx([13.02, 20.02, 27.02])


def test_a_forecaster_holding_data_of_its_period_is_refused() -> None:
    ev = _events({d: [1] for d in range(0, 30)})
    periods = [Period(10.0, 17.0, "a"), Period(17.0, 24.0, "b")]
    with pytest.raises(LookAheadError):
        run_backtest(ev, GRID, [Cheat()], periods, CITY)
    f = Spy().fit(ev.before(12.0), GRID)
    with pytest.raises(LookAheadError):
        f.predict(CITY, 11.0, 1.0)  # it holds an incident at t = 11.01


def test_every_method_refuses_to_forecast_its_own_period() -> None:
    ev = _events({d: [d % 10] for d in range(0, 60)})
    for f in make_forecasters(period_days=7.0):
        f.fit(ev.before(50.5), GRID)
        with pytest.raises(LookAheadError):
            f.predict(CITY, 50.0, 7.0)


def test_scores_on_a_known_case() -> None:
    # History: cell 7 busiest (3 a day), then cell 2 (1 a day). Week 1 (days 14-20): 2
    # incidents a day in cell 7 and 1 in cell 4 -> 21 incidents. The spy ranks cells by index:
    # top 10% = cell 9 (0 hits); top 30% = cells 9, 8, 7 (14 of 21).
    hist = {d: [7, 7, 7, 2] for d in range(0, 14)}
    week = {d: [7, 7, 4] for d in range(14, 21)}
    ev = _events({**hist, **week})
    res = run_backtest(
        ev, GRID, [Spy(), *make_forecasters(["all-history"])], [Period(14.0, 21.0, "w")], CITY,
        shares=(0.1, 0.3), curve_shares=(0.0, 0.1, 1.0),
    )  # fmt: skip
    assert isinstance(res, BacktestResult)
    assert res.incidents.tolist() == [21] and res.n_city_cells == 10
    assert res.methods["spy"].hit[0].tolist() == pytest.approx([0.0, 14 / 21])
    # all-history ranks 7, then 2: top 10% = cell 7 (14/21); top 30% = 7, 2, and a tie of
    # the eight empty cells for the last cell's worth: 1/8 of cell 4's 7 incidents.
    assert res.methods["all-history"].hit[0].tolist() == pytest.approx([14 / 21, (14 + 7 / 8) / 21])
    assert res.maximum[0].tolist() == pytest.approx([14 / 21, 1.0])
    assert res.methods["spy"].curve[0].tolist() == pytest.approx([0.0, 0.0, 1.0])
    assert res.pai("all-history")[0].tolist() == pytest.approx(
        [14 / 21 / 0.1, (14 + 7 / 8) / 21 / 0.3]
    )
    assert res.strongest_baseline(0.1) == "all-history"


def test_period_counts_outside_the_city() -> None:
    ev = _events({0: [1, 1, 5, 9]})
    counts, outside = period_counts(GRID, np.array([1, 5]), ev)
    assert counts.tolist() == [2.0, 1.0] and outside == 1


def test_make_periods_follow_local_midnights_across_dst() -> None:
    tz = ZoneInfo("America/Chicago")
    weeks = make_periods(date(2016, 3, 6), date(2016, 3, 19), "week", tz)
    assert [p.label for p in weeks] == ["2016-03-06", "2016-03-13"]
    assert weeks[0].days == 7.0
    assert weeks[1].days == pytest.approx(7 - 1 / 24)  # clocks go forward on 13 March
    assert weeks[0].end == weeks[1].start
    days = make_periods(date(2016, 3, 12), date(2016, 3, 14), "day", tz)
    assert [round(p.days * 24) for p in days] == [24, 23, 24]
    with pytest.raises(ValueError):
        make_periods(date(2016, 1, 1), date(2016, 2, 1), "month", tz)


def test_periods_must_increase() -> None:
    ev = _events({0: [1]})
    with pytest.raises(ValueError, match="increase"):
        run_backtest(ev, GRID, [Spy()], [Period(5.0, 9.0, "a"), Period(8.0, 9.5, "b")], CITY)
    with pytest.raises(ValueError, match="distinct"):
        run_backtest(ev, GRID, [Spy(), Spy()], [Period(5.0, 9.0, "a")], CITY)


def test_paired_comparison_known_answers() -> None:
    a = np.array([10.0, 12.0, 11.0, 13.0, np.nan])
    b = np.array([9.0, 10.0, 11.5, 11.0, 4.0])
    c = paired_comparison(a, b, names=("m", "b"), n_boot=2000, block=1)
    assert c.n == 4  # the NaN period is dropped
    assert c.diff == pytest.approx((1 + 2 - 0.5 + 2) / 4)
    assert c.wins == 3 and c.losses == 1
    assert -0.5 <= c.low <= c.diff <= c.high <= 2.0  # a mean of resampled differences
    assert 0 < c.p_wilcoxon <= 1
    same = paired_comparison([1.0, 2.0], [1.0, 2.0], n_boot=10)
    assert same.diff == 0 and np.isnan(same.p_wilcoxon) and not same.excludes_zero


def test_block_bootstrap_keeps_blocks_together() -> None:
    # Alternating +1/-1 with blocks of 2: every block sums to 0, so a resample of whole
    # blocks of an even-length series has mean 0 exactly.
    d = np.array([1.0, -1.0] * 10)
    m = block_bootstrap_means(d, n_boot=500, block=2, seed=1)
    assert m.shape == (500,)
    assert np.allclose(m, 0.0)
    assert np.abs(block_bootstrap_means(d, n_boot=500, block=1, seed=1)).max() > 0.1


def test_forecasters_get_copies_not_views_of_the_whole_data() -> None:
    ev = _events({d: [d % 10] for d in range(0, 30)})
    given: list[Events] = []

    class Keeper(Spy):
        def learn(self, events: Events) -> None:
            given.append(events)
            super().learn(events)

    run_backtest(ev, GRID, [Keeper()], [Period(10.0, 17.0, "a"), Period(17.0, 24.0, "b")], CITY)
    assert len(given) == 2  # the history, then the first week
    for part in given:
        assert part.t_max < 24.0
        for name in ("t", "x", "y", "area"):
            assert not np.shares_memory(getattr(part, name), getattr(ev, name))
