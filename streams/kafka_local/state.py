"""State files: what is known about each broker this package started, one JSON per port.

They live in :func:`~streams.kafka_local.config.run_dir` as ``kafka-<port>.json`` and let
``stop``/``status`` find a broker started by another process.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .config import DEFAULT_PORT, DEFAULT_VERSION, run_dir, state_path


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


def clear_state(info: BrokerInfo) -> None:
    """Remove the state file of ``info`` and, if it made it, its temporary data folder."""
    with contextlib.suppress(FileNotFoundError):
        state_path(info.port).unlink()
    if info.owned_data_dir and info.data_dir:
        shutil.rmtree(info.data_dir, ignore_errors=True)
