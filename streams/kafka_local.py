"""A real local Apache Kafka broker for development and CI.

Kafka runs in KRaft mode as a single node that is both broker and controller (no
ZooKeeper), straight from its Maven Central artifacts:

* :func:`ensure_jars` resolves ``org.apache.kafka:kafka_2.13`` and its runtime dependencies
  with Maven (``streams/kafka/pom.xml``) into a cache folder, once;
* :func:`start` writes a ``server.properties``, formats the storage with
  ``kafka.tools.StorageTool`` (random cluster id), launches ``java -cp <libs>/* kafka.Kafka``
  detached, and waits until the broker answers real Kafka API requests (ApiVersions +
  Metadata over the wire);
* :func:`stop` shuts it down (SIGTERM, then SIGKILL after a timeout) and removes its
  temporary data folder;
* :func:`status` tells whether it runs and answers.

Command line (wired as ``patrolstream kafka ...``; also ``python -m streams.kafka_local``)::

    python -m streams.kafka_local start [--port 9092] [--controller-port 9093] [--wait 90]
    python -m streams.kafka_local status [--json]
    python -m streams.kafka_local stop

Environment:

``PATROLSTREAM_KAFKA_HOME``
    folder of the resolved jars (default ``~/.cache/patrolstream/kafka-<version>``).
``PATROLSTREAM_KAFKA_RUN``
    folder of the state file and broker log (default ``~/.cache/patrolstream/run``).
``PATROLSTREAM_KAFKA_BOOTSTRAP``
    ``host:port`` the tests and ``status`` talk to (default ``localhost:9092``).

Needs Java 11+ (17 recommended) on ``PATH`` or in ``JAVA_HOME``, and Maven (``mvn``) the
first time only, to download the jars.  Only the readiness check speaks Kafka, with the
standard library, so this module imports nothing outside it.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

__all__ = [
    "DEFAULT_CONTROLLER_PORT",
    "DEFAULT_PORT",
    "DEFAULT_VERSION",
    "BrokerInfo",
    "ClusterProbe",
    "KafkaLocalError",
    "default_bootstrap",
    "default_cache_dir",
    "ensure_jars",
    "generate_cluster_id",
    "is_reachable",
    "main",
    "probe",
    "render_log4j_properties",
    "render_server_properties",
    "run_dir",
    "start",
    "status",
    "stop",
    "wait_until_ready",
]

DEFAULT_VERSION = "3.9.2"
"""Newest 3.9.x on Maven Central; 3.9 is the last line with the pre-4.0 protocol versions."""
DEFAULT_PORT = 9092
DEFAULT_CONTROLLER_PORT = 9093
DEFAULT_HOST = "localhost"
DEFAULT_HEAP = "512m"
DEFAULT_WAIT_S = 90.0
DEFAULT_PARTITIONS = 4
MIN_JAVA = 11

ENV_HOME = "PATROLSTREAM_KAFKA_HOME"
ENV_RUN = "PATROLSTREAM_KAFKA_RUN"
ENV_BOOTSTRAP = "PATROLSTREAM_KAFKA_BOOTSTRAP"

POM_PATH = Path(__file__).resolve().parent / "kafka" / "pom.xml"
MAIN_CLASS = "kafka.Kafka"
STORAGE_TOOL_CLASS = "kafka.tools.StorageTool"
_COMPLETE_MARKER = ".patrolstream-complete"
_LOG_DIR_NAME = "kraft-combined-logs"
_CLIENT_ID = b"patrolstream-kafka-local"

Echo = Callable[[str], None]

_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}
"""Brokers started by this process: kept referenced (no "still running" ResourceWarning)
and reaped through their Popen."""


class KafkaLocalError(RuntimeError):
    """A local broker could not be prepared, started, reached or stopped (message says why)."""


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
# state
# --------------------------------------------------------------------------------------


@dataclass
class BrokerInfo:
    """What is known about a local broker; also the content of its state file."""

    bootstrap: str
    port: int
    controller_port: int
    pid: int | None = None
    data_dir: str | None = None
    owned_data_dir: bool = False
    log_path: str | None = None
    version: str = DEFAULT_VERSION
    cluster_id: str | None = None
    started_at: str | None = None
    ready_s: float | None = None
    already_running: bool = False
    """True when :func:`start` found a reachable broker and started nothing."""
    managed: bool = True
    """False for a broker on the port that this module did not start (no state file)."""
    command: list[str] = field(default_factory=list)

    def to_json(self) -> str:
        """Serialize for the state file."""
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> BrokerInfo:
        """Read back :meth:`to_json` output; unknown keys are ignored."""
        raw = json.loads(text)
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in raw.items() if k in known})


def write_state(info: BrokerInfo, path: Path | None = None) -> Path:
    """Atomically write the state file of ``info`` (default :func:`state_path`)."""
    path = path or state_path(info.port)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(info.to_json(), encoding="utf-8")
    tmp.replace(path)
    return path


def read_state(port: int = DEFAULT_PORT, path: Path | None = None) -> BrokerInfo | None:
    """The recorded broker on ``port``, or None when there is no (readable) state file."""
    path = path or state_path(port)
    try:
        return BrokerInfo.from_json(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError, TypeError):
        return None


def recorded_ports() -> list[int]:
    """Ports of all brokers that have a state file in :func:`run_dir`."""
    ports = []
    for p in run_dir().glob("kafka-*.json"):
        m = re.fullmatch(r"kafka-(\d+)\.json", p.name)
        if m:
            ports.append(int(m.group(1)))
    return sorted(ports)


def _clear_state(info: BrokerInfo) -> None:
    with contextlib.suppress(FileNotFoundError):
        state_path(info.port).unlink()
    if info.owned_data_dir and info.data_dir:
        shutil.rmtree(info.data_dir, ignore_errors=True)


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
        "# Written by streams/kafka_local.py: single-node KRaft (broker+controller), dev/CI only.",
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


# --------------------------------------------------------------------------------------
# tools: java, maven, jars
# --------------------------------------------------------------------------------------


def find_java() -> str:
    """Path of a ``java`` of version ``MIN_JAVA`` or newer (``$JAVA_HOME`` first, then PATH)."""
    candidates = []
    java_home = os.environ.get("JAVA_HOME")
    if java_home:
        candidates.append(str(Path(java_home) / "bin" / "java"))
    which = shutil.which("java")
    if which:
        candidates.append(which)
    too_old = []
    for java in candidates:
        if not os.access(java, os.X_OK):
            continue
        major = java_major_version(java)
        if major is not None and major >= MIN_JAVA:
            return java
        too_old.append(f"{java} is Java {major if major is not None else '?'}")
    if too_old:
        raise KafkaLocalError(
            f"{'; '.join(too_old)}; Kafka needs Java {MIN_JAVA}+ (17 recommended): "
            "apt-get install -y openjdk-17-jre-headless, or point JAVA_HOME at a newer JDK"
        )
    raise KafkaLocalError(
        "Java not found (no JAVA_HOME, no `java` on PATH); Kafka needs Java "
        f"{MIN_JAVA}+ (17 recommended): apt-get install -y openjdk-17-jre-headless"
    )


def java_major_version(java: str) -> int | None:
    """Major version reported by ``java -version`` (8 for ``1.8``), or None if unreadable."""
    try:
        out = subprocess.run(
            [java, "-version"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    m = re.search(r'version "(\d+)(?:\.(\d+))?', out.stderr + out.stdout)
    if not m:
        return None
    major = int(m.group(1))
    return int(m.group(2) or 0) if major == 1 else major


def _libs_complete(libs: Path, version: str) -> bool:
    marker = libs / _COMPLETE_MARKER
    try:
        recorded = marker.read_text(encoding="utf-8").split()
    except FileNotFoundError:
        return False
    jar = libs / f"kafka_2.13-{version}.jar"
    return bool(recorded) and recorded[0] == version and jar.is_file()


def ensure_jars(
    version: str = DEFAULT_VERSION,
    cache_dir: str | os.PathLike[str] | None = None,
    *,
    offline: bool = False,
    pom: str | os.PathLike[str] | None = None,
    echo: Echo | None = None,
) -> Path:
    """Return the folder with Kafka ``version``'s runtime jars, resolving them if needed.

    Idempotent: once ``<cache_dir>/libs`` holds a complete copy (marker file) nothing is run.
    Otherwise ``mvn dependency:copy-dependencies`` on ``streams/kafka/pom.xml`` copies them
    from the Maven local repository (``~/.m2``, downloading from Maven Central when missing)
    into a temporary folder that is then renamed into place, so an interrupted run never
    leaves a half-filled ``libs``.  ``offline`` passes ``-o`` to Maven.
    """
    cache = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir(version)
    libs = cache / "libs"
    if _libs_complete(libs, version):
        return libs
    pom_file = Path(pom) if pom is not None else POM_PATH
    if not pom_file.is_file():
        raise KafkaLocalError(f"Kafka POM not found at {pom_file} (package installed whole?)")
    mvn = shutil.which("mvn")
    if mvn is None:
        raise KafkaLocalError(
            f"Maven (`mvn`) not found; it is needed once to download Kafka {version} into "
            f"{libs}: apt-get install -y maven (or fill {ENV_HOME}/libs with the jars)"
        )
    cache.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".libs-", dir=cache))
    cmd = [
        mvn, "-B", "-q", *(["-o"] if offline else []),
        "-f", str(pom_file),
        f"-Dkafka.version={version}",
        "dependency:copy-dependencies",
        f"-DoutputDirectory={staging}",
    ]  # fmt: skip
    if echo:
        echo(f"resolving Kafka {version} jars with Maven into {libs} ...")
    t0 = time.monotonic()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=1800)
        if proc.returncode != 0:
            output = re.sub(r"\x1b\[[0-9;]*m", "", proc.stdout + proc.stderr)  # ANSI colours
            tail = "\n".join(output.strip().splitlines()[-30:])
            raise KafkaLocalError(
                f"Maven could not resolve org.apache.kafka:kafka_2.13:{version} "
                f"(exit {proc.returncode}); command: {' '.join(cmd)}\n{tail}"
            )
        if not (staging / f"kafka_2.13-{version}.jar").is_file():
            raise KafkaLocalError(f"Maven ran but kafka_2.13-{version}.jar is not in {staging}")
        (staging / _COMPLETE_MARKER).write_text(
            f"{version}\n{len(list(staging.glob('*.jar')))} jars\n", encoding="utf-8"
        )
        if libs.exists():
            shutil.rmtree(libs)  # an older version or an incomplete copy
        try:
            staging.rename(libs)
        except OSError:
            if not _libs_complete(libs, version):  # lost a race to another process?
                raise
    except subprocess.TimeoutExpired as exc:
        msg = f"Maven did not finish in {exc.timeout:.0f} s: {' '.join(cmd)}"
        raise KafkaLocalError(msg) from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    if echo:
        echo(f"Kafka {version} jars ready in {time.monotonic() - t0:.1f} s")
    return libs


# --------------------------------------------------------------------------------------
# the Kafka protocol, just enough for a readiness check
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClusterProbe:
    """What a broker answered to ApiVersions v0 + Metadata v1."""

    brokers: tuple[tuple[int, str, int], ...]
    """(node id, host, port) of each live broker."""
    controller_id: int
    api_keys: int
    """How many API keys the broker supports."""


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("broker closed the connection")
        buf += chunk
    return bytes(buf)


def _request(sock: socket.socket, api_key: int, version: int, corr: int, body: bytes) -> bytes:
    header = struct.pack(">hhih", api_key, version, corr, len(_CLIENT_ID)) + _CLIENT_ID
    payload = header + body
    sock.sendall(struct.pack(">i", len(payload)) + payload)
    (size,) = struct.unpack(">i", _recv_exact(sock, 4))
    resp = _recv_exact(sock, size)
    (got,) = struct.unpack_from(">i", resp, 0)
    if got != corr:
        raise ConnectionError(f"correlation id mismatch ({got} != {corr})")
    return resp[4:]


def _read_string(buf: bytes, off: int) -> tuple[str | None, int]:
    (n,) = struct.unpack_from(">h", buf, off)
    off += 2
    if n < 0:
        return None, off
    return buf[off : off + n].decode("utf-8"), off + n


def probe(host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, timeout: float = 3.0) -> ClusterProbe:
    """Ask the broker at ``host:port`` for its API versions and cluster metadata.

    Raises ``OSError`` (refused, timeout, closed) or :class:`KafkaLocalError` (answered, but
    not like a ready Kafka broker).  Uses ApiVersions v0 and Metadata v1, which every broker
    from 0.10 to 3.9 (and 4.x) answers.
    """
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.settimeout(timeout)
        body = _request(sock, api_key=18, version=0, corr=1, body=b"")
        (err, n) = struct.unpack_from(">hi", body, 0)
        if err != 0:
            raise KafkaLocalError(f"ApiVersions error code {err} from {host}:{port}")
        # Metadata v1 with an empty topic list: brokers and controller only.
        body = _request(sock, api_key=3, version=1, corr=2, body=struct.pack(">i", 0))
    (count,) = struct.unpack_from(">i", body, 0)
    off = 4
    brokers = []
    for _ in range(count):
        (node_id,) = struct.unpack_from(">i", body, off)
        bhost, off = _read_string(body, off + 4)
        (bport,) = struct.unpack_from(">i", body, off)
        _rack, off = _read_string(body, off + 4)
        brokers.append((node_id, bhost or "", bport))
    (controller_id,) = struct.unpack_from(">i", body, off)
    if not brokers:
        raise KafkaLocalError(f"{host}:{port} answers but lists no live broker yet")
    return ClusterProbe(brokers=tuple(brokers), controller_id=controller_id, api_keys=n)


def is_reachable(bootstrap: str | None = None, timeout: float = 2.0) -> bool:
    """True when a Kafka broker answers metadata requests at ``bootstrap``."""
    host, port = parse_bootstrap(bootstrap or default_bootstrap())
    try:
        probe(host, port, timeout=timeout)
    except (OSError, KafkaLocalError, struct.error):
        return False
    return True


def wait_until_ready(
    bootstrap: str | None = None,
    timeout_s: float = DEFAULT_WAIT_S,
    *,
    alive: Callable[[], bool] | None = None,
    interval_s: float = 0.25,
) -> ClusterProbe:
    """Poll :func:`probe` until it succeeds; raise :class:`KafkaLocalError` after ``timeout_s``
    or as soon as ``alive()`` turns False (the broker process died)."""
    host, port = parse_bootstrap(bootstrap or default_bootstrap())
    deadline = time.monotonic() + timeout_s
    last: BaseException | None = None
    while True:
        try:
            return probe(host, port, timeout=min(3.0, max(0.5, timeout_s)))
        except (OSError, KafkaLocalError, struct.error) as exc:
            last = exc
        if alive is not None and not alive():
            raise KafkaLocalError(f"broker process exited before {host}:{port} was ready")
        if time.monotonic() >= deadline:
            raise KafkaLocalError(
                f"no Kafka broker ready at {host}:{port} after {timeout_s:.0f} s (last: {last})"
            )
        time.sleep(interval_s)


# --------------------------------------------------------------------------------------
# processes
# --------------------------------------------------------------------------------------


def _pid_alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie child is reaped and counts as dead)."""
    child = _CHILDREN.get(pid)
    if child is not None:
        return child.poll() is None
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    except ChildProcessError:
        pass  # not our child: fine, look at it from the outside
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    stat = Path(f"/proc/{pid}/stat")
    with contextlib.suppress(OSError, IndexError):
        if stat.read_text().rsplit(")", 1)[1].split()[0] == "Z":
            return False
    return True


