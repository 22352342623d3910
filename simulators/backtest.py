"""``patrolstream backtest hotspots``: rolling-origin evaluation of the hotspot forecasters.

Loads incident exports with the project's parser and the city profile, turns them into
column arrays (:mod:`patrol.evaluation.events`), runs the pure driver
(:func:`patrol.evaluation.backtest.run_backtest`) over consecutive days or weeks, and writes
what a user needs to judge the forecasts: a printed table, ``report.json``, ``report.md``
(a Markdown section) and two PNG plots (hit-rate curves over the area share, PAI@1% over
time). Measures as design.md defines them ("Measures we report").
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import json
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import IO, Any

import numpy as np

from patrol.evaluation.backtest import BacktestResult, local_midnight, make_periods, run_backtest
from patrol.evaluation.events import Events, events_from_incidents
from patrol.evaluation.grid import Grid, city_cells
from patrol.evaluation.report import markdown, method_entries, text_table
from patrol.forecast import METHODS, make_forecasters
from patrol.incidents.parse import iter_csv
from patrol.incidents.profile import CityProfile, ProfileError, load_profile, normalise_code
from patrol.incidents.report import RejectionReport
from simulators.cliargs import iso_date

DESCRIPTION = (
    "Rolling-origin backtest of the hotspot forecasters: for every day or week from --from to "
    "--to, each method forecasts the risk of every grid cell from the incidents before the "
    "period only, and is scored on the period's incidents: hit rate and PAI (predictive "
    "accuracy index = hit rate / area share) at 1%, 5% and 10% of the city's area, next to "
    "the maximum possible (the period's own counts). The city's area = the cells with at "
    "least one incident in the two years before --from. Every method is compared with the "
    "strongest baseline on PAI@1% (mean paired difference over periods, block-bootstrap "
    "interval, Wilcoxon test)."
)
EPILOG = (
    "methods (parameters and sources in docs/backtest.md): " + ", ".join(METHODS) + ". "
    "Outputs in --out: report.json (every number), "
    "report.md (a Markdown section with the table and plots), backtest_hitrate_curves.png and "
    "backtest_pai_over_time.png. Example (train up to 2015, evaluate 2016 weekly): "
    "patrolstream backtest hotspots --data chicago_2014*.csv.gz --data chicago_2015*.csv.gz "
    "--data chicago_2016*.csv.gz --from 2016-01-01 --to 2016-12-31 --period week. "
    "Exit status 0 on success, 2 on bad arguments or input."
)


def _methods(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    bad = [n for n in names if n not in METHODS]
    if bad or not names:
        raise argparse.ArgumentTypeError(f"unknown method(s) {bad} (known: {', '.join(METHODS)})")
    return names


def add_backtest_arguments(sub: Any) -> Any:
    """Add ``backtest`` (with its ``hotspots`` sub-command) to the CLI's sub-parsers.

    Returns the ``backtest`` sub-parsers, for further sub-commands (``routes``).
    """
    bt = sub.add_parser(
        "backtest",
        help="rolling-origin backtests of the forecasts (hit rate, PAI) against baselines",
        description="Backtests: forecasts are made only from data before each period.",
    )
    bsub = bt.add_subparsers(dest="backtest_command", required=True, metavar="WHAT")
    p = bsub.add_parser(
        "hotspots",
        help="hit rate and PAI of the hotspot forecasters, per day or week",
        description=DESCRIPTION,
        epilog=EPILOG,
    )
    p.add_argument("--data", type=Path, action="append", required=True, metavar="FILE",
                   help="incident CSV export (plain or .gz) in the city's format; repeat for "
                   "several files. Include the history: every incident before --from is "
                   "learned (two years of it also define the city's area)")  # fmt: skip
    p.add_argument("--from", dest="first", type=iso_date, required=True, metavar="DATE",
                   help="first day evaluated, YYYY-MM-DD (the first period starts at its "
                   "local midnight)")  # fmt: skip
    p.add_argument("--to", dest="last", type=iso_date, required=True, metavar="DATE",
                   help="last day evaluated, YYYY-MM-DD, inclusive; a period that would end "
                   "after it is left out")  # fmt: skip
    p.add_argument(
        "--period",
        choices=["day", "week"],
        default="week",
        help="forecast period: a local day or 7 local days (default: week)",
    )
    p.add_argument(
        "--grid-m",
        type=float,
        default=150.0,
        metavar="M",
        help="side of the square grid cells, metres (default: 150)",
    )
    p.add_argument(
        "--city",
        default="chicago",
        metavar="NAME|PATH",
        help="city profile: a bundled name or a .toml path (default: chicago)",
    )
    p.add_argument("--district", metavar="ID",
                   help="evaluate one district only (e.g. 11 or 011): its incidents are the "
                   "history, the evaluation and its area (default: the whole city)")  # fmt: skip
    p.add_argument(
        "--methods",
        type=_methods,
        default=list(METHODS),
        metavar="LIST",
        help="comma-separated methods to run (default: all): " + ", ".join(METHODS),
    )
    p.add_argument("--out", type=Path, default=Path("backtest-out"), metavar="DIR",
                   help="folder for report.json, report.md and the PNG plots "
                   "(default: ./backtest-out)")  # fmt: skip
    p.add_argument(
        "--bootstrap",
        type=int,
        default=10_000,
        metavar="N",
        help="bootstrap resamples of the intervals (default: 10000)",
    )
    p.add_argument("--block", type=int, default=None, metavar="N",
                   help="periods per bootstrap block (default: round(periods ** (1/3)), "
                   "4 for 52 weeks)")  # fmt: skip
    p.add_argument("--seed", type=int, default=0, help="seed of the bootstrap (default: 0)")
    p.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    return bsub


def years_before(d: date, years: int) -> date:
    """The same day ``years`` earlier (29 February -> 28 February)."""
    try:
        return d.replace(year=d.year - years)
    except ValueError:
        return d.replace(year=d.year - years, day=28)


@dataclass
class Loaded:
    """Incidents read for a backtest."""

    events: Events
    rows: int
    rejected: dict[str, int]


def district_rows(path: Path, profile: CityProfile, district: str) -> IO[str] | None:
    """The CSV rows of one district (and those with no district, placed later), as a text
    stream for the parser; ``None`` when the file has no district column.

    Splitting rows is about 8 times cheaper than validating them, so a district's backtest
    does not pay for parsing the whole city's export.
    """
    column = profile.columns.get("district")
    raw = path.open("rb")
    fh: IO[str]
    if raw.peek(2)[:2] == b"\x1f\x8b":
        fh = io.TextIOWrapper(gzip.GzipFile(fileobj=raw), "utf-8-sig", "replace", newline="")
    else:
        fh = io.TextIOWrapper(raw, "utf-8-sig", "replace", newline="")
    with fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if header is None or column not in header:
            return None
        j = header.index(column)
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(header)
        for row in reader:
            value = row[j].strip() if j < len(row) else ""
            if not value or normalise_code(value) == district:
                writer.writerow(row)
    out.seek(0)
    return out


def load_events(
    paths: Sequence[Path],
    profile: CityProfile,
    until: float,
    district: str | None = None,
    progress: bool = False,
) -> Loaded:
    """Parse the files with the profile; keep incidents before ``until`` (of one district:
    other districts' rows are skipped before parsing, see :func:`district_rows`)."""
    from tqdm import tqdm

    report = RejectionReport()
    rows = 0

    def incidents() -> Iterable[Any]:
        nonlocal rows
        for path in paths:
            bar = tqdm(desc=f"read {path.name}", unit=" rows", disable=not progress,
                       file=sys.stderr, mininterval=0.5)  # fmt: skip
            source: Path | IO[str] = path
            if district is not None:
                source = district_rows(path, profile, district) or path
            for inc in iter_csv(source, profile, report):
                bar.update()
                rows += 1
                if inc.occurred_at.timestamp() / 86_400.0 >= until:
                    continue
                if district is not None and inc.district != district:
                    continue
                yield inc
            bar.close()

    events = events_from_incidents(incidents(), profile.projection)
    return Loaded(events, rows + report.total, report.by_reason())


def run_hotspots(
    ns: argparse.Namespace, profile: CityProfile
) -> tuple[BacktestResult, dict[str, Any]]:
    """Load, run the backtest and build the report dict (no files written)."""
    from tqdm import tqdm

    tz = profile.zone
    periods = make_periods(ns.first, ns.last, ns.period, tz)
    if not periods:
        raise ValueError(f"no whole {ns.period} between {ns.first} and {ns.last}")
    district = normalise_code(ns.district) if ns.district else None
    loaded = load_events(ns.data, profile, periods[-1].end, district, not ns.no_progress)
    ev = loaded.events
    grid = Grid.for_bbox(profile.projection, profile.bbox, ns.grid_m)
    start = periods[0].start
    area_from = years_before(ns.first, 2)
    city = city_cells(grid.cell_of(ev.x, ev.y), ev.t, local_midnight(area_from, tz), start)
    if not len(city):
        raise ValueError(f"no incident in the two years before {ns.first}: no city area")
    forecasters = make_forecasters(ns.methods, tz, periods[0].days)
    bar = tqdm(total=len(periods), desc=f"backtest ({len(forecasters)} methods)", unit=ns.period,
               disable=ns.no_progress, file=sys.stderr)  # fmt: skip
    t0 = time.perf_counter()
    res = run_backtest(ev, grid, forecasters, periods, city,
                       on_period=lambda i, p: bar.update(), clock=time.perf_counter)  # fmt: skip
    bar.close()
    report = build_report(res, ns, loaded, area_from, time.perf_counter() - t0)
    return res, report


def build_report(
    res: BacktestResult, ns: argparse.Namespace, loaded: Loaded, area_from: date, seconds: float
) -> dict[str, Any]:
    """Everything measured, as a JSON-ready dict (see :mod:`patrol.evaluation.report`)."""
    strongest, methods = method_entries(res, ns.bootstrap, ns.block, ns.seed)
    return {
        "command": "backtest hotspots",
        "data": [str(p) for p in ns.data],
        "rows_read": loaded.rows,
        "rejected": loaded.rejected,
        "district": ns.district,
        "from": ns.first.isoformat(),
        "to": ns.last.isoformat(),
        "period": ns.period,
        "periods": len(res.periods),
        "period_starts": [p.label for p in res.periods],
        "grid_m": ns.grid_m,
        "city_cells": res.n_city_cells,
        "city_area_km2": round(res.n_city_cells * (ns.grid_m / 1000.0) ** 2, 2),
        "city_area_from": area_from.isoformat(),
        "history_incidents": loaded.events.index_of(res.periods[0].start),
        "evaluated_incidents": int(res.incidents.sum()),
        "incidents_outside_city_cells": int(res.outside.sum()),
        "shares": list(res.shares),
        "curve_shares": list(res.curve_shares),
        "strongest_baseline": strongest,
        "bootstrap": {"n_boot": ns.bootstrap, "block": ns.block, "seed": ns.seed, "level": 0.95},
        "seconds": round(seconds, 2),
        "methods": methods,
    }


def write_outputs(
    report: dict[str, Any], out: Path, plots: bool, prefix: str = "backtest_"
) -> list[Path]:
    """Write report.json, report.md and the plots into ``out``; return the paths."""
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "report.json", out / "report.md"]
    paths[0].write_text(json.dumps(report, indent=2) + "\n")
    images: list[str] = []
    if plots:
        curves = out / f"{prefix}hitrate_curves.png"
        over_time = out / f"{prefix}pai_over_time.png"
        plot_curves(report, curves)
        plot_over_time(report, over_time)
        paths += [curves, over_time]
        images = [curves.name, over_time.name]
    paths[1].write_text(markdown(report, images))
    return paths


