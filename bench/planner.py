"""Optimising planner benchmark: solve time at stream scale and the gap to the exact optimum.

On real Chicago incidents (../shared/data when present, else the bundled two-month sample), for
every district and the three shifts of one day, candidate sites come from decayed counts
(:func:`patrol.planning.history_risk`, :func:`patrol.planning.select_sites`) and the street-grid
travel matrix, as in the route backtest (whose forecaster only rescales the risk: the instances
have the same size and shape). Measured:

* time of :func:`patrol.planning.optimise_routes` for 25 sites and 3 units (goal <= 200 ms per
  plan, the stream's budget) and for 25 sites and 1 unit; time of the whole
  :func:`patrol.planner.plan_team` (matrix, solve, route assembly) and of the site selection;
* on small instances (the 6-10 best sites of the same districts, 1 and 2 units, stops long
  enough that not every site fits), the optimiser's value against the exact optimum of
  :func:`patrol.planning.solve_exact`: gap = 1 - optimiser / exact.

Prints a table and writes ``bench/results/planner.json``. Run: ``python -m bench.planner``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from datetime import UTC, date, datetime
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np

from bench.common import chicago_year, table, write_result
from patrol.engine import Engine
from patrol.incidents.parse import iter_csv
from patrol.incidents.profile import load_profile
from patrol.incidents.report import RejectionReport
from patrol.planner import plan_team
from patrol.planning import (
    SHIFTS,
    SolverOptions,
    history_risk,
    optimise_routes,
    select_sites,
    shift_bounds,
    shift_duration_s,
    shift_local_hours,
    solve_exact,
)
from simulators.settings import SAMPLE

Instance = dict[str, Any]

GAP_CASES = (
    (6, 1, 3600.0),
    (8, 1, 3600.0),
    (10, 1, 3600.0),
    (10, 1, 900.0),
    (6, 2, 5400.0),
    (8, 2, 5400.0),
    (10, 2, 5400.0),
    (10, 2, 900.0),
)
"""(sites, units, dwell_s) of the small instances: long stops so that not every site fits, and
the backtest's 15-minute stops (every site fits: only the order and the split matter)."""


