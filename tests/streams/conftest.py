"""Helpers for the streaming tests: the broker check, worker subprocesses, produce/consume.

Integration tests talk to the broker at ``$PATROLSTREAM_KAFKA_BOOTSTRAP`` (default
``localhost:9092``, started by ``patrolstream kafka start``) and FAIL, never skip, when it
does not answer: they call ``require_broker()`` in the test body.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from streams import kafka_local as kl
from streams.topics import TopicNames, ensure_topics

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def require_broker() -> Callable[[], str]:
    """``require_broker()`` -> bootstrap; fails the calling test when no broker answers."""

    def check() -> str:
        bootstrap = kl.default_bootstrap()
        if not kl.is_reachable(bootstrap, timeout=5.0):
            pytest.fail(
                f"no Kafka broker answers at {bootstrap} (${kl.ENV_BOOTSTRAP}). Start one with "
                "`patrolstream kafka start` (or `python -m streams.kafka_local start`) and "
                "rerun; `patrolstream kafka status` tells what is running.",
                pytrace=False,
            )
        return bootstrap

    return check


@dataclass
class WorkerProcess:
    """A ``python -m streams.worker`` subprocess with its own app id, topics and log."""

    bootstrap: str
    tag: str
    topics: TopicNames
    env: dict[str, str]
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    async def start(self) -> WorkerProcess:
        """Create the topics (as a deployment would) and start the worker."""
        await ensure_topics(self.bootstrap, self.topics.all(), partitions=4)
        with open(self.log_path, "ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "streams.worker"],
                cwd=ROOT,
                env=self.env,
                stdout=subprocess.DEVNULL,
                stderr=out,
            )
        return self

    def respawn(self) -> WorkerProcess:
        """A new, not yet started worker with the same app id, topics and settings."""
        n = len(list(self.log_path.parent.glob(f"worker-{self.tag}*.log")))
        log_path = self.log_path.with_name(f"worker-{self.tag}-{n}.log")
        new = WorkerProcess(self.bootstrap, self.tag, self.topics, self.env, log_path)
        new.extra = self.extra  # shared: a respawn of a respawn is stopped at teardown too
        self.extra.setdefault("respawned", []).append(new)
        return new

    def alive(self) -> bool:
        """Whether the worker process still runs."""
        return self.proc is not None and self.proc.poll() is None

    def logs(self) -> list[dict[str, Any]]:
        """The worker's JSON log lines so far (other lines are skipped)."""
        out = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            if line.startswith("{"):
                try:
                    out.append(json.loads(line))
                except ValueError:
                    continue
        return out

    def stats(self) -> dict[str, Any] | None:
        """The latest ``stats`` log record of the worker."""
        found = [r["stats"] for r in self.logs() if r.get("msg") == "stats"]
        return found[-1] if found else None

    def wait_for_stats(
        self, predicate: Callable[[dict[str, Any]], bool], timeout_s: float = 30.0
    ) -> dict[str, Any]:
        """Poll the stats lines until ``predicate`` holds; fail with the log tail if not."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            st = self.stats()
            if st is not None and predicate(st):
                return st
            if not self.alive():
                break
            time.sleep(0.25)
        pytest.fail(f"worker stats never matched (last {self.stats()}):\n{self.tail()}")

    def tail(self, n: int = 40) -> str:
        """The last lines of the worker's log."""
        return kl.tail(self.log_path, n)

    def kill(self) -> int | None:
        """SIGKILL (a crash: nothing flushed, no commit, no leave-group); the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        return self.proc.returncode

    def stop(self) -> int | None:
        """SIGTERM, then SIGKILL after 20 s; returns the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


FAST_GROUP = {
    "BROKER_SESSION_TIMEOUT": "6",
    "BROKER_HEARTBEAT_INTERVAL": "1",
}
"""Faust settings (read from the environment) so that the group notices a killed worker in
seconds, not after Faust's default 60 s session timeout (6 s is the broker's minimum)."""


