"""Settings of the local broker: defaults, environment, file locations and config files.

Everything here is pure (no process, no socket): the constants and error type shared by
the other modules, where the jars/state/logs live (``PATROLSTREAM_KAFKA_*``), the bootstrap
address, and the text of ``server.properties`` / ``log4j.properties``.
"""

from __future__ import annotations

import base64
import os
import re
import sys
import uuid
from collections.abc import Callable
from pathlib import Path

DEFAULT_VERSION = "3.9.2"
"""Newest 3.9.x on Maven Central; 3.9 is the last line with the pre-4.0 protocol versions."""
DEFAULT_PORT = 9092
DEFAULT_CONTROLLER_PORT = 9093
DEFAULT_HOST = "localhost"
DEFAULT_HEAP = "512m"
DEFAULT_WAIT_S = 90.0
DEFAULT_PARTITIONS = 4

ENV_HOME = "PATROLSTREAM_KAFKA_HOME"
ENV_RUN = "PATROLSTREAM_KAFKA_RUN"
ENV_BOOTSTRAP = "PATROLSTREAM_KAFKA_BOOTSTRAP"

MAIN_CLASS = "kafka.Kafka"
STORAGE_TOOL_CLASS = "kafka.tools.StorageTool"

Echo = Callable[[str], None]


class KafkaLocalError(RuntimeError):
    """A local broker could not be prepared, started, reached or stopped (message says why)."""


