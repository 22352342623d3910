"""The agents' handlers without a broker: the Faust table and topics replaced by fakes."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from patrol.incidents.parse import read_csv
from patrol.incidents.profile import CityProfile
from patrol.policy import EmissionPolicy
from simulators.embedded import replay_stream
from streams import codec
from streams.app import (
    TRIGGER_ID_HEADER,
    PatrolStreamApp,
    history_key,
    parse_history_key,
)
from streams.history import entries_from_start
from streams.testing import FakeMessage, offline_app


@pytest.fixture(scope="module")
def incidents(slicer: Callable[[set[str], int], str], chicago: CityProfile) -> list[Any]:
    batch = read_csv(io.StringIO(slicer({"008", "011"}, 4)), chicago)
    return sorted(batch.incidents, key=lambda i: i.occurred_at)


def rebalance(app: PatrolStreamApp) -> None:
    app._generation += 1
    app._reset()


async def test_history_rebuilds_each_district_after_a_rebalance(
    tmp_path: Path, incidents: list[Any], chicago: CityProfile
) -> None:
    app = offline_app(tmp_path)
    s = app.settings
    engine = s.make_engine(chicago)
    expected = [r.to_geojson() for r in replay_stream(engine, incidents, s.policy_config())]
    half = len(incidents) // 2
    for i, inc in enumerate(incidents):
        if i == half:
            entries = len(app.history)
            rebalance(app)  # every district is rebuilt from the table on its next incident
        await app.handle_valid(FakeMessage(inc.district.encode(), codec.incident_value(inc)))
    sent = app.routes_topic.sent  # type: ignore[attr-defined]
    assert [json.loads(v) for _, v in sent] == expected
    assert app.stats.restored_entries == entries and app.stats.restored_districts == 2
    assert app.stats.outcomes == {"new": len(incidents)}
    keys = sorted(parse_history_key(k) for k in app.history)
    assert keys == sorted((d, n) for d in ("8", "11") for n in range(1, 1 + sum(
        1 for k in keys if k[0] == d)))  # fmt: skip

    # A hole in a district's history (an entry never written): the rebuild stops before it,
    # drops what follows, and the redelivered incidents fill it in again.
    count_8 = sum(1 for d, _ in keys if d == "8")
    del app.history[history_key("8", count_8 - 3)]
    rebalance(app)
    for inc in incidents[-60:]:
        await app.handle_valid(FakeMessage(inc.district.encode(), codec.incident_value(inc)))
    assert sum(1 for k in app.history if k.startswith("8|")) == count_8
    assert app.stats.processing_errors == 0


async def test_micro_batches_learn_exactly_like_one_incident_at_a_time(
    tmp_path: Path, incidents: list[Any], chicago: CityProfile
) -> None:
    one, batched = offline_app(tmp_path / "one"), offline_app(tmp_path / "batched")
    messages = [
        FakeMessage(inc.district.encode(), codec.incident_value(inc), offset=n)
        for n, inc in enumerate(incidents)
    ]
    for msg in messages:
        await one.handle_valid(msg)
    for start in range(0, len(messages), 37):
        await batched.learn_batch(messages[start : start + 37])
    sent = batched.routes_topic.sent  # type: ignore[attr-defined]
    assert len(sent) > 10 and sent == one.routes_topic.sent  # type: ignore[attr-defined]
    assert entries_from_start(batched.history) == entries_from_start(one.history)
    assert batched.stats.history_entries == len(incidents)
    # Every route message names the incident whose processing emitted it.
    s = batched.settings
    policy = EmissionPolicy(s.make_engine(chicago),
                            s.policy_config())  # fmt: skip
    triggers = [inc.id for inc in incidents for _ in policy.process(inc).routes]
    headers = batched.routes_topic.headers  # type: ignore[attr-defined]
    assert [h[TRIGGER_ID_HEADER].decode() for h in headers] == triggers


async def test_a_failure_inside_a_micro_batch_rebuilds_from_a_complete_history(
    tmp_path: Path, incidents: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An incident that fails mid-batch: the district is rebuilt from its history, which must
    already hold the batch's earlier steps; the outcome equals one-at-a-time processing."""
    failing = incidents[len(incidents) // 2].id
    apps = []
    for name in ("one", "batched"):
        app = offline_app(tmp_path / name)
        real = app.policy.process

        def process(incident: Any, real: Any = real) -> Any:
            if incident.id == failing:
                raise RuntimeError("injected")
            return real(incident)

        monkeypatch.setattr(app.policy, "process", process)
        apps.append(app)
    one, batched = apps
    messages = [
        FakeMessage(inc.district.encode(), codec.incident_value(inc), offset=n)
        for n, inc in enumerate(incidents)
    ]
    for msg in messages:
        await one.handle_valid(msg)
    for start in range(0, len(messages), 50):
        await batched.learn_batch(messages[start : start + 50])
    assert batched.stats.processing_errors == one.stats.processing_errors == 1
    assert batched.stats.restored_districts == one.stats.restored_districts == 1
    assert batched.routes_topic.sent == one.routes_topic.sent  # type: ignore[attr-defined]
    assert entries_from_start(batched.history) == entries_from_start(one.history)
    assert sum(map(len, entries_from_start(batched.history).values())) == len(incidents) - 1


async def test_decode_forwards_valid_incidents_and_dead_letters_the_rest(
    tmp_path: Path, incidents: list[Any]
) -> None:
    app = offline_app(tmp_path)
    good = incidents[0]
    await app.handle_raw(FakeMessage(None, json.dumps(good.to_event()).encode(), offset=1))
    await app.handle_raw(FakeMessage(b"8", b"{not json", offset=2))
    forwarded = app.valid_topic.sent  # type: ignore[attr-defined]
    assert forwarded == [(good.district.encode(), codec.incident_value(good))]  # re-keyed
    ((key, letter),) = app.dlq_topic.sent  # type: ignore[attr-defined]
    doc = json.loads(letter)
    assert (key, doc["reason"], doc["offset"], doc["topic"]) == (b"8", "malformed json", 2, "in")
    assert app.stats.to_dict()["dead_letters"] == {"malformed json": 1}


async def test_a_failing_message_is_dead_lettered_and_the_agent_goes_on(
    tmp_path: Path, incidents: list[Any]
) -> None:
    app = offline_app(tmp_path)
    await app.handle_valid(FakeMessage(b"8", b'{"id": "x"}'))  # not an incident
    for inc in incidents[:5]:
        await app.handle_valid(FakeMessage(inc.district.encode(), codec.incident_value(inc)))
    assert app.stats.processing_errors == 1
    assert app.stats.outcomes == {"new": 5}
    ((_, letter),) = app.dlq_topic.sent  # type: ignore[attr-defined]
    assert json.loads(letter)["reason"] == "processing failed"


async def test_an_idle_agent_behind_its_partition_is_sought_back(tmp_path: Path) -> None:
    from faust.types import TP

    app = offline_app(tmp_path)
    incidents_tp, valid_tp = TP(app.topics.incidents, 0), TP(app.topics.valid, 0)

    class FakeConsumer:
        def __init__(self) -> None:
            self._committed_offset = {incidents_tp: 5, valid_tp: 3}
            self.seeks: list[dict[Any, int]] = []

        def assignment(self) -> set[Any]:
            return {incidents_tp, valid_tp}

        def highwater(self, tp: Any) -> int:
            return {incidents_tp: 9, valid_tp: 3}[tp]  # 4 incidents never delivered

        async def seek_wait(self, partitions: dict[Any, int]) -> None:
            self.seeks.append(partitions)

    consumer = FakeConsumer()
    app.app.consumer = consumer  # type: ignore[assignment]
    await app._nudge_idle()
    assert consumer.seeks == []  # recovery not completed yet: Faust positions partitions
    app.app.tables.recovery.completed.set()
    await app._nudge_idle()
    assert consumer.seeks == []  # not idle long enough
    app._decoded.last_seen -= 60
    app._learned.last_seen -= 60
    await app._nudge_idle()
    assert consumer.seeks == [{incidents_tp: 5}] and app.stats.nudges == 1
    await app._nudge_idle()
    assert len(consumer.seeks) == 1  # seeking counts as activity: no repeat right away