def instances(path: Any, day: date, n_sites: int) -> list[Instance]:
    """Sites, risk and matrices of every district and shift of ``day`` (history before it)."""
    profile = load_profile("chicago")
    engine = Engine(profile)
    cols: dict[str, list[tuple[float, float, float, int, int]]] = {}
    for inc in iter_csv(path, profile, RejectionReport(), locator=engine.locator):
        o = engine.observe(inc)
        cols.setdefault(engine.district_of(inc), []).append(
            (o.x, o.y, o.t, o.slot % 24, o.slot // 24)
        )
    out = []
    for district in sorted(cols, key=lambda d: (len(d), d)):
        a = np.array(cols[district])
        for shift in SHIFTS:
            start, _ = shift_bounds(day, shift, profile.zone)
            hours = shift_local_hours(day, shift, profile.zone)
            cells = history_risk(
                *a.T, now=start.timestamp() / 86400, hours=hours, weekday=day.weekday()
            )
            sites = select_sites(cells, n_sites)
            if len(sites.x) < n_sites:
                continue
            station = engine.station(district)
            pts = [
                station,
                *(profile.projection.inverse(x, y) for x, y in zip(sites.x, sites.y, strict=True)),
            ]
            m = engine.travel.matrix(pts, hour=hours[0])
            out.append(
                {
                    "district": district,
                    "shift": shift,
                    "sites": sites,
                    "station": station,
                    "d": m.distance_m,
                    "t": m.time_s,
                    "budget": shift_duration_s(day, shift, profile.zone),
                    "cells": (a, hours),
                }
            )
    return out


def _ms(xs: list[float]) -> dict[str, float]:
    return {
        "p50": statistics.median(xs) * 1000,
        "p95": float(np.percentile(xs, 95)) * 1000,
        "max": max(xs) * 1000,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--year", type=int, default=2016, help="Chicago year (default 2016)")
    p.add_argument(
        "--day",
        type=date.fromisoformat,
        default=date(2016, 10, 24),
        help="the day planned, from the incidents before it (default 2016-10-24)",
    )
    p.add_argument("--gap-cases", type=int, default=24, help="small instances per size")
    ns = p.parse_args(argv)
    path = chicago_year(ns.year) or SAMPLE
    profile = load_profile("chicago")
    cases = instances(path, ns.day, 25)
    timings: dict[str, list[float]] = {
        "opt_25x3": [],
        "opt_25x1": [],
        "plan_team_25x3": [],
        "sites": [],
    }
    polish_gain: dict[str, list[float]] = {"opt_25x3": [], "opt_25x1": []}
    for c in cases:
        for units, key in ((3, "opt_25x3"), (1, "opt_25x1")):
            kw = {"units": units, "budget_s": c["budget"], "dwell_s": 900.0}
            t0 = time.perf_counter()
            plan = optimise_routes(c["d"], c["t"], c["sites"].risk, **kw)
            timings[key].append(time.perf_counter() - t0)
            raw = optimise_routes(
                c["d"], c["t"], c["sites"].risk, options=SolverOptions(polish=False), **kw
            )
            polish_gain[key].append(plan.value / raw.value - 1.0 if raw.value > 0 else 0.0)
        a, hours = c["cells"]
        start, _ = shift_bounds(ns.day, c["shift"], profile.zone)
        t0 = time.perf_counter()
        select_sites(
            history_risk(
                *a.T, now=start.timestamp() / 86400, hours=hours, weekday=ns.day.weekday()
            ),
            75,
        )
        timings["sites"].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        plan_team(
            district=c["district"],
            sites=c["sites"],
            station=c["station"],
            day=ns.day,
            shift=c["shift"],
            tz=profile.zone,
            projection=profile.projection,
            travel=Engine(profile).travel,
            version=1,
            generated_at=datetime(2016, 1, 1, tzinfo=UTC),
            units=3,
        )
        timings["plan_team_25x3"].append(time.perf_counter() - t0)

    gaps: dict[str, dict[str, Any]] = {}
    rng = np.random.default_rng(0)
    unpolished = SolverOptions(polish=False)
    for n, units, dwell in GAP_CASES:
        picked = rng.choice(len(cases), size=min(ns.gap_cases, len(cases)), replace=False)
        g, g_raw, exact_s, opt_s = [], [], [], []
        for i in picked:
            c = cases[int(i)]
            sub = list(range(n + 1))
            d, t = c["d"][np.ix_(sub, sub)], c["t"][np.ix_(sub, sub)]
            risk, kw = (
                c["sites"].risk[:n],
                {"units": units, "budget_s": c["budget"], "dwell_s": dwell},
            )
            t0 = time.perf_counter()
            ex = solve_exact(t, risk, **kw)
            exact_s.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            opt = optimise_routes(d, t, risk, **kw)
            opt_s.append(time.perf_counter() - t0)
            raw = optimise_routes(d, t, risk, options=unpolished, **kw)
            g.append(1.0 - opt.value / ex.value if ex.value > 0 else 0.0)
            g_raw.append(1.0 - raw.value / ex.value if ex.value > 0 else 0.0)
        gaps[f"n{n}_u{units}_dwell{dwell / 60:.0f}"] = {
            "sites": n,
            "units": units,
            "dwell_min": dwell / 60,
            "cases": len(g),
            "gap_mean_pct": 100 * float(np.mean(g)),
            "gap_max_pct": 100 * float(np.max(g)),
            "optimal_share": float(np.mean(np.array(g) < 1e-6)),
            "gap_without_polish_mean_pct": 100 * float(np.mean(g_raw)),
            "gap_without_polish_max_pct": 100 * float(np.max(g_raw)),
            "exact_ms_p50": statistics.median(exact_s) * 1000,
            "optimiser_ms_p50": statistics.median(opt_s) * 1000,
        }

    res = {
        "data": path.name,
        "day": ns.day.isoformat(),
        "instances": len(cases),
        "timing_ms": {k: _ms(v) for k, v in timings.items()},
        "gap_to_exact": gaps,
        "polish_gain_pct": {
            k: {"mean": 100 * float(np.mean(v)), "max": 100 * float(np.max(v))}
            for k, v in polish_gain.items()
        },
        "goal": {"opt_25x3_ms": 200},
        "settings": {
            "dwell_min": 15,
            "solver": "OR-Tools routing, local cheapest insertion + greedy descent (100 ms "
            "cap), then the exact-value polish (improve_routes)",
            "travel": "street-grid",
        },
    }
    t = res["timing_ms"]
    rows = [
        ("optimise_routes, 25 sites x 3 units", _fmt(t["opt_25x3"]), "<= 200 ms"),
        ("optimise_routes, 25 sites x 1 unit", _fmt(t["opt_25x1"]), ""),
        (
            "  value added by the exact-value polish, 25 x 3 / 25 x 1",
            "mean {:.2f}% / {:.2f}%".format(
                *(res["polish_gain_pct"][k]["mean"] for k in ("opt_25x3", "opt_25x1"))
            ),
            "",
        ),
        ("plan_team 25 x 3 (matrix + solve + routes)", _fmt(t["plan_team_25x3"]), ""),
        ("history_risk + select_sites (75 sites)", _fmt(t["sites"]), ""),
    ]
    rows += [
        (
            f"gap to exact, {v['sites']} sites x {v['units']} unit(s), "
            f"{v['dwell_min']:.0f} min stops",
            f"mean {v['gap_mean_pct']:.2f}%, max {v['gap_max_pct']:.2f}%, optimal in "
            f"{100 * v['optimal_share']:.0f}% of {v['cases']} (no polish: mean "
            f"{v['gap_without_polish_mean_pct']:.2f}%, max {v['gap_without_polish_max_pct']:.2f}%)",
            f"exact {v['exact_ms_p50']:.0f} ms, opt {v['optimiser_ms_p50']:.0f} ms",
        )
        for v in gaps.values()
    ]
    print(f"{len(cases)} real instances (every district x shift of {ns.day}, {path.name})")
    print(table(rows, ("measure", "value", "goal / note")))
    print(f"\nwritten {write_result('planner', res)}")
    return 0


def _fmt(t: dict[str, float]) -> str:
    return f"{t['p50']:.1f} ms p50, {t['p95']:.1f} p95, {t['max']:.1f} max"


if __name__ == "__main__":
    raise SystemExit(main())
