"""Scale-out through the real broker: two workers of one group share the partitions; when one
stops, the other takes its districts over, rebuilds them from the changelog and keeps emitting
their routes, and the routes and history end equal to the embedded run."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest

from simulators.settings import Settings
from streams.app import HISTORY_TABLE

SETTINGS = {"min_incidents": 30, "replan_every": 20, "material_m": 50.0}
DISTRICTS = {"002", "004", "006", "008", "011", "012"}


def _assigned(worker: Any, topic: str) -> list[str]:
    """The partitions of ``topic`` in the worker's latest assignment."""
    found = [r for r in worker.logs() if r.get("msg") == "partitions assigned"]
    parts = found[-1].get("partitions", []) if found else []
    return [p for p in parts if p.rpartition(":")[0] == topic]


def _emitted(worker: Any) -> list[dict[str, Any]]:
    return [r for r in worker.logs() if r.get("msg") == "route emitted"]


@pytest.mark.kafka
async def test_a_stopped_workers_districts_move_to_the_other(
    require_broker: Callable[[], str],
    worker_factory: Callable[..., Any],
    produce: Callable[..., Any],
    consume: Callable[..., Any],
    sliced: Callable[..., list[Any]],
    helpers: Any,
) -> None:
    bootstrap = require_broker()
    incidents = sliced(DISTRICTS, 4)
    half = len(incidents) // 2
    settings = Settings().override(**SETTINGS)
    want_half = helpers.run_embedded(incidents[:half], settings)
    want = helpers.run_embedded(incidents, settings)

    a = await worker_factory(bootstrap, stats_interval_s=0.5, **SETTINGS).start()
    b = await a.respawn().start()  # same app id and topics: the same consumer group
    changelog = f"{a.env['PATROLSTREAM_APP_ID']}-{HISTORY_TABLE}-changelog"
    valid = a.topics.valid
    for _ in range(240):  # both in the group, sharing the source partitions
        if len(_assigned(a, valid)) == 2 and len(_assigned(b, valid)) == 2:
            break
        assert a.alive() and b.alive(), a.tail() + b.tail()
        await asyncio.sleep(0.25)
    assert len(_assigned(a, valid)) == 2 and len(_assigned(b, valid)) == 2, a.tail() + b.tail()

    await produce(bootstrap, a.topics.incidents, [helpers.message(i) for i in incidents[:half]])
    got = await helpers.until_history(bootstrap, changelog, want_half.histories, a.alive)
    assert got == want_half.histories
    moved = {r["district"] for r in _emitted(b)}
    kept = {r["district"] for r in _emitted(a)}
    assert moved and kept and not moved & kept, (moved, kept)
    before = len(_emitted(a))

    assert b.stop() == 0, b.tail()
    await produce(bootstrap, a.topics.incidents, [helpers.message(i) for i in incidents[half:]])
    got = await helpers.until_history(bootstrap, changelog, want.histories, a.alive)
    assert a.alive(), a.tail()
    assert got == want.histories  # the moved districts continued from their changelog

    restored = {r["district"] for r in a.logs() if r.get("msg") == "district restored"}
    assert moved <= restored
    taken_over = {r["district"] for r in _emitted(a)[before:]}
    assert moved <= taken_over, "the surviving worker emitted no route for a moved district"

    records = await consume(
        bootstrap,
        a.topics.routes,
        until=lambda recs: len(recs) >= len(want.routes),
        quiet_s=2.0,
        timeout_s=45.0,
        alive=a.alive,
    )
    docs = [json.loads(r.value) for r in records]
    slots = helpers.by_slot(docs)
    for slot, routes in slots.items():  # per slot, versions only go up (or repeat a resend)
        versions = [r["version"] for r in routes]
        assert versions == sorted(versions), slot
    for district in moved:
        after_half = [d for d in want.routes[len(want_half.routes) :] if d["district"] == district]
        assert after_half, f"the embedded run emits nothing for {district} after the stop"
        for doc in after_half:
            assert doc in slots[(doc["district"], doc["date"], doc["shift"])], doc["route_id"]
    assert {s: r[-1] for s, r in slots.items()} == {
        s: r[-1] for s, r in helpers.by_slot(want.routes).items()
    }
    states, cursors = helpers.restore_states(got, settings)
    assert (states, cursors) == (want.states, want.cursors)
