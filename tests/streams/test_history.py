"""The district history store (streams.history) over a dict table, without a broker: chunks,
snapshots, compaction, and restores after crashes at every point of a snapshot and after torn
snapshots. The engine runs for real on sample incidents."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import random
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from patrol.config import EngineConfig
from patrol.engine import Engine
from patrol.incidents.parse import read_csv
from patrol.incidents.profile import CityProfile
from patrol.incidents.schema import Incident
from patrol.policy import EmissionPolicy, PolicyConfig
from streams.history import (
    HistoryStore,
    Restored,
    SnapshotError,
    decode_snapshot,
    encode_snapshot,
    history_key,
    manifest_key,
    parse_key,
)

EVERY = 60
CHUNK_CHARS = 4096  # small, so that snapshots have several chunks


class Crash(Exception):
    """The worker died (kill -9) in the middle of writing."""


class Table(dict[str, Any]):
    """A dict table that crashes after ``budget`` more writes or deletes (``None``: never)."""

    budget: int | None = None

    def _spend(self) -> None:
        if self.budget is not None:
            if self.budget <= 0:
                raise Crash
            self.budget -= 1

    def __setitem__(self, key: str, value: Any) -> None:
        self._spend()
        super().__setitem__(key, json.loads(json.dumps(value)))  # stored as JSON

    def __delitem__(self, key: str) -> None:
        self._spend()
        super().__delitem__(key)


def fresh(chicago: CityProfile) -> EmissionPolicy:
    return EmissionPolicy(Engine(chicago, EngineConfig(min_incidents=30)), PolicyConfig(10))


def state_of(policy: EmissionPolicy, district: str) -> str:
    st = policy.engine.districts[district].to_dict()
    return json.dumps([st, policy.cursors[district].to_dict()], sort_keys=True)


def flush(store: HistoryStore, policy: EmissionPolicy, batch: list[Incident]) -> None:
    """What the worker's flush does: one chunk per district, then the snapshots due."""
    steps: dict[str, list[tuple[int, Any]]] = {}
    for inc in batch:
        step = policy.process(inc)
        if step.entry is not None and step.seq is not None:
            steps.setdefault(step.district, []).append((step.seq, step.entry))
    for district, found in steps.items():
        store.append(district, found)
        if store.snapshot_due(district, found[-1][0]):
            store.write_snapshot(district, found[-1][0], policy.snapshot(district))


def batches(incidents: list[Incident], seed: int) -> Iterator[list[Incident]]:
    rng = random.Random(seed)
    i = 0
    while i < len(incidents):
        n = rng.choice([1, 1, 3, 7, 20, 45])
        yield incidents[i : i + n]
        i += n


def restore(table: Table, chicago: CityProfile) -> tuple[EmissionPolicy, dict[str, Restored]]:
    """A restarted worker: every district rebuilt from the table."""
    store = HistoryStore(table, EVERY, CHUNK_CHARS)
    policy = fresh(chicago)
    districts = {parse_key(k).district for k in table}
    done = {}
    for d in sorted(districts):

        def rebuild(snap: Any, entries: list[Any], base: int, d: str = d) -> None:
            policy.restore(d, entries, snap)
            policy.cursors[d].entries = base + len(entries)

        done[d] = store.load(d, rebuild)
        if done[d].lossy and d in policy.engine.districts:  # as the worker does
            store.write_snapshot(d, policy.cursors[d].entries, policy.snapshot(d))
    return policy, done


def live_keys(table: dict[str, Any], district: str) -> dict[str, int]:
    out = {"entries": 0, "snapshot": 0, "manifest": 0}
    for key in table:
        parsed = parse_key(key)
        if parsed.district == district:
            out[parsed.kind] += 1
    return out


@pytest.fixture(scope="module")
def incidents(slicer: Callable[[set[str], int], str], chicago: CityProfile) -> list[Incident]:
    """Real incidents of districts 8 and 11, 1-4 Sept 2016, with some redelivered."""
    batch = read_csv(io.StringIO(slicer({"008", "011"}, 4)), chicago)
    out = sorted(batch.incidents, key=lambda i: i.occurred_at)
    return out[:300] + out[250:270] + out[300:]