def backtest_main(ns: argparse.Namespace) -> int:
    """Run ``patrolstream backtest ...``; exit status 0, or 2 on bad arguments or input."""
    if ns.backtest_command != "hotspots":
        print(f"error: unknown backtest {ns.backtest_command!r}", file=sys.stderr)
        return 2
    for path in ns.data:
        if not path.exists():
            print(f"error: --data {path}: no such file", file=sys.stderr)
            return 2
    if ns.last < ns.first:
        print("error: --to is before --from", file=sys.stderr)
        return 2
    if not ns.grid_m > 0:
        print("error: --grid-m must be > 0", file=sys.stderr)
        return 2
    try:
        profile = load_profile(ns.city)
        _, report = run_hotspots(ns, profile)
    except (ProfileError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(text_table(report))
    for path in write_outputs(report, ns.out, not ns.no_plots):
        print(f"wrote {path}")
    return 0


# -- plots (headless Agg, no pyplot state) ------------------------------------------------------
_STYLE = {
    "ours": ("-", 2.4),
    "engine": ("--", 1.6),
    "baseline": ("-", 1.1),
    "maximum possible": (":", 1.6),
}


def _figure(width: float = 9.0, height: float = 5.5) -> tuple[Any, Any]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=110)
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot(1, 1, 1)


