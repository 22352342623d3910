"""``patrolstream routes``: the summary line and arguments without a broker; reading,
filtering and following ``patrol.routes.v1``-like topics on the real local broker (``kafka``
marker: FAILS, never skips, when the broker is missing)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from patrol.routes import Route, Waypoint, validate_route_geojson
from simulators.follow import (
    FollowOptions,
    add_routes_arguments,
    follow,
    route_summary,
    routes_main,
)
from streams import kafka_local as kl

ROOT = Path(__file__).resolve().parents[2]
CST = timezone(timedelta(hours=-5))


def make_route(district: str, shift: str = "08-16", version: int = 1, n: int = 3) -> Route:
    """A small valid route: ``n`` way-points north of the district's made-up start."""
    start = (41.88, -87.63)
    t0 = datetime(2016, 9, 20, 8, tzinfo=CST)
    wps = tuple(
        Waypoint(sequence=k, latitude=41.88 + 0.01 * k, longitude=-87.63, eta=t0 + k * timedelta(
            minutes=20), probability=0.2 * k, cluster=k - 1, leg_distance_m=1111.0,
            leg_time_s=300.0, rule="hotspot")
        for k in range(1, n + 1)
    )  # fmt: skip
    return Route(
        district=district, shift=shift, date="2016-09-20", unit=1, version=version,
        planner="cpspa", generated_at=t0, start=start, waypoints=wps,
        path=(start, *((w.latitude, w.longitude) for w in wps)),
        total_distance_m=1111.0 * n, total_time_s=300.0 * n + 1800, expected_incidents=0.6 * n,
        model={"planner": "cpspa"},
    )  # fmt: skip


def _parse(*argv: str) -> argparse.Namespace:
    return add_routes_arguments(argparse.ArgumentParser()).parse_args(list(argv))


# --------------------------------------------------------------------------------------
# no broker
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [0, 1, 4])
def test_route_summary_is_route_summary(n: int) -> None:
    route = make_route("8", version=7, n=n) if n else make_route("11", n=0)
    doc = json.loads(json.dumps(route.to_geojson()))
    assert route_summary(doc) == route.summary()


def test_arguments() -> None:
    ns = _parse("--broker", "kafka://h:1", "--topic", "t", "--district", "8", "--district",
                "011", "--follow", "--from-beginning", "--json", "--max", "3")  # fmt: skip
    assert (ns.broker, ns.topic, ns.district, ns.max) == ("kafka://h:1", "t", ["8", "011"], 3)
    assert ns.follow and ns.from_beginning and ns.json
    d = _parse()
    assert (d.broker, d.topic, d.district, d.follow, d.from_beginning, d.json, d.max) == (
        None, None, None, False, False, False, None,
    )  # fmt: skip
    assert _parse("-f").follow
    with pytest.raises(SystemExit):
        _parse("--max", "-1")


def test_help_explains_every_option() -> None:
    out = subprocess.run([sys.executable, "-m", "simulators.follow", "--help"], cwd=ROOT,
                         capture_output=True, text=True, timeout=60, check=True).stdout  # fmt: skip
    for option in ("--broker", "--topic", "--district", "--follow", "--from-beginning",
                   "--json", "--max"):  # fmt: skip
        assert option in out


def test_unreachable_broker_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert routes_main(_parse("--broker", "127.0.0.1:1")) == 1
    assert "cannot reach the Kafka broker at 127.0.0.1:1" in capsys.readouterr().err
    assert routes_main(_parse("--broker", "no-port")) == 2


# --------------------------------------------------------------------------------------
# the real local broker
# --------------------------------------------------------------------------------------


def require_broker() -> str:
    """Bootstrap of the running broker; FAILS the test (never skips) when nothing answers."""
    bootstrap = kl.default_bootstrap()
    if not kl.is_reachable(bootstrap, timeout=5.0):
        pytest.fail(
            f"no Kafka broker answers at {bootstrap} (${kl.ENV_BOOTSTRAP}). Start one with "
            "`patrolstream kafka start` (or `python -m streams.kafka_local start`) and rerun.",
            pytrace=False,
        )
    return bootstrap


@contextlib.asynccontextmanager
async def routes_topic(docs: list[Any]) -> AsyncIterator[tuple[str, str, Any]]:
    """``(bootstrap, topic, producer)``: a new topic holding ``docs`` (dicts as JSON, bytes
    as they are), keyed district/shift like the worker; deleted afterwards."""
    from aiokafka import AIOKafkaProducer
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    bootstrap = require_broker()
    topic = f"test-routes-{uuid.uuid4().hex[:10]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=15000)
    await admin.start()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    try:
        await admin.create_topics([NewTopic(topic, 3, replication_factor=1)])
        await producer.start()
        for doc in docs:
            await send_route(producer, topic, doc)
        yield bootstrap, topic, producer
    finally:
        try:
            await producer.stop()
            await admin.delete_topics([topic])
        finally:
            await admin.close()