@pytest.fixture(scope="module")
def written(incidents: list[Incident], chicago: CityProfile) -> tuple[Table, EmissionPolicy]:
    """The table and the live policy after the whole input, in random micro-batches."""
    table = Table()
    store, live = HistoryStore(table, EVERY, CHUNK_CHARS), fresh(chicago)
    for batch in batches(incidents, 1):
        flush(store, live, batch)
    return table, live


def test_snapshots_compact_the_history_and_restore_exactly(
    written: tuple[Table, EmissionPolicy], chicago: CityProfile
) -> None:
    table, live = written
    for district, cur in live.cursors.items():
        manifest = table[manifest_key(district)]
        assert cur.entries > 3 * EVERY and manifest["chunks"] > 1
        keys = live_keys(table, district)
        since = cur.entries - manifest["seq"]
        assert 0 <= since < EVERY  # snapshotted at the flush that reached EVERY
        assert keys["entries"] <= since and keys["snapshot"] == manifest["chunks"]
        assert keys["manifest"] == 1
    policy, done = restore(Table(table), chicago)
    for district, cur in live.cursors.items():
        assert done[district].snapshot_seq == table[manifest_key(district)]["seq"] > 0
        assert done[district].seq == cur.entries and not done[district].lossy
        assert state_of(policy, district) == state_of(live, district)


def test_a_crash_at_any_point_of_a_snapshot_restores_exactly(
    incidents: list[Incident], chicago: CityProfile
) -> None:
    """Kill the writer after each possible number of writes of a snapshot that replaces an
    earlier one (chunks, manifest, deletes): the restart rebuilds the live state exactly and
    leaves no more keys than the bound."""
    table = Table()
    store, live = HistoryStore(table, 0, CHUNK_CHARS), fresh(chicago)  # snapshots by hand
    split = len(incidents) // 2
    for batch in batches(incidents[:split], 2):
        flush(store, live, batch)
    district = live.engine.district_of(incidents[0])
    first = live.cursors[district].entries
    store.write_snapshot(district, live.cursors[district].entries, live.snapshot(district))
    for batch in batches(incidents[split:], 3):
        flush(store, live, batch)
    seq, snap = live.cursors[district].entries, live.snapshot(district)
    n_chunks = len(encode_snapshot(snap, seq, CHUNK_CHARS)[1])
    ops = n_chunks + 1 + live_keys(table, district)["entries"] + n_chunks  # roughly
    used = set()
    for budget in range(ops + 2):
        copy = Table(table)
        writer = HistoryStore(copy, 0, CHUNK_CHARS)
        writer.load(district, lambda *_: None)  # its keys, as a running worker knows them
        copy.budget = budget  # then dies after this many writes
        with contextlib.suppress(Crash):
            writer.write_snapshot(district, seq, snap)
        copy.budget = None
        policy, done = restore(copy, chicago)
        assert state_of(policy, district) == state_of(live, district), budget
        assert not done[district].lossy
        used.add(done[district].snapshot_seq)
        manifest = copy[manifest_key(district)]
        keys = live_keys(copy, district)
        assert keys["snapshot"] == manifest["chunks"] and keys["manifest"] == 1, budget
        assert keys["entries"] <= seq - manifest["seq"], budget
    assert used == {first, seq}  # crashed before the manifest, and after it


