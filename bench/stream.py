"""Streaming benchmark: one real Faust worker subprocess against the local Kafka broker.

Starts one ``python -m streams.worker`` (unique app id and topic prefix, in-memory tables)
on real incidents of the bundled sample (``simulators/sample/chicago_2016-09_2016-10.csv.gz``,
in event-time order, sent as ``Incident.to_event()`` JSON keyed by district), and measures:

* **end-to-end latency** (first phase): incidents are produced at ``--rate`` per second for
  ``--seconds``; for every route, the time from the produce call of the incident that
  triggered it to the route's arrival on the routes topic (a plain consumer in this process,
  so one clock). The worker names the trigger in the route message's headers
  (``patrol-trigger-id``, and ``patrol-produced-ms``, the incident's Kafka timestamp); the
  benchmark checks the trigger against the embedded ``EmissionPolicy`` run on the same
  incidents (deterministic: it says which incident emits which ``(district, date, shift,
  version)``) and times from its own record of the produce call. Goal p99 <= 500 ms.
* **throughput** (second phase, same worker, the incidents that follow): ``--n`` incidents
  produced as fast as possible; incidents/s from the first produce to the worker's ``stats``
  log line (every 0.25 s) that counts them all processed (decode + learn + routes). Goal
  >= 10,000/s per worker.
* the worker's memory: RSS after each phase and its peak (``VmHWM``);
* for reference, the rate of the embedded policy alone (one process, no Kafka) on the
  latency-phase incidents: the ceiling set by planning, whatever the streaming runtime does.

Needs the broker (``patrolstream kafka start``). Prints a table and writes
``bench/results/stream.json``. Run: ``python -m bench.stream [--n 3000 --rate 100 --seconds 40]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import ROOT, table, write_result
from streams.testing import WorkerProcess, from_beginning

SAMPLE = ROOT / "simulators" / "sample" / "chicago_2016-09_2016-10.csv.gz"
STATS_INTERVAL_S = 0.25


def load_incidents() -> list[Any]:
    """The sample's valid incidents in event-time order."""
    from patrol.incidents.parse import iter_csv
    from patrol.incidents.profile import load_profile
    from patrol.incidents.report import RejectionReport

    profile = load_profile("chicago")
    return sorted(iter_csv(SAMPLE, profile, RejectionReport()), key=lambda i: i.occurred_at)


def triggers(incidents: list[Any], settings: Any) -> dict[tuple[str, str, str, int], int]:
    """``(district, date, shift, version)`` -> index of the incident that emitted the route."""
    from patrol.incidents.profile import load_profile
    from patrol.policy import EmissionPolicy

    profile = load_profile(settings.city)
    engine = settings.make_engine(profile)
    policy = EmissionPolicy(engine, settings.policy_config())
    out = {}
    for i, inc in enumerate(incidents):
        for r in policy.process(inc).routes:
            out[(r.district, str(r.date), str(r.shift), r.version)] = i
    return out


def route_key(doc: dict[str, Any]) -> tuple[str, str, str, int]:
    return (doc["district"], str(doc["date"]), str(doc["shift"]), int(doc["version"]))


def message(inc: Any) -> tuple[bytes | None, bytes]:
    key = inc.district.encode() if inc.district else None
    return key, json.dumps(inc.to_event()).encode()


class Arrival:
    """When a route arrived (wall clock, s) and the trigger its message headers name."""

    __slots__ = ("at", "produced_ms", "trigger_id")

    def __init__(self, at: float, headers: Any) -> None:
        found = dict(headers or ())
        self.at = at
        self.trigger_id = found.get("patrol-trigger-id", b"").decode() or None
        produced = found.get("patrol-produced-ms", b"").decode()
        self.produced_ms = int(produced) if produced else None


async def routes_listener(
    bootstrap: str, topic: str, arrivals: dict[tuple[str, str, str, int], Arrival]
) -> None:
    """Record the wall-clock arrival of every route on ``topic`` until cancelled."""
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        await from_beginning(consumer, topic)
        while True:
            batch = await consumer.getmany(timeout_ms=20)
            now = time.time()
            for recs in batch.values():
                for rec in recs:
                    key = route_key(json.loads(rec.value))
                    arrivals.setdefault(key, Arrival(now, rec.headers))
    finally:
        await consumer.stop()


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


