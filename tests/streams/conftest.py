"""Helpers for the streaming tests: the broker check, worker subprocesses, produce/consume.

Integration tests talk to the broker at ``$PATROLSTREAM_KAFKA_BOOTSTRAP`` (default
``localhost:9092``, started by ``patrolstream kafka start``) and FAIL, never skip, when it
does not answer: they call ``require_broker()`` in the test body.
"""

from __future__ import annotations

import asyncio
import io
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from streams import kafka_local as kl
from streams import testing
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


class WorkerProcess(testing.WorkerProcess):
    """A worker subprocess (:class:`streams.testing.WorkerProcess`) with test conveniences."""

    async def start(self) -> WorkerProcess:
        """Create the topics (as a deployment would) and start the worker."""
        await ensure_topics(self.bootstrap, self.topics.all(), partitions=4)
        self.spawn()
        return self

    def respawn(self) -> WorkerProcess:
        """A new, not yet started worker with the same app id, topics and settings."""
        n = len(list(self.log_path.parent.glob(f"worker-{self.tag}*.log")))
        log_path = self.log_path.with_name(f"worker-{self.tag}-{n}.log")
        new = WorkerProcess(self.bootstrap, self.tag, self.topics, self.env, log_path)
        new.extra = self.extra  # shared: a respawn of a respawn is stopped at teardown too
        self.extra.setdefault("respawned", []).append(new)
        return new

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
        base = testing.worker_settings(bootstrap, tmp_path, "test", **settings)
        base = {"stats_interval_s": 0.5, "partitions": 4, **base}
        tag = base["app_id"].rpartition("-")[2]
        env = testing.worker_env(base, {**FAST_GROUP, kl.ENV_BOOTSTRAP: bootstrap})
        topics = TopicNames.with_prefix(base["topic_prefix"])
        w = WorkerProcess(bootstrap, tag, topics, env, tmp_path / f"worker-{tag}.log")
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
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        await testing.from_beginning(consumer, topic)
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
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        tps = await testing.from_beginning(consumer, topic)
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
    in sequence order (chunks flattened), up to the first hole (what follows a hole was never
    committed). For districts never snapshotted (``test_history_snapshots`` covers the rest)."""
    from streams.history import entries_from_start

    return {d: list(entries) for d, entries in entries_from_start(table).items()}


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
    from patrol.policy import EmissionPolicy

    engine = settings.make_engine()
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
    from patrol.policy import EmissionPolicy

    engine = settings.make_engine()
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


async def until_history(
    bootstrap: str,
    changelog: str,
    want: dict[str, list[Any]],
    alive: Callable[[], bool],
    timeout_s: float = 60.0,
) -> dict[str, list[Any]]:
    """Poll a ``district-history`` changelog until its histories equal ``want`` (the worker is
    done), the worker died, or ``timeout_s`` passed; returns the last histories read."""
    got: dict[str, list[Any]] = {}
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        got = district_histories(await read_changelog(bootstrap, changelog))
        if got == want or not alive():
            break
        await asyncio.sleep(0.5)
    return got


class StreamHelpers:
    """The module-level helpers above, for tests (conftest modules are not importable)."""

    read_changelog = staticmethod(read_changelog)
    until_history = staticmethod(until_history)
    district_histories = staticmethod(district_histories)
    run_embedded = staticmethod(run_embedded)
    restore_states = staticmethod(restore_states)
    with_revisions_and_duplicates = staticmethod(with_revisions_and_duplicates)
    message = staticmethod(message)
    by_slot = staticmethod(by_slot)


@pytest.fixture
def sliced(slicer: Callable[[set[str], int], str], chicago: Any) -> Callable[..., list[Any]]:
    """``sliced(districts, days)``: the sample's valid incidents of ``districts`` (as exported,
    e.g. ``{"008"}``) in the first ``days`` days of September 2016, in event-time order."""
    from patrol.incidents.parse import read_csv

    def make(districts: set[str], days: int) -> list[Any]:
        batch = read_csv(io.StringIO(slicer(districts, days)), chicago)
        return sorted(batch.incidents, key=lambda i: i.occurred_at)

    return make


@pytest.fixture
def helpers() -> type[StreamHelpers]:
    """:class:`StreamHelpers`: changelog reading, the embedded expectation, input building."""
    return StreamHelpers
