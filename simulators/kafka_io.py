"""Small helpers shared by ``replay`` and ``routes``: topics, broker URLs, clients, encoding,
signals and command-line value types.

``aiokafka`` is an optional dependency (the ``stream`` extra): it is imported inside the
functions that need it, so ``--help`` and the embedded mode work without it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import math
import os
import re
import signal
import sys
import time
from collections import Counter
from collections.abc import Callable, Coroutine, Iterable, Iterator
from datetime import date, datetime
from typing import Any, TypeVar

T = TypeVar("T")

INCIDENTS_TOPIC = "patrol.incidents.v1"
"""Incident events (design.md "Incident event"), keyed by district."""
ROUTES_TOPIC = "patrol.routes.v1"
"""Route GeoJSON documents (design.md "Route"), keyed by district/shift."""
DLQ_TOPIC = "patrol.incidents.dlq.v1"
"""Records the worker could not decode or validate (original bytes + reason)."""

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_HOST_PORT = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[^\s:/\[\]]+):(\d{1,5})$")


class BrokerError(RuntimeError):
    """The Kafka broker cannot be reached or used; the message says where and what to do."""


def bootstrap_servers(url: str) -> list[str]:
    """The ``host:port`` list of a broker URL as :class:`~simulators.settings.Settings` keeps it.

    Accepts ``kafka://host:port`` (Faust's form) and plain ``host:port``, several separated by
    ``,`` or ``;`` (each may carry the scheme).

    Examples
    --------
    >>> bootstrap_servers("kafka://localhost:9092")
    ['localhost:9092']
    >>> bootstrap_servers("kafka://k1:9092;kafka://k2:9093, k3:19092/")
    ['k1:9092', 'k2:9093', 'k3:19092']
    >>> bootstrap_servers("localhost")
    Traceback (most recent call last):
    ...
    ValueError: broker 'localhost': expected kafka://host:port or host:port
    """
    out = []
    for part in re.split(r"[,;\s]+", url.strip()):
        if not part:
            continue
        hp = _SCHEME.sub("", part).rstrip("/")
        m = _HOST_PORT.match(hp)
        if m is None or not 0 < int(m.group(2)) < 65536:
            raise ValueError(f"broker {part!r}: expected kafka://host:port or host:port")
        out.append(hp)
    if not out:
        raise ValueError(f"broker {url!r}: expected kafka://host:port or host:port")
    return out


PRODUCER_CONFIG: dict[str, Any] = {
    "enable_idempotence": True,
    "acks": "all",
    "linger_ms": 5,
    "max_batch_size": 64 * 1024,
    "request_timeout_ms": 30_000,
    "client_id": "patrolstream-replay",
}
"""Defaults of :func:`make_producer`: idempotent (no duplicates or reordering on retries),
acknowledged by all in-sync replicas, small batches that still reach ~40,000 messages/s."""


SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")


def _ssl_context(settings: Any) -> Any:
    from aiokafka.helpers import create_ssl_context

    return create_ssl_context(
        cafile=settings.kafka_ssl_cafile or None,
        certfile=settings.kafka_ssl_certfile or None,
        keyfile=settings.kafka_ssl_keyfile or None,
    )


def _check_security(settings: Any) -> str:
    protocol = str(settings.kafka_security_protocol).strip().upper()
    if protocol not in SECURITY_PROTOCOLS:
        raise ValueError(
            f"kafka_security_protocol: {protocol!r} is not one of {', '.join(SECURITY_PROTOCOLS)}"
        )
    if protocol.startswith("SASL_"):
        if settings.kafka_sasl_mechanism.upper() not in SASL_MECHANISMS:
            raise ValueError(
                f"kafka_sasl_mechanism: {settings.kafka_sasl_mechanism!r} is not one of "
                f"{', '.join(SASL_MECHANISMS)}"
            )
        if not settings.kafka_sasl_username:
            raise ValueError(f"kafka_sasl_username: required with {protocol}")
    return protocol


def client_security(settings: Any = None) -> dict[str, Any]:
    """aiokafka keyword arguments for the settings' ``kafka_*`` security fields (TLS, SASL).

    ``settings``: a :class:`~simulators.settings.Settings` (default: from the environment).
    PLAINTEXT gives ``{}``, so clients keep aiokafka's defaults.
    """
    if settings is None:
        from simulators.settings import Settings

        settings = Settings.from_env()
    protocol = _check_security(settings)
    if protocol == "PLAINTEXT":
        return {}
    out: dict[str, Any] = {"security_protocol": protocol}
    if protocol in ("SSL", "SASL_SSL"):
        out["ssl_context"] = _ssl_context(settings)
    if protocol.startswith("SASL_"):
        out["sasl_mechanism"] = settings.kafka_sasl_mechanism.upper()
        out["sasl_plain_username"] = settings.kafka_sasl_username
        out["sasl_plain_password"] = settings.kafka_sasl_password
    return out


def faust_credentials(settings: Any) -> Any:
    """Faust's ``broker_credentials`` for the same fields (``None`` for PLAINTEXT)."""
    protocol = _check_security(settings)
    if protocol == "PLAINTEXT":
        return None
    import faust

    context = _ssl_context(settings) if protocol in ("SSL", "SASL_SSL") else None
    if protocol == "SSL":
        return faust.SSLCredentials(context)
    return faust.SASLCredentials(
        username=settings.kafka_sasl_username,
        password=settings.kafka_sasl_password,
        mechanism=settings.kafka_sasl_mechanism.upper(),
        ssl_context=context,
    )