async def send_route(producer: Any, topic: str, doc: Any) -> None:
    if isinstance(doc, bytes):
        await producer.send_and_wait(topic, doc, key=b"x")
        return
    key = f"{doc['district']}/{doc['shift']}".encode()
    await producer.send_and_wait(topic, json.dumps(doc).encode(), key=key)


async def main(*argv: str) -> int:
    """``routes_main`` as the command runs it (its own event loop, here in a thread)."""
    return await asyncio.to_thread(routes_main, _parse(*argv))


ROUTES = [make_route("8", "00-08"), make_route("11", "08-16", n=2), make_route("8", "08-16", 2)]


@pytest.mark.kafka
async def test_reads_what_is_there_filters_and_exits(capsys: pytest.CaptureFixture[str]) -> None:
    docs = [r.to_geojson() for r in ROUTES]
    async with routes_topic([*docs, b"not json"]) as (bootstrap, topic, _):
        args = ["--broker", bootstrap, "--topic", topic]
        assert await main(*args, "--from-beginning", "--max", "3") == 0
        out, err = capsys.readouterr()
        assert sorted(out.splitlines()) == sorted(r.summary() for r in ROUTES)
        assert await main(*args, "--district", "008") == 0  # caught up: exits
        out, err = capsys.readouterr()
        assert sorted(out.splitlines()) == sorted(r.summary() for r in ROUTES if r.district == "8")
        assert "skipped" in err and "1 unreadable record(s) skipped" in err
        assert await main(*args, "--json", "--district", "11") == 0
        (line,) = capsys.readouterr().out.splitlines()
        assert json.loads(line) == docs[1] and not validate_route_geojson(json.loads(line))


@pytest.mark.kafka
async def test_follow_prints_new_routes_until_stopped() -> None:
    async with routes_topic([ROUTES[0].to_geojson()]) as (bootstrap, topic, producer):
        out, stop = io.StringIO(), asyncio.Event()
        opts = FollowOptions(broker=bootstrap, topic=topic, follow=True)
        task = asyncio.create_task(follow(opts, out, stop=stop))
        await asyncio.sleep(1.5)  # positioned at the end: the old route is not printed
        for route in ROUTES[1:]:
            await send_route(producer, topic, route.to_geojson())
        async with asyncio.timeout(15):
            while out.getvalue().count("\n") < 2:
                await asyncio.sleep(0.05)
        stop.set()
        summary = await asyncio.wait_for(task, 5)
        assert out.getvalue().splitlines() == [r.summary() for r in ROUTES[1:]]
        assert summary.printed == 2
        again = io.StringIO()
        opts = FollowOptions(broker=bootstrap, topic=topic, follow=True, from_beginning=True,
                             max=3)  # fmt: skip
        await asyncio.wait_for(follow(opts, again), 15)
        assert sorted(again.getvalue().splitlines()) == sorted(r.summary() for r in ROUTES)


@pytest.mark.kafka
async def test_missing_topic_is_not_created(capsys: pytest.CaptureFixture[str]) -> None:
    bootstrap = require_broker()
    topic = f"test-routes-missing-{uuid.uuid4().hex[:8]}"
    summary = await follow(FollowOptions(broker=bootstrap, topic=topic))
    assert summary.printed == 0 and "does not exist" in capsys.readouterr().err
    stop = asyncio.Event()
    task = asyncio.create_task(follow(FollowOptions(bootstrap, topic, follow=True), stop=stop))
    await asyncio.sleep(1.5)
    stop.set()
    assert (await asyncio.wait_for(task, 5)).printed == 0
    assert "waiting for topic" in capsys.readouterr().err
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        assert topic not in await admin.list_topics()
    finally:
        await admin.close()


@pytest.mark.kafka
async def test_ctrl_c_stops_the_command_cleanly() -> None:
    async with routes_topic([r.to_geojson() for r in ROUTES]) as (bootstrap, topic, _):
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "simulators.follow", "--broker", bootstrap, "--topic", topic,
            "--follow", "--from-beginning", cwd=ROOT, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        try:
            assert proc.stdout is not None
            async with asyncio.timeout(20):
                lines = [(await proc.stdout.readline()).decode().rstrip() for _ in ROUTES]
            proc.send_signal(signal.SIGINT)
            async with asyncio.timeout(5):
                _, err = await proc.communicate()
        finally:
            if proc.returncode is None:
                proc.kill()
    assert sorted(lines) == sorted(r.summary() for r in ROUTES)
    assert proc.returncode == 0, err
    assert b"Traceback" not in err


def test_doctests() -> None:
    import doctest

    import simulators.follow

    assert doctest.testmod(simulators.follow).failed == 0
