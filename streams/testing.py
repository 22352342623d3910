"""Run and observe worker subprocesses on a real broker: shared by the streaming tests
(``tests/streams/conftest.py``) and the stream benchmark (``bench/stream.py``).

:func:`worker_settings` gives a worker unique names (app id, topic prefix, data folder) so that
runs on one broker never share a consumer group, topic or changelog; :class:`WorkerProcess`
starts ``python -m streams.worker`` with them, reads its JSON log incrementally (``stats``
lines, ``route emitted``, ...), and stops or kills it. :func:`from_beginning` assigns a plain
(group-less) aiokafka consumer to every partition of a topic at offset 0.

Without a broker, :func:`offline_app` builds a worker app whose topics are :class:`FakeTopic`
and whose history table is a dict; its handlers take :class:`FakeMessage` records.
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
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from streams.topics import TopicNames

if TYPE_CHECKING:
    from streams.app import PatrolStreamApp

ROOT = Path(__file__).resolve().parents[1]


def worker_settings(bootstrap: str, workdir: Path, kind: str, **settings: object) -> dict[str, Any]:
    """Settings (lower-case ``PATROLSTREAM_*`` names) of a worker with unique names.

    Examples
    --------
    >>> s = worker_settings("localhost:9092", Path("/tmp"), "test", partitions=2)
    >>> s["app_id"].startswith("ps-test-"), s["topic_prefix"][0], s["partitions"]
    (True, 't', 2)
    """
    tag = uuid.uuid4().hex[:10]
    prefix = f"{kind[0]}{tag}."
    base: dict[str, Any] = {
        "broker": f"kafka://{bootstrap}",
        "app_id": f"ps-{kind}-{tag}",
        "topic_prefix": prefix,
        "store": "memory://",
        "data_dir": str(workdir / f"data-{tag}"),
        "log_level": "INFO",
    }
    base.update(settings)
    return base


def worker_env(settings: dict[str, Any], extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a worker subprocess: this one without ``PATROLSTREAM_*`` variables,
    plus ``settings`` as ``PATROLSTREAM_<NAME>``, ``extra``, and the project on PYTHONPATH."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PATROLSTREAM_")}
    env.update(extra or {})
    env.update({f"PATROLSTREAM_{k.upper()}": str(v) for k, v in settings.items()})
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


@dataclass
class WorkerProcess:
    """A ``python -m streams.worker`` subprocess with its topics, environment and JSON log."""

    bootstrap: str
    tag: str
    topics: TopicNames
    env: dict[str, str]
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    _read: int = 0
    _records: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def create(
        cls,
        bootstrap: str,
        workdir: Path,
        kind: str,
        extra_env: dict[str, str] | None = None,
        **settings: object,
    ) -> WorkerProcess:
        """A not yet started worker with unique names (see :func:`worker_settings`)."""
        base = worker_settings(bootstrap, workdir, kind, **settings)
        tag = base["app_id"].rpartition("-")[2]
        return cls(
            bootstrap,
            tag,
            TopicNames.with_prefix(base["topic_prefix"]),
            worker_env(base, extra_env),
            workdir / f"worker-{tag}.log",
        )

    def spawn(self) -> None:
        """Start the process (its stderr, the JSON log, goes to :attr:`log_path`)."""
        with open(self.log_path, "ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "streams.worker"],
                cwd=ROOT,
                env=self.env,
                stdout=subprocess.DEVNULL,
                stderr=out,
            )

    def alive(self) -> bool:
        """Whether the worker process still runs."""
        return self.proc is not None and self.proc.poll() is None

    def logs(self) -> list[dict[str, Any]]:
        """The worker's JSON log lines so far (read incrementally; other lines skipped)."""
        if not self.log_path.exists():
            return self._records
        with open(self.log_path, "rb") as fh:
            fh.seek(self._read)
            data = fh.read()
        end = data.rfind(b"\n") + 1
        self._read += end
        for line in data[:end].decode(errors="replace").splitlines():
            if line.startswith("{"):
                try:
                    self._records.append(json.loads(line))
                except ValueError:
                    continue
        return self._records

    def stats(self) -> dict[str, Any] | None:
        """The latest ``stats`` log record of the worker."""
        found = [r["stats"] for r in self.logs() if r.get("msg") == "stats"]
        return found[-1] if found else None

    def tail(self, n: int = 40) -> str:
        """The last ``n`` lines of the worker's log."""
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])

    def wait_ready(self, timeout_s: float = 90.0) -> bool:
        """Wait until the worker has partitions assigned and logged its stats once."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and self.alive():
            assigned = [r for r in self.logs() if r.get("msg") == "partitions assigned"]
            if assigned and assigned[-1].get("partitions") and self.stats() is not None:
                return True
            time.sleep(0.2)
        return False

    def memory(self) -> dict[str, float]:
        """``VmRSS`` and ``VmHWM`` (peak) of the process in MiB, from /proc."""
        assert self.proc is not None
        out = {}
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            name, _, value = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                out[name] = round(int(value.split()[0]) / 1024, 1)
        return out

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


async def from_beginning(consumer: Any, topic: str) -> list[Any]:
    """Assign a started, group-less aiokafka ``consumer`` to every partition of ``topic``
    (waiting for the topic's metadata) at offset 0; returns the partitions."""
    from aiokafka import TopicPartition

    parts = consumer.partitions_for_topic(topic) or set()
    while not parts:
        await consumer._client.force_metadata_update()  # topic just created
        parts = consumer.partitions_for_topic(topic) or set()
    tps = [TopicPartition(topic, p) for p in sorted(parts)]
    consumer.assign(tps)
    await consumer.seek_to_beginning(*tps)
    return tps


# -- an offline app (no broker) ---------------------------------------------------------------
@dataclass
class FakeMessage:
    """A consumed record as the agents' handlers read it."""

    key: bytes | None
    value: bytes | None
    topic: str = "in"
    partition: int = 0
    offset: int = 0


class FakeTopic:
    """Records what is sent; ``send`` returns an already delivered future, like Faust's."""

    def __init__(self) -> None:
        self.sent: list[tuple[bytes | None, bytes]] = []
        self.headers: list[dict[str, bytes]] = []

    async def send(
        self,
        *,
        key: bytes | None,
        value: bytes,
        headers: dict[str, bytes] | None = None,
        force: bool = False,
    ) -> Any:
        assert force, "the worker sends immediately (at-least-once, no attachments)"
        self.sent.append((key, value))
        self.headers.append(dict(headers or {}))
        done = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


def offline_app(workdir: Path, **settings: Any) -> PatrolStreamApp:
    """A worker app on the ``memory://`` store with its data in
    ``workdir``, its topics :class:`FakeTopic` and its history table a dict; ``settings``
    override the defaults (app id ``offline``, no arrest scoring: its tables need a broker,
    and it is tested against the real one)."""
    from simulators.settings import Settings
    from streams.app import create_app

    base: dict[str, Any] = {
        "app_id": "offline",
        "store": "memory://",
        "data_dir": str(workdir),
        "arrest_model": "none",
    }
    app = create_app(Settings().override(**{**base, **settings}))
    app.history = {}  # type: ignore[assignment]  # a dict stands in for the table
    app.routes_topic = FakeTopic()  # type: ignore[assignment]
    app.valid_topic = FakeTopic()  # type: ignore[assignment]
    app.dlq_topic = FakeTopic()  # type: ignore[assignment]
    return app
