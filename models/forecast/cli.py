"""``patrolstream train-forecaster``: fit the served hotspot forecaster and export it to ONNX."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from models.forecast import DEFAULT_MODEL

DESCRIPTION = (
    "Train the hotspot forecaster the workers serve (ours-served: gradient-boosted Poisson "
    "regression on per-district cell features, the hotspot backtest's best; docs/backtest.md) "
    "on the weekly origins before --until, export the trees to ONNX and write the model card "
    "(bins, exposure, features, training window, sha256) beside it. Re-run it every four "
    "weeks, as the backtest refits, and restart the workers (or point "
    "PATROLSTREAM_FORECAST_MODEL at the new file)."
)
EPILOG = (
    "example: patrolstream train-forecaster --data chicago_2013*.csv.gz --data "
    "chicago_2014*.csv.gz --data chicago_2015*.csv.gz --until 2016-01-01. Give two years of "
    "history before the first origin (the features read 730 days back). Exit status 0 on "
    "success, 2 on bad arguments or input."
)


def add_train_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``train-forecaster``."""
    from simulators.cliargs import iso_date

    p.add_argument("--data", type=Path, action="append", required=True, metavar="FILE",
                   help="incident CSV (plain or .gz) in the city's export format; repeat for "
                   "several files")  # fmt: skip
    p.add_argument("--until", type=iso_date, required=True, metavar="DATE",
                   help="train on the weeks before this local date (YYYY-MM-DD); incidents "
                   "from it on are not read")  # fmt: skip
    p.add_argument("--origins", type=int, default=52, metavar="N",
                   help="weekly training origins (default 52, as the backtest)")  # fmt: skip
    p.add_argument("--city", default="chicago", metavar="NAME|PATH",
                   help="city profile (default chicago)")  # fmt: skip
    p.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_MODEL,
        metavar="FILE",
        help=f"ONNX file to write, its .card.json beside it (default {DEFAULT_MODEL})",
    )
    p.add_argument("--no-progress", action="store_true", help="hide the progress bars")


def train_main(ns: argparse.Namespace) -> int:
    """Run ``patrolstream train-forecaster``."""
    from models.forecast.export import export
    from models.forecast.train import train
    from patrol.incidents.profile import ProfileError, load_profile

    for path in ns.data:
        if not path.exists():
            print(f"error: --data {path}: no such file", file=sys.stderr)
            return 2
    if ns.origins < 1:
        print("error: --origins must be >= 1", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    try:
        profile = load_profile(ns.city)
        trained = train(ns.data, profile, ns.until, origins=ns.origins,
                        progress=not ns.no_progress)  # fmt: skip
    except (ProfileError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    info: dict[str, Any] = dict(trained.info)
    info["training"]["seconds"] = round(time.perf_counter() - t0, 1)
    card = export(trained.model, ns.out, trained.rows, info)
    print(
        f"wrote {ns.out} ({card['version']}): {card['training']['rows']} rows from "
        f"{card['training']['origins']} weekly origins before {card['training']['until']}; "
        f"ONNX parity max |diff| {card['parity']['max_abs_diff']:.2g}"
    )
    return 0
