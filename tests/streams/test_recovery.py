"""Crash recovery through the real broker: a worker killed with SIGKILL in the middle of a
replay, twice, and restarted each time, ends with exactly the routes and the district state
of an uninterrupted embedded run of the same input (revisions and duplicates included):
nothing lost, nothing counted twice."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from simulators.settings import Settings
from streams.app import HISTORY_TABLE

SETTINGS = {"min_incidents": 50, "replan_every": 25, "material_m": 50.0}


def _versions(docs: list[dict[str, Any]]) -> dict[tuple[Any, ...], dict[str, Any]]:
    """``(district, date, shift, version) -> route``; a route re-emitted after a crash must
    be the same route (same version, same content)."""
    out: dict[tuple[Any, ...], dict[str, Any]] = {}
    for doc in docs:
        key = (doc["district"], doc["date"], doc["shift"], doc["version"])
        assert out.setdefault(key, doc) == doc, f"{key} re-emitted with another content"
    return out


@pytest.mark.kafka
async def test_killed_twice_mid_replay_ends_like_the_embedded_run(
    require_broker: Callable[[], str],
    worker_factory: Callable[..., Any],
    produce: Callable[..., Any],
    consume: Callable[..., Any],
    sliced: Callable[..., list[Any]],
    helpers: Any,
) -> None:
    bootstrap = require_broker()
    incidents = sliced({"008", "011"}, 6)
    stream = helpers.with_revisions_and_duplicates(incidents)
    settings = Settings().override(**SETTINGS)
    want = helpers.run_embedded(stream, settings)
    ops = [op for entries in want.histories.values() for e in entries for op in e["ops"]]
    assert len(want.routes) > 20 and len(stream) > len(incidents) + 30
    assert sum(op[0] == "ingest" for op in ops) > len(incidents)  # revisions learned

    thirds = [stream[: len(stream) // 3], stream[len(stream) // 3 : 2 * len(stream) // 3]]
    thirds.append(stream[2 * len(stream) // 3 :])
    worker = await worker_factory(bootstrap, stats_interval_s=0.2, **SETTINGS).start()
    changelog = f"{worker.env['PATROLSTREAM_APP_ID']}-{HISTORY_TABLE}-changelog"
    for n, chunk in enumerate(thirds):
        await produce(bootstrap, worker.topics.incidents, [helpers.message(i) for i in chunk])
        if n == len(thirds) - 1:
            break
        # Kill -9 once the worker is busy with this chunk (some of it learned, some not).
        worker.wait_for_stats(lambda s: s["history_entries"] >= 10, 60)
        assert worker.kill() == -9
        worker = await worker.respawn().start()

    # Poll the changelog until it holds the whole history (the worker is done) or time out.
    got = await helpers.until_history(bootstrap, changelog, want.histories, worker.alive)
    assert worker.alive(), worker.tail()
    restarts = [r for r in worker.logs() if r.get("msg") == "district restored"]
    assert restarts, "the last worker never rebuilt a district from the changelog"
    # Nothing lost, nothing counted twice: the same history, entry for entry ...
    assert sorted(got) == sorted(want.histories)
    for district, entries in want.histories.items():
        assert len(got[district]) == len(entries), district
        assert got[district] == entries, district
    # ... hence the same district state (rebuilt as a restarting worker would).
    states, cursors = helpers.restore_states(got, settings)
    assert states == want.states
    assert cursors == want.cursors

    records = await consume(
        bootstrap,
        worker.topics.routes,
        until=lambda recs: len(recs) >= len(want.routes),
        quiet_s=2.0,
        timeout_s=45.0,
        alive=worker.alive,
    )
    docs = [json.loads(r.value) for r in records]
    assert _versions(docs) == _versions(want.routes)  # every emission, re-emissions identical
    last = {slot: routes[-1] for slot, routes in helpers.by_slot(docs).items()}
    assert last == {slot: routes[-1] for slot, routes in helpers.by_slot(want.routes).items()}
