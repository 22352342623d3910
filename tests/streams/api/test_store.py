"""The route store (latest version per slot) and the WebSocket hub's fan-out."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from streams.api.store import RouteStore, StreamHub, etag_of


def route(district: str, date: str, shift: str, version: int, **extra: Any) -> dict[str, Any]:
    return {"district": district, "date": date, "shift": shift, "unit": 1, "version": version,
            "route_id": f"{district}/{date}/{shift}/1", **extra}  # fmt: skip


@given(st.permutations(list(range(1, 8))))
def test_the_newest_version_wins_in_any_arrival_order(order: list[int]) -> None:
    store = RouteStore()
    kept = [store.put(route("8", "2016-09-05", "08-16", v)) for v in order]
    assert store.latest("8", "08-16")["version"] == 7  # type: ignore[index]
    assert (
        kept[order.index(7)]
        and sum(kept)
        == sum(  # kept only when newer than all before
            1 for i, v in enumerate(order) if v > max(order[:i], default=0)
        )
    )


def test_latest_date_filters_and_etags() -> None:
    store = RouteStore()
    store.put(route("8", "2016-09-05", "08-16", 1))
    store.put(route("8", "2016-09-06", "08-16", 1))
    store.put(route("11", "2016-09-06", "00-08", 3))
    assert store.latest("8", "08-16")["date"] == "2016-09-06"  # type: ignore[index]
    assert store.latest("8", "08-16", "2016-09-05")["date"] == "2016-09-05"  # type: ignore[index]
    assert [r["district"] for r in store.query()] == ["8", "8", "11"]  # numeric order
    assert [r["district"] for r in store.query(date="2016-09-06", shift="00-08")] == ["11"]
    _, tag1 = store.latest_with_etag("8", "08-16")  # type: ignore[misc]
    store.put(route("8", "2016-09-06", "08-16", 2, expected_incidents=3.5))
    _, tag2 = store.latest_with_etag("8", "08-16")  # type: ignore[misc]
    assert tag1 != tag2 and tag2 == etag_of(route("8", "2016-09-06", "08-16", 2,
                                                  expected_incidents=3.5))  # fmt: skip


def test_hub_filters_by_district_and_drops_slow_clients() -> None:
    hub = StreamHub()
    eight, eleven, every = hub.subscribe(["8"]), hub.subscribe(["11"]), hub.subscribe([])
    assert hub.publish_route(route("8", "2016-09-05", "08-16", 1)) == 2
    assert eight.queue.qsize() == every.queue.qsize() == 1 and eleven.queue.empty()
    assert json.loads(eight.queue.get_nowait())["type"] == "route"
    for v in range(2, 2 + eight.queue.maxsize):  # nobody reads ``every`` any more
        hub.publish_route(route("8", "2016-09-05", "08-16", v))
    assert every.dropped and every not in hub.subscribers
    assert not eight.dropped and eight in hub.subscribers
