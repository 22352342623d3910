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
import math
import sys
from collections.abc import Sequence
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np

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
the highest-risk sites), oracle (a ceiling: way-points on the shift's actual incidents).

example (train up to 2015, evaluate 6 weeks spread over 2016):
  patrolstream backtest routes --data chicago_2015*.csv.gz chicago_2016*.csv.gz \\
      --from 2016-01-01 --to 2016-12-31 --sample-weeks 6 --out route-backtest"""

PLANNER_LABELS = {
    "cpspa": "CPSPA (paper pipeline)",
    "nearest": "nearest-neighbour order",
    "random": "random order",
    "optimizer": "optimising planner",
    "oracle": "oracle (sees the shift)",
}


SHORT_LABELS = {
    "cpspa": "CPSPA\n(paper)",
    "nearest": "nearest-\nneighbour",
    "random": "random\norder",
    "optimizer": "optimiser",
    "oracle": "oracle\n(ceiling)",
}


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r}: {exc}") from None


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def add_route_backtest_arguments(p: argparse.ArgumentParser) -> None:
    """Add the options of ``patrolstream backtest routes`` to ``p`` (every one has a help)."""
    from patrol.evaluation.route_backtest import PLANNERS

    def opt(flag: str, help: str, **kw: Any) -> None:
        p.add_argument(flag, help=help, **kw)

    # fmt: off
    opt("--data", "incident CSV exports (plain or .gz), history and evaluation period together",
        type=Path, nargs="+", action="extend", required=True, metavar="FILE")
    opt("--from", "first evaluated local date, YYYY-MM-DD",
        dest="date_from", type=_date, required=True, metavar="DATE")
    opt("--to", "last evaluated local date, inclusive",
        dest="date_to", type=_date, required=True, metavar="DATE")
    opt("--sample-weeks", "evaluate only N whole weeks spread evenly over --from..--to "
        "(default 0: every day)", type=int, default=0, metavar="N")
    opt("--shifts", "evaluate only these shifts (default: all three)",
        nargs="+", choices=["00-08", "08-16", "16-24"])
    opt("--districts", "evaluate only these districts, e.g. 8 11 (default: every district)",
        nargs="+", metavar="ID")
    opt("--units", "patrol units per district for the optimising planner (default 1)",
        type=_positive_int, default=1, metavar="N")
    opt("--planners", "planners to compare (default: all)",
        nargs="+", choices=PLANNERS, default=list(PLANNERS))
    opt("--dwell-min", "the optimiser's patrol stop at each site, minutes (default 15)",
        type=float, default=15.0, metavar="MIN")
    opt("--sites", "candidate sites per unit offered to the optimiser (default 25)",
        type=_positive_int, default=25, metavar="N")
    opt("--half-life-days", "decay of the optimiser's stand-in risk counts (default 365)",
        type=float, default=365.0, metavar="DAYS")
    opt("--week-share", "weight of same-weekday counts in the stand-in risk (default 0.5)",
        type=float, default=0.5, metavar="W")
    opt("--time-limit-ms", "cap on the optimiser's OR-Tools search per plan (default 100)",
        type=float, default=100.0, metavar="MS")
    opt("--city", "city profile: a bundled name or a .toml path (default chicago)",
        default="chicago", metavar="NAME|PATH")
    opt("--travel", "travel-time provider for every planner (default street-grid)",
        choices=["street-grid", "osm-road"], default="street-grid")
    opt("--osm", "OpenStreetMap XML file for --travel osm-road", dest="osm_path", metavar="FILE")
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
    from tqdm import tqdm

    from patrol.config import EngineConfig
    from patrol.evaluation.coverage import summarise
    from patrol.evaluation.route_backtest import RouteBacktestConfig, run_route_backtest
    from patrol.incidents.areas import locator_for
    from patrol.incidents.parse import iter_csv
    from patrol.incidents.profile import load_profile
    from patrol.incidents.report import RejectionReport
    from patrol.planning import SHIFTS, SolverOptions
    from patrol.travel import make_provider

    for path in ns.data:
        if not path.exists():
            print(f"error: --data {path}: no such file", file=sys.stderr)
            return 2
    if ns.travel == "osm-road" and not ns.osm_path:
        print("error: --travel osm-road needs --osm FILE", file=sys.stderr)
        return 2
    try:
        days = sample_days(ns.date_from, ns.date_to, ns.sample_weeks)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    profile = load_profile(ns.city)
    locator = locator_for(profile)
    report = RejectionReport()
    incidents = []
    for path in ns.data:
        rows = iter_csv(path, profile, report, locator=locator)
        incidents.extend(tqdm(rows, desc=f"read {path.name}", unit=" rows", disable=ns.no_progress))
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
        engine=EngineConfig(),
        solver=SolverOptions(time_limit_s=ns.time_limit_ms / 1000.0),
    )
    travel = make_provider(ns.travel, **({"osm_path": ns.osm_path} if ns.osm_path else {}))
    districts = None if not ns.districts else {d.lstrip("0") or "0" for d in ns.districts}
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
    result = {
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
        "time_limit_ms": ns.time_limit_ms,
        "travel": ns.travel,
        "engine": config.engine.to_dict(),
        "bootstrap": ns.bootstrap,
        "seed": ns.seed,
    }


def _natural(s: str) -> tuple[int, str]:
    return (int(s), s) if s.isdigit() else (10**9, s)


def _share(v: dict[str, float], pct: bool = True) -> str:
    k, f = (100.0, ".1f") if pct else (1.0, ".2f")
    if math.isnan(v["low"]):
        return f"{v['value'] * k:{f}}"
    return f"{v['value'] * k:{f}} [{v['low'] * k:{f}}, {v['high'] * k:{f}}]"


def _table_rows(summary: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    header = [
        "planner",
        "covered in time %",
        "spatial %",
        "in presence %",
        "per km",
        "km",
        "min",
        "way-pts",
        "x CPSPA (in time)",
    ]
    rows = []
    for name, p in summary["planners"].items():
        ratio = summary["ratios"].get(name)
        rows.append(
            [
                name,
                _share(p["in_time"]),
                _share(p["spatial"]),
                _share(p["in_presence"]),
                f"{p['in_time_per_km']['value']:.3f}",
                f"{p['mean_km']:.1f}",
                f"{p['mean_minutes']:.0f}",
                f"{p['mean_waypoints']:.1f}",
                "1"
                if name == summary["reference"]
                else (_share(ratio, pct=False) if ratio else ""),
            ]
        )
    return header, rows


def text_table(summary: dict[str, Any]) -> str:
    """The summary as a plain-text table."""
    header, rows = _table_rows(summary)
    cells = [header, *rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    head = (
        f"{summary['district_shifts']} district-shifts on {summary['days']} days; "
        f"{int(summary['level'] * 100)}% bootstrap intervals over days"
    )
    return head + "\n" + "\n".join(lines)


def markdown(result: dict[str, Any]) -> str:
    """A Markdown section with the sample, the table and the goal."""
    s, sample = result["summary"], result["sample"]
    header, rows = _table_rows(s)
    lines = [
        "## Route coverage backtest",
        "",
        f"Data: {', '.join(result['data'])}. Evaluated {s['district_shifts']} district-shifts "
        f"on {s['days']} days ({sample['from']}..{sample['to']}, sample_weeks="
        f"{sample['sample_weeks']}), shifts {', '.join(sample['shifts'])}, districts "
        f"{', '.join(sample['districts'])}; every shift planned only from incidents before it. "
        f"Optimiser: {result['config']['units']} unit(s), "
        f"{result['config']['dwell_min']:g} min stops, "
        f"{result['config']['sites_per_unit']} sites per unit. Shares pool all district-shifts "
        f"(covered / incidents); brackets: {int(s['level'] * 100)}% bootstrap over days.",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
        *("| " + " | ".join(r) + " |" for r in rows),
        "",
    ]
    g = result["goal"]
    if g["ratio"] is not None:
        lines += [
            f"Goal (issue 6): optimiser >= {g['target']:g}x CPSPA's incidents covered in time: "
            f"**{g['ratio']:.2f}x** [{g['low']:.2f}, {g['high']:.2f}], "
            f"{'met' if g['met'] else 'not met'}.",
            "",
        ]
    return "\n".join(lines)


def plot_route_backtest(result: dict[str, Any], out: Path) -> Path:
    """Two panels: pooled coverage per planner with intervals; per-shift coverage in time.

    Headless Agg on a bare :class:`~matplotlib.figure.Figure` (no pyplot state).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    summary = result["summary"]
    names = list(summary["planners"])
    fig = Figure(figsize=(12.0, 4.8), dpi=120)
    FigureCanvasAgg(fig)
    left, right = fig.subplots(1, 2)
    xs = np.arange(len(names))
    for offset, measure, label, style in (
        (-0.27, "in_time", "covered in time", {"color": "#4363d8"}),
        (0.0, "spatial", "spatial (any time)", {"color": "#9ecae1"}),
        (0.27, "in_presence", "in presence", {"color": "#f58231"}),
    ):
        v = [summary["planners"][n][measure] for n in names]
        mid = np.array([x["value"] for x in v]) * 100
        err = np.abs(np.array([[x["low"], x["high"]] for x in v]).T * 100 - mid)
        left.bar(xs + offset, mid, width=0.27, label=label, **style)
        left.errorbar(xs + offset, mid, yerr=err, fmt="none", ecolor="black", capsize=3, lw=1)
    left.set_xticks(xs, [SHORT_LABELS.get(n, n) for n in names], fontsize=8)
    left.set_ylabel("% of the shift's incidents within 250 m")
    left.set_title("Pooled coverage, 95% bootstrap interval over days", fontsize=10)
    left.legend(fontsize=8, loc="upper left")
    per: dict[str, list[float]] = {n: [] for n in names}
    for r in result["rows"]:
        if r["planner"] in per and r["incidents"] > 0:
            per[r["planner"]].append(100.0 * r["in_time"] / r["incidents"])
    right.boxplot([per[n] for n in names], showmeans=True, widths=0.6)
    right.set_xticks(xs + 1, [SHORT_LABELS.get(n, n) for n in names], fontsize=8)
    right.set_ylabel("coverage in time per district-shift, %")
    right.set_title(
        f"{summary['district_shifts']} district-shifts, {summary['days']} days", fontsize=10
    )
    fig.tight_layout()
    fig.savefig(out)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Stand-alone entry point (``python -m simulators.route_backtest``)."""
    p = argparse.ArgumentParser(
        prog="patrolstream backtest routes",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_route_backtest_arguments(p)
    return route_backtest_main(p.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
