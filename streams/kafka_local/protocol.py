"""The Kafka wire protocol, just enough for a readiness check (standard library only).

:func:`probe` sends ApiVersions v0 and Metadata v1, which every broker from 0.10 to 3.9
(and 4.x) answers; :func:`is_reachable` and :func:`wait_until_ready` build on it.
"""

from __future__ import annotations

import socket
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass

from .config import (
    DEFAULT_HOST,
    DEFAULT_PORT,
    DEFAULT_WAIT_S,
    KafkaLocalError,
    default_bootstrap,
    parse_bootstrap,
)

_CLIENT_ID = b"patrolstream-kafka-local"


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
