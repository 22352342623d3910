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
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np

from bench.common import RESULTS, table, write_result
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


def throughput(scorer: ArrestScorer, incidents: list[Any], seconds: float) -> list[dict]:
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
    ns = p.parse_args(argv)

    scorer = ArrestScorer(ns.model)
    incidents = read_csv(SAMPLE, load_profile("chicago")).incidents
    lat = latency(scorer, incidents, ns.n)
    thr = throughput(scorer, incidents, ns.seconds)
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
            "training": train,
            "goal_p99_1ms_met": goal,
        },
    )
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