def _where(report: dict[str, Any]) -> str:
    where = f"district {report['district']}" if report.get("district") else "city-wide"
    return f"{where}, {report['grid_m']:g} m cells, {report['periods']} {report['period']}s"


def plot_curves(report: dict[str, Any], path: Path) -> None:
    """Mean hit rate over the area share (0-30%) of every method and the maximum possible."""
    fig, ax = _figure()
    x = 100.0 * np.asarray(report["curve_shares"])
    for name, m in report["methods"].items():
        ls, lw = _STYLE[m["kind"]]
        y = np.array([np.nan if v is None else v for v in m["hit_rate_curve"]], dtype=float)
        ax.plot(x, 100.0 * y, ls, lw=lw, label=f"{name} (PAI@1% {m['pai']['0.01'] or 0:.2f})")
    for s in report["shares"]:
        ax.axvline(100.0 * s, color="#bbb", lw=0.8, zorder=0)
    ax.set_xlabel("share of the city's area (top cells by predicted risk), %")
    ax.set_ylabel("share of the period's incidents in those cells (hit rate), %")
    ax.set_xlim(0, x.max())
    ax.set_ylim(0, None)
    ax.grid(alpha=0.3)
    ax.set_title(f"Hit-rate curves, mean over periods ({_where(report)})", fontsize=10)
    ax.legend(fontsize=7.5, loc="lower right")
    fig.tight_layout()
    fig.savefig(path)


def plot_over_time(report: dict[str, Any], path: Path) -> None:
    """PAI@1% of every method per period, with the maximum possible."""
    fig, ax = _figure(10.0, 5.5)
    x = np.array([np.datetime64(d) for d in report["period_starts"]])
    for name, m in report["methods"].items():
        ls, lw = _STYLE[m["kind"]]
        y = np.array([np.nan if v is None else v for v in m["pai_1pct_per_period"]], dtype=float)
        ax.plot(x, y, ls, lw=lw, label=name)
    ax.set_ylabel("PAI at 1% of the area")
    ax.set_xlabel(f"{report['period']} starting")
    ax.grid(alpha=0.3)
    ax.set_ylim(0, None)
    ax.set_title(f"PAI@1% per {report['period']} ({_where(report)})", fontsize=10)
    ax.legend(fontsize=7.5, ncol=2, loc="lower left")
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(path)
