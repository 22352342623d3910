"""Where a worker's throughput goes: one run, layer by layer, on the local Kafka broker.

Every stage handles the same ``--n`` real incidents of the bundled sample (in event-time
order, ``Incident.to_event()`` JSON keyed by district, as :mod:`bench.stream` sends them) on
topics of ``--partitions`` partitions:

1. **produce**: an aiokafka producer (``bench.stream``'s settings: acks=1, linger 20 ms)
   sends them to a fresh topic; from the first send to the last acknowledgement.
2. **bare consume**: a group-less aiokafka consumer reads that topic from offset 0.
3. **consume + decode**: the same, plus the worker's per-message codec work: the decode
   agent's ``streams.codec.decode_incident`` (``json.loads``, ``parse_event``, validation,
   district check) and ``codec.incident_value``, and the learn agent's ``json.loads`` +
   ``parse_event`` of the forwarded value.
4. **Faust, count**: a minimal Faust app in a subprocess (unique app id, memory store,
   ``take_events(BATCH_MAX, within=BATCH_WITHIN_S)`` as in :mod:`streams.app`) whose agent only
   counts the messages of that topic.
5. **Faust, one hop**: an agent forwards every message to a second topic (like the decode
   agent), a second agent counts them there (like the learn agent).
6. **worker, planning off**: ``python -m streams.worker`` (:class:`streams.testing.WorkerProcess`)
   with ``min_incidents`` = 10**9, so no route is ever planned: decode + learn + history table
   + arrest scoring.
7. **worker, full**: the worker as :mod:`bench.stream` configures it (planning on).
   ``--live-n`` more incidents then go through :func:`bench.stream.throughput_phase` on the same
   worker (produced while it runs: ``bench/stream.py``'s headline method).

With ``--producer-linger S``, stages 5 and 6 run a second time (5L, 6L) with Faust's
``producer_linger`` set to S through its ``PRODUCER_LINGER`` environment variable (the worker
keeps Faust's default, 0: every send is its own produce request when the loop is idle).

Stages 2-7 read a backlog produced before they start, so the consumer competes for the two
cores with the broker only, and the rate is taken between the first and the last message
processed (for the workers: between their ``stats`` log lines, every 0.1 s). For each stage
the table gives the CPU the consuming process (stage 1: the producer) and the broker
(``/proc/<pid>/stat``) spent per message, and how busy the whole machine was. In-process
references (no Kafka) time the codec and the emission policy alone.

Needs the broker (``patrolstream kafka start``). Prints tables and writes
``bench/results/stream_ceiling.json``. Run: ``python -m bench.stream_ceiling [--n 20000]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tqdm import tqdm

from bench.common import ROOT, table, write_result
from bench.faust_probe import run_faust
from bench.procstat import broker_idle_cpu, snap, window
from bench.stream import SAMPLE, load_incidents, message, throughput_phase

GOAL = 10_000
NO_PLANNING = 10**9
"""``min_incidents`` of stage 6: no district ever has that many, so nothing is planned."""
WORKER_STATS_S = 0.1

Payload = tuple[bytes | None, bytes]


# -- measuring -------------------------------------------------------------------------------
def layer_costs(stages: dict[str, dict[str, Any]]) -> list[tuple[str, float | None]]:
    """CPU µs per message each layer adds (difference of the stages' process CPU).

    Examples
    --------
    >>> s = {k: {"cpu_us": v} for k, v in zip("1234567", [5, 10, 40, 30, 70, 900, 2000])}
    >>> layer_costs(s)[:2]
    [('decode work (3 - 2)', 30), ('Faust runtime (4 - 2)', 20)]
    """
    pairs = [
        ("decode work (3 - 2)", "3", "2"),
        ("Faust runtime (4 - 2)", "4", "2"),
        ("one Faust hop (5 - 4)", "5", "4"),
        ("worker without planning over a hop (6 - 5)", "6", "5"),
        ("planning (7 - 6)", "7", "6"),
        ("producer linger, on a hop (5L - 5)", "5L", "5"),
        ("producer linger, on the worker (6L - 6)", "6L", "6"),
    ]

    def diff(x: str, y: str) -> float | None:
        u, v = stages.get(x, {}).get("cpu_us"), stages.get(y, {}).get("cpu_us")
        return None if u is None or v is None else round(u - v, 1)

    return [(name, diff(x, y)) for name, x, y in pairs if x in stages and y in stages]


# -- stages 1-3: aiokafka in this process ----------------------------------------------------
async def produce(
    bootstrap: str, topic: str, payloads: list[Payload], broker_pid: int | None, desc: str
) -> dict[str, Any]:
    """Send ``payloads`` as fast as possible; first send to last acknowledgement."""
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks=1, linger_ms=20, max_batch_size=512 * 1024
    )
    await producer.start()
    try:
        a = snap(0, None, broker_pid)
        futures = []
        for key, value in tqdm(payloads, desc=desc, unit="msg", mininterval=0.5):
            futures.append(await producer.send(topic, value=value, key=key))
        await asyncio.gather(*futures)
        b = snap(len(payloads), None, broker_pid)
    finally:
        await producer.stop()
    return window(a, b)


def decode_work(profile: Any, locator: Any, max_bytes: int) -> Any:
    """The worker's codec work on one raw value (decode agent, then learn agent's parse)."""
    from patrol.incidents.parse import parse_event
    from streams import codec

    def run(raw: bytes | None) -> bool:
        result = codec.decode_incident(
            raw, profile, locator, now=datetime.now(UTC), max_bytes=max_bytes
        )
        if isinstance(result, codec.Rejection):
            return False
        parse_event(json.loads(codec.incident_value(result)), profile)
        return True

    return run


async def consume(
    bootstrap: str, topic: str, n: int, broker_pid: int | None, desc: str, work: Any = None
) -> dict[str, Any]:
    """Read ``n`` messages of ``topic`` from offset 0 (running ``work`` on each value)."""
    from aiokafka import AIOKafkaConsumer

    from streams.testing import from_beginning

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    count, rejected = 0, 0
    try:
        await from_beginning(consumer, topic)
        a = snap(0, None, broker_pid)  # from the first fetch request on
        with tqdm(total=n, desc=desc, unit="msg", mininterval=0.5) as bar:
            while count < n:
                batch = await consumer.getmany(timeout_ms=200)
                got = 0
                for recs in batch.values():
                    got += len(recs)
                    if work is not None:
                        rejected += sum(not work(r.value) for r in recs)
                count += got
                bar.update(got)
        b = snap(count, None, broker_pid)
    finally:
        await consumer.stop()
    return {**window(a, b), "rejected": rejected}


# -- stages 6-7: the real worker -------------------------------------------------------------
def done_of(stats: dict[str, Any] | None) -> int:
    """Incidents a worker ``stats`` record counts as processed (as ``bench.stream`` does).

    Examples
    --------
    >>> done_of({"outcomes": {"new": 7, "duplicate": 1}, "processing_errors": 2})
    10
    >>> done_of(None)
    0
    """
    st = stats or {}
    return int(sum(st.get("outcomes", {}).values()) + st.get("processing_errors", 0))


def run_worker(
    bootstrap: str,
    workdir: Path,
    payloads: list[Payload],
    broker_pid: int | None,
    desc: str,
    timeout_s: float,
    live: list[Any] | None = None,
    extra_env: dict[str, str] | None = None,
    **settings: object,
) -> dict[str, Any]:
    """Produce a backlog, start a worker on it, time it from its first to its last incident
    (``stats`` lines); then, with ``live``, :func:`bench.stream.throughput_phase` on it."""
    from simulators.settings import Settings
    from streams.testing import WorkerProcess
    from streams.topics import ensure_topics

    partitions = int(settings.pop("partitions", 4))  # type: ignore[call-overload]
    worker = WorkerProcess.create(
        bootstrap, workdir, "ceiling", extra_env, partitions=partitions,
        stats_interval_s=WORKER_STATS_S, arrest_model=Settings().arrest_model, **settings,
    )  # fmt: skip
    asyncio.run(ensure_topics(bootstrap, worker.topics.all(), partitions=partitions))
    backlog = asyncio.run(
        produce(bootstrap, worker.topics.incidents, payloads, broker_pid, f"{desc} backlog")
    )
    n = len(payloads)
    worker.spawn()
    deadline = time.monotonic() + timeout_s
    try:
        a = b = None
        with tqdm(total=n, desc=desc, unit="msg", mininterval=0.5) as bar:
            while b is None:
                done = done_of(worker.stats())
                bar.update(done - bar.n)
                assert worker.proc is not None
                if done and a is None:
                    a = snap(done, worker.proc.pid, broker_pid)
                if done >= n:
                    b = snap(done, worker.proc.pid, broker_pid)
                elif not worker.alive() or time.monotonic() > deadline:
                    raise SystemExit(f"{desc}: worker died or timed out:\n{worker.tail()}")
                time.sleep(0.05)
        result: dict[str, Any] = {**window(a, b), "backlog_produce": backlog}  # type: ignore[arg-type]
        result["routes"] = (worker.stats() or {}).get("routes")
        if live and worker.proc is not None:
            print(f"{desc}: {len(live)} more incidents, bench.stream.throughput_phase ...")
            c = snap(n, worker.proc.pid, broker_pid)
            thr = asyncio.run(throughput_phase(bootstrap, worker, live, before=n))
            d = snap(n + len(live), worker.proc.pid, broker_pid)
            result["live"] = {**window(c, d), "throughput_phase": thr}
    finally:
        worker.stop()
    return result


# -- in-process references (no Kafka) --------------------------------------------------------
def reference(payloads: list[Payload], incidents: list[Any], policy: bool) -> dict[str, Any]:
    """CPU µs per message of the codec work and of the emission policy, in this process."""
    from patrol.incidents.areas import locator_for
    from patrol.incidents.profile import load_profile
    from patrol.policy import EmissionPolicy
    from simulators.settings import Settings

    settings = Settings()
    profile = load_profile(settings.city)
    work = decode_work(profile, locator_for(profile), settings.max_message_bytes)

    def timed(fn: Any, items: list[Any], desc: str) -> float:
        t0 = time.process_time()
        for item in tqdm(items, desc=desc, unit="msg", mininterval=0.5):
            fn(item)
        return round((time.process_time() - t0) / len(items) * 1e6, 1)

    out = {"decode_work_us": timed(lambda p: work(p[1]), payloads, "ref: decode work")}
    if policy:
        for name, minimum in (("policy_no_planning_us", NO_PLANNING), ("policy_full_us", None)):
            s = settings.override(min_incidents=minimum)
            engine = s.make_engine(profile)
            out[name] = timed(EmissionPolicy(engine, s.policy_config()).process, incidents, name)
    return out


# -- report ----------------------------------------------------------------------------------
STAGES = {
    "1": "produce (aiokafka producer)",
    "2": "bare consume (aiokafka consumer)",
    "3": "consume + decode work",
    "4": "Faust app, count only",
    "5": "Faust app, one hop + count",
    "6": "worker, planning off",
    "7": "worker, full (as bench.stream)",
}


def rows(stages: dict[str, dict[str, Any]], broker_idle: float | None) -> list[list[Any]]:
    """Table rows: rate, wall and CPU µs per message, 1-core ceiling, broker CPU per message
    (in brackets the part an idle broker spends anyway: ``broker_idle`` CPU s per s), load.

    Examples
    --------
    >>> r = {"messages": 10, "per_s": 500.0, "wall_us": 2000.0, "cpu_us": 500.0,
    ...      "broker_us": 200.0, "busy_pct": 75.0, "others_pct": 40.0}
    >>> rows({"2": r}, 0.02)[0][2:]
    [10, 500.0, 2000.0, 500.0, 2000, '200.0 (40.0)', 75.0, 40.0]
    """
    out = []
    for key, r in stages.items():
        ceiling = round(1e6 / r["cpu_us"]) if r.get("cpu_us") else None
        broker = r["broker_us"]
        if broker is not None and broker_idle is not None and r["wall_us"] is not None:
            broker = f"{broker} ({round(broker_idle * r['wall_us'], 1)})"
        out.append([key, STAGES.get(key, key), r["messages"], r["per_s"], r["wall_us"],
                    r["cpu_us"], ceiling, broker, r["busy_pct"], r["others_pct"]])  # fmt: skip
    return out


HEADER = ["#", "stage", "msgs", "msg/s", "wall µs/msg", "proc CPU µs/msg", "1-core msg/s",
          "broker CPU µs/msg (idle part)", "2 CPUs busy %", "others %"]  # fmt: skip


def code_version() -> str | None:
    """``git describe --always --dirty`` of the tree measured (``None`` outside git)."""
    try:
        out = subprocess.run(
            ["git", "-C", str(ROOT), "describe", "--always", "--dirty"],
            capture_output=True, text=True, timeout=10, check=True,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.stream_ceiling",
        description="Decompose one worker's throughput on the local Kafka broker, in one run: "
        "(1) aiokafka produce, (2) bare aiokafka consume, (3) consume + the worker's decode "
        "work, (4) a minimal Faust app that counts, (5) a Faust app with one hop, (6) the "
        "worker with planning off, (7) the full worker; each with the process's and the "
        "broker's CPU per message. Writes bench/results/stream_ceiling.json.",
    )
    parser.add_argument(
        "--bootstrap", default=None,
        help="broker host:port (default: $PATROLSTREAM_KAFKA_BOOTSTRAP or localhost:9092)",
    )  # fmt: skip
    parser.add_argument("--n", type=int, default=20000, help="messages per stage")
    parser.add_argument("--partitions", type=int, default=4, help="partitions of every topic")
    parser.add_argument(
        "--stages", default="1234567",
        help="stages to run, e.g. 1237 (2-5 read the topic of stage 1, which always runs)",
    )  # fmt: skip
    parser.add_argument(
        "--live-n", type=int, default=3000,
        help="after stage 7, this many more incidents produced while the worker runs "
        "(bench.stream's throughput method); 0 = none",
    )  # fmt: skip
    parser.add_argument(
        "--no-policy-reference", action="store_true",
        help="skip the in-process emission-policy reference (about n / 700 s)",
    )  # fmt: skip
    parser.add_argument(
        "--timeout-s", type=float, default=600.0, help="give up on a subprocess stage after this"
    )
    parser.add_argument(
        "--producer-linger", type=float, default=None, metavar="S",
        help="also run stages 5 and 6 with this Faust producer_linger (seconds, through "
        "Faust's PRODUCER_LINGER environment variable; the worker leaves Faust's default, 0) "
        "as stages 5L and 6L",
    )  # fmt: skip
    parser.add_argument(
        "--note", default=None, help="free text stored in the JSON (e.g. the commit measured)"
    )
    parser.add_argument("--no-write", action="store_true", help="do not write the JSON")
    ns = parser.parse_args(argv)

    from streams import kafka_local as kl
    from streams.topics import ensure_topics

    bootstrap = ns.bootstrap or kl.default_bootstrap()
    if not kl.is_reachable(bootstrap, timeout=5.0):
        print(f"error: no Kafka broker answers at {bootstrap} (start one with "
              "`python -m streams.kafka_local start` or set PATROLSTREAM_KAFKA_BOOTSTRAP)",
              file=sys.stderr)  # fmt: skip
        return 1
    info = kl.status(int(bootstrap.rpartition(":")[2]))
    broker_pid = info.get("pid") if info.get("running") else None
    if broker_pid is None:
        print("note: broker not started by streams.kafka_local: its CPU is not measured")
    idle = broker_idle_cpu(broker_pid)
    print(f"idle broker: {idle} CPU s per s")
    incidents = load_incidents()
    if ns.n + ns.live_n > len(incidents):
        parser.error(f"the sample has {len(incidents)} incidents; ask for fewer")
    first, live = incidents[: ns.n], incidents[ns.n : ns.n + ns.live_n]
    payloads = [message(inc) for inc in first]
    tag = uuid.uuid4().hex[:10]
    src, fwd = f"ceiling-{tag}.incidents", f"ceiling-{tag}.forwarded"
    asyncio.run(ensure_topics(bootstrap, (src, fwd, fwd + "L"), partitions=ns.partitions))
    linger = {} if ns.producer_linger is None else {"PRODUCER_LINGER": str(ns.producer_linger)}
    if linger:
        STAGES["5L"] = f"{STAGES['5']}, linger {ns.producer_linger} s"
        STAGES["6L"] = f"{STAGES['6']}, linger {ns.producer_linger} s"
    stages: dict[str, dict[str, Any]] = {}
    faust_cfg = {"bootstrap": bootstrap, "partitions": ns.partitions, "source": src,
                 "n": ns.n, "broker_pid": broker_pid}  # fmt: skip

    def note(key: str, result: dict[str, Any]) -> None:
        stages[key] = result
        print(f"  stage {key}: {result['per_s']} msg/s, {result['cpu_us']} CPU µs/msg")

    note("1", asyncio.run(produce(bootstrap, src, payloads, broker_pid, "1 produce")))
    if "2" in ns.stages:
        note("2", asyncio.run(consume(bootstrap, src, ns.n, broker_pid, "2 consume")))
    if "3" in ns.stages:
        from patrol.incidents.areas import locator_for
        from patrol.incidents.profile import load_profile
        from simulators.settings import Settings

        s = Settings()
        profile = load_profile(s.city)
        work = decode_work(profile, locator_for(profile), s.max_message_bytes)
        note("3", asyncio.run(consume(bootstrap, src, ns.n, broker_pid, "3 decode", work)))
    with tempfile.TemporaryDirectory(prefix="bench-ceiling-") as tmp:
        workdir = Path(tmp)
        if "4" in ns.stages:
            cfg = {**faust_cfg, "app_id": f"ceiling-count-{tag}", "forward": None}
            note("4", run_faust(cfg, workdir, "4 Faust count", ns.timeout_s, {}))
        variants: list[tuple[str, dict[str, str]]] = [("", {})]
        variants += [("L", linger)] if linger else []
        for suffix, env in variants if "5" in ns.stages else []:
            cfg = {**faust_cfg, "app_id": f"ceiling-hop{suffix}-{tag}", "forward": fwd + suffix}
            note("5" + suffix, run_faust(cfg, workdir, f"5{suffix} Faust hop", ns.timeout_s, env))
        common = (bootstrap, workdir, payloads, broker_pid)
        for suffix, env in variants if "6" in ns.stages else []:
            note("6" + suffix, run_worker(*common, f"6{suffix} worker, no planning", ns.timeout_s,
                                          extra_env=env, partitions=ns.partitions,
                                          min_incidents=NO_PLANNING))  # fmt: skip
        if "7" in ns.stages:
            note("7", run_worker(*common, "7 worker, full", ns.timeout_s, live=live,
                                 partitions=ns.partitions))  # fmt: skip
    print("in-process references (no Kafka) ...")
    ref = reference(payloads, first, policy=not ns.no_policy_reference)

    print(table(rows(stages, idle), HEADER))
    workers = [[k, STAGES[k], round(stages[k]["cpu_us"] / 1000, 3),
                round(stages[k]["broker_us"] / 1000, 3) if stages[k]["broker_us"] else None]
               for k in ("6", "7") if k in stages and stages[k]["cpu_us"]]  # fmt: skip
    if workers:
        print(table(workers, ["#", "stage", "worker CPU s/1k incidents", "broker CPU s/1k"]))
    if "live" in stages.get("7", {}):
        lv = stages["7"]["live"]
        print(f"stage 7, live ({lv['messages']} produced while it runs, bench.stream method): "
              f"{lv['throughput_phase']['incidents_per_s']} incidents/s, "
              f"{lv['cpu_us']} worker CPU µs/msg")  # fmt: skip
    layers = layer_costs(stages)
    print(table([[n, v] for n, v in layers], ["layer", "process CPU µs/msg added"]))
    print(table([[k, v] for k, v in ref.items()], ["in-process reference", "CPU µs/msg"]))
    if not ns.no_write:
        path = write_result(
            "stream_ceiling",
            {
                "sample": SAMPLE.name,
                "code": code_version(),
                "note": ns.note,
                "messages_per_stage": ns.n,
                "partitions": ns.partitions,
                "producer_linger_variant_s": ns.producer_linger,
                "broker_cpu_measured": broker_pid is not None,
                "broker_idle_cpu_s_per_s": idle,
                "stages": {k: {"name": STAGES[k], **v} for k, v in stages.items()},
                "layer_cpu_us_added": dict(layers),
                "in_process_reference": ref,
                "worker_cpu_s_per_1000": {k: round(stages[k]["cpu_us"] / 1000, 3)
                                          for k in ("6", "7") if stages.get(k, {}).get("cpu_us")},
                "goal_incidents_per_s": GOAL,
            },
        )  # fmt: skip
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
