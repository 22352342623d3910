"""Lifecycle of the local broker: :func:`start`, :func:`stop` and :func:`status`."""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .config import (
    DEFAULT_CONTROLLER_PORT,
    DEFAULT_HEAP,
    DEFAULT_HOST,
    DEFAULT_PORT,
    DEFAULT_VERSION,
    DEFAULT_WAIT_S,
    MAIN_CLASS,
    STORAGE_TOOL_CLASS,
    Echo,
    KafkaLocalError,
    default_bootstrap,
    echo_stderr,
    generate_cluster_id,
    log_path,
    min_heap,
    parse_bootstrap,
    render_log4j_properties,
    render_server_properties,
    run_dir,
)
from .jars import ensure_jars, find_java
from .process import CHILDREN, is_our_broker, port_free, tail, terminate
from .protocol import is_reachable, probe, wait_until_ready
from .state import BrokerInfo, clear_state, read_state, recorded_ports, write_state

_LOG_DIR_NAME = "kraft-combined-logs"


def start(
    port: int = DEFAULT_PORT,
    controller_port: int = DEFAULT_CONTROLLER_PORT,
    data_dir: str | os.PathLike[str] | None = None,
    wait_s: float = DEFAULT_WAIT_S,
    *,
    version: str = DEFAULT_VERSION,
    heap: str = DEFAULT_HEAP,
    cache_dir: str | os.PathLike[str] | None = None,
    echo: Echo | None = echo_stderr,
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
    if recorded is not None and recorded.pid and not is_our_broker(recorded.pid):
        say(f"removing stale state of a broker that is gone (pid {recorded.pid})")
        clear_state(recorded)
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
        if not port_free(host, p):
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
    CHILDREN[proc.pid] = proc
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
            terminate(proc.pid, timeout_s=10)
        CHILDREN.pop(proc.pid, None)
        clear_state(info)
        what = f"died (exit {proc.returncode})" if died else f"was not ready in {wait_s:.0f} s"
        raise KafkaLocalError(
            f"Kafka broker {what}: {exc}\n--- tail of {logfile} ---\n{tail(logfile)}"
        ) from None
    info.ready_s = round(time.monotonic() - t0, 2)
    write_state(info)
    say(f"Kafka ready on {bootstrap} in {info.ready_s:.1f} s (log {logfile})")
    return info


def _existing_cluster_id(log_dir: Path) -> str | None:
    meta = log_dir / "meta.properties"
    try:
        for line in meta.read_text(encoding="utf-8").splitlines():
            if line.startswith("cluster.id="):
                return line.split("=", 1)[1].strip()
    except OSError:
        return None
    return None


def stop(
    timeout_s: float = 30.0,
    port: int | None = None,
    *,
    keep_data: bool = False,
    echo: Echo | None = echo_stderr,
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
        if info.pid and is_our_broker(info.pid):
            t0 = time.monotonic()
            clean = terminate(info.pid, timeout_s)
            CHILDREN.pop(info.pid, None)
            how = "stopped" if clean else f"killed (no clean exit in {timeout_s:.0f} s)"
            took = time.monotonic() - t0
            say(f"Kafka on {info.bootstrap} (pid {info.pid}) {how} in {took:.1f} s")
            stopped = True
        else:
            say(f"Kafka on {info.bootstrap} was not running (stale state removed)")
        if keep_data:
            info.owned_data_dir = False
        clear_state(info)
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
    running = bool(info and info.pid and is_our_broker(info.pid))
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
