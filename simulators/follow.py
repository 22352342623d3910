"""``patrolstream routes``: print the route updates on ``patrol.routes.v1``, for dispatch.

One line per route (as ``Route.summary()`` formats it), or the GeoJSON document itself with
``--json``. The consumer joins no consumer group: it assigns itself every partition of the
topic, so several dispatch screens each see every route, and it commits nothing.

Without ``--follow`` the topic is read from the beginning up to the end offsets found at
start, then the command exits. With ``--follow`` it keeps running and prints new routes as
they come (from the end of the topic, or from the beginning with ``--from-beginning``) until
Ctrl-C (SIGINT) or SIGTERM, which stop it cleanly with exit status 0.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TextIO

from patrol.incidents.profile import normalise_code
from simulators import kafka_io as kio
from simulators.kafka_io import ROUTES_TOPIC, BrokerError, bootstrap_servers
from simulators.settings import Settings

DESCRIPTION = (
    "Print the patrol route updates on the routes topic, one line per route (district, date, "
    "shift, unit, version, planner, way-points, km, minutes, expected incidents), or the "
    "GeoJSON with --json. Joins no consumer group: every screen sees every route."
)
EPILOG = (
    "Without --follow: read the topic from the beginning up to its current end, then exit. "
    "With --follow: keep printing new routes until Ctrl-C (exit status 0). Exit status 1 when "
    "the broker cannot be reached, 2 on bad arguments."
)


def route_summary(doc: Mapping[str, Any]) -> str:
    """One line for a route GeoJSON document, the same as ``Route.summary()`` for its route.

    Examples
    --------
    >>> print(route_summary({"district": "8", "date": "2016-09-20", "shift": "08-16",
    ...     "unit": 1, "version": 3, "planner": "cpspa", "total_distance_m": 12345.0,
    ...     "total_time_s": 5400.0, "expected_incidents": 1.234, "features": [
    ...         {"geometry": {"type": "LineString"}}, {"geometry": {"type": "Point"}}]}))
    ... # doctest: +NORMALIZE_WHITESPACE
    district=  8 date=2016-09-20 shift=08-16 unit=1 v3 planner=cpspa waypoints=1
    km=12.3 min=90 expected=1.23
    """
    waypoints = sum(
        1 for f in doc.get("features") or () if (f.get("geometry") or {}).get("type") == "Point"
    )
    return (
        f"district={doc['district']:>3} date={doc['date']} shift={doc['shift']} "
        f"unit={doc['unit']} v{doc['version']} planner={doc['planner']} waypoints={waypoints} "
        f"km={float(doc['total_distance_m']) / 1000:.1f} "
        f"min={float(doc['total_time_s']) / 60:.0f} "
        f"expected={float(doc['expected_incidents']):.2f}"
    )


@dataclass(frozen=True)
class FollowOptions:
    """What to print (the command's flags; see ``--help``)."""

    broker: str = Settings().broker
    topic: str = ROUTES_TOPIC
    districts: frozenset[str] | None = None
    follow: bool = False
    from_beginning: bool = False
    json: bool = False
    max: int | None = None


@dataclass
class FollowSummary:
    """What :func:`follow` read: routes printed, filtered out, and records it could not read."""

    printed: int = 0
    filtered: int = 0
    bad: int = 0


def _line(value: bytes | None, opts: FollowOptions, wanted: set[str] | None) -> str | None:
    """The line to print for a record (``None``: filtered out); ValueError when unreadable."""
    try:
        doc = json.loads(value or b"")
        if not isinstance(doc, dict):
            raise TypeError(f"expected a JSON object, got {type(doc).__name__}")
        if wanted is not None and normalise_code(str(doc.get("district"))) not in wanted:
            return None
        if opts.json:
            return json.dumps(doc, separators=(",", ":"))
        return route_summary(doc)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ValueError(f"not a route document ({type(exc).__name__}: {exc})") from None


async def _partitions(consumer: Any, topic: str, wait: bool, stop: asyncio.Event) -> list[Any]:
    """The topic's partitions; waits for the topic to exist when ``wait``, else [] if none."""
    from aiokafka import TopicPartition

    told = False
    while True:
        parts = await kio.topic_partitions(consumer, topic)
        if parts:
            return [TopicPartition(topic, p) for p in parts]
        if not wait:
            print(f"topic {topic} does not exist (yet): no routes", file=sys.stderr)
            return []
        if not told:
            print(f"waiting for topic {topic} to be created...", file=sys.stderr)
            told = True
        if await kio.sleep_or_stop(stop, 1.0):
            return []


async def follow(
    options: FollowOptions | None = None,
    out: TextIO | None = None,
    *,
    stop: asyncio.Event | None = None,
) -> FollowSummary:
    """Print the routes of ``options.topic`` to ``out`` (default stdout).

    Parameters
    ----------
    options
        Broker, topic, filters and mode (see :class:`FollowOptions`).
    out
        Where the lines go; unreadable records are reported on stderr and skipped.
    stop
        Set it to stop (the command does on SIGINT/SIGTERM).

    Raises
    ------
    BrokerError
        The broker cannot be reached.
    """
    opts = options or FollowOptions()
    out = out or sys.stdout
    stop = stop or asyncio.Event()
    wanted = {normalise_code(d) for d in opts.districts} if opts.districts else None
    servers = bootstrap_servers(opts.broker)
    consumer = kio.make_consumer(servers)
    await kio.start_client(consumer, servers)
    summary = FollowSummary()
    try:
        tps = await _partitions(consumer, opts.topic, opts.follow, stop)
        if not tps or opts.max == 0:
            return summary
        consumer.assign(tps)
        if opts.from_beginning or not opts.follow:
            await consumer.seek_to_beginning(*tps)
        else:
            await consumer.seek_to_end(*tps)
        ends = None if opts.follow else await consumer.end_offsets(tps)
        while not stop.is_set():
            if ends is not None:
                done = [tp for tp in ends if await consumer.position(tp) >= ends[tp]]
                for tp in done:
                    del ends[tp]
                if not ends:
                    break
            batches = await consumer.getmany(*tps, timeout_ms=300)
            for tp, records in sorted(batches.items(), key=lambda kv: kv[0].partition):
                for rec in records:
                    try:
                        line = _line(rec.value, opts, wanted)
                    except ValueError as exc:
                        summary.bad += 1
                        print(f"skipped {tp.topic}[{tp.partition}]@{rec.offset}: {exc}",
                              file=sys.stderr)  # fmt: skip
                        continue
                    if line is None:
                        summary.filtered += 1
                        continue
                    print(line, file=out, flush=True)
                    summary.printed += 1
                    if opts.max is not None and summary.printed >= opts.max:
                        return summary
    finally:
        await consumer.stop()
    return summary


def add_routes_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the ``routes`` options to ``parser`` (a sub-command parser) and return it."""
    p = parser
    kio.add_broker_argument(p, ROUTES_TOPIC)
    p.add_argument(
        "--district",
        action="append",
        metavar="ID",
        help="print only this district's routes (repeatable; 008 = 8)",
    )
    p.add_argument(
        "--follow",
        "-f",
        action="store_true",
        help="keep running and print new routes as they come, until Ctrl-C",
    )
    p.add_argument(
        "--from-beginning",
        action="store_true",
        help="with --follow: start from the oldest route kept on the topic, not only new "
        "ones (without --follow the topic is always read from its beginning)",
    )
    p.add_argument(
        "--json",
        action="store_true",
        help="print each route's GeoJSON document on one line instead of the summary",
    )
    p.add_argument("--max", type=kio.count, metavar="N", help="stop after printing N routes")
    return p


def routes_main(ns: argparse.Namespace) -> int:
    """Run ``patrolstream routes`` from parsed arguments; returns the exit status.

    0: done (also after Ctrl-C/SIGTERM); 1: broker unreachable; 2: bad arguments.
    """
    settings = Settings.from_env().override(broker=ns.broker)
    try:
        options = FollowOptions(
            broker=settings.broker, topic=kio.topic_name(ns.topic, ROUTES_TOPIC, settings),
            districts=frozenset(ns.district) if ns.district else None, follow=ns.follow,
            from_beginning=ns.from_beginning, json=ns.json, max=ns.max,
        )  # fmt: skip
        bootstrap_servers(options.broker)
        summary, _ = kio.run_until_signal(lambda stop: follow(options, stop=stop), "stopping")
    except (ValueError, BrokerError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1 if isinstance(exc, BrokerError) else 2
    if summary.bad:
        print(f"{summary.bad} unreadable record(s) skipped", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m simulators.follow``."""
    parser = argparse.ArgumentParser(
        prog="python -m simulators.follow", description=DESCRIPTION, epilog=EPILOG
    )
    return routes_main(add_routes_arguments(parser).parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