@pytest.fixture
def worker_factory(tmp_path: Path) -> Iterator[Callable[..., WorkerProcess]]:
    """``worker_factory(bootstrap, **settings)``: a not-yet-started worker with unique names.

    Settings are given as ``PATROLSTREAM_*`` variables (lower-case names without the prefix
    as keyword arguments); every worker is stopped at teardown.
    """
    made: list[WorkerProcess] = []

    def make(bootstrap: str, **settings: object) -> WorkerProcess:
        tag = uuid.uuid4().hex[:10]
        prefix = f"t{tag}."
        base = {
            "broker": f"kafka://{bootstrap}",
            "app_id": f"ps-test-{tag}",
            "topic_prefix": prefix,
            "store": "memory://",
            "data_dir": str(tmp_path / f"data-{tag}"),
            "log_level": "INFO",
            "stats_interval_s": 0.5,
            "partitions": 4,
        }
        base.update(settings)
        env = {k: v for k, v in os.environ.items() if not k.startswith("PATROLSTREAM_")}
        env.update(FAST_GROUP)
        env.update({f"PATROLSTREAM_{k.upper()}": str(v) for k, v in base.items()})
        env[kl.ENV_BOOTSTRAP] = bootstrap
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        w = WorkerProcess(
            bootstrap, tag, TopicNames.with_prefix(prefix), env, tmp_path / f"worker-{tag}.log"
        )
        made.append(w)
        return w

    yield make
    for w in made:
        w.stop()
        for other in w.extra.get("respawned", []):
            other.stop()


async def produce(bootstrap: str, topic: str, messages: list[tuple[bytes | None, bytes]]) -> None:
    """Send ``(key, value)`` pairs in order and wait for every acknowledgement."""
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", max_request_size=4 * 1024 * 1024
    )
    await producer.start()
    try:
        futures = [await producer.send(topic, value=v, key=k) for k, v in messages]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def consume(
    bootstrap: str,
    topic: str,
    *,
    until: Callable[[list[Any]], bool],
    quiet_s: float = 2.0,
    timeout_s: float = 45.0,
    alive: Callable[[], bool] = lambda: True,
) -> list[Any]:
    """Read ``topic`` from the beginning (no group) until ``until(records)`` holds and nothing
    more arrived for ``quiet_s``, or ``timeout_s`` passed, or ``alive()`` turned false."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        parts = consumer.partitions_for_topic(topic) or set()
        while not parts:
            await consumer._client.force_metadata_update()  # topic just created
            parts = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        records: list[Any] = []
        deadline = time.monotonic() + timeout_s
        last_new = time.monotonic()
        while time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=250)
            for recs in batch.values():
                records.extend(recs)
                last_new = time.monotonic()
            if until(records) and time.monotonic() - last_new >= quiet_s:
                break
            if not alive():
                break
        return records
    finally:
        await consumer.stop()


@pytest.fixture(name="produce")
def produce_fixture() -> Callable[..., Any]:
    """The :func:`produce` helper (conftest modules are not importable by tests)."""
    return produce


@pytest.fixture(name="consume")
def consume_fixture() -> Callable[..., Any]:
    """The :func:`consume` helper."""
    return consume


async def read_changelog(bootstrap: str, topic: str) -> dict[str, Any]:
    """The latest value of every key of a Faust table changelog (JSON keys and values);
    deleted keys (tombstones) are absent."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        parts = consumer.partitions_for_topic(topic) or set()
        while not parts:
            await consumer._client.force_metadata_update()
            parts = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        table: dict[str, Any] = {}

        async def behind() -> bool:
            return any([await consumer.position(tp) < ends[tp] for tp in tps])

        while await behind():
            batch = await consumer.getmany(timeout_ms=250)
            for recs in batch.values():
                for rec in recs:
                    key = json.loads(rec.key)
                    if rec.value is None:
                        table.pop(key, None)
                    else:
                        table[key] = json.loads(rec.value)
        return table
    finally:
        await consumer.stop()


def district_histories(table: dict[str, Any]) -> dict[str, list[Any]]:
    """``district -> entries`` of a ``district-history`` table, as the worker restores them:
    in sequence order, up to the first hole (what follows a hole was never committed)."""
    from streams.app import parse_history_key

    seqs: dict[str, list[int]] = {}
    for key in table:
        district, seq = parse_history_key(key)
        seqs.setdefault(district, []).append(seq)
    out: dict[str, list[Any]] = {}
    for district, found in seqs.items():
        entries = []
        for expected, seq in enumerate(sorted(found), start=1):
            if seq != expected:
                break
            entries.append(table[f"{district}|{seq:010d}"])
        out[district] = entries
    return out


