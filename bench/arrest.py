"""Arrest scoring benchmark: latency of one incident, batch throughput, training times.

Measures, with the committed model (``models/arrest/artifacts``, or ``--model``) on real
incidents of the bundled two-month sample (Sept-Oct 2016; no ../shared needed):

* latency of ``ArrestScorer.score_one`` for one incident, feature encoding included
  (p50/p99 over ``--n`` incidents after a warm-up; goal p99 <= 1 ms), and of the two parts
  (encoding alone, the onnxruntime call alone);
* throughput of ``score_many`` in micro-batches of 1, 8, 64 and 512 incidents;
* training time per model and protocol, read from a ``train-arrest`` results file
  (``--results``, default ``bench/results/arrest_train.json`` when present).

onnxruntime runs with one intra-op and one inter-op thread (one core per worker). Prints a
table and writes ``bench/results/arrest.json``. Run: ``python -m bench.arrest``.

``python -m bench.arrest --recalibration`` instead replays 2016 (``../shared/data``) through
the served path (:mod:`models.arrest.served_replay`): first reports without the arrest flag,
label revisions ``--label-delay-days`` later, one calibrator or one per Kafka partition; ECE
and Brier static and recalibrated, in ``bench/results/arrest_recalibration.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np

from bench.common import RESULTS, chicago_year, table, write_result
from models.arrest import DEFAULT_MODEL
from models.arrest.features import raw_incident
from models.arrest.runtime import ArrestScorer
from patrol.incidents.parse import read_csv
from patrol.incidents.profile import load_profile
from simulators.settings import SAMPLE

BATCHES = (1, 8, 64, 512)


def _percentiles(samples: list[float]) -> dict[str, float]:
    a = np.asarray(samples) * 1e6
    return {
        "p50_us": round(float(np.percentile(a, 50)), 1),
        "p99_us": round(float(np.percentile(a, 99)), 1),
        "mean_us": round(float(a.mean()), 1),
    }


def latency(scorer: ArrestScorer, incidents: list[Any], n: int) -> dict[str, Any]:
    """Per-incident latency of the whole path and of its two parts."""
    for inc in incidents[:500]:  # warm-up
        scorer.score_one(inc)
    total, encode, infer = [], [], []
    enc = scorer._m.encoder
    clock = time.perf_counter
    for inc in incidents[:n]:
        t0 = clock()
        scorer.score_one(inc)
        t1 = clock()
        x = enc.transform_raw(raw_incident(inc))[None, :]
        t2 = clock()
        scorer.score_matrix(x)
        t3 = clock()
        total.append(t1 - t0)
        encode.append(t2 - t1)
        infer.append(t3 - t2)
    return {
        "score_one": _percentiles(total),
        "encode": _percentiles(encode),
        "onnx_run": _percentiles(infer),
        "incidents": len(total),
    }


def throughput(scorer: ArrestScorer, incidents: list[Any], seconds: float) -> list[dict[str, Any]]:
    """Incidents per second of ``score_many`` per micro-batch size."""
    out = []
    for size in BATCHES:
        batches = [incidents[i : i + size] for i in range(0, len(incidents) - size + 1, size)]
        scorer.score_many(batches[0])
        done, start, k = 0, time.perf_counter(), 0
        while time.perf_counter() - start < seconds:
            batch = batches[k % len(batches)]
            scorer.score_many(batch)
            done += len(batch)
            k += 1
        elapsed = time.perf_counter() - start
        out.append(
            {
                "batch": size,
                "incidents_per_s": round(done / elapsed),
                "us_per_incident": round(elapsed / done * 1e6, 1),
            }
        )
    return out


def service_throughput(model: Path, incidents: list[Any], seconds: float) -> dict[str, Any]:
    """Incidents per second of what the stream agent runs per micro-batch of 64
    (:meth:`ScoringService.score_batch`: onnxruntime, calibration, pending-report state)."""
    from models.arrest.service import ScoringService

    service = ScoringService(model)
    size = 64
    batches = [incidents[i : i + size] for i in range(0, len(incidents) - size + 1, size)]
    cal = service.new_calibrator()
    done, start, k = 0, time.perf_counter(), 0
    while time.perf_counter() - start < seconds:
        batch = batches[k % len(batches)]
        service.score_batch(batch, [i.district for i in batch], {}, cal)
        done += len(batch)
        k += 1
    elapsed = time.perf_counter() - start
    return {
        "batch": size,
        "incidents_per_s": round(done / elapsed),
        "us_per_incident": round(elapsed / done * 1e6, 1),
    }


def training_times(path: Path) -> list[dict[str, Any]]:
    """Training seconds per protocol and model from a ``train-arrest`` results file."""
    if not path.is_file():
        return []
    res = json.loads(path.read_text())
    rows = [
        {"protocol": "seed", "model": k, "seconds": m["train_seconds"], "rows": m["train_rows"]}
        for k, m in res.get("seed", {}).items()
    ]
    for variant, ms in res.get("forward", {}).items():
        rows += [
            {
                "protocol": f"forward/{variant}",
                "model": k,
                "seconds": m["train_seconds"],
                "rows": m["train_rows"],
            }
            for k, m in ms.items()
        ]
    return rows


def recalibration(
    model: Path, year: int, delay_days: float, partitions: Sequence[int]
) -> dict[str, Any] | None:
    """ECE and Brier of the served path replaying ``year`` with labels ``delay_days`` late,
    static and recalibrated, with one calibrator (embedded) and one per Kafka partition."""
    from models.arrest.metrics import summary
    from models.arrest.served_replay import served_replay
    from models.arrest.service import ScoringService

    path = chicago_year(year)
    if path is None:
        print(f"recalibration: no Chicago {year} file under ../shared/data: skipped")
        return None
    started = time.perf_counter()
    incidents = read_csv(path, load_profile("chicago"), locate=False).incidents
    incidents.sort(key=lambda i: i.occurred_at)
    read_s = time.perf_counter() - started
    runs: dict[str, Any] = {}
    for n in partitions:
        service = ScoringService(model)
        excluded = set(service.scorer.card.get("excluded_types", {}))
        train_rate = float(service.scorer.card.get("training", {}).get("arrest_rate", 0.0))
        started = time.perf_counter()
        rep = served_replay(
            incidents, service, delay=timedelta(days=delay_days), partitions=n, progress=True
        )
        seconds = time.perf_counter() - started
        keep = np.array([g not in excluded for g in rep.groups])
        variants = {"without_arrest_only": keep, "all_types": np.ones(len(keep), dtype=bool)}
        runs[f"partitions={n}"] = {
            "calibrators": n,
            "labels_learned": rep.learned,
            "seconds": round(seconds, 1),
            "incidents_per_s": round(2 * len(rep.ids) / seconds),
            **{
                name: {
                    "static": summary(rep.labels[m], rep.scores[m], train_rate),
                    "recalibrated": summary(rep.labels[m], rep.calibrated[m], train_rate),
                }
                for name, m in variants.items()
            },
        }
    return {
        "model": ScoringService(model).version,
        "data": path.name,
        "rows": len(incidents),
        "read_seconds": round(read_s, 1),
        "label_delay_days": delay_days,
        "runs": runs,
    }


def _recalibration_table(res: dict[str, Any]) -> str:
    rows = []
    for name, run in res["runs"].items():
        for variant in ("without_arrest_only", "all_types"):
            st, rc = run[variant]["static"], run[variant]["recalibrated"]
            rows.append(
                [
                    name,
                    variant,
                    st["rows"],
                    round(st["ece"], 4),
                    round(rc["ece"], 4),
                    round(st["brier"], 4),
                    round(rc["brier"], 4),
                    round(rc["roc_auc"], 4),
                ]
            )
    return table(
        rows,
        ["served", "types", "rows", "ECE static", "ECE recal", "Brier static", "Brier recal",
         "ROC-AUC recal"],
    )  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--model", type=Path, default=DEFAULT_MODEL, help="ONNX model (card beside)")
    p.add_argument("--n", type=int, default=5000, help="incidents timed one by one")
    p.add_argument("--seconds", type=float, default=2.0, help="time per batch size")
    p.add_argument(
        "--results",
        type=Path,
        default=RESULTS / "arrest_train.json",
        help="train-arrest results file with the training times",
    )
    p.add_argument(
        "--recalibration",
        action="store_true",
        help="only replay --year through the served path (ScoringService) with late labels "
        "and write bench/results/arrest_recalibration.json (needs ../shared/data)",
    )
    p.add_argument("--year", type=int, default=2016, help="year replayed by --recalibration")
    p.add_argument(
        "--label-delay-days", type=float, default=7.0, help="delay of the label revisions"
    )
    p.add_argument(
        "--partitions",
        default="1,4",
        help="calibrators: 1 = one global (embedded mode), N = one per Kafka partition",
    )
    ns = p.parse_args(argv)
    if ns.recalibration:
        parts = [int(x) for x in ns.partitions.split(",") if x.strip()]
        res = recalibration(ns.model, ns.year, ns.label_delay_days, parts)
        if res is None:
            return 1
        print(f"model {res['model']}, {res['data']}, labels {res['label_delay_days']} days late")
        print(_recalibration_table(res))
        goal = res["runs"][f"partitions={parts[0]}"]["without_arrest_only"]["recalibrated"]
        print(f"\ngoal ECE <= 0.01 (without arrest-only types): {goal['ece'] <= 0.01}")
        print(f"wrote {write_result('arrest_recalibration', res)}")
        return 0

    scorer = ArrestScorer(ns.model)
    incidents = read_csv(SAMPLE, load_profile("chicago")).incidents
    lat = latency(scorer, incidents, ns.n)
    thr = throughput(scorer, incidents, ns.seconds)
    served = service_throughput(ns.model, incidents, ns.seconds)
    train = training_times(ns.results)

    rows = [
        [part, v["p50_us"], v["p99_us"], v["mean_us"]]
        for part, v in lat.items()
        if isinstance(v, dict)
    ]
    print(f"model {scorer.version}, {lat['incidents']} incidents of {SAMPLE.name}")
    print(table(rows, ["one incident", "p50 us", "p99 us", "mean us"]))
    print()
    print(
        table(
            [[r["batch"], r["incidents_per_s"], r["us_per_incident"]] for r in thr],
            ["batch", "incidents/s", "us/incident"],
        )
    )
    print(
        f"\nScoringService.score_batch ({served['batch']} incidents, calibration and pending "
        f"state included): {served['incidents_per_s']} incidents/s"
    )
    if train:
        print()
        print(
            table(
                [[r["protocol"], r["model"], r["rows"], r["seconds"]] for r in train],
                ["protocol", "model", "train rows", "train s"],
            )
        )
    goal = lat["score_one"]["p99_us"] <= 1000
    print(f"\ngoal p99 <= 1 ms for one incident: {'met' if goal else 'NOT met'}")
    path = write_result(
        "arrest",
        {
            "model": scorer.version,
            "data": SAMPLE.name,
            "onnxruntime_threads": 1,
            "latency": lat,
            "throughput": thr,
            "service_throughput": served,
            "training": train,
            "goal_p99_1ms_met": goal,
        },
    )
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
