"""The report dict, table and Markdown built from a small backtest."""

from __future__ import annotations

from typing import Any

import numpy as np

from patrol.evaluation.backtest import Period, run_backtest
from patrol.evaluation.events import Events
from patrol.evaluation.grid import Grid
from patrol.evaluation.report import markdown, method_entries, text_table, verdict
from patrol.forecast import AllHistory, PreviousPeriods

GRID = Grid(100.0, 0.0, 0.0, 10, 1)


class Oracle(AllHistory):
    """'Ours' for the test: all history, but it also knows cell 7 is always hot."""

    name = "ours-test"
    kind = "ours"

    def _predict(self, cells: Any, start: float, days: float) -> Any:
        r = super()._predict(cells, start, days)
        return r + 1000.0 * (cells == 7)


def _result() -> Any:
    rng = np.random.default_rng(0)
    t = np.sort(rng.uniform(0, 70, 700))
    cell = np.where(rng.uniform(size=700) < 0.5, 7, rng.integers(0, 10, 700))
    cell[t < 14] = rng.integers(0, 7, int(np.sum(t < 14)))  # the history knows nothing of 7
    ev = Events.from_arrays(t=t, x=cell * 100.0 + 50, y=[50.0] * 700)
    periods = [Period(float(s), float(s + 7), f"w{s}") for s in range(14, 70, 7)]
    fs = [PreviousPeriods(1), AllHistory(), Oracle()]
    return run_backtest(ev, GRID, fs, periods, np.arange(10), shares=(0.01, 0.05, 0.1))


def _report(res: Any, **kw: Any) -> dict[str, Any]:
    strongest, methods = method_entries(res, n_boot=500, **kw)
    return {
        "district": None, "periods": len(res.periods), "period": "week", "from": "a",
        "to": "b", "grid_m": 100.0, "city_cells": 10, "city_area_km2": 0.1,
        "city_area_from": "c", "evaluated_incidents": int(res.incidents.sum()),
        "history_incidents": 0, "strongest_baseline": strongest,
        "bootstrap": {"n_boot": 500}, "methods": methods,
    }  # fmt: skip


def test_entries_table_and_verdict() -> None:
    res = _result()
    report = _report(res)
    assert report["strongest_baseline"] in ("prev-period", "all-history")
    ms = report["methods"]
    assert [ms[n]["kind"] for n in ms] == ["baseline", "baseline", "ours", "maximum possible"]
    ours = ms["ours-test"]
    assert ours["vs_strongest_baseline"]["baseline"] == report["strongest_baseline"]
    c = ours["vs_strongest_baseline"]
    assert c["diff"] > 0 and c["wins"] >= 1 and c["losses"] == 0  # knowing cell 7 never loses
    assert "vs_strongest_baseline" not in ms[report["strongest_baseline"]]
    lo, hi = ours["pai_1pct_ci95"]
    assert lo <= ours["pai"]["0.01"] <= hi
    assert len(ours["pai_1pct_per_period"]) == 8 and len(ours["hit_rate_curve"]) == 121
    text = text_table(report)
    assert text.index("ours-test") < text.index("maximum")
    assert ("goal met" in verdict(report)) == (c["low"] > 0)
    assert ("goal NOT met" in verdict(report)) == (c["low"] <= 0)
    md = markdown(report, ["img/x.png"])
    assert md.count("| ours-test |") == 1 and "![x.png](img/x.png)" in md


def test_a_report_without_baselines() -> None:
    res = _result()
    del res.methods["prev-period"], res.methods["all-history"]
    report = _report(res)
    assert report["strongest_baseline"] is None
    assert "vs_strongest_baseline" not in report["methods"]["ours-test"]
    assert verdict(report) == "No baseline was run."
    assert "ours-test" in text_table(report)
