"""Bad input through the real broker: every bad message lands in the dead-letter topic with its
reason and field, the worker keeps running, and the valid incidents around them are learned."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import pytest


def _bad_messages(template: dict[str, Any]) -> list[tuple[bytes, str, str | None]]:
    """``(bytes, reason, field)`` of each kind of bad input."""

    def event(**changes: Any) -> bytes:
        doc = {**template, **changes}
        return json.dumps({k: v for k, v in doc.items() if v is not ...}).encode()

    big = event(id="bad-big", description="x" * (200 * 1024))
    return [
        (b'{"id": "bad-json", "occurred_at": ', "malformed json", None),
        (event(id=...), "missing", "id"),
        (event(id="bad-no-time", occurred_at=...), "missing", "occurred_at"),
        (event(id="bad-lat", latitude=95.0), "out of range", "latitude"),
        (event(id="bad-date", occurred_at="2016-02-30T10:00:00-06:00"), "not a valid date",
         "occurred_at"),
        (big, "oversized", None),
        (b"[1, 2, 3]", "wrong type", "event"),
        (event(id="bad-district", district="99"), "unknown district", "district"),
        (b"\xff\xfe\x00garbage", "malformed json", None),
        (event(id="bad-future", occurred_at="2150-01-01T00:00:00-06:00", updated_at=None),
         "in the future",
         "occurred_at"),
    ]  # fmt: skip


@pytest.mark.kafka
async def test_bad_input_goes_to_the_dlq_and_the_worker_keeps_going(
    require_broker: Callable[[], str],
    worker_factory: Callable[..., Any],
    produce: Callable[..., Any],
    consume: Callable[..., Any],
    sliced: Callable[..., list[Any]],
) -> None:
    bootstrap = require_broker()
    valid = sliced({"008"}, 2)[:40]
    bad = _bad_messages(valid[0].to_event())
    messages: list[tuple[bytes | None, bytes]] = []
    for i, inc in enumerate(valid):  # a bad message after every fourth valid one
        messages.append((b"8", json.dumps(inc.to_event()).encode()))
        if i % 4 == 3 and i // 4 < len(bad):
            messages.append((b"8", bad[i // 4][0]))
    assert len(messages) == len(valid) + len(bad)

    worker = await worker_factory(bootstrap, min_incidents=5, replan_every=10).start()
    await produce(bootstrap, worker.topics.incidents, messages)
    letters = await consume(
        bootstrap,
        worker.topics.dlq,
        until=lambda recs: len(recs) >= len(bad),
        quiet_s=1.0,
        timeout_s=40.0,
        alive=worker.alive,
    )
    stats = worker.wait_for_stats(
        lambda s: s["received"] == len(messages) and sum(s["outcomes"].values()) == len(valid)
    )
    assert worker.alive(), worker.tail()

    docs = [json.loads(r.value) for r in letters]
    assert len(docs) == len(bad), [d["reason"] for d in docs]
    by_original = {base64.b64decode(d["original"]): d for d in docs}
    for raw, reason, field in bad:
        doc = by_original[raw]
        assert (doc["reason"], doc["field"]) == (reason, field), doc["detail"]
        assert doc["topic"] == worker.topics.incidents
        assert doc["original_bytes"] == len(raw) and doc["truncated"] is False
        assert isinstance(doc["partition"], int) and isinstance(doc["offset"], int)
        assert doc["received_at"] and doc["detail"]
    # The valid incidents around the bad ones were all learned; nothing crashed.
    assert stats["received"] == len(messages)
    assert stats["outcomes"] == {"new": len(valid)}
    assert stats["processing_errors"] == 0
    assert sum(stats["dead_letters"].values()) == len(bad)
    assert stats["routes"] >= 1  # the district got past warm-up and was planned
