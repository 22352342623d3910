"""``patrolstream train-arrest``: train, evaluate (both protocols), recalibrate, export.

The lead wires it into :mod:`simulators.cli` with::

    from models.arrest.cli import add_train_arguments, train_main
    ta = sub.add_parser("train-arrest", help=..., description=DESCRIPTION, epilog=EPILOG,
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    add_train_arguments(ta)
    ...
    if ns.command == "train-arrest":
        return train_main(ns)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

DESCRIPTION = """\
Train arrest models on incident CSV exports, evaluate them with two protocols, measure
online recalibration, and export each model to ONNX with a model card.

Protocols (both printed as tables and stored in every card):
  seed     the seed paper's: random 80/20 split of every row, its features (primary type,
           description, location description, domestic, coordinates), accuracy;
  forward  the honest one: train on the years before --test-year, test on --test-year,
           with the features known when an incident is reported and historical arrest-rate
           tables from the training years only; once with all offence types and once
           without the types recorded only on arrest.
Then the test year is replayed in event-time order with arrest labels arriving
--label-delay-days after each incident, with and without online recalibration."""

EPILOG = """\
models: logreg, hgb (scikit-learn); mlp, cnn, lstm (the seed's networks; need the optional
'torch' extra, see docs/arrest.md). Exported: OUT/arrest_<model>.onnx and
OUT/arrest_<model>.card.json, trained without the arrest-only types (the served variant),
plus OUT/arrest_results.json and OUT/arrest_calibration.png.
Example: patrolstream train-arrest --data chicago_2012*.csv.gz ... --out models-out
Training threads follow OMP_NUM_THREADS (set it to 1 or 2 on a shared machine)."""


def add_train_arguments(p: argparse.ArgumentParser) -> None:
    """Add the ``train-arrest`` options (every one documented in ``--help``)."""
    from models.arrest.train import ALL_KINDS

    p.add_argument(
        "--data",
        type=Path,
        action="append",
        required=True,
        metavar="FILE",
        help="incident CSV export (plain or .gz); repeat for several years",
    )
    p.add_argument(
        "--out",
        type=Path,
        required=True,
        metavar="DIR",
        help="folder for the ONNX models, their cards, results and plot",
    )
    p.add_argument(
        "--city",
        default="chicago",
        metavar="NAME|PATH",
        help="city profile (column names, time zone, bounding box; default chicago)",
    )
    p.add_argument(
        "--models",
        default="logreg,hgb,mlp,cnn,lstm",
        metavar="LIST",
        help=f"comma-separated models among {','.join(ALL_KINDS)}; the neural ones "
        "are skipped with a note when torch does not import (default: all)",
    )
    p.add_argument(
        "--protocols",
        default="seed,forward",
        metavar="LIST",
        help="which protocols to run: seed, forward or both (default both); the "
        "export and the recalibration need forward",
    )
    p.add_argument(
        "--test-year",
        type=int,
        metavar="YEAR",
        help="forward split: test on this year, train on the earlier ones "
        "(default: the last year in the data)",
    )
    p.add_argument(
        "--seed",
        type=int,
        default=0,
        help="random seed of the split, the sampling and the models (default 0)",
    )
    p.add_argument(
        "--sample",
        type=int,
        metavar="N",
        help="use N random rows of the data (a quick run; default: every row)",
    )
    p.add_argument(
        "--epochs", type=int, default=3, help="training epochs of the neural models (default 3)"
    )
    p.add_argument(
        "--label-delay-days",
        type=float,
        default=7.0,
        metavar="DAYS",
        help="recalibration replay: an arrest label becomes known this long after "
        "the incident (default 7)",
    )
    p.add_argument(
        "--calibration-lr",
        type=float,
        default=0.002,
        metavar="LR",
        help="SGD step of the online Platt scalings (default 0.002, chosen on a 2015 "
        "replay of a model trained on 2012-2014)",
    )
    p.add_argument(
        "--nn-rows",
        type=int,
        default=200_000,
        metavar="N",
        help="the neural models train on at most N random training rows (a CPU budget: the "
        "LSTM reads one token per feature column; 0 = every row; default 200000)",
    )
    p.add_argument("--no-export", action="store_true", help="evaluate only, write no model")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bars")


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _read(paths: list[Path], city: str, sample: int | None, seed: int, progress: bool) -> Any:
    import pandas as pd
    from tqdm import tqdm

    from models.arrest.features import raw_frame
    from patrol.incidents.profile import load_profile

    profile = load_profile(city)
    frames = []
    for path in tqdm(paths, desc="reading", unit="file", disable=not progress):
        if not path.is_file():
            raise FileNotFoundError(f"--data {path}: no such file")
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
        frames.append(raw_frame(df, profile))
    raw = pd.concat(frames, ignore_index=True).drop_duplicates("id", keep="last")
    if sample is not None and sample < len(raw):
        raw = raw.sample(n=sample, random_state=seed)
    return raw.sort_values("occurred_utc", kind="stable").reset_index(drop=True)


def _fmt(v: Any) -> str:
    return f"{v:.4f}" if isinstance(v, float) else str(v)


def table(rows: list[list[Any]], header: list[str]) -> str:
    """A plain-text table (like ``bench.common.table``, which is not installed)."""
    cells = [[str(c) for c in header], *[[str(c) for c in r] for r in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _tables(results: dict[str, Any]) -> str:
    out = []
    if "seed" in results:
        rows = [
            [
                k,
                _fmt(m["accuracy"]),
                _fmt(m["majority_accuracy"]),
                _fmt(m["roc_auc"]),
                m["train_seconds"],
            ]
            for k, m in results["seed"].items()
        ]
        out += [
            "Seed protocol (random 80/20, seed features; paper: CNN 0.9176, MLP 0.9152, "
            "LSTM 0.8730)",
            table(rows, ["model", "accuracy", "majority", "ROC-AUC", "train s"]),
            "",
        ]
    for variant, ms in results.get("forward", {}).items():
        rows = [
            [
                k,
                *(
                    _fmt(m[c])
                    for c in ("accuracy", "majority_accuracy", "roc_auc", "pr_auc", "brier", "ece")
                ),
                m["train_seconds"],
            ]
            for k, m in ms.items()
        ]
        out += [
            f"Forward split, {variant}",
            table(
                rows,
                ["model", "accuracy", "majority", "ROC-AUC", "PR-AUC", "Brier", "ECE", "train s"],
            ),
            "",
        ]
    for variant, ms in results.get("recalibration", {}).items():
        rows = [
            [
                k,
                _fmt(m["static"]["ece"]),
                _fmt(m["recalibrated"]["ece"]),
                _fmt(m["static"]["brier"]),
                _fmt(m["recalibrated"]["brier"]),
                _fmt(m["recalibrated"]["roc_auc"]),
            ]
            for k, m in ms.items()
        ]
        out += [
            f"Online recalibration, {variant} (labels {results['label_delay_days']} days late)",
            table(
                rows,
                [
                    "model",
                    "ECE static",
                    "ECE recal",
                    "Brier static",
                    "Brier recal",
                    "ROC-AUC recal",
                ],
            ),
            "",
        ]
    return "\n".join(out)


def train_main(ns: argparse.Namespace) -> int:
    """Run ``train-arrest``; returns the exit status."""
    import numpy as np

    from models.arrest import calibration, protocols
    from models.arrest.metrics import summary
    from models.arrest.train import ALL_KINDS, NEURAL_KINDS, torch_available

    progress = not ns.no_progress and sys.stderr.isatty()
    kinds = [k.strip() for k in ns.models.split(",") if k.strip()]
    bad = [k for k in kinds if k not in ALL_KINDS]
    if bad:
        _log(f"train-arrest: unknown model(s) {bad}; expected {list(ALL_KINDS)}")
        return 2
    if any(k in NEURAL_KINDS for k in kinds) and not torch_available():
        _log(
            "train-arrest: torch does not import: skipping mlp, cnn, lstm "
            "(install the 'torch' extra, docs/arrest.md)"
        )
        kinds = [k for k in kinds if k not in NEURAL_KINDS]
    todo = {p.strip() for p in ns.protocols.split(",")}
    try:
        raw = _read(ns.data, ns.city, ns.sample, ns.seed, progress)
    except (FileNotFoundError, ValueError) as exc:
        _log(f"train-arrest: {exc}")
        return 2
    _log(
        f"train-arrest: {len(raw):,} valid rows; models {kinds}; "
        f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}"
    )
    ns.out.mkdir(parents=True, exist_ok=True)
    kw: dict[str, Any] = {
        "seed": ns.seed,
        "epochs": ns.epochs,
        "nn_rows": ns.nn_rows or None,
        "progress": progress,
        "log": _log,
    }
    results: dict[str, Any] = {"rows": len(raw), "label_delay_days": ns.label_delay_days}
    if "seed" in todo:
        results["seed"] = protocols.seed_protocol(raw, kinds, **kw)
    runs = {}
    if "forward" in todo:
        test_year = ns.test_year or int(protocols.years_of(raw).max())
        results.update(forward={}, recalibration={}, test_year=test_year)
        curves = {}
        for without in (False, True):
            run = protocols.forward_protocol(
                raw, kinds, test_year=test_year, without_arrest_only=without, **kw
            )
            runs[run.variant] = run
            results["forward"][run.variant] = run.metrics
            results["excluded_types"] = run.excluded or results.get("excluded_types")
            recal: dict[str, Any] = {}
            for kind, p in run.predictions.items():
                cal = calibration.OnlineCalibrator(lr=ns.calibration_lr)
                q = calibration.replay(
                    run.test["occurred_utc"].dt.tz_convert(None).to_numpy(),
                    run.test["primary_type"].fillna("").to_numpy(),
                    p,
                    run.y_test,
                    delay=np.timedelta64(round(ns.label_delay_days * 86400), "s"),
                    calibrator=cal,
                )
                recal[kind] = {
                    "static": summary(run.y_test, p, run.train_rate),
                    "recalibrated": summary(run.y_test, q, run.train_rate),
                }
                if without and kind == "hgb":
                    curves["hgb, without arrest-only types, static"] = (run.y_test, p)
                    curves["hgb, without arrest-only types, recalibrated online"] = (run.y_test, q)
                elif not without and kind == "hgb":
                    curves["hgb, all types, static"] = (run.y_test, p)
            results["recalibration"][run.variant] = recal
        if curves:
            results["calibration_plot"] = str(
                protocols.plot_calibration(curves, ns.out / "arrest_calibration.png")
            )
    if runs and not ns.no_export:
        results["exported"] = _export(runs, results, ns)
    (ns.out / "arrest_results.json").write_text(
        json.dumps(results, indent=1, default=str, allow_nan=True) + "\n"
    )
    print(_tables(results))
    return 0


def _export(runs: dict[str, Any], results: dict[str, Any], ns: argparse.Namespace) -> list[str]:
    """Export every model of the served variant (without arrest-only types) with its card."""
    import numpy as np

    from models.arrest import export

    run = runs["without_arrest_only"]
    check = np.random.default_rng(ns.seed).permutation(len(run.X_test))[:5000]
    paths = []
    for kind, fitted in run.fitted.items():
        path = ns.out / f"arrest_{kind}.onnx"
        output, column = export.to_onnx(fitted, run.X_test.shape[1], path)
        parity = export.check_parity(fitted, path, run.X_test[check], output, column)
        metrics = {
            "forward": {v: r.metrics[kind] for v, r in runs.items()},
            "recalibration": {v: m[kind] for v, m in results["recalibration"].items()},
        }
        if kind in results.get("seed", {}):
            metrics["seed_protocol"] = results["seed"][kind]
        card = export.write_card(
            path,
            {
                "kind": kind,
                "framework": fitted.framework,
                "output_name": output,
                "output_column": column,
                "features": run.encoder.to_dict(),
                "excluded_types": run.excluded,
                "training": {
                    "years": run.train_years,
                    "period": list(run.train_period),
                    "rows": run.train_rows,
                    "arrest_rate": run.train_rate,
                    "seconds": round(fitted.seconds, 1),
                    "seed": ns.seed,
                    "data": [p.name for p in ns.data],
                    "sample": ns.sample,
                },
                "test_year": run.test_year,
                "metrics": metrics,
                "parity": parity,
                "calibration": {
                    "method": "online Platt scaling, global then per primary type",
                    "lr": ns.calibration_lr,
                    "label_delay_days": ns.label_delay_days,
                },
            },
        )
        _log(f"exported {path} (+ {card.name}); parity max |diff| {parity['max_abs_diff']:.2e}")
        paths.append(str(path))
    return paths


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry point (``python -m models.arrest.cli``)."""
    p = argparse.ArgumentParser(
        prog="patrolstream train-arrest",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_train_arguments(p)
    return train_main(p.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
