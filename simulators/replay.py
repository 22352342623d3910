"""``patrolstream replay``: produce a city's incident export to Kafka in event-time order.

The valid incidents of CSV exports (plain or gzip, read with the city profile) are sorted by
event time (stable) and produced to ``patrol.incidents.v1`` as design.md's JSON event
(``Incident.to_event()``, ``source`` included), paced so that ``--speed`` seconds of history
pass per wall second (0 = as fast as possible), or at a steady ``--rate`` per second.

Message key: the district (placed by point-in-polygon or the grid when the row has none), so a
district's incidents share a partition, in event-time order. Headers: ``id`` (the idempotency
key: a later event with the same id is a revision that replaces the first) and
``content-type: application/json``. Timestamp: the produce time, not the event time, which is
in the payload: time-based retention would delete years-old records at once, brokers may
reject them (``message.timestamp.*.max.ms``), and produce-to-route latency is measured from
it. The producer is idempotent (``acks="all"``): retries neither duplicate nor reorder.

Rejected rows are counted by reason, never fatal; ``--send-invalid`` also produces them first,
unpaced, as their original CSV line (``content-type: text/csv``, header ``rejected`` = the
reason, no key) to exercise the worker's dead-letter path. Signals: see :data:`EPILOG`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gzip
import io
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any

from patrol.incidents.parse import iter_csv
from patrol.incidents.profile import CityProfile, ProfileError, load_profile, normalise_code
from patrol.incidents.report import RejectionReport
from patrol.incidents.schema import Incident, IncidentError
from simulators import kafka_io as kio
from simulators.kafka_io import INCIDENTS_TOPIC, BrokerError, bootstrap_servers
from simulators.settings import SAMPLE, Settings

DESCRIPTION = (
    "Produce a city's incident export to Kafka in event-time order, paced by --speed or --rate: "
    "key = district, value = the JSON incident event, header id = the incident id (the "
    "idempotency key: a later event with the same id is a revision). The Kafka timestamp is the "
    "produce time; the event time is in the payload."
)
EPILOG = (
    "Rejected rows are counted by reason in the summary. Ctrl-C (or SIGTERM) stops, waits for "
    "the broker to acknowledge what was sent, prints the summary and exits with 130 (143); a "
    "second Ctrl-C aborts at once. Exit status 0 when everything was acknowledged, 1 when the "
    "broker is unreachable or records failed, 2 on bad arguments or input."
)
_JSON = ("content-type", b"application/json")
_DEFAULTS = Settings()
_CSV = ("content-type", b"text/csv")


@dataclass(frozen=True)
class ReplayOptions:
    """What to replay and how (the command's flags; see ``--help``).

    ``start``/``end`` bound the event time (``start`` inclusive, ``end`` exclusive); a naive
    datetime is local time in the city's zone; a plain ``date`` for ``end`` includes that day.
    """

    broker: str = _DEFAULTS.broker
    topic: str = INCIDENTS_TOPIC
    city: str | CityProfile = _DEFAULTS.city
    speed: float = 0.0
    rate: float = 0.0
    limit: int | None = None
    districts: frozenset[str] | None = None
    start: date | datetime | None = None
    end: date | datetime | None = None
    send_invalid: bool = False
    progress: bool = False


@dataclass(frozen=True, slots=True)
class RawRow:
    """A rejected CSV row as it was in the file (line terminators stripped)."""

    id: str | None
    reason: str
    line: bytes


@dataclass
class ReplaySummary:
    """What a replay did; :meth:`format` is the text the command prints."""

    topic: str
    rows: int = 0
    selected: int = 0
    sent: int = 0
    invalid_sent: int = 0
    filtered: int = 0
    rejections: RejectionReport = field(default_factory=RejectionReport)
    failed: Counter[str] = field(default_factory=Counter)
    load_s: float = 0.0
    elapsed_s: float = 0.0
    first_event: datetime | None = None
    last_event: datetime | None = None
    interrupted: bool = False
    error: str | None = None

    @property
    def rate(self) -> float:
        """Acknowledged incidents per wall second of the sending phase."""
        return self.sent / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def format(self) -> str:
        """Multi-line summary: sent, rejected by reason, elapsed time and rate."""
        rej = self.rejections
        lines = [
            f"sent: {self.sent} of {self.selected} incidents to {self.topic}",
            f"rejected: {rej.total} of {self.rows} rows"
            + "".join(f"\n  {reason}: {n}" for reason, n in rej.by_reason().items()),
        ]
        if self.invalid_sent:
            lines.append(f"rejected rows sent raw: {self.invalid_sent}")
        if self.filtered:
            lines.append(f"filtered out (--district/--from/--to/--limit): {self.filtered}")
        if self.failed:
            why = ", ".join(f"{k} x{v}" for k, v in self.failed.most_common())
            lines.append(f"failed: {sum(self.failed.values())} ({why})")
        if self.first_event and self.last_event:
            lines.append(f"event time: {self.first_event:%F %T} .. {self.last_event:%F %T %z}")
        lines.append(f"elapsed: {self.elapsed_s:.2f} s sending ({self.rate:,.0f} incidents/s), "
                     f"{self.load_s:.2f} s reading")  # fmt: skip
        if self.error:
            lines.append(f"stopped by an error: {self.error}")
        if self.interrupted:
            lines.append("interrupted: stopped early; 'sent' counts what the broker acknowledged")
        return "\n".join(lines)


class _TappedReport(RejectionReport):
    """A :class:`RejectionReport` that also keeps each rejected row's original text in ``raw``
    (when a list): ``iter_csv`` reads the file through :meth:`lines`, which remembers the lines
    of the record being parsed."""

    raw: list[RawRow] | None = None
    pending: list[str]

    def lines(self, fh: io.TextIOBase) -> Iterator[str]:
        self.pending = []
        for n, line in enumerate(iter(fh.readline, "")):
            if n:  # line 0 is the header
                self.pending.append(line)
            yield line

    def add(self, err: IncidentError, row_number: int | None, record_id: str | None) -> None:
        super().add(err, row_number, record_id)
        text = "".join(self.pending).strip("\r\n")  # blank lines before it, line end
        self.pending.clear()
        if self.raw is not None:
            self.raw.append(RawRow(record_id, self.key(err), text.encode("utf-8")))


class _Named:
    """An iterable of lines with the ``name`` that ``iter_csv`` puts in its errors."""

    def __init__(self, lines: Iterator[str], name: str) -> None:
        self.lines, self.name = lines, name

    def __iter__(self) -> Iterator[str]:
        return self.lines


def load(
    paths: Sequence[str | Path],
    profile: CityProfile,
    *,
    keep_raw: bool = False,
    should_stop: Callable[[], bool] = lambda: False,
) -> tuple[list[Incident], list[RawRow], RejectionReport, int]:
    """Read CSV exports (plain or gzip): the valid incidents sorted by event time (stable), the
    rejected rows' original lines (with ``keep_raw``), the rejections and the row count."""
    report = _TappedReport()
    report.raw = [] if keep_raw else None
    incidents: list[Incident] = []
    for path in paths:
        with Path(path).open("rb") as raw:
            fh: Any = gzip.GzipFile(fileobj=raw) if raw.peek(2)[:2] == b"\x1f\x8b" else raw
            text = io.TextIOWrapper(fh, "utf-8-sig", "replace", newline="")
            rows = _Named(report.lines(text), str(path))
            for n, inc in enumerate(iter_csv(rows, profile, report, locate=True)):  # type: ignore[arg-type]
                report.pending.clear()  # a valid row: its text is not needed
                incidents.append(inc)
                if n % 4096 == 4095 and should_stop():
                    return [], [], report, 0
    incidents.sort(key=lambda i: i.occurred_at)
    plain = RejectionReport(report.max_examples, report.counts, report.examples)
    return incidents, report.raw or [], plain, len(incidents) + report.total


def _bound(value: date | datetime | None, zone: tzinfo, *, end: bool) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, datetime):
        value = datetime.combine(value + timedelta(days=1 if end else 0), datetime.min.time())
    return value if value.tzinfo is not None else value.replace(tzinfo=zone)