def echo_stderr(msg: str) -> None:
    """Default :data:`Echo`: progress messages to stderr (stdout stays for results)."""
    print(msg, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------
# locations
# --------------------------------------------------------------------------------------


def default_cache_dir(version: str = DEFAULT_VERSION) -> Path:
    """Folder holding ``libs/`` for ``version``: ``$PATROLSTREAM_KAFKA_HOME`` or
    ``~/.cache/patrolstream/kafka-<version>``."""
    env = os.environ.get(ENV_HOME)
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "patrolstream" / f"kafka-{version}"


def run_dir() -> Path:
    """Folder of the state files and broker logs: ``$PATROLSTREAM_KAFKA_RUN`` or
    ``~/.cache/patrolstream/run``."""
    env = os.environ.get(ENV_RUN)
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "patrolstream" / "run"


def state_path(port: int = DEFAULT_PORT) -> Path:
    """State file of the broker managed on ``port``."""
    return run_dir() / f"kafka-{port}.json"


def log_path(port: int = DEFAULT_PORT) -> Path:
    """Log file (JVM stdout/stderr + log4j) of the broker managed on ``port``."""
    return run_dir() / f"kafka-{port}.log"


def default_bootstrap() -> str:
    """``$PATROLSTREAM_KAFKA_BOOTSTRAP`` or ``localhost:9092``."""
    return os.environ.get(ENV_BOOTSTRAP) or f"{DEFAULT_HOST}:{DEFAULT_PORT}"


def parse_bootstrap(bootstrap: str) -> tuple[str, int]:
    """Split the first ``host:port`` of a bootstrap string (a ``kafka://`` prefix is allowed)."""
    first = bootstrap.split(",")[0].strip()
    first = re.sub(r"^[a-z]+://", "", first)
    host, sep, port = first.rpartition(":")
    if not sep or not port.isdigit():
        raise KafkaLocalError(f"bad bootstrap address {bootstrap!r}: expected host:port")
    return host.strip("[]") or DEFAULT_HOST, int(port)


# --------------------------------------------------------------------------------------
# configuration files
# --------------------------------------------------------------------------------------


def generate_cluster_id() -> str:
    """A random Kafka cluster id, as ``kafka-storage random-uuid`` makes it.

    Kafka's ``Uuid.toString`` is the URL-safe base64 of the 16 bytes without padding
    (22 characters); ``Uuid.randomUuid`` rejects the all-zero id, the metadata topic id
    (…0001) and ids whose text starts with ``-`` (they look like command-line options).
    """
    while True:
        raw = uuid.uuid4().bytes
        if raw in (bytes(16), bytes(15) + b"\x01"):
            continue
        text = base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")
        if not text.startswith("-"):
            return text


def render_server_properties(
    *,
    port: int = DEFAULT_PORT,
    controller_port: int = DEFAULT_CONTROLLER_PORT,
    log_dir: str | os.PathLike[str],
    host: str = DEFAULT_HOST,
    node_id: int = 1,
    num_partitions: int = DEFAULT_PARTITIONS,
) -> str:
    """``server.properties`` of a single-node KRaft broker+controller for development.

    Replication factors and ISR minimums are 1 (one node), internal topics are small, topics
    are auto-created with ``num_partitions`` partitions, and consumer groups rebalance at
    once (``group.initial.rebalance.delay.ms=0``).
    """
    if port == controller_port:
        raise KafkaLocalError(f"broker and controller ports must differ (both {port})")
    props: list[tuple[str, object]] = [
        ("process.roles", "broker,controller"),
        ("node.id", node_id),
        ("controller.quorum.voters", f"{node_id}@{host}:{controller_port}"),
        ("listeners", f"PLAINTEXT://{host}:{port},CONTROLLER://{host}:{controller_port}"),
        ("advertised.listeners", f"PLAINTEXT://{host}:{port}"),
        ("inter.broker.listener.name", "PLAINTEXT"),
        ("controller.listener.names", "CONTROLLER"),
        ("listener.security.protocol.map", "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT"),
        ("log.dirs", Path(log_dir).as_posix()),
        ("num.partitions", num_partitions),
        ("default.replication.factor", 1),
        ("min.insync.replicas", 1),
        ("auto.create.topics.enable", "true"),
        ("delete.topic.enable", "true"),
        ("offsets.topic.replication.factor", 1),
        ("offsets.topic.num.partitions", num_partitions),
        ("transaction.state.log.replication.factor", 1),
        ("transaction.state.log.min.isr", 1),
        ("transaction.state.log.num.partitions", num_partitions),
        ("group.initial.rebalance.delay.ms", 0),
        ("num.network.threads", 2),
        ("num.io.threads", 4),
        ("num.recovery.threads.per.data.dir", 1),
        ("log.retention.hours", 24),
        ("log.retention.check.interval.ms", 300000),
    ]
    lines = [
        "# Written by streams.kafka_local: single-node KRaft (broker+controller), dev/CI only.",
        *(f"{k}={v}" for k, v in props),
    ]
    return "\n".join(lines) + "\n"


def render_log4j_properties(level: str = "INFO") -> str:
    """log4j 1.x (reload4j) configuration: everything to stdout, which goes to the log file."""
    return (
        f"log4j.rootLogger={level}, stdout\n"
        "log4j.appender.stdout=org.apache.log4j.ConsoleAppender\n"
        "log4j.appender.stdout.layout=org.apache.log4j.PatternLayout\n"
        "log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n\n"
        "log4j.logger.kafka.request.logger=WARN\n"
        "log4j.logger.state.change.logger=WARN\n"
        "log4j.logger.kafka.authorizer.logger=WARN\n"
        "log4j.logger.kafka.log.LogCleaner=WARN\n"
        "log4j.logger.org.apache.kafka.storage.internals.log.LogCleaner=WARN\n"
        "log4j.logger.org.apache.kafka.clients=WARN\n"
    )


def min_heap(heap: str) -> str:
    """Initial heap for a ``-Xmx`` value: a quarter of it, at least 64m (``512m`` → ``128m``)."""
    m = re.fullmatch(r"(\d+)([kKmMgG]?)", heap.strip())
    if not m:
        raise KafkaLocalError(f"bad heap size {heap!r}: use e.g. 512m or 1g")
    n, unit = int(m.group(1)), m.group(2).lower()
    mib = {"k": n / 1024, "": n / 2**20, "m": n, "g": n * 1024}[unit]
    return f"{max(64, int(mib // 4))}m"