async def latency_phase(
    bootstrap: str,
    worker: WorkerProcess,
    incidents: list[Any],
    rate: float,
    expected: dict[Any, int],
) -> dict[str, Any]:
    from aiokafka import AIOKafkaProducer

    arrivals: dict[tuple[str, str, str, int], Arrival] = {}
    listener = asyncio.create_task(routes_listener(bootstrap, worker.topics.routes, arrivals))
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks=1, linger_ms=0)
    await producer.start()
    sent_at: list[float] = []
    try:
        await asyncio.sleep(1.0)  # the listener is assigned and at the beginning
        t0 = time.monotonic()
        for i, inc in enumerate(incidents):
            delay = t0 + i / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            key, value = message(inc)
            sent_at.append(time.time())
            await producer.send(worker.topics.incidents, value=value, key=key)
        await producer.flush()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not set(expected) <= set(arrivals):
            await asyncio.sleep(0.2)
    finally:
        await producer.stop()
        listener.cancel()
        await asyncio.gather(listener, return_exceptions=True)
    got = {k: (arrivals[k], i) for k, i in expected.items() if k in arrivals}
    lat = [(a.at - sent_at[i]) * 1000 for a, i in got.values()]
    # The broker's timestamp of the trigger, carried by the worker: the same measure taken
    # from the route message alone (ms resolution; CreateTime is set by this producer).
    via_headers = [a.at * 1000 - a.produced_ms for a, _ in got.values() if a.produced_ms]
    return {
        "incidents": len(incidents),
        "rate_per_s": rate,
        "routes_expected": len(expected),
        "routes_received": len(lat),
        "unexpected_routes": len(set(arrivals) - set(expected)),
        "trigger_header_matches": sum(a.trigger_id == incidents[i].id for a, i in got.values()),
        "p99_ms_from_headers": round(pct(via_headers, 99), 1) if via_headers else None,
        "p50_ms": round(statistics.median(lat), 1) if lat else None,
        "p99_ms": round(pct(lat, 99), 1) if lat else None,
        "max_ms": round(max(lat), 1) if lat else None,
    }