def _select(incidents: list[Incident], opts: ReplayOptions, zone: tzinfo) -> list[Incident]:
    lo, hi = _bound(opts.start, zone, end=False), _bound(opts.end, zone, end=True)
    wanted = {normalise_code(d) for d in opts.districts} if opts.districts else None
    out = [
        i for i in incidents
        if (wanted is None or i.district in wanted)
        and (lo is None or i.occurred_at >= lo) and (hi is None or i.occurred_at < hi)
    ]  # fmt: skip
    return out if opts.limit is None else out[: opts.limit]


async def replay(
    paths: Sequence[str | Path],
    options: ReplayOptions | None = None,
    *,
    stop: asyncio.Event | None = None,
    producer_config: dict[str, Any] | None = None,
) -> ReplaySummary:
    """Produce the incidents of ``paths`` to Kafka (see the module docstring).

    Parameters
    ----------
    paths
        City CSV exports (plain or gzip), merged and sorted by event time.
    options
        What to replay and how (default: everything, as fast as possible).
    stop
        Set it to stop early (the command does on SIGINT/SIGTERM); what was sent is flushed.
    producer_config
        Overrides of :data:`~simulators.kafka_io.PRODUCER_CONFIG`.

    Raises
    ------
    BrokerError
        The broker cannot be reached.
    """
    opts = options or ReplayOptions()
    stop = stop or asyncio.Event()
    if opts.speed < 0 or opts.rate < 0 or (opts.speed and opts.rate):
        raise ValueError("give a --speed >= 0 or a --rate > 0, not both")
    profile = opts.city if isinstance(opts.city, CityProfile) else load_profile(opts.city)
    servers = bootstrap_servers(opts.broker)
    config = {"linger_ms": 0} if opts.speed or opts.rate else {}  # paced: lowest latency
    producer = kio.make_producer(servers, **{**config, **(producer_config or {})})
    await kio.start_client(producer, servers)
    summary, acks = ReplaySummary(opts.topic), kio.Acks()
    try:
        t_load = time.perf_counter()
        incidents, raw, summary.rejections, summary.rows = await asyncio.to_thread(
            load, paths, profile, keep_raw=opts.send_invalid, should_stop=stop.is_set
        )
        batch = _select(incidents, opts, profile.zone)
        summary.selected, summary.filtered = len(batch), len(incidents) - len(batch)
        summary.load_s = time.perf_counter() - t_load
        if batch:
            summary.first_event, summary.last_event = batch[0].occurred_at, batch[-1].occurred_at
        t_send = time.perf_counter()
        try:
            await _produce(producer, opts, batch, raw, stop, acks)
        except Exception as exc:  # a send the client refused: stop, report what got through
            summary.error = f"{type(exc).__name__}: {exc}"
        try:
            await asyncio.wait_for(producer.flush(), 60)
        except TimeoutError:
            summary.error = summary.error or "timed out waiting for acknowledgements"
        summary.elapsed_s = time.perf_counter() - t_send
    finally:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(producer.stop(), 30)
    summary.sent, summary.invalid_sent = acks.ok["incident"], acks.ok["raw"]
    summary.failed = acks.failed
    if acks.pending:
        summary.failed["not acknowledged"] += acks.pending
    summary.interrupted = stop.is_set()
    return summary