def _is_our_broker(pid: int) -> bool:
    """True when ``pid`` is a live ``kafka.Kafka`` JVM (guards against a recycled pid)."""
    if not _pid_alive(pid):
        return False
    cmdline = Path(f"/proc/{pid}/cmdline")
    try:
        return MAIN_CLASS.encode() in cmdline.read_bytes().split(b"\0")
    except OSError:
        return True  # no /proc (macOS): trust the state file


def _port_free(host: str, port: int) -> bool:
    """True if a listener could bind ``host:port`` now (SO_REUSEADDR, like the JVM)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror:
        infos = [(socket.AF_INET, socket.SOCK_STREAM, 0, "", ("127.0.0.1", port))]
    family, _, _, _, addr = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(addr)
        except OSError:
            return False
    return True


def tail(path: str | os.PathLike[str] | None, lines: int = 40) -> str:
    """Last ``lines`` lines of a text file ('' if it is missing)."""
    if not path:
        return ""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - 64 * 1024))
            text = fh.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------
# start / stop / status
# --------------------------------------------------------------------------------------


def start(
    port: int = DEFAULT_PORT,
    controller_port: int = DEFAULT_CONTROLLER_PORT,
    data_dir: str | os.PathLike[str] | None = None,
    wait_s: float = DEFAULT_WAIT_S,
    *,
    version: str = DEFAULT_VERSION,
    heap: str = DEFAULT_HEAP,
    cache_dir: str | os.PathLike[str] | None = None,
    echo: Echo | None = _stderr,
) -> BrokerInfo:
    """Start a single-node KRaft Kafka on ``localhost:port`` and wait until it is ready.

    Idempotent: if a broker already answers on ``port`` (ours or not), nothing is started
    and the returned info has ``already_running=True``.  ``data_dir`` defaults to a new
    temporary folder that :func:`stop` removes; a given ``data_dir`` is kept (and reused,
    already formatted, by the next start).  Raises :class:`KafkaLocalError` with a clear
    message (Java/Maven missing, port busy, broker died — with the tail of its log —, or not
    ready within ``wait_s``).
    """
    say = echo or (lambda _msg: None)
    host = DEFAULT_HOST
    bootstrap = f"{host}:{port}"

    recorded = read_state(port)
    if recorded is not None and recorded.pid and not _is_our_broker(recorded.pid):
        say(f"removing stale state of a broker that is gone (pid {recorded.pid})")
        _clear_state(recorded)
        recorded = None
    if is_reachable(bootstrap):
        if recorded is not None:
            recorded.already_running = True
            say(f"Kafka already runs on {bootstrap} (pid {recorded.pid}, log {recorded.log_path})")
            return recorded
        say(f"a Kafka broker not started by patrolstream already answers on {bootstrap}; using it")
        return BrokerInfo(
            bootstrap=bootstrap, port=port, controller_port=controller_port,
            already_running=True, managed=False,
        )  # fmt: skip
    if recorded is not None:
        raise KafkaLocalError(
            f"a broker started earlier (pid {recorded.pid}) runs but does not answer on "
            f"{bootstrap}; run `patrolstream kafka stop --port {port}` first.\n"
            f"--- tail of {recorded.log_path} ---\n{tail(recorded.log_path)}"
        )
    if port == controller_port:
        raise KafkaLocalError(f"--port and --controller-port must differ (both {port})")
    for what, p in (("broker", port), ("controller", controller_port)):
        if not _port_free(host, p):
            raise KafkaLocalError(
                f"{what} port {p} on {host} is busy (and not a Kafka broker there): "
                f"stop what uses it (`ss -ltnp 'sport = :{p}'`) or pick another with "
                f"--{'port' if what == 'broker' else 'controller-port'}"
            )

    java = find_java()
    libs = ensure_jars(version, cache_dir, echo=say)
    classpath = str(libs / "*")

    owned = data_dir is None
    if data_dir is None:
        data = Path(tempfile.mkdtemp(prefix="patrolstream-kafka-")).resolve()
    else:
        data = Path(data_dir).expanduser().resolve()
    data.mkdir(parents=True, exist_ok=True)
    log_dir = data / _LOG_DIR_NAME
    props = data / "server.properties"
    text = render_server_properties(
        port=port, controller_port=controller_port, log_dir=log_dir, host=host
    )
    props.write_text(text, encoding="utf-8")
    log4j = data / "log4j.properties"
    log4j.write_text(render_log4j_properties(), encoding="utf-8")
    run = run_dir()
    run.mkdir(parents=True, exist_ok=True)
    logfile = log_path(port)
    jvm = [
        java,
        f"-Xms{min_heap(heap)}", f"-Xmx{heap}",
        "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20", "-XX:+ExplicitGCInvokesConcurrent",
        "-Djava.awt.headless=true",
        f"-Dlog4j.configuration={log4j.as_uri()}",
        f"-Dkafka.logs.dir={run}",
        "-cp", classpath,
    ]  # fmt: skip

    t0 = time.monotonic()
    cluster_id = _existing_cluster_id(log_dir)
    if cluster_id is None:
        cluster_id = generate_cluster_id()
        fmt = subprocess.run(
            [*jvm, STORAGE_TOOL_CLASS, "format", "--ignore-formatted",
             "-t", cluster_id, "-c", str(props)],
            capture_output=True, text=True, check=False, timeout=120,
        )  # fmt: skip
        if fmt.returncode != 0:
            if owned:
                shutil.rmtree(data, ignore_errors=True)
            raise KafkaLocalError(
                f"{STORAGE_TOOL_CLASS} format failed (exit {fmt.returncode}):\n"
                + "\n".join((fmt.stdout + fmt.stderr).strip().splitlines()[-30:])
            )

    cmd = [*jvm, MAIN_CLASS, str(props)]
    with open(logfile, "wb") as out:
        proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True, cwd=str(data), close_fds=True,
        )  # fmt: skip
    _CHILDREN[proc.pid] = proc
    info = BrokerInfo(
        bootstrap=bootstrap, port=port, controller_port=controller_port, pid=proc.pid,
        data_dir=str(data), owned_data_dir=owned, log_path=str(logfile), version=version,
        cluster_id=cluster_id, started_at=datetime.now(UTC).isoformat(timespec="seconds"),
        command=cmd,
    )  # fmt: skip
    write_state(info)
    say(f"starting Kafka {version} (KRaft, pid {proc.pid}) on {bootstrap}, data in {data}")
    try:
        wait_until_ready(bootstrap, wait_s, alive=lambda: proc.poll() is None)
    except KafkaLocalError as exc:
        died = proc.poll() is not None
        if not died:
            _terminate(proc.pid, timeout_s=10)
        _CHILDREN.pop(proc.pid, None)
        _clear_state(info)
        what = f"died (exit {proc.returncode})" if died else f"was not ready in {wait_s:.0f} s"
        raise KafkaLocalError(
            f"Kafka broker {what}: {exc}\n--- tail of {logfile} ---\n{tail(logfile)}"
        ) from None
    info.ready_s = round(time.monotonic() - t0, 2)
    write_state(info)
    say(f"Kafka ready on {bootstrap} in {info.ready_s:.1f} s (log {logfile})")
    return info


def min_heap(heap: str) -> str:
    """Initial heap for a ``-Xmx`` value: a quarter of it, at least 64m (``512m`` → ``128m``)."""
    m = re.fullmatch(r"(\d+)([kKmMgG]?)", heap.strip())
    if not m:
        raise KafkaLocalError(f"bad heap size {heap!r}: use e.g. 512m or 1g")
    n, unit = int(m.group(1)), m.group(2).lower()
    mib = {"k": n / 1024, "": n / 2**20, "m": n, "g": n * 1024}[unit]
    return f"{max(64, int(mib // 4))}m"


def _existing_cluster_id(log_dir: Path) -> str | None:
    meta = log_dir / "meta.properties"
    try:
        for line in meta.read_text(encoding="utf-8").splitlines():
            if line.startswith("cluster.id="):
                return line.split("=", 1)[1].strip()
    except OSError:
        return None
    return None


def _terminate(pid: int, timeout_s: float) -> bool:
    """SIGTERM the process group of ``pid``, SIGKILL it after ``timeout_s``; True if it
    exited on SIGTERM."""
    for sig, wait in ((signal.SIGTERM, timeout_s), (signal.SIGKILL, 10.0)):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return sig == signal.SIGTERM
        except PermissionError:
            os.kill(pid, sig)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if not _pid_alive(pid):
                return sig == signal.SIGTERM
            time.sleep(0.1)
    raise KafkaLocalError(f"Kafka process {pid} survived SIGKILL")


def stop(
    timeout_s: float = 30.0,
    port: int | None = None,
    *,
    keep_data: bool = False,
    echo: Echo | None = _stderr,
) -> bool:
    """Stop the broker(s) started by :func:`start` and remove their temporary data folders.

    ``port`` None stops every broker that has a state file.  SIGTERM lets Kafka shut down
    cleanly; after ``timeout_s`` it is killed.  Returns True if a running broker was stopped.
    A broker on the port that this module did not start is left alone.
    """
    say = echo or (lambda _msg: None)
    ports = [port] if port is not None else (recorded_ports() or [DEFAULT_PORT])
    stopped = False
    for p in ports:
        info = read_state(p)
        if info is None:
            where = f"{DEFAULT_HOST}:{p}"
            if is_reachable(where):
                say(f"the Kafka broker on {where} was not started by patrolstream; left alone")
            else:
                say(f"no local Kafka broker on {where}")
            continue
        if info.pid and _is_our_broker(info.pid):
            t0 = time.monotonic()
            clean = _terminate(info.pid, timeout_s)
            _CHILDREN.pop(info.pid, None)
            how = "stopped" if clean else f"killed (no clean exit in {timeout_s:.0f} s)"
            took = time.monotonic() - t0
            say(f"Kafka on {info.bootstrap} (pid {info.pid}) {how} in {took:.1f} s")
            stopped = True
        else:
            say(f"Kafka on {info.bootstrap} was not running (stale state removed)")
        if keep_data:
            info.owned_data_dir = False
        _clear_state(info)
    return stopped


def status(port: int | None = None, timeout: float = 2.0) -> dict[str, Any]:
    """State of the local broker on ``port`` (default: the one recorded, else the bootstrap
    of ``$PATROLSTREAM_KAFKA_BOOTSTRAP``/9092).

    Keys: ``running`` (our process is alive), ``reachable`` (answers Kafka metadata),
    ``managed`` (started by this module), ``pid``, ``bootstrap``, ``port``,
    ``controller_port``, ``data_dir``, ``log_path``, ``version``, ``cluster_id``,
    ``started_at``, ``brokers``.
    """
    if port is None:
        ports = recorded_ports()
        if not ports:
            port = parse_bootstrap(default_bootstrap())[1]
        else:
            port = DEFAULT_PORT if DEFAULT_PORT in ports else ports[0]
    info = read_state(port)
    running = bool(info and info.pid and _is_our_broker(info.pid))
    host = DEFAULT_HOST
    if info is None and port == parse_bootstrap(default_bootstrap())[1]:
        host = parse_bootstrap(default_bootstrap())[0]
    bootstrap = info.bootstrap if info else f"{host}:{port}"
    brokers: list[str] = []
    try:
        h, p = parse_bootstrap(bootstrap)
        found = probe(h, p, timeout=timeout)
        brokers = [f"{b[1]}:{b[2]} (id {b[0]})" for b in found.brokers]
    except (OSError, KafkaLocalError, struct.error):
        pass
    return {
        "running": running,
        "reachable": bool(brokers),
        "managed": info is not None,
        "pid": info.pid if running and info else None,
        "bootstrap": bootstrap,
        "port": port,
        "controller_port": info.controller_port if info else None,
        "data_dir": info.data_dir if info else None,
        "log_path": info.log_path if info else str(log_path(port)),
        "version": info.version if info else None,
        "cluster_id": info.cluster_id if info else None,
        "started_at": info.started_at if info else None,
        "brokers": brokers,
    }


# --------------------------------------------------------------------------------------
# command line
# --------------------------------------------------------------------------------------


def build_parser(prog: str = "patrolstream kafka") -> argparse.ArgumentParser:
    """The ``start|stop|status|jars`` command-line parser."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description=(
            "Run a real local Apache Kafka broker (KRaft mode, single node acting as broker "
            "and controller, no ZooKeeper) for development and tests. The jars come from "
            "Maven Central (org.apache.kafka:kafka_2.13) through Maven, once; the broker "
            "runs on this machine's Java (11+, 17 recommended)."
        ),
        epilog=(
            f"Environment: {ENV_HOME} (jar cache, default ~/.cache/patrolstream/kafka-<version>), "
            f"{ENV_RUN} (state files and logs, default ~/.cache/patrolstream/run), "
            f"{ENV_BOOTSTRAP} (what tests and `status` talk to, default localhost:9092)."
        ),
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="{start,stop,status,jars}")

    def add_port(p: argparse.ArgumentParser, default: int | None, extra: str = "") -> None:
        p.add_argument(
            "--port", type=int, default=default, metavar="PORT",
            help=f"client (PLAINTEXT) port on localhost{extra}",
        )  # fmt: skip

    def add_version(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--version", dest="kafka_version", default=DEFAULT_VERSION, metavar="X.Y.Z",
            help=(
                "Kafka release to run, as published on Maven Central as "
                "org.apache.kafka:kafka_2.13 (default: %(default)s; 3.9.x is tested)"
            ),
        )  # fmt: skip

    p_start = sub.add_parser(
        "start",
        help="start the broker in the background and wait until it answers",
        description=(
            "Resolve the Kafka jars if needed, format a KRaft storage folder with a random "
            "cluster id, start `java kafka.Kafka` detached and wait until it answers Kafka "
            "metadata requests. Does nothing if a broker already answers on the port."
        ),
    )
    add_port(p_start, DEFAULT_PORT, " (default: %(default)s)")
    p_start.add_argument(
        "--controller-port", type=int, default=DEFAULT_CONTROLLER_PORT, metavar="PORT",
        help="KRaft controller port on localhost (default: %(default)s)",
    )  # fmt: skip
    p_start.add_argument(
        "--data-dir", default=None, metavar="DIR",
        help=(
            "folder for the configuration and the partition/metadata logs; kept by `stop` "
            "and reused by the next `start` (default: a new temporary folder, removed by `stop`)"
        ),
    )  # fmt: skip
    add_version(p_start)
    p_start.add_argument(
        "--wait", type=float, default=DEFAULT_WAIT_S, metavar="SECONDS",
        help="how long to wait for the broker to be ready before giving up (default: %(default)s)",
    )  # fmt: skip
    p_start.add_argument(
        "--heap", default=DEFAULT_HEAP, metavar="SIZE",
        help="maximum JVM heap, as for java -Xmx (default: %(default)s)",
    )  # fmt: skip

    p_stop = sub.add_parser(
        "stop",
        help="stop the broker and remove its temporary data",
        description=(
            "Stop the broker(s) started by `start`: SIGTERM for a clean shutdown, SIGKILL after "
            "--timeout. Removes the temporary data folder (not a --data-dir); keeps the log."
        ),
    )
    add_port(p_stop, None, " of the broker to stop (default: every broker started by `start`)")
    p_stop.add_argument(
        "--timeout", type=float, default=30.0, metavar="SECONDS",
        help="how long to wait for a clean shutdown before SIGKILL (default: %(default)s)",
    )  # fmt: skip

    p_status = sub.add_parser(
        "status",
        help="tell whether the broker runs and answers (exit 0 if it answers, else 1)",
        description=(
            "Show the recorded broker (pid, ports, data folder, log) and whether it answers "
            "Kafka metadata requests. Exit status 0 when it answers, 1 otherwise."
        ),
    )
    add_port(
        p_status, None,
        f" (default: the recorded broker, else the port of ${ENV_BOOTSTRAP} or {DEFAULT_PORT})",
    )  # fmt: skip
    p_status.add_argument("--json", action="store_true", help="print the status as JSON")

    p_jars = sub.add_parser(
        "jars",
        help="only resolve the Kafka jars into the cache (e.g. a CI warm-up step)",
        description="Resolve the Kafka jars with Maven into the cache folder and print it.",
    )
    add_version(p_jars)
    p_jars.add_argument("--offline", action="store_true", help="run Maven offline (-o)")
    return parser