async def throughput_phase(
    bootstrap: str, worker: WorkerProcess, incidents: list[Any], before: int
) -> dict[str, Any]:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks=1, linger_ms=20, max_batch_size=512 * 1024
    )
    await producer.start()
    total = before + len(incidents)
    t0 = time.monotonic()
    try:
        futures = [await producer.send(worker.topics.incidents, value=v, key=k)
                   for k, v in map(message, incidents)]  # fmt: skip
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    produced_s = time.monotonic() - t0
    st: dict[str, Any] = {}
    while True:
        st = worker.stats() or {}
        done = sum(st.get("outcomes", {}).values()) + st.get("processing_errors", 0)
        if done >= total:
            break
        if not worker.alive():
            raise SystemExit(f"worker died:\n{worker.log_path.read_text()[-3000:]}")
        await asyncio.sleep(0.1)
    elapsed = time.monotonic() - t0
    return {
        "incidents": len(incidents),
        "produce_s": round(produced_s, 2),
        "elapsed_s": round(elapsed, 2),
        "incidents_per_s": round(len(incidents) / elapsed, 1),
        "routes_total": st.get("routes"),
        "outcomes": st.get("outcomes"),
        "dead_letters": st.get("dead_letters"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.stream",
        description="Benchmark one Faust worker subprocess on the local Kafka broker: "
        "end-to-end latency (produce -> route on the routes topic) at a steady rate, then "
        "throughput (incidents/s) of a burst, and the worker's memory. Writes "
        "bench/results/stream.json.",
    )
    parser.add_argument("--bootstrap", default=None, help="broker (default: the local one)")
    parser.add_argument("--n", type=int, default=3000, help="incidents of the burst")
    parser.add_argument("--rate", type=float, default=100.0, help="incidents/s, latency phase")
    parser.add_argument("--seconds", type=float, default=40.0, help="latency phase duration")
    parser.add_argument("--partitions", type=int, default=4, help="partitions of the topics")
    parser.add_argument(
        "--arrest-model",
        default=None,
        help="the worker's arrest model (default: the worker's own default; 'none' = no "
        "scoring agent)",
    )
    parser.add_argument("--no-write", action="store_true", help="do not write the JSON")
    ns = parser.parse_args(argv)

    from simulators.settings import Settings
    from streams import kafka_local as kl
    from streams.topics import ensure_topics

    bootstrap = ns.bootstrap or kl.default_bootstrap()
    if not kl.is_reachable(bootstrap, timeout=5.0):
        print(f"error: no Kafka broker answers at {bootstrap}", file=sys.stderr)
        return 1
    incidents = load_incidents()
    m = int(ns.rate * ns.seconds)
    if m + ns.n > len(incidents):
        parser.error(f"the sample has {len(incidents)} incidents; ask for fewer")
    slow, burst = incidents[:m], incidents[m : m + ns.n]
    settings = Settings()
    if ns.arrest_model is None:
        ns.arrest_model = settings.arrest_model
    print(f"embedded policy run on the {m} latency-phase incidents (route -> trigger) ...")
    t0 = time.perf_counter()
    expected = triggers(slow, settings)
    embedded_rate = round(m / (time.perf_counter() - t0), 1)

    with tempfile.TemporaryDirectory(prefix="bench-stream-") as tmp:
        worker = WorkerProcess.create(
            bootstrap,
            Path(tmp),
            "bench",
            partitions=ns.partitions,
            stats_interval_s=STATS_INTERVAL_S,
            arrest_model=ns.arrest_model,
        )
        asyncio.run(ensure_topics(bootstrap, worker.topics.all(), partitions=ns.partitions))
        worker.spawn()
        try:
            if not worker.wait_ready():
                raise SystemExit(f"worker not ready: see\n{worker.tail()}")
            mem0 = worker.memory()
            print(f"latency phase: {m} incidents at {ns.rate}/s ...")
            lat = asyncio.run(latency_phase(bootstrap, worker, slow, ns.rate, expected))
            mem1 = worker.memory()
            print(f"throughput phase: {ns.n} incidents as fast as possible ...")
            thr = asyncio.run(throughput_phase(bootstrap, worker, burst, before=m))
            mem2 = worker.memory()
        finally:
            worker.stop()

    memory = {
        "rss_idle_mib": mem0["VmRSS"],
        "rss_after_latency_mib": mem1["VmRSS"],
        "rss_after_burst_mib": mem2["VmRSS"],
        "peak_rss_mib": mem2["VmHWM"],
    }
    rows = [
        ["throughput", f"{thr['incidents_per_s']} incidents/s", ">= 10000/s",
         thr["incidents_per_s"] >= 10000],
        ["latency p50", f"{lat['p50_ms']} ms", "", ""],
        ["latency p99", f"{lat['p99_ms']} ms", "<= 500 ms",
         lat["p99_ms"] is not None and lat["p99_ms"] <= 500],
        ["latency max", f"{lat['max_ms']} ms", "", ""],
        ["latency p99, trigger headers", f"{lat['p99_ms_from_headers']} ms", "", ""],
        ["embedded policy, same input", f"{embedded_rate} incidents/s", "", ""],
        ["routes timed", f"{lat['routes_received']}/{lat['routes_expected']}", "", ""],
        ["trigger header = expected", f"{lat['trigger_header_matches']}/{lat['routes_received']}",
         "", ""],
        ["worker RSS", f"{memory['rss_after_burst_mib']} MiB (peak {memory['peak_rss_mib']})",
         "", ""],
    ]  # fmt: skip
    print(table(rows, ["metric", "value", "goal", "met"]))
    if not ns.no_write:
        path = write_result(
            "stream",
            {
                "sample": SAMPLE.name,
                "worker": {"partitions": ns.partitions, "store": "memory://",
                           "arrest_model": Path(ns.arrest_model).name, **{
                    k: getattr(settings, k) for k in ("min_incidents", "replan_every", "material_m")
                }},
                "latency": lat,
                "throughput": thr,
                "memory": memory,
                "embedded_policy_incidents_per_s": embedded_rate,
                "goals": {"incidents_per_s": 10000, "p99_ms": 500},
            },
        )  # fmt: skip
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