async def _produce(
    producer: Any,
    opts: ReplayOptions,
    batch: list[Incident],
    raw: list[RawRow],
    stop: asyncio.Event,
    acks: kio.Acks,
) -> None:
    bad = (
        (None, r.line, [*([("id", r.id.encode())] if r.id else []), _CSV,
                        ("rejected", r.reason.encode())])
        for r in raw
    )  # fmt: skip
    await kio.send_all(producer, opts.topic, bad, acks, kind="raw", stop=stop)
    keys: dict[str, bytes] = {}

    def records() -> Iterator[kio.Record]:
        for inc in batch:
            d = inc.district
            key = None if d is None else keys.get(d) or keys.setdefault(d, d.encode())
            yield key, kio.encode_event(inc.to_event()), [("id", inc.id.encode()), _JSON]

    t0, speed, rate = (batch[0].timestamp if batch else 0.0), opts.speed, opts.rate
    due = (lambda n: (batch[n].timestamp - t0) / speed) if speed else None
    due = (lambda n: n / rate) if rate else due
    from tqdm import tqdm

    bar = tqdm(total=len(batch), unit="inc", desc=f"replay -> {opts.topic}", file=sys.stderr,
               disable=not opts.progress, mininterval=0.25, dynamic_ncols=True)  # fmt: skip
    try:
        await kio.send_all(producer, opts.topic, records(), acks, kind="incident", stop=stop,
                           due=due, on_sent=bar.update)  # fmt: skip
    finally:
        bar.close()