def main(argv: Sequence[str] | None = None, prog: str = "patrolstream kafka") -> int:
    """Command-line entry point; returns the exit status."""
    args = build_parser(prog).parse_args(argv)
    try:
        if args.command == "start":
            info = start(
                port=args.port, controller_port=args.controller_port, data_dir=args.data_dir,
                wait_s=args.wait, version=args.kafka_version, heap=args.heap,
            )  # fmt: skip
            print(info.bootstrap)
            return 0
        if args.command == "stop":
            stop(timeout_s=args.timeout, port=args.port)
            return 0
        if args.command == "status":
            st = status(args.port)
            if args.json:
                print(json.dumps(st, indent=2))
            else:
                state = "answers" if st["reachable"] else "does not answer"
                if st["running"]:
                    who = f"pid {st['pid']}"
                elif st["managed"]:
                    who = "its process is not running"
                elif st["reachable"]:
                    who = "not started by patrolstream"
                else:
                    who = "no broker recorded: `start` one"
                print(f"Kafka on {st['bootstrap']} {state} ({who})")
                for key in ("version", "data_dir", "log_path", "started_at", "cluster_id"):
                    if st[key]:
                        print(f"  {key}: {st[key]}")
            return 0 if st["reachable"] else 1
        if args.command == "jars":
            print(ensure_jars(args.kafka_version, offline=args.offline, echo=_stderr))
            return 0
    except KafkaLocalError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 2  # pragma: no cover - argparse enforces a command


if __name__ == "__main__":
    raise SystemExit(main(prog="python -m streams.kafka_local"))
