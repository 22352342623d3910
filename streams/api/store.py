"""The API's latest routes and the WebSocket hub that pushes every revised route.

:class:`RouteStore` keeps the latest version of each route slot (district, date, shift, unit):
delivery is at least once, so a route is kept only when its version is newer than the stored
one, and :meth:`RouteStore.put` says whether it was (the hub pushes only those).

Examples
--------
>>> store = RouteStore()
>>> doc = {"route_id": "8/2016-09-05/08-16/1", "district": "8", "date": "2016-09-05",
...        "shift": "08-16", "unit": 1, "version": 2}
>>> store.put(doc), store.put(doc), store.put({**doc, "version": 1})
(True, False, False)
>>> [r["version"] for r in store.query(district="8")]
[2]
>>> store.latest("8", "08-16")["date"], store.latest("8", "16-24")
('2016-09-05', None)
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger("patrolstream.api")

_ENCODE = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, sort_keys=True).encode


def etag_of(doc: Any) -> str:
    """A strong ETag of a JSON document: a hash of its canonical encoding.

    Examples
    --------
    >>> etag_of({"a": 1, "b": 2}) == etag_of({"b": 2, "a": 1})
    True
    """
    return '"' + hashlib.sha256(_ENCODE(doc).encode("utf-8")).hexdigest()[:32] + '"'


def _slot(doc: dict[str, Any]) -> tuple[str, str, str, int]:
    return (str(doc["district"]), str(doc["date"]), str(doc["shift"]), int(doc.get("unit", 1)))


def _district_key(d: str) -> tuple[int, int, str]:
    return (0, int(d), d) if d.isdigit() else (1, 0, d)


class RouteStore:
    """Latest version of every route slot seen (routes as GeoJSON dicts)."""

    def __init__(self) -> None:
        self._routes: dict[tuple[str, str, str, int], dict[str, Any]] = {}
        self._etags: dict[tuple[str, str, str, int], str] = {}

    def put(self, doc: dict[str, Any]) -> bool:
        """Keep ``doc`` if it is newer than the stored version of its slot; True if kept."""
        key = _slot(doc)
        old = self._routes.get(key)
        if old is not None and int(old.get("version", 0)) >= int(doc.get("version", 0)):
            return False
        self._routes[key] = doc
        self._etags[key] = etag_of(doc)
        return True

    def __len__(self) -> int:
        return len(self._routes)

    def query(
        self, district: str | None = None, shift: str | None = None, date: str | None = None
    ) -> list[dict[str, Any]]:
        """Latest routes matching the filters, by district, date, shift and unit."""
        keys = sorted(self._routes, key=lambda k: (_district_key(k[0]), k[1], k[2], k[3]))
        return [
            self._routes[k]
            for k in keys
            if (district is None or k[0] == district)
            and (shift is None or k[2] == shift)
            and (date is None or k[1] == date)
        ]

    def latest(
        self, district: str, shift: str, date: str | None = None, unit: int = 1
    ) -> dict[str, Any] | None:
        """The route of ``district``/``shift`` on ``date`` (the latest date when ``None``)."""
        hit = self.latest_with_etag(district, shift, date, unit)
        return None if hit is None else hit[0]

    def latest_with_etag(
        self, district: str, shift: str, date: str | None = None, unit: int = 1
    ) -> tuple[dict[str, Any], str] | None:
        """:meth:`latest` and its ETag."""
        keys = [
            k
            for k in self._routes
            if k[0] == district
            and k[2] == shift
            and k[3] == unit
            and (date is None or k[1] == date)
        ]
        if not keys:
            return None
        key = max(keys, key=lambda k: k[1])
        return self._routes[key], self._etags[key]


@dataclass(eq=False)
class Subscriber:
    """One WebSocket client: its district filter (empty = all) and its outgoing queue."""

    districts: frozenset[str]
    queue: asyncio.Queue[str] = field(default_factory=lambda: asyncio.Queue(maxsize=256))
    dropped: bool = False

    def wants(self, district: str | None) -> bool:
        """Whether a message about ``district`` goes to this client."""
        return not self.districts or district is None or district in self.districts


class StreamHub:
    """Fan-out of JSON messages to the WebSocket subscribers.

    Publishing never waits: a client whose queue is full (it reads too slowly) is dropped
    and its connection closed by its handler.
    """

    def __init__(self) -> None:
        self.subscribers: set[Subscriber] = set()

    def subscribe(self, districts: Iterable[str]) -> Subscriber:
        """Register a client interested in ``districts`` (none = every district)."""
        sub = Subscriber(frozenset(districts))
        self.subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        """Forget a client."""
        self.subscribers.discard(sub)

    def publish(self, message: dict[str, Any], district: str | None) -> int:
        """Queue ``message`` for every interested client; returns how many got it."""
        text = json.dumps(message, separators=(",", ":"))
        n = 0
        for sub in list(self.subscribers):
            if not sub.wants(district):
                continue
            try:
                sub.queue.put_nowait(text)
                n += 1
            except asyncio.QueueFull:
                sub.dropped = True
                self.subscribers.discard(sub)  # its handler sees ``dropped`` and closes it
                log.warning("websocket client too slow: dropped", extra={"district": district})
        return n

    def publish_route(self, doc: dict[str, Any]) -> int:
        """Push a route to the clients subscribed to its district."""
        return self.publish({"type": "route", "route": doc}, str(doc.get("district")))
