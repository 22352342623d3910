"""Operating-system side of the broker process: liveness, ports, termination, log tail."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

from .config import MAIN_CLASS, KafkaLocalError

CHILDREN: dict[int, subprocess.Popen[bytes]] = {}
"""Brokers started by this process: kept referenced (no "still running" ResourceWarning)
and reaped through their Popen."""


def pid_alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie child is reaped and counts as dead)."""
    child = CHILDREN.get(pid)
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


def is_our_broker(pid: int) -> bool:
    """True when ``pid`` is a live ``kafka.Kafka`` JVM (guards against a recycled pid)."""
    if not pid_alive(pid):
        return False
    cmdline = Path(f"/proc/{pid}/cmdline")
    try:
        return MAIN_CLASS.encode() in cmdline.read_bytes().split(b"\0")
    except OSError:
        return True  # no /proc (macOS): trust the state file


def port_free(host: str, port: int) -> bool:
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


def terminate(pid: int, timeout_s: float) -> bool:
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
            if not pid_alive(pid):
                return sig == signal.SIGTERM
            time.sleep(0.1)
    raise KafkaLocalError(f"Kafka process {pid} survived SIGKILL")


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
