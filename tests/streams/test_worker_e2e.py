"""End to end through the real broker: real incidents in, a worker subprocess, GeoJSON routes
out, equal to the embedded mode's stream replay of the same incidents (the parity test)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest

from patrol.incidents.profile import CityProfile
from patrol.routes import validate_route_geojson
from simulators.embedded import replay_stream
from simulators.settings import Settings

SETTINGS = {"min_incidents": 50, "replan_every": 25, "material_m": 50.0}


@pytest.mark.kafka
async def test_routes_from_kafka_equal_the_embedded_stream_replay(
    require_broker: Callable[[], str],
    worker_factory: Callable[..., Any],
    produce: Callable[..., Any],
    consume: Callable[..., Any],
    sliced: Callable[..., list[Any]],
    chicago: CityProfile,
    helpers: Any,
) -> None:
    bootstrap = require_broker()
    incidents = sliced({"008", "011"}, 10)
    assert len(incidents) > 900
    settings = Settings().override(**SETTINGS)
    engine = settings.make_engine(chicago)
    expected = [r.to_geojson() for r in replay_stream(engine, incidents, settings.policy_config())]
    assert len(expected) > 60
    assert {d["version"] for d in expected} >= {1, 2}  # shift starts and debounced revisions

    worker = await worker_factory(bootstrap, **SETTINGS).start()
    started = time.monotonic()
    messages = [helpers.message(inc) for inc in incidents]
    await produce(bootstrap, worker.topics.incidents, messages)
    records = await consume(
        bootstrap,
        worker.topics.routes,
        until=lambda recs: len(recs) >= len(expected),
        quiet_s=2.0,
        timeout_s=45.0,
        alive=worker.alive,
    )
    elapsed = time.monotonic() - started
    assert worker.alive(), worker.tail()

    docs = [json.loads(r.value) for r in records]
    for rec, doc in zip(records, docs, strict=True):
        assert validate_route_geojson(doc) == [], doc["route_id"]
        assert rec.key.decode() == f"{doc['district']}/{doc['shift']}"
    got, want = helpers.by_slot(docs), helpers.by_slot(expected)
    assert sorted(got) == sorted(want), f"{len(docs)} routes vs {len(expected)} in {elapsed:.1f} s"
    for slot, routes in want.items():
        assert [r["version"] for r in got[slot]] == [r["version"] for r in routes], slot
        assert got[slot] == routes, slot  # byte-for-byte the same GeoJSON content
    stats = worker.wait_for_stats(lambda s: sum(s["outcomes"].values()) == len(incidents))
    assert stats["dead_letters"] == {} and stats["processing_errors"] == 0
    assert stats["outcomes"] == {"new": len(incidents)}  # each learned once
    assert stats["routes"] == len(expected)


@pytest.mark.kafka
async def test_a_restarted_worker_continues_from_the_changelog(
    require_broker: Callable[[], str],
    worker_factory: Callable[..., Any],
    produce: Callable[..., Any],
    consume: Callable[..., Any],
    sliced: Callable[..., list[Any]],
    chicago: CityProfile,
    helpers: Any,
) -> None:
    """Stop a worker half-way, start a new process: it rebuilds the districts from the
    changelog, ignores redelivered incidents, and the routes still equal the replay."""
    bootstrap = require_broker()
    incidents = sliced({"008", "011"}, 6)
    settings = Settings().override(**SETTINGS)
    engine = settings.make_engine(chicago)
    expected = [r.to_geojson() for r in replay_stream(engine, incidents, settings.policy_config())]

    half = len(incidents) // 2
    first = await worker_factory(bootstrap, **SETTINGS).start()
    await produce(bootstrap, first.topics.incidents, [helpers.message(i) for i in incidents[:half]])
    before = first.wait_for_stats(lambda s: s["valid"] == half and s["history_entries"] == half)
    assert first.stop() == 0, first.tail()

    second = await first.respawn().start()
    redelivered = incidents[half - 40 : half]  # as if the last offsets had not been committed
    rest = [helpers.message(i) for i in [*redelivered, *incidents[half:]]]
    await produce(bootstrap, second.topics.incidents, rest)
    records = await consume(
        bootstrap,
        second.topics.routes,
        until=lambda recs: len(recs) >= len(expected),
        quiet_s=2.0,
        timeout_s=45.0,
        alive=second.alive,
    )
    after = second.wait_for_stats(lambda s: s["valid"] == len(rest))
    assert after["restored_entries"] == before["history_entries"]
    assert after["outcomes"] == {"duplicate": 40, "new": len(incidents) - half}
    got = helpers.by_slot([json.loads(r.value) for r in records])
    assert got == helpers.by_slot(expected)