def make_producer(servers: list[str], settings: Any = None, **overrides: Any) -> Any:
    """An (unstarted) ``AIOKafkaProducer`` with :data:`PRODUCER_CONFIG`, the security settings
    (:func:`client_security`) and ``overrides``."""
    from aiokafka import AIOKafkaProducer

    config = {**PRODUCER_CONFIG, **client_security(settings), **overrides}
    return AIOKafkaProducer(bootstrap_servers=servers, **config)


def make_consumer(servers: list[str], settings: Any = None, **overrides: Any) -> Any:
    """An (unstarted) ``AIOKafkaConsumer`` outside any consumer group (the caller assigns
    partitions), committing nothing; security as in :func:`make_producer`."""
    from aiokafka import AIOKafkaConsumer

    config: dict[str, Any] = {
        "group_id": None,
        "enable_auto_commit": False,
        "client_id": "patrolstream-routes",
        "request_timeout_ms": 30_000,
    }
    config.update(client_security(settings))
    return AIOKafkaConsumer(bootstrap_servers=servers, **{**config, **overrides})


async def start_client(client: Any, servers: list[str]) -> None:
    """Start an aiokafka client; an unreachable broker raises :class:`BrokerError` saying so."""
    from aiokafka.errors import KafkaError

    try:
        await client.start()
    except KafkaError as exc:
        with contextlib.suppress(Exception):
            await client.stop()
        raise BrokerError(
            f"cannot reach the Kafka broker at {','.join(servers)} ({exc}). Start the local "
            "one with `patrolstream kafka start`, or point --broker / PATROLSTREAM_BROKER "
            "(kafka://host:port) at a running broker."
        ) from None


async def topic_partitions(client: Any, topic: str) -> list[int]:
    """Partition numbers of ``topic`` (empty when it does not exist), from fresh metadata of
    all topics: unlike a metadata request naming the topic, this never auto-creates it.

    ``client`` is a started ``AIOKafkaConsumer`` or ``AIOKafkaProducer``; aiokafka has no
    public call for this (``partitions_for_topic`` only reads its cache), hence ``_client``.
    """
    cluster = await client._client.fetch_all_metadata()
    return sorted(cluster.partitions_for_topic(topic) or ())


_ENCODE = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def encode_event(event: dict[str, Any]) -> bytes:
    """Compact UTF-8 JSON of an event dict."""
    return _ENCODE(event).encode("utf-8")


@contextlib.contextmanager
def signal_stop(
    on_signal: Callable[[int], None], signals: tuple[int, ...] = (signal.SIGINT, signal.SIGTERM)
) -> Iterator[bool]:
    """Call ``on_signal(signum)`` on the running loop for ``signals`` while inside the block.

    Yields whether the handlers could be installed (only the main thread of a Unix process
    can); the previous handlers are restored on exit.
    """
    loop = asyncio.get_running_loop()
    installed: list[tuple[int, Any]] = []
    try:
        for sig in signals:
            previous = signal.getsignal(sig)
            try:
                loop.add_signal_handler(sig, on_signal, sig)
            except (ValueError, RuntimeError, NotImplementedError):
                break
            installed.append((sig, previous))
        yield len(installed) == len(signals)
    finally:
        for sig, previous in installed:
            loop.remove_signal_handler(sig)
            if previous is not None:
                signal.signal(sig, previous)


async def sleep_or_stop(stop: asyncio.Event, delay: float) -> bool:
    """Sleep ``delay`` seconds unless ``stop`` is set first; True when it was."""
    try:
        await asyncio.wait_for(stop.wait(), delay)
    except TimeoutError:
        return False
    return True


# --------------------------------------------------------------------------------------
# command-line values shared by ``replay`` and ``routes``
# --------------------------------------------------------------------------------------