def test_a_manifest_naming_a_lost_chunk_falls_back_to_the_previous_snapshot(
    incidents: list[Incident], chicago: CityProfile, caplog: pytest.LogCaptureFixture
) -> None:
    """Crash after the manifest, before the deletes, then a chunk of the new snapshot is
    lost: the previous snapshot and the entries after it still hold the whole history."""
    table = Table()
    store, live = HistoryStore(table, 0, CHUNK_CHARS), fresh(chicago)
    for batch in batches(incidents, 4):
        flush(store, live, batch)
        for d in live.cursors:
            if live.cursors[d].entries > 100 and not store.live_keys(d).manifest:  # type: ignore[union-attr]
                store.write_snapshot(d, live.cursors[d].entries, live.snapshot(d))
    district = sorted(live.cursors)[0]
    seq, snap = live.cursors[district].entries, live.snapshot(district)
    table.budget = len(encode_snapshot(snap, seq, CHUNK_CHARS)[1]) + 1  # chunks + manifest
    with pytest.raises(Crash):
        store.write_snapshot(district, seq, snap)
    table.budget = None
    dict.__delitem__(table, f"{district}|snapshot|{seq:010d}|0001")
    with caplog.at_level(logging.WARNING, logger="patrolstream.worker"):
        policy, done = restore(Table(table), chicago)
    assert any(r.msg == "snapshot unusable" for r in caplog.records)
    assert done[district].snapshot_seq < seq and not done[district].lossy
    for d in live.cursors:
        assert state_of(policy, d) == state_of(live, d)


def test_a_torn_snapshot_without_a_complete_state_is_rebuilt_from_what_remains(
    written: tuple[Table, EmissionPolicy], chicago: CityProfile, caplog: pytest.LogCaptureFixture
) -> None:
    """A manifest whose chunk was lost after the entries it covers were deleted: no complete
    state exists; an error is logged, the district is rebuilt from the remaining entries, and
    the worker snapshots what it rebuilt (a consistent, if incomplete, history again)."""
    table, live = Table(written[0]), written[1]
    district = sorted(live.cursors)[0]
    manifest = table[manifest_key(district)]
    key = f"{district}|snapshot|{manifest['seq']:010d}|0000"
    table[key] = {"v": 1, "data": table[key]["data"][::-1]}  # corrupted: sha256 mismatch
    with caplog.at_level(logging.WARNING, logger="patrolstream.worker"):
        policy, done = restore(table, chicago)
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert errors and errors[0].msg.startswith("district history incomplete")
    assert done[district].lossy and done[district].seq == live.cursors[district].entries
    assert policy.cursors[district].entries == live.cursors[district].entries
    healed = table[manifest_key(district)]
    assert healed["seq"] == live.cursors[district].entries and "previous" not in healed
    assert live_keys(table, district) == {"entries": 0, "snapshot": healed["chunks"], "manifest": 1}
    again, done_again = restore(Table(table), chicago)  # a restart finds the healed state
    assert not done_again[district].lossy
    assert state_of(again, district) == state_of(policy, district)
    assert state_of(policy, district) != state_of(live, district)  # what was lost is lost
    other = sorted(live.cursors)[1]
    assert state_of(policy, other) == state_of(live, other) and not done[other].lossy


def test_a_hole_after_the_snapshot_drops_what_follows(
    written: tuple[Table, EmissionPolicy], chicago: CityProfile
) -> None:
    table, live = Table(written[0]), written[1]
    district = sorted(live.cursors)[1]
    keys = [parse_key(k) for k in table]
    tail = sorted(k.seq for k in keys if k.district == district and k.kind == "entries")
    assert len(tail) >= 2
    del table[history_key(district, tail[0])]  # never committed: the rest is dropped
    _, done = restore(table, chicago)
    assert done[district].seq == table[manifest_key(district)]["seq"]
    assert done[district].deleted == len(tail) - 1
    assert live_keys(table, district)["entries"] == 0


def test_version_one_tables_restore(incidents: list[Incident], chicago: CityProfile) -> None:
    """A table written before chunks (one entry per key) restores, and grows in chunks."""
    table, live = Table(), fresh(chicago)
    for inc in incidents[:200]:
        step = live.process(inc)
        if step.entry is not None:
            table[history_key(step.district, step.seq)] = step.entry  # type: ignore[arg-type]
    policy, done = restore(table, chicago)
    for d in live.cursors:
        assert state_of(policy, d) == state_of(live, d) and done[d].entries == done[d].seq