def add_replay_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the ``replay`` options to ``parser`` (a sub-command parser) and return it."""
    p, env = parser, Settings()
    p.add_argument("files", nargs="*", type=Path, metavar="FILE",
                   help="incident CSV export(s), plain or .gz, in the city's format, merged by "
                   f"event time (default: the bundled sample, {SAMPLE.name})")  # fmt: skip
    kio.add_broker_argument(p, INCIDENTS_TOPIC)
    p.add_argument("--city", metavar="NAME|PATH",
                   help="city profile: a bundled name or a .toml path (env PATROLSTREAM_CITY; "
                   f"default {env.city})")  # fmt: skip
    pace = p.add_mutually_exclusive_group()
    pace.add_argument("--speed", type=kio.non_negative, default=0.0, metavar="X",
                      help="seconds of event time per wall-clock second, e.g. 3600 = an hour "
                      "of history per second; 0 = as fast as possible (default 0)")  # fmt: skip
    pace.add_argument("--rate", type=kio.positive, default=0.0, metavar="N",
                      help="instead of --speed: a steady N incidents per second, whatever "
                      "their event times (for latency benchmarks)")  # fmt: skip
    p.add_argument("--limit", type=kio.count, metavar="N",
                   help="send only the first N selected incidents (event-time order)")  # fmt: skip
    p.add_argument("--district", action="append", metavar="ID",
                   help="send only this district's incidents (repeatable; 008 = 8)")  # fmt: skip
    p.add_argument("--from", dest="start", type=kio.when, metavar="DATE",
                   help="send only incidents at or after DATE (YYYY-MM-DD or ISO date-time; "
                   "the city's local time unless an offset is given)")  # fmt: skip
    p.add_argument("--to", dest="end", type=kio.when, metavar="DATE",
                   help="send only incidents up to DATE (a date is included whole; a "
                   "date-time is an exclusive bound)")  # fmt: skip
    p.add_argument("--send-invalid", action="store_true",
                   help="also send the rejected rows, first and raw (their original CSV "
                   "line, content-type text/csv), to exercise the dead-letter path")  # fmt: skip
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return p


def replay_main(ns: argparse.Namespace) -> int:
    """Run ``patrolstream replay`` from parsed arguments; returns the exit status.

    0: everything selected was acknowledged; 1: broker unreachable or records failed;
    2: bad arguments or input; 128 + signal number when stopped by SIGINT/SIGTERM.
    """
    settings = Settings.from_env().override(broker=ns.broker, city=ns.city)
    paths: list[Path] = ns.files or [SAMPLE]
    try:
        bootstrap_servers(settings.broker)
        if missing := [str(p) for p in paths if not p.is_file()]:
            raise ValueError(f"no such file: {', '.join(missing)}")
        options = ReplayOptions(
            broker=settings.broker, city=load_profile(settings.city),
            topic=kio.topic_name(ns.topic, INCIDENTS_TOPIC, settings),
            speed=ns.speed, rate=ns.rate, limit=ns.limit,
            districts=frozenset(ns.district) if ns.district else None,
            start=ns.start, end=ns.end, send_invalid=ns.send_invalid,
            progress=not ns.no_progress,
        )  # fmt: skip
        summary, signum = kio.run_until_signal(
            lambda stop: replay(paths, options, stop=stop),
            "stopping, waiting for the broker to acknowledge what was sent",
        )
    except (ValueError, ProfileError, BrokerError) as exc:  # ValueError: also a wrong header
        print(f"error: {exc}", file=sys.stderr)
        return 1 if isinstance(exc, BrokerError) else 2
    print(summary.format(), flush=True)
    if signum is not None:
        return 128 + signum
    return 1 if summary.failed or summary.error else 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m simulators.replay``."""
    parser = argparse.ArgumentParser(
        prog="python -m simulators.replay", description=DESCRIPTION, epilog=EPILOG
    )
    return replay_main(add_replay_arguments(parser).parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
