"""CPU accounting from ``/proc`` for the throughput benchmarks: a process's CPU seconds, the
machine's busy share, and the rate and per-message costs between two moments."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TICKS = os.sysconf("SC_CLK_TCK")


def proc_cpu_seconds(stat: str, ticks: int = 100) -> float:
    """User + system CPU seconds from the text of ``/proc/<pid>/stat``.

    Examples
    --------
    >>> line = "42 (a (b) c) S " + " ".join(["0"] * 10) + " 250 50 0 0"
    >>> proc_cpu_seconds(line)
    3.0
    """
    fields = stat[stat.rfind(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / ticks


def machine_jiffies(stat: str) -> tuple[int, int]:
    """``(busy, total)`` jiffies of all CPUs from the text of ``/proc/stat``.

    Examples
    --------
    >>> machine_jiffies("cpu  10 0 5 80 5 0 0 0 0 0\\ncpu0 1 0 0 0 0 0 0 0 0 0")
    (15, 100)
    """
    values = [int(v) for v in stat.splitlines()[0].split()[1:]]
    return sum(values) - values[3] - values[4], sum(values)


def cpu_of(pid: int | None) -> float | None:
    """CPU seconds of process ``pid`` (``None`` when unknown or gone)."""
    if pid is None:
        return None
    try:
        return proc_cpu_seconds(Path(f"/proc/{pid}/stat").read_text(), TICKS)
    except OSError:
        return None


@dataclass(frozen=True)
class Snap:
    """A moment of a stage: messages done so far, CPU of the measured process and broker."""

    t: float
    count: int
    cpu: float | None
    broker_cpu: float | None
    busy: int
    total: int


def snap(count: int, pid: int | None, broker_pid: int | None) -> Snap:
    """Now: ``count``, CPU of ``pid`` (``None`` = this process) and of the broker."""
    busy, total = machine_jiffies(Path("/proc/stat").read_text())
    cpu = time.process_time() if pid is None else cpu_of(pid)
    return Snap(time.monotonic(), count, cpu, cpu_of(broker_pid), busy, total)


def window(a: Snap, b: Snap, ticks: int = TICKS) -> dict[str, Any]:
    """Rate and per-message costs between two snapshots; ``busy_pct``: how busy all CPUs
    were, ``others_pct``: the part of it neither the measured process nor the broker took.

    Examples
    --------
    >>> w = window(Snap(0.0, 0, 1.0, 5.0, 0, 0), Snap(2.0, 1000, 1.5, 5.2, 300, 400))
    >>> w["per_s"], w["wall_us"], w["cpu_us"], w["broker_us"], w["busy_pct"], w["others_pct"]
    (500.0, 2000.0, 500.0, 200.0, 75.0, 57.5)
    """
    n, dt = b.count - a.count, b.t - a.t
    total = b.total - a.total
    others = None
    known = (a.cpu, b.cpu, a.broker_cpu, b.broker_cpu)
    if a.cpu is not None and b.cpu is not None and None not in known:
        used = (b.cpu - a.cpu) + (b.broker_cpu or 0.0) - (a.broker_cpu or 0.0)
        others = b.busy - a.busy - used * ticks

    def per_msg(x: float | None, y: float | None) -> float | None:
        return None if x is None or y is None or n <= 0 else round((y - x) / n * 1e6, 1)

    return {
        "messages": n,
        "seconds": round(dt, 3),
        "per_s": round(n / dt, 1) if dt > 0 else None,
        "wall_us": round(dt / n * 1e6, 1) if n > 0 else None,
        "cpu_us": per_msg(a.cpu, b.cpu),
        "broker_us": per_msg(a.broker_cpu, b.broker_cpu),
        "busy_pct": round(100 * (b.busy - a.busy) / total, 1) if total > 0 else None,
        "others_pct": round(100 * others / total, 1) if total > 0 and others is not None else None,
    }


def broker_idle_cpu(broker_pid: int | None, seconds: float = 3.0) -> float | None:
    """CPU seconds per second the broker spends with no client traffic from us."""
    before = cpu_of(broker_pid)
    time.sleep(seconds)
    after = cpu_of(broker_pid)
    return None if before is None or after is None else round((after - before) / seconds, 4)
