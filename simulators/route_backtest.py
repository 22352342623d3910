"""``patrolstream backtest routes``: route coverage of every planner on real days.

Reads city CSV exports, replays them through :func:`patrol.evaluation.route_backtest.
run_route_backtest` (each shift planned from the incidents before it), and writes to ``--out``:
``route_backtest.json`` (settings, summary with bootstrap intervals, one row per planner and
district-shift), ``route_backtest.md`` (a Markdown section), ``route_backtest.png`` (plot), and
prints the table. Wire it as a sub-command with :func:`add_route_backtest_arguments` and
:func:`route_backtest_main`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from simulators.cliargs import (
    add_city_travel_options,
    add_data_option,
    district_ids,
    input_error,
    iso_date,
    positive_int,
    read_incidents,
    standalone,
    travel_provider,
)
from simulators.route_report import markdown, plot_route_backtest, text_table

__all__ = [
    "DESCRIPTION",
    "EPILOG",
    "add_route_backtest_arguments",
    "breakdown",
    "forecaster_effect",
    "goal",
    "main",
    "markdown",
    "plot_route_backtest",
    "route_backtest_main",
    "sample_days",
    "text_table",
]

DESCRIPTION = """\
Backtest patrol routes: for each district, shift and day in --from..--to, plan every planner's
route from the incidents before the shift starts, then measure its coverage on the shift's
actual incidents (design.md "Route quality"): coverage in time = share of the shift's incidents
within 250 m of a way-point the unit reached at or before the incident's time; also spatial
coverage (any time), coverage in presence (the unit was there), incidents covered per patrol-km,
route km and minutes. Intervals: percentile bootstrap over days."""

EPILOG = """\
planners: cpspa (the paper's pipeline: elbow k, KDE/regression way-points, fuzzy order),
nearest and random (same way-points, other orders), optimizer (OR-Tools team orienteering over
the highest-risk sites of the best hotspot forecaster, ours-boosted), optimizer-counts (the same
over decayed counts alone; not run by default), oracle (a ceiling: way-points on the shift's
actual incidents).

example (train up to 2015, evaluate 6 weeks spread over 2016):
  patrolstream backtest routes --data chicago_2015*.csv.gz chicago_2016*.csv.gz \\
      --from 2016-01-01 --to 2016-12-31 --sample-weeks 6 --out route-backtest"""


def add_route_backtest_arguments(p: argparse.ArgumentParser) -> None:
    """Add the options of ``patrolstream backtest routes`` to ``p`` (every one has a help)."""
    from patrol.evaluation.route_backtest import DEFAULT_PLANNERS, PLANNERS, RISKS

    def opt(flag: str, help: str, **kw: Any) -> None:
        p.add_argument(flag, help=help, **kw)

    add_data_option(p, "evaluation period")
    # fmt: off
    opt("--from", "first evaluated local date, YYYY-MM-DD",
        dest="date_from", type=iso_date, required=True, metavar="DATE")
    opt("--to", "last evaluated local date, inclusive",
        dest="date_to", type=iso_date, required=True, metavar="DATE")
    opt("--sample-weeks", "evaluate only N whole weeks spread evenly over --from..--to "
        "(default 0: every day)", type=int, default=0, metavar="N")
    opt("--shifts", "evaluate only these shifts (default: all three)",
        nargs="+", choices=["00-08", "08-16", "16-24"])
    opt("--districts", "evaluate only these districts, e.g. 8 11 (default: every district)",
        nargs="+", metavar="ID")
    opt("--units", "patrol units per district for the optimising planner (default 1)",
        type=positive_int, default=1, metavar="N")
    opt("--planners", f"planners to compare (default: {' '.join(DEFAULT_PLANNERS)})",
        nargs="+", choices=PLANNERS, default=list(DEFAULT_PLANNERS))
    opt("--risk", "risk behind the optimizer's sites: boosted (the best hotspot forecaster's "
        "level per 150 m cell, spread by decayed counts; default), served (the same forecaster "
        "on per-district rows, as the workers serve it) or counts (decayed counts)",
        choices=RISKS, default="boosted")
    opt("--retrain-days", "refit the forecaster when its fit is this old (default 91)",
        type=float, default=91.0, metavar="DAYS")
    opt("--dwell-min", "the optimiser's patrol stop at each site, minutes (default 15)",
        type=float, default=15.0, metavar="MIN")
    opt("--sites", "candidate sites per unit offered to the optimiser (default 25)",
        type=positive_int, default=25, metavar="N")
    opt("--half-life-days", "decay of the optimiser's risk counts (default 365)",
        type=float, default=365.0, metavar="DAYS")
    opt("--week-share", "weight of same-weekday counts in the risk (default 0.5)",
        type=float, default=0.5, metavar="W")
    opt("--time-limit-ms", "cap on the optimiser's OR-Tools search per plan (default 100)",
        type=float, default=100.0, metavar="MS")
    # fmt: on
    add_city_travel_options(p, "travel-time provider for every planner (default street-grid)")
    # fmt: off
    opt("--bootstrap", "bootstrap replicates over days for the intervals (default 2000)",
        type=int, default=2000, metavar="B")
    opt("--seed", "bootstrap seed (default 0)", type=int, default=0)
    opt("--out", "folder for route_backtest.json/.md/.png (default ./route-backtest)",
        type=Path, default=Path("route-backtest"), metavar="DIR")
    opt("--no-plot", "do not draw the PNG", action="store_true")
    opt("--no-rows", "leave the per-shift rows out of the JSON (summary only)",
        action="store_true")
    opt("--no-progress", "hide the progress bars", action="store_true")
    # fmt: on


def sample_days(first: date, last: date, weeks: int) -> list[date]:
    """Every day of ``first..last``, or ``weeks`` whole weeks spread evenly over it.

    Examples
    --------
    >>> days = sample_days(date(2016, 1, 1), date(2016, 12, 31), 4)
    >>> len(days), days[0].isoformat(), days[7].isoformat()
    (28, '2016-01-01', '2016-04-30')
    """
    span = (last - first).days + 1
    if span < 1:
        raise ValueError("--to is before --from")
    if weeks <= 0 or weeks * 7 >= span:
        return [first + timedelta(days=i) for i in range(span)]
    step = (span - 7) / max(1, weeks - 1) if weeks > 1 else 0.0
    starts = [first + timedelta(days=round(i * step)) for i in range(weeks)]
    return sorted({s + timedelta(days=i) for s in starts for i in range(7)})


def route_backtest_main(ns: argparse.Namespace) -> int:
    """Run ``patrolstream backtest routes`` with parsed arguments; returns the exit code."""
    import platform
    import time

    from tqdm import tqdm

    from patrol.config import EngineConfig
    from patrol.evaluation.coverage import summarise
    from patrol.evaluation.route_backtest import RouteBacktestConfig, run_route_backtest
    from patrol.incidents.areas import locator_for
    from patrol.incidents.profile import load_profile
    from patrol.incidents.report import RejectionReport
    from patrol.planning import SHIFTS, SolverOptions

    error = input_error(ns, ns.data, "--data")
    if error:
        print(error, file=sys.stderr)
        return 2
    try:
        days = sample_days(ns.date_from, ns.date_to, ns.sample_weeks)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    cpu0 = time.process_time()
    profile = load_profile(ns.city)
    report = RejectionReport()
    incidents = read_incidents(
        ns.data, profile, report, locator_for(profile), progress=not ns.no_progress
    )
    incidents.sort(key=lambda i: i.occurred_at)
    shifts = [s for s in SHIFTS if not ns.shifts or s.label in ns.shifts]
    slots = [(d, s) for d in days for s in shifts]
    config = RouteBacktestConfig(
        planners=tuple(ns.planners),
        units=ns.units,
        dwell_s=ns.dwell_min * 60.0,
        sites_per_unit=ns.sites,
        half_life_days=ns.half_life_days,
        week_share=ns.week_share,
        risk=ns.risk,
        retrain_days=ns.retrain_days,
        engine=EngineConfig(),
        solver=SolverOptions(time_limit_s=ns.time_limit_ms / 1000.0),
    )
    travel = travel_provider(ns)
    districts = district_ids(ns.districts)
    with tqdm(total=len(slots), desc="plan+score", unit=" shifts", disable=ns.no_progress) as bar:
        records = run_route_backtest(
            incidents,
            profile,
            slots,
            districts=districts,
            config=config,
            travel=travel,
            on_slot=lambda day, shift: bar.update(1),
        )
    rows = [r.to_dict() for r in records]
    reference = "cpspa" if "cpspa" in config.planners else None
    summary = summarise(
        rows, config.planners, reference=reference, n_boot=ns.bootstrap, seed=ns.seed
    )
    result: dict[str, Any] = {
        "command": "patrolstream backtest routes",
        "data": [p.name for p in ns.data],
        "rows_rejected": report.total,
        "sample": {
            "from": ns.date_from.isoformat(),
            "to": ns.date_to.isoformat(),
            "sample_weeks": ns.sample_weeks,
            "days": [d.isoformat() for d in days],
            "shifts": [s.label for s in shifts],
            "districts": sorted({r["district"] for r in rows}, key=_natural),
        },
        "config": _config_dict(config, ns),
        "summary": summary,
        "goal": goal(summary),
        "by_district": breakdown(rows, config.planners, "district"),
        "by_shift": breakdown(rows, config.planners, "shift"),
        "forecaster_vs_counts": forecaster_effect(rows, config.planners, ns.bootstrap, ns.seed),
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "cpu_s": round(time.process_time() - cpu0, 1),
        },
        **({} if ns.no_rows else {"rows": rows}),
    }
    ns.out.mkdir(parents=True, exist_ok=True)
    (ns.out / "route_backtest.json").write_text(json.dumps(result, indent=1) + "\n")
    (ns.out / "route_backtest.md").write_text(markdown(result))
    print(text_table(summary))
    g = result["goal"]
    if g["ratio"] is not None:
        print(
            f"\ngoal optimizer >= {g['target']}x cpspa (covered in time): "
            f"{g['ratio']:.2f}x [{g['low']:.2f}, {g['high']:.2f}] -> "
            f"{'met' if g['met'] else 'NOT met'}"
        )
    if not ns.no_plot:
        print(f"plot: {plot_route_backtest(result, ns.out / 'route_backtest.png')}")
    print(f"written {ns.out / 'route_backtest.json'} and {ns.out / 'route_backtest.md'}")
    return 0


def breakdown(rows: list[dict[str, Any]], planners: Sequence[str], key: str) -> dict[str, Any]:
    """Pooled coverage in time per planner for each value of ``key`` (no intervals).

    Examples
    --------
    >>> rows = [{"district": "1", "planner": "a", "incidents": 4, "in_time": 1}]
    >>> breakdown(rows, ["a"], "district")
    {'1': {'incidents': 4, 'a': 0.25}}
    """
    out: dict[str, Any] = {}
    for group in sorted({str(r[key]) for r in rows}, key=_natural):
        mine = [r for r in rows if str(r[key]) == group]
        entry: dict[str, Any] = {"incidents": sum(r["incidents"] for r in mine) // len(planners)}
        for p in planners:
            n = sum(r["incidents"] for r in mine if r["planner"] == p)
            entry[p] = sum(r["in_time"] for r in mine if r["planner"] == p) / n if n else None
        out[group] = entry
    return out


def forecaster_effect(
    rows: list[dict[str, Any]], planners: Sequence[str], n_boot: int, seed: int
) -> dict[str, float] | None:
    """Incidents covered in time by ``optimizer`` over ``optimizer-counts`` (same shifts), with
    its bootstrap interval over days: what the forecaster's level adds to the sites."""
    from patrol.evaluation.coverage import summarise

    if "optimizer" not in planners or "optimizer-counts" not in planners:
        return None
    out = summarise(
        rows,
        ["optimizer-counts", "optimizer"],
        reference="optimizer-counts",
        n_boot=n_boot,
        seed=seed,
    )
    ratio: dict[str, float] = out["ratios"]["optimizer"]
    return ratio


def goal(summary: dict[str, Any], target: float = 2.0) -> dict[str, Any]:
    """Issue 6's goal: the optimiser covers at least ``target`` times CPSPA's incidents in time."""
    r = summary.get("ratios", {}).get("optimizer")
    if r is None or summary.get("reference") != "cpspa":
        return {"target": target, "ratio": None, "low": None, "high": None, "met": None}
    return {
        "target": target,
        "ratio": r["value"],
        "low": r["low"],
        "high": r["high"],
        "met": bool(r["value"] >= target),
        "interval_above_target": bool(r["low"] >= target),
    }


def _config_dict(config: Any, ns: argparse.Namespace) -> dict[str, Any]:
    return {
        "units": config.units,
        "dwell_min": config.dwell_s / 60.0,
        "sites_per_unit": config.sites_per_unit,
        "radius_m": config.radius_m,
        "half_life_days": config.half_life_days,
        "week_share": config.week_share,
        "risk": config.risk,
        "forecaster": {"boosted": "ours-boosted", "served": "ours-served"}.get(config.risk)
        if config.uses_forecaster
        else None,
        "retrain_days": config.retrain_days,
        "time_limit_ms": ns.time_limit_ms,
        "travel": ns.travel,
        "engine": config.engine.to_dict(),
        "bootstrap": ns.bootstrap,
        "seed": ns.seed,
    }


def _natural(s: str) -> tuple[int, str]:
    return (int(s), s) if s.isdigit() else (10**9, s)


def main(argv: Sequence[str] | None = None) -> int:
    """Stand-alone entry point (``python -m simulators.route_backtest``)."""
    return standalone(
        "patrolstream backtest routes",
        DESCRIPTION,
        EPILOG,
        add_route_backtest_arguments,
        route_backtest_main,
        argv,
    )


if __name__ == "__main__":
    raise SystemExit(main())