@dataclass
class Embedded:
    """What an uninterrupted embedded run of the policy gives for an input."""

    routes: list[dict[str, Any]]
    histories: dict[str, list[Any]]
    states: dict[str, Any]
    cursors: dict[str, Any]


def run_embedded(incidents: list[Any], settings: Any) -> Embedded:
    """Feed ``incidents`` in order to one :class:`~patrol.policy.EmissionPolicy` (what
    :func:`simulators.embedded.replay_stream` does), keeping the routes, every district's
    history entries (JSON round-tripped, as in the changelog) and the final states."""
    from patrol.engine import Engine
    from patrol.incidents.profile import load_profile
    from patrol.policy import EmissionPolicy
    from patrol.travel import make_provider

    engine = Engine(
        load_profile(settings.city), settings.engine_config(), make_provider(settings.travel)
    )
    policy = EmissionPolicy(engine, settings.policy_config())
    routes: list[dict[str, Any]] = []
    histories: dict[str, list[Any]] = {}
    for inc in incidents:
        step = policy.process(inc)
        routes.extend(r.to_geojson() for r in step.routes)
        if step.entry is not None:
            histories.setdefault(step.district, []).append(json.loads(json.dumps(step.entry)))
    return Embedded(routes, histories, *district_states(policy))


def restore_states(histories: dict[str, list[Any]], settings: Any) -> tuple[dict, dict]:
    """District states and cursors rebuilt from history entries (``EmissionPolicy.restore``)."""
    from patrol.engine import Engine
    from patrol.incidents.profile import load_profile
    from patrol.policy import EmissionPolicy
    from patrol.travel import make_provider

    engine = Engine(
        load_profile(settings.city), settings.engine_config(), make_provider(settings.travel)
    )
    policy = EmissionPolicy(engine, settings.policy_config())
    for district, entries in histories.items():
        policy.restore(district, entries)
    return district_states(policy)


def district_states(policy: Any) -> tuple[dict, dict]:
    """JSON-comparable engine states and policy cursors, district by district."""
    states = {d: json.loads(json.dumps(st.to_dict())) for d, st in policy.engine.districts.items()}
    cursors = {
        d: json.loads(json.dumps(c.to_dict(), default=str)) for d, c in policy.cursors.items()
    }
    return states, cursors


def with_revisions_and_duplicates(incidents: list[Any], every: int = 23) -> list[Any]:
    """``incidents`` plus, every ``every`` incidents, a revision (newer ``updated_at``, other
    description) of an earlier incident and a redelivered duplicate of another."""
    from dataclasses import replace
    from datetime import timedelta

    out: list[Any] = []
    for i, inc in enumerate(incidents):
        out.append(inc)
        if i and i % every == 0:
            old = incidents[i - 5]
            bumped = (old.updated_at or old.occurred_at) + timedelta(hours=1)
            out.append(replace(old, updated_at=bumped, description="REVISED"))
            out.append(incidents[i - 3])
    return out


def message(inc: Any) -> tuple[bytes | None, bytes]:
    """An incident as the producer sends it: keyed by district, ``to_event`` JSON."""
    return (inc.district.encode() if inc.district else None, json.dumps(inc.to_event()).encode())


def by_slot(docs: list[dict[str, Any]]) -> dict[tuple[str, str, str], list[dict[str, Any]]]:
    """Routes grouped by ``(district, date, shift)``, in arrival order."""
    out: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for doc in docs:
        out.setdefault((doc["district"], doc["date"], doc["shift"]), []).append(doc)
    return out


class StreamHelpers:
    """The module-level helpers above, for tests (conftest modules are not importable)."""

    read_changelog = staticmethod(read_changelog)
    district_histories = staticmethod(district_histories)
    run_embedded = staticmethod(run_embedded)
    restore_states = staticmethod(restore_states)
    with_revisions_and_duplicates = staticmethod(with_revisions_and_duplicates)
    message = staticmethod(message)
    by_slot = staticmethod(by_slot)


@pytest.fixture
def helpers() -> type[StreamHelpers]:
    """:class:`StreamHelpers`: changelog reading, the embedded expectation, input building."""
    return StreamHelpers
