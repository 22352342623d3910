"""Crash recovery through the real broker: a worker killed with SIGKILL in the middle of a
replay, twice, and restarted each time, ends with exactly the routes and the district state
of an uninterrupted embedded run of the same input (revisions and duplicates included):
nothing lost, nothing counted twice. The second test snapshots often, so that snapshots and
the deletes they allow happen mid-replay and restores start from snapshots; its history stays
bounded."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest

from simulators.settings import Settings
from streams.app import HISTORY_TABLE
from streams.history import HistoryStore, manifest_key, parse_key

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

    await _same_routes(consume, bootstrap, worker, want, helpers)


async def _same_routes(consume: Any, bootstrap: str, worker: Any, want: Any, helpers: Any) -> None:
    """The routes topic holds every emission of the embedded run (re-emissions identical) and
    the same last route per slot."""
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


def _restored(table: dict[str, Any], settings: Settings) -> tuple[dict, dict]:
    """District states and cursors as a restarting worker rebuilds them from the changelog
    (snapshot + the entries after it)."""
    from patrol.policy import EmissionPolicy

    policy = EmissionPolicy(settings.make_engine(), settings.policy_config())
    store = HistoryStore(dict(table), settings.snapshot_every)
    for district in sorted({parse_key(k).district for k in table}):

        def rebuild(snap: Any, entries: list[Any], base: int, d: str = district) -> None:
            policy.restore(d, entries, snap)
            policy.cursors[d].entries = base + len(entries)

        assert not store.load(district, rebuild).lossy, district
    states = {d: json.loads(json.dumps(st.to_dict())) for d, st in policy.engine.districts.items()}
    cursors = {d: json.loads(json.dumps(c.to_dict())) for d, c in policy.cursors.items()}
    return states, cursors


@pytest.mark.kafka
async def test_killed_twice_while_snapshotting_ends_like_the_embedded_run_bounded(
    require_broker: Callable[[], str],
    worker_factory: Callable[..., Any],
    produce: Callable[..., Any],
    consume: Callable[..., Any],
    sliced: Callable[..., list[Any]],
    helpers: Any,
) -> None:
    bootstrap = require_broker()
    every = 40
    stream = helpers.with_revisions_and_duplicates(sliced({"008", "011"}, 6))
    settings = Settings().override(snapshot_every=every, **SETTINGS)
    want = helpers.run_embedded(stream, settings)
    assert all(len(h) > 5 * every for h in want.histories.values())

    thirds = [stream[: len(stream) // 3], stream[len(stream) // 3 : 2 * len(stream) // 3]]
    thirds.append(stream[2 * len(stream) // 3 :])
    worker = await worker_factory(
        bootstrap, stats_interval_s=0.2, snapshot_every=every, **SETTINGS
    ).start()
    changelog = f"{worker.env['PATROLSTREAM_APP_ID']}-{HISTORY_TABLE}-changelog"
    workers = [worker]
    for n, chunk in enumerate(thirds):
        await produce(bootstrap, worker.topics.incidents, [helpers.message(i) for i in chunk])
        if n == len(thirds) - 1:
            break
        # Kill -9 once this worker has written snapshots (and deleted what they cover).
        worker.wait_for_stats(lambda s: s["snapshots"] >= 2 and s["history_entries"] >= 10, 90)
        assert worker.kill() == -9
        worker = await worker.respawn().start()
        workers.append(worker)

    table: dict[str, Any] = {}
    got: tuple[dict, dict] = ({}, {})
    for _ in range(120):  # until the changelog rebuilds the embedded run's state, or 60 s
        table = await helpers.read_changelog(bootstrap, changelog)
        got = _restored(table, settings)
        if got == (want.states, want.cursors) or not worker.alive():
            break
        await asyncio.sleep(0.5)
    assert worker.alive(), worker.tail()
    assert got[0] == want.states  # nothing lost, nothing counted twice
    assert got[1] == want.cursors

    # Restarted workers rebuilt districts from snapshots, and the history stayed bounded:
    # per district, the chunks since its snapshot, the snapshot's chunks and the manifest.
    restores = [r for w in workers[1:] for r in w.logs() if r.get("msg") == "district restored"]
    assert any(r["snapshot_seq"] > 0 for r in restores), restores
    assert any(r.get("msg") == "snapshot written" for r in worker.logs())
    for district, cursor in want.cursors.items():
        manifest = table[manifest_key(district)]
        kinds = [parse_key(k).kind for k in table if parse_key(k).district == district]
        assert kinds.count("manifest") == 1
        assert kinds.count("snapshot") == manifest["chunks"]
        assert kinds.count("entries") <= cursor["entries"] - manifest["seq"] < every
    assert len(table) < sum(len(h) for h in want.histories.values()) // 10

    await _same_routes(consume, bootstrap, worker, want, helpers)
