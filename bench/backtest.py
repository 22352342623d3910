"""Hotspot backtest benchmark: one year of one district, and the city-wide evaluation.

* default: the rolling weekly backtest of one district over one year (every method, history
  from the two years before), timed: parsing the exports and the backtest itself (goal: the
  backtest of one year of one district in under a minute). Writes
  ``bench/results/backtest_district.json``.
* ``--city-wide``: the headline evaluation of docs/backtest.md -- train up to 2015 (history
  2012-2015), evaluate every week of 2016, 150 m cells, the whole city. Writes
  ``bench/results/backtest_hotspots.json``, the plots ``docs/img/backtest_*.png`` and prints
  the Markdown table. Takes tens of minutes on two cores.

Both read ../shared/data (``PATROLSTREAM_SHARED_DATA``); without it the district run falls
back on the bundled two-month sample (daily periods). Run: ``python -m bench.backtest``.
"""

from __future__ import annotations

import argparse
import os
import time
from datetime import date
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")

from bench.common import ROOT, chicago_year, table, write_result
from patrol.evaluation.report import markdown, text_table
from patrol.forecast import METHODS
from patrol.incidents.profile import load_profile
from simulators.backtest import load_events, plot_curves, plot_over_time, run_hotspots
from simulators.settings import SAMPLE

GOAL_S = 60.0
"""Goal: the backtest of one year of one district in under a minute."""


def _ns(paths: list[Path], first: date, last: date, period: str, district: str | None,
        out: Path) -> argparse.Namespace:  # fmt: skip
    return argparse.Namespace(
        data=paths, first=first, last=last, period=period, grid_m=150.0, city="chicago",
        district=district, methods=list(METHODS), out=out, bootstrap=10_000, block=None,
        seed=0, no_plots=False, no_progress=True,
    )  # fmt: skip


def district_year(district: str, year: int) -> dict[str, Any]:
    """Time the weekly backtest of one district over ``year`` (history: two years before)."""
    profile = load_profile("chicago")
    paths = [p for y in (year - 2, year - 1, year) if (p := chicago_year(y)) is not None]
    if len(paths) == 3:
        ns = _ns(paths, date(year, 1, 1), date(year, 12, 31), "week", district, Path("-"))
    else:  # no shared data: the bundled sample, daily over its last four weeks
        ns = _ns([SAMPLE], date(2016, 10, 3), date(2016, 10, 30), "day", district, Path("-"))
    t0, c0 = time.perf_counter(), time.process_time()
    load_events(ns.data, profile, float("inf"), district)
    parse_s, parse_cpu = time.perf_counter() - t0, time.process_time() - c0
    t0, c0 = time.perf_counter(), time.process_time()
    res, report = run_hotspots(ns, profile)
    total_s, total_cpu = time.perf_counter() - t0, time.process_time() - c0
    print(text_table(report))
    per_method = {name: m.seconds for name, m in res.methods.items()}
    return {
        "district": district,
        "data": [p.name for p in ns.data],
        "period": ns.period,
        "periods": len(res.periods),
        "city_cells": res.n_city_cells,
        "evaluated_incidents": int(res.incidents.sum()),
        "history_incidents": report["history_incidents"],
        "parse_s": round(parse_s, 2),
        "load_and_backtest_s": round(total_s, 2),
        "backtest_s": round(total_s - parse_s, 2),
        "backtest_cpu_s": round(total_cpu - parse_cpu, 2),
        "load_avg_1min": round(os.getloadavg()[0], 2),
        "method_s": {k: round(v, 2) for k, v in per_method.items()},
        "pai_1pct": {k: m["pai"]["0.01"] for k, m in report["methods"].items()},
        "goal_s": GOAL_S,
    }


def city_wide(img_dir: Path) -> dict[str, Any]:
    """The headline run: history 2012-2015, every week of 2016, the whole city."""
    paths = [p for y in range(2012, 2017) if (p := chicago_year(y)) is not None]
    if len(paths) != 5:
        raise SystemExit("--city-wide needs the 2012-2016 exports in ../shared/data/chicago")
    profile = load_profile("chicago")
    ns = _ns(paths, date(2016, 1, 1), date(2016, 12, 31), "week", None, img_dir)
    ns.no_progress = False
    _, report = run_hotspots(ns, profile)
    print(text_table(report))
    img_dir.mkdir(parents=True, exist_ok=True)
    plot_curves(report, img_dir / "backtest_hitrate_curves.png")
    plot_over_time(report, img_dir / "backtest_pai_over_time.png")
    print(markdown(report, ["img/backtest_hitrate_curves.png", "img/backtest_pai_over_time.png"]))
    report["data"] = [p.name for p in paths]
    return report


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--district", default="11", help="district of the timed run (default 11)")
    p.add_argument("--year", type=int, default=2016, help="year of the timed run (default 2016)")
    p.add_argument("--city-wide", action="store_true",
                   help="run the city-wide 2016 evaluation instead (slow)")  # fmt: skip
    ns = p.parse_args(argv)
    if ns.city_wide:
        report = city_wide(ROOT / "docs" / "img")
        print(f"wrote {write_result('backtest_hotspots', report)}")
        return 0
    out = district_year(ns.district, ns.year)
    rows = [
        [k, v] for k, v in out.items() if k.endswith(("_s", "_min")) and not isinstance(v, dict)
    ]
    rows.append(["goal met (backtest < 60 s wall)", out["backtest_s"] < GOAL_S])
    print(table(rows, ["measure", "value"]))
    print(table([[k, v] for k, v in out["method_s"].items()], ["method", "seconds"]))
    print(f"wrote {write_result('backtest_district', out)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
