"""Decoding, validation, dead letters and wire formats of the streaming runtime (no broker)."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from patrol.incidents.areas import locator_for
from patrol.incidents.parse import parse_event
from patrol.incidents.profile import CityProfile
from patrol.incidents.schema import Incident
from patrol.routes import validate_route_geojson
from streams import codec
from streams.offsets import Admit, OffsetTracker
from streams.topics import TopicNames, bootstrap_servers

NOW = datetime(2026, 1, 1, tzinfo=UTC)
EVENT = {
    "id": "10668257",
    "occurred_at": "2016-09-03T12:00:00-05:00",
    "latitude": 41.810691245,
    "longitude": -87.745685664,
    "district": "008",
    "primary_type": "THEFT",
}


def decode(raw: bytes | None, chicago: CityProfile, **kw: Any) -> Incident | codec.Rejection:
    return codec.decode_incident(raw, chicago, locator_for(chicago), now=NOW, **kw)


def event(**changes: Any) -> bytes:
    doc = {**EVENT, **changes}
    return json.dumps({k: v for k, v in doc.items() if v is not ...}).encode()


def test_a_valid_event_decodes_with_its_district(chicago: CityProfile) -> None:
    inc = decode(event(), chicago)
    assert isinstance(inc, Incident)
    assert (inc.id, inc.district, inc.primary_type) == ("10668257", "8", "THEFT")
    placed = decode(event(district=None), chicago)  # no district: point in polygon
    assert isinstance(placed, Incident) and placed.district == "8"
    assert parse_event(json.loads(codec.incident_value(inc)), chicago) == inc


@pytest.mark.parametrize(
    ("raw", "reason", "field"),
    [
        (b'{"id": "x", "occurred_at": ', "malformed json", None),
        (b"\xff\xfe\x00garbage", "malformed json", None),
        (b"[" * 100_000 + b"]" * 100_000, "oversized", None),
        (b"[1, 2]", "wrong type", "event"),
        (b"null", "wrong type", "event"),
        (event(id=...), "missing", "id"),
        (event(id="  "), "missing", "id"),
        (event(occurred_at=...), "missing", "occurred_at"),
        (event(latitude=95.0), "out of range", "latitude"),
        (event(latitude="NaN"), None, "latitude"),
        (event(longitude=-80.0), "outside bbox", "longitude"),
        (event(occurred_at="2016-02-30T10:00:00-06:00"), "not a valid date", "occurred_at"),
        (event(occurred_at="2150-01-01T00:00:00-06:00"), "in the future", "occurred_at"),
        (event(district="99"), "unknown district", "district"),
        (event(arrest="maybe"), None, "arrest"),
        (event(schema_version=2), "unsupported version", "schema_version"),
    ],
)
def test_bad_input_is_rejected_with_reason_and_field(
    chicago: CityProfile, raw: bytes, reason: str | None, field: str | None
) -> None:
    got = decode(raw, chicago)
    assert isinstance(got, codec.Rejection), got
    assert got.field == field
    if reason is not None:
        assert got.reason == reason
    assert got.detail


def test_size_limit_and_empty_messages(chicago: CityProfile) -> None:
    raw = event()
    assert isinstance(decode(raw, chicago, max_bytes=len(raw)), Incident)
    too_big = decode(raw, chicago, max_bytes=len(raw) - 1)
    assert isinstance(too_big, codec.Rejection) and too_big.reason == "oversized"
    empty = decode(None, chicago)
    assert isinstance(empty, codec.Rejection) and empty.reason == "empty"


def test_dead_letters_carry_the_original_bytes() -> None:
    rej = codec.Rejection("out of range", "latitude", "latitude: 95.0 is out of range")
    raw = b'{"id": "1", "latitude": 95}'
    doc = json.loads(
        codec.dead_letter(rej, raw, key=b"8", topic="t", partition=2, offset=41, received_at=NOW)
    )
    assert doc == {
        "reason": "out of range",
        "field": "latitude",
        "detail": "latitude: 95.0 is out of range",
        "original": base64.b64encode(raw).decode(),
        "original_bytes": len(raw),
        "truncated": False,
        "key": "8",
        "topic": "t",
        "partition": 2,
        "offset": 41,
        "received_at": NOW.isoformat(),
    }
    huge = b"x" * (codec.DLQ_ORIGINAL_MAX + 10)
    big = json.loads(
        codec.dead_letter(rej, huge, key=None, topic="t", partition=0, offset=0, received_at=NOW)
    )
    assert big["truncated"] is True and big["original_bytes"] == len(huge)
    assert len(base64.b64decode(big["original"])) == codec.DLQ_ORIGINAL_MAX
    assert big["key"] is None


def test_routes_on_the_wire(chicago: CityProfile, district8_september) -> None:
    from patrol.engine import Engine
    from simulators.embedded import replay_stream

    routes = replay_stream(Engine(chicago), district8_september[:300])
    assert routes
    for route in routes:
        assert codec.route_message_key(route) == f"8/{route.shift}".encode()
        doc = json.loads(codec.route_value(route))
        assert validate_route_geojson(doc) == []
        assert doc == json.loads(json.dumps(route.to_geojson()))


def test_topic_names_and_bootstrap() -> None:
    names = TopicNames.with_prefix("t1.")
    assert names.all() == (
        "t1.patrol.incidents.v1",
        "t1.patrol.incidents.valid.v1",
        "t1.patrol.incidents.dlq.v1",
        "t1.patrol.routes.v1",
        "t1.patrol.scores.v1",
    )
    assert TopicNames().routes == "patrol.routes.v1"
    assert bootstrap_servers("kafka://a:1;kafka://b:2") == "a:1,b:2"
    assert bootstrap_servers("localhost:9092") == "localhost:9092"


def test_offset_tracker_orders_each_partition() -> None:
    t = OffsetTracker()
    assert t.admit(1, "in", 0, 10, committed=10) == (Admit.PROCESS, None)
    t.processed("in", 0, 10)
    assert t.admit(1, "in", 0, 13) == (Admit.REPAIR, 11)  # 11 and 12 were skipped
    t.processed("in", 0, 11)
    t.processed("in", 0, 12)
    t.processed("in", 0, 13)
    assert t.admit(1, "in", 0, 12) == (Admit.SKIP, None)  # a redelivery
    assert t.admit(1, "in", 1, 5) == (Admit.PROCESS, None)  # nothing known: take it
    assert not t.idle(60.0)
    assert t.behind(1, {("in", 0): (10, 14), ("in", 1): (None, None)}) == []
    assert t.behind(1, {("in", 0): (10, 16), ("in", 2): (3, 4)}) == [("in", 0, 14), ("in", 2, 3)]
    assert t.behind(2, {("in", 0): (10, 16)}) == [("in", 0, 10)]  # new generation: committed
    assert t.admit(2, "in", 0, 3)[0] is Admit.PROCESS  # a rebalance starts afresh