def non_negative(text: str) -> float:
    """argparse type: a finite number >= 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 <= value < math.inf:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a finite number >= 0")
    return value


def positive(text: str) -> float:
    """argparse type: a finite number > 0."""
    value = non_negative(text)
    if value == 0:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a number > 0")
    return value


def count(text: str) -> int:
    """argparse type: a whole number >= 0."""
    if not text.strip().isdigit():
        raise argparse.ArgumentTypeError(f"{text!r}: expected a whole number >= 0")
    return int(text)


def add_broker_argument(parser: argparse.ArgumentParser, default_topic: str) -> None:
    """Add ``--broker`` and ``--topic`` (shared by the commands that talk to Kafka)."""
    from simulators.settings import Settings

    parser.add_argument(
        "--broker",
        metavar="URL",
        help="Kafka bootstrap server(s): kafka://host:port or host:port, several separated by "
        f"commas (env PATROLSTREAM_BROKER; default {Settings().broker})",
    )
    parser.add_argument(
        "--topic",
        metavar="NAME",
        help=f"Kafka topic (default {default_topic}, after the worker's topic prefix "
        "PATROLSTREAM_TOPIC_PREFIX when set)",
    )


def topic_name(flag: str | None, base: str, settings: Any) -> str:
    """``--topic`` when given, else ``base`` with the settings' ``topic_prefix`` (if any), the
    name the worker uses.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> topic_name(None, ROUTES_TOPIC, SimpleNamespace(topic_prefix="t1."))
    't1.patrol.routes.v1'
    >>> topic_name("mine", ROUTES_TOPIC, SimpleNamespace(topic_prefix="t1."))
    'mine'
    """
    return flag or str(getattr(settings, "topic_prefix", "") or "") + base


class Acks:
    """Counts the broker's acknowledgements and failures of produced records, by kind.

    ``ok[kind]`` counts acknowledged records, ``failed[reason]`` the others (exception type),
    ``pending`` the records not yet settled.
    """

    def __init__(self) -> None:
        self.ok: Counter[str] = Counter()
        self.failed: Counter[str] = Counter()
        self.pending = 0

    def track(self, fut: asyncio.Future[Any], kind: str) -> None:
        """Count ``fut`` (a future returned by ``AIOKafkaProducer.send``) when it settles."""
        self.pending += 1
        fut.add_done_callback(functools.partial(self._settled, kind))

    def _settled(self, kind: str, fut: asyncio.Future[Any]) -> None:
        self.pending -= 1
        if fut.cancelled():
            self.failed["cancelled"] += 1
        elif (exc := fut.exception()) is not None:
            self.failed[type(exc).__name__] += 1
        else:
            self.ok[kind] += 1


Record = tuple[bytes | None, bytes, list[tuple[str, bytes]]]
"""``(key, value, headers)`` of one record to produce."""


async def send_all(
    producer: Any,
    topic: str,
    records: Iterable[Record],
    acks: Acks,
    *,
    kind: str = "record",
    stop: asyncio.Event,
    due: Callable[[int], float] | None = None,
    on_sent: Callable[[], object] | None = None,
) -> int:
    """Produce ``records`` in order (not waiting for acknowledgements, see :class:`Acks`).

    ``due(n)``: when the n-th record (from 0) is due, in seconds after the first one, on a
    monotonic clock (``None`` = as fast as possible). Stops early when ``stop`` is set.
    Returns how many records were handed to the producer.
    """
    send, track = producer.send, acks.track
    start = time.monotonic()
    sent = 0
    for key, value, headers in records:
        if stop.is_set():
            break
        if due is not None:
            delay = start + due(sent) - time.monotonic()
            if delay > 0.001 and await sleep_or_stop(stop, delay):
                break
        elif sent % 2048 == 2047:
            await asyncio.sleep(0)  # let the sender task and signal handlers run
        track(await send(topic, value, key=key, headers=headers), kind)
        sent += 1
        if on_sent is not None:
            on_sent()
    return sent


def run_until_signal(
    main: Callable[[asyncio.Event], Coroutine[Any, Any, T]], what: str = "stopping"
) -> tuple[T, int | None]:
    """``asyncio.run(main(stop))`` where SIGINT/SIGTERM set ``stop`` for a clean shutdown.

    A second signal exits at once (status 128 + its number). Returns ``main``'s result and
    the first signal received (``None`` if none).
    """
    got: list[int] = []

    async def wrapper() -> T:
        stop = asyncio.Event()

        def on_signal(signum: int) -> None:
            if got:
                print("aborted", file=sys.stderr, flush=True)
                os._exit(128 + signum)
            got.append(signum)
            name = signal.Signals(signum).name
            print(f"\n{name}: {what} (again to abort)", file=sys.stderr, flush=True)
            stop.set()

        with signal_stop(on_signal):
            return await main(stop)

    result = asyncio.run(wrapper())
    return result, (got[0] if got else None)


def when(text: str) -> date | datetime:
    """argparse type: ``YYYY-MM-DD`` (a date) or an ISO 8601 date-time."""
    try:
        return date.fromisoformat(text) if len(text) == 10 else datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r}: expected YYYY-MM-DD or an ISO 8601 date-time"
        ) from None
