"""Snapshots of the emission policy: a snapshot taken after any entry, plus the entries after
it, rebuilds exactly the state (and the later routes) of a replay of every entry."""

from __future__ import annotations

import io
import json
import random
from collections import defaultdict
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from patrol.config import EngineConfig
from patrol.engine import Engine
from patrol.incidents.parse import read_csv
from patrol.incidents.profile import CityProfile
from patrol.incidents.schema import Incident
from patrol.policy import (
    SNAPSHOT_VERSION,
    EmissionPolicy,
    PolicyConfig,
    chunk_entries,
    history_chunk,
)

CONFIG = PolicyConfig(replan_every=10)
ENGINE = EngineConfig(min_incidents=30)


def roundtrip(x: Any) -> Any:
    """As stored: serialised to JSON text and read back."""
    return json.loads(json.dumps(x))


def fresh(chicago: CityProfile) -> EmissionPolicy:
    return EmissionPolicy(Engine(chicago, ENGINE), CONFIG)


def state_of(policy: EmissionPolicy, district: str) -> str:
    """The district's engine state and cursor, as JSON text (bit for bit, floats included)."""
    st_ = policy.engine.districts[district].to_dict()
    return json.dumps([st_, policy.cursors[district].to_dict()], sort_keys=True)


class Run:
    """A live run of the policy: its history per district and what comes after it."""

    def __init__(self, live: EmissionPolicy, history: dict[str, list[Any]], later: list[Any]):
        self.live, self.history, self.later = live, history, later


@pytest.fixture(scope="module")
def run(slicer: Callable[[set[str], int], str], chicago: CityProfile) -> Run:
    """Real incidents of districts 8 and 11 (1-4 Sept 2016) with revisions and redeliveries,
    learned live; the last 80 are kept back to continue with."""
    batch = read_csv(io.StringIO(slicer({"008", "011"}, 4)), chicago)
    incidents: list[Incident] = sorted(batch.incidents, key=lambda i: i.occurred_at)
    rng = random.Random(7)
    mixed = list(incidents)
    for i in sorted(rng.sample(range(len(mixed) - 40), 25), reverse=True):
        x = mixed[i]
        later = (x.updated_at or x.occurred_at) + timedelta(days=2)
        mixed.insert(i + 30, replace(x, arrest=not x.arrest, updated_at=later))  # revisions
    mixed[200:200] = incidents[150:170]  # redeliveries
    head, later = mixed[:-80], mixed[-80:]
    live = fresh(chicago)
    history: dict[str, list[Any]] = defaultdict(list)
    for inc in head:
        step = live.process(inc)
        if step.entry is not None:
            history[step.district].append(roundtrip(step.entry))
            assert step.seq == len(history[step.district])
    assert all(len(h) > 100 for h in history.values()) and len(history) == 2
    return Run(live, dict(history), later)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cuts=st.lists(st.floats(0.0, 1.0), min_size=1, max_size=3))
def test_snapshot_chain_plus_tail_equals_a_full_replay(
    run: Run, chicago: CityProfile, cuts: list[float]
) -> None:
    """Snapshots at random positions (one after the other, each restored from the previous
    one and the entries in between) end in the state of a full replay, bit for bit."""
    for district, entries in run.history.items():
        points = sorted({max(1, round(c * len(entries))) for c in cuts})  # after entry k
        policy = fresh(chicago)
        snap, done = None, 0
        for k in points:
            assert policy.restore(district, entries[done:k], snap) == k - done
            snap = roundtrip(policy.snapshot(district))
            assert snap["v"] == SNAPSHOT_VERSION and snap["cursor"]["entries"] == k
            done = k
        assert policy.restore(district, entries[done:], snap) == len(entries) - done
        assert policy.cursors[district].entries == len(entries)
        assert state_of(policy, district) == state_of(run.live, district)


@settings(
    max_examples=4,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(cut=st.floats(0.05, 0.95))
def test_a_restored_snapshot_plans_the_same_routes_afterwards(
    run: Run, chicago: CityProfile, cut: float
) -> None:
    """Restored from a snapshot and its tail, the policy continues exactly as the live one:
    the same routes (way-point for way-point), entries and sequence numbers."""
    restored = fresh(chicago)
    for district, entries in run.history.items():
        k = round(cut * len(entries))
        helper = fresh(chicago)
        helper.restore(district, entries[:k])
        snap = roundtrip(helper.snapshot(district))
        restored.restore(district, entries[k:], snap)
    twin = fresh(chicago)  # a full replay, for the continuation
    for district, entries in run.history.items():
        twin.restore(district, entries)
    emitted = 0
    for inc in run.later:
        a, b = twin.process(inc), restored.process(inc)
        assert [r.to_geojson() for r in a.routes] == [r.to_geojson() for r in b.routes]
        assert (a.entry, a.seq, a.outcome) == (b.entry, b.seq, b.outcome)
        emitted += len(a.routes)
    assert emitted > 0  # the continuation planned something to compare
    for district in run.history:
        assert state_of(restored, district) == state_of(twin, district)


def test_snapshot_rejects_other_districts_and_versions(run: Run, chicago: CityProfile) -> None:
    district, entries = next(iter(run.history.items()))
    policy = fresh(chicago)
    policy.restore(district, entries[:50])
    snap = roundtrip(policy.snapshot(district))
    with pytest.raises(ValueError, match="unusable snapshot"):
        fresh(chicago).restore("nowhere", [], snap)
    with pytest.raises(ValueError, match="unusable snapshot"):
        fresh(chicago).restore(district, [], {**snap, "v": SNAPSHOT_VERSION + 1})
    with pytest.raises(KeyError):
        policy.snapshot("nowhere")


def test_chunks_hold_entries_in_order_and_read_lone_entries(run: Run) -> None:
    entries = next(iter(run.history.values()))[:7]
    chunk = roundtrip(history_chunk(entries))
    assert chunk_entries(chunk) == entries
    assert chunk_entries(entries[0]) == [entries[0]]  # the format before chunks
    with pytest.raises(ValueError, match="version"):
        chunk_entries({"v": 99, "entries": entries})