def test_snapshot_encoding_checks_its_chunks() -> None:
    manifest, chunks = encode_snapshot({"x": list(range(5000))}, 9, chunk_chars=1000)
    assert len(chunks) > 2 and all(len(c) <= 1000 for c in chunks)
    assert decode_snapshot(manifest, chunks)["x"][-1] == 4999
    with pytest.raises(SnapshotError, match="missing"):
        decode_snapshot(manifest, [*chunks[:-1], None])
    with pytest.raises(SnapshotError, match="sha256"):
        decode_snapshot(manifest, [chunks[0][::-1], *chunks[1:]])
    with pytest.raises(ValueError):
        HistoryStore({}, -1)


@pytest.mark.parametrize("failing", [False, True])
async def test_the_worker_snapshots_and_restores_from_snapshots(
    tmp_path: Any,
    incidents: list[Incident],
    monkeypatch: pytest.MonkeyPatch,
    failing: bool,
) -> None:
    """The worker (offline: dict table, fake topics) writes one chunk per district per
    micro-batch and snapshots every 30 entries; rebuilt after a rebalance from its snapshots,
    it emits what one-at-a-time processing emits (one incident failing mid-batch or not),
    and its table stays bounded."""
    from streams import codec
    from streams.testing import FakeMessage, offline_app

    messages = [
        FakeMessage(inc.district.encode(), codec.incident_value(inc), offset=n)  # type: ignore[union-attr]
        for n, inc in enumerate(incidents)
    ]
    apps = []
    for name in ("one", "batched"):
        app = offline_app(tmp_path / name, snapshot_every=30)
        if failing:
            real = app.policy.process

            def process(incident: Any, real: Any = real) -> Any:
                if incident.id == incidents[len(incidents) // 3].id:
                    raise RuntimeError("injected")
                return real(incident)

            monkeypatch.setattr(app.policy, "process", process)
        apps.append(app)
    one, batched = apps
    half = len(messages) // 2
    for msg in messages[:half]:
        await one.handle_valid(msg)
    for start in range(0, half, 37):
        await batched.learn_batch(messages[start : min(start + 37, half)])
    for app in apps:  # a rebalance: every district rebuilt from its snapshot and chunks
        app._generation += 1
        app._reset()
    for msg in messages[half:]:
        await one.handle_valid(msg)
    for start in range(half, len(messages), 37):
        await batched.learn_batch(messages[start : start + 37])
    assert batched.routes_topic.sent == one.routes_topic.sent  # type: ignore[attr-defined]
    assert len(batched.history) < len(one.history)  # fewer, larger chunks
    for app in apps:
        # both districts after the rebalance, and the failing one right after its failure
        assert app.stats.snapshots >= 10 and app.stats.restored_snapshots == 2 + failing
        assert app.stats.processing_errors == int(failing)
        for district, cur in app.policy.cursors.items():
            manifest = app.history[manifest_key(district)]
            keys = live_keys(app.history, district)
            assert keys["entries"] <= cur.entries - manifest["seq"] < 30
            assert keys["snapshot"] == manifest["chunks"]
    for district in one.policy.cursors:
        assert state_of(one.policy, district) == state_of(batched.policy, district)


def test_an_unreadable_manifest_is_rebuilt_from_what_remains(
    written: tuple[Table, EmissionPolicy], chicago: CityProfile
) -> None:
    table, live = Table(written[0]), written[1]
    district = sorted(live.cursors)[1]
    table[manifest_key(district)] = {"v": 1, "seq": "garbage"}
    _, done = restore(table, chicago)
    assert done[district].lossy and done[district].seq == live.cursors[district].entries
    assert table[manifest_key(district)]["seq"] == live.cursors[district].entries  # healed
    _, again = restore(Table(table), chicago)
    assert not again[district].lossy and again[district].snapshot_seq == done[district].seq
