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
        self.extra.setdefault("respawned", []).append(new)  # stopped at teardown too
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
