"""Fairness-audit benchmark: the closed-loop replay on real data, timed (CPU seconds).

Runs ``patrolstream audit`` on the shared Chicago exports: history from 2015, ``--weeks`` weeks
(default 26) of 2016 from 4 January, a subset of districts (default 6 8 11 19: Harrison on the
West Side, with the most narcotics incidents, two South Side districts and one North Side),
all four variants; about 5 minutes of CPU per run on the shared 2-core machine.
Runs (``--runs``, default all three): ``cpspa`` writes ``bench/results/audit.json`` (the engine's
CPSPA routes as planned); ``cpspa-rest-last`` writes ``bench/results/audit_rest-last.json`` (the
unit stays at its last way-point for the rest of the shift); ``optimizer`` writes
``bench/results/audit_optimizer.json`` (the optimising planner over decayed-count sites), each
with its CPU time, and copies the plots to ``docs/img/audit_*.png``. Without ../shared/data it
runs 3 weeks of the bundled sample.

Run: ``python -m bench.audit [--weeks N] [--districts ...]``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")

from bench.common import RESULTS, ROOT, chicago_year, machine, table
from patrol.evaluation.feedback import FeedbackResult, summarise
from simulators.audit import audit_main, plot_audit
from simulators.settings import SAMPLE

DISTRICTS = ["6", "8", "11", "19"]


RUNS = {"cpspa": ("cpspa", "none"), "cpspa-rest-last": ("cpspa", "last"),
        "optimizer": ("optimizer", "none")}  # fmt: skip
SUFFIX = {"cpspa": "", "cpspa-rest-last": "_rest-last", "optimizer": "_optimizer"}


def run_one(data: list[Path], start: str, weeks: int, districts: list[str], run: str,
            out: Path) -> tuple[dict[str, Any], float]:  # fmt: skip
    """Run the audit once; returns its JSON and the CPU seconds it took."""
    ns = argparse.Namespace(
        data=data, date_from=__import__("datetime").date.fromisoformat(start), weeks=weeks,
        history_days=365, districts=districts, population=None, areas=None, area_field="area",
        base=0.2, lift=0.02, radius_m=250.0, planner=RUNS[run][0], rest=RUNS[run][1],
        variants=["open", "closed", "victim_only", "reweight"], seed=0, city="chicago",
        travel="street-grid", osm_path=None, out=out, no_plot=False, no_progress=False,
    )  # fmt: skip
    t0 = time.process_time()
    code = audit_main(ns)
    cpu = time.process_time() - t0
    if code:
        raise SystemExit(code)
    return json.loads((out / "audit.json").read_text()), cpu


def refresh(path: Path, suffix: str) -> None:
    """Recompute ``feedback.summary`` of a result file from its weekly traces; redraw plots."""
    out = json.loads(path.read_text())
    result = FeedbackResult.from_dict({**out["feedback"], "discovery": out["discovery"]})
    out["feedback"]["summary"] = summarise(result)
    path.write_text(json.dumps(out, indent=1) + "\n")
    with tempfile.TemporaryDirectory() as tmp:
        for png in plot_audit(out, Path(tmp)):
            shutil.copy(png, ROOT / "docs" / "img" / f"{png.stem}{suffix}.png")


def main() -> int:
    """Run the benchmark; see the module docstring."""
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--weeks", type=int, default=26, help="replayed weeks of 2016 (default 26)")
    p.add_argument("--districts", nargs="+", default=DISTRICTS, help="districts to audit")
    p.add_argument("--runs", nargs="+", default=list(RUNS), choices=list(RUNS),
                   help="which runs (default all)")  # fmt: skip
    p.add_argument("--refresh", action="store_true",
                   help="only recompute the summaries and redraw docs/img/audit_*.png from the "
                        "JSON results (no replay)")  # fmt: skip
    ns = p.parse_args()
    if ns.refresh:
        for run in ns.runs:
            path = RESULTS / f"audit{SUFFIX[run]}.json"
            if path.exists():
                refresh(path, SUFFIX[run])
        return 0
    y15, y16 = chicago_year(2015), chicago_year(2016)
    if y15 and y16:
        data, start, weeks = [y15, y16], "2016-01-04", ns.weeks
    else:
        data, start, weeks = [SAMPLE], "2016-10-03", 3
    rows = []
    for run in ns.runs:
        with tempfile.TemporaryDirectory() as tmp:
            out, cpu = run_one(data, start, weeks, ns.districts, run, Path(tmp))
            out = {"machine": machine(), "cpu_s": round(cpu, 1), **out}
            suffix = SUFFIX[run]
            (RESULTS / f"audit{suffix}.json").write_text(json.dumps(out, indent=1) + "\n")
            for png in ("audit_shares", "audit_drift"):
                src = Path(tmp) / f"{png}.png"
                if src.exists():
                    shutil.copy(src, ROOT / "docs" / "img" / f"{png}{suffix}.png")
        s = out["feedback"]["summary"]
        for v, tr in s["drift"].items():
            rows.append([run, v, tr["first"], tr["last"], tr["slope_per_week"],
                         s["mean_drift"][v], s["mean_drift_vs_open"].get(v, "-"),
                         s["recording_rate_discoverable"][v], round(cpu)])  # fmt: skip
    print(table(rows, ["run", "variant", "TV first 4", "TV last 4", "slope/wk", "mean TV",
                       "mean TV vs open", "recorded", "cpu s"]))  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
