"""Wire formats of the streaming runtime: incident decoding, dead letters, routes.

Nothing here raises on bad input: :func:`decode_incident` returns either an
:class:`~patrol.incidents.schema.Incident` placed in a known district or a :class:`Rejection`
naming the reason and the field, which :func:`dead_letter` turns into the JSON record of
``patrol.incidents.dlq.v1``::

    {"reason": "out of range", "field": "latitude", "detail": "latitude: 95.0 is out of ...",
     "original": "<base64 of the original bytes>", "original_bytes": 123, "truncated": false,
     "key": "8", "topic": "patrol.incidents.v1", "partition": 2, "offset": 41,
     "received_at": "2026-01-01T12:00:00+00:00"}

``reason`` is the coarse category (the same as the embedded mode's rejection report):
``oversized``, ``empty``, ``malformed json``, ``missing``, ``out of range``, ``not a valid
date``, ``wrong type``, ``outside bbox``, ``in the future``, ``unknown district``, ...
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from patrol.incidents.areas import AreaLocator
from patrol.incidents.parse import parse_event
from patrol.incidents.profile import CityProfile
from patrol.incidents.schema import Incident, IncidentError
from patrol.routes import Route

DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024
"""Incident messages above this size are dead letters (``oversized``)."""

DLQ_ORIGINAL_MAX = 512 * 1024
"""At most this many original bytes are kept in a dead letter (base64 adds a third; Kafka's
default message limit is 1 MB)."""

FUTURE_SLACK = timedelta(days=1)
"""An incident may not have occurred more than this after it was received (clock skew)."""


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why a message is not a valid incident: coarse ``reason``, ``field`` (or None), ``detail``."""

    reason: str
    field: str | None
    detail: str


def decode_incident(
    raw: bytes | None,
    profile: CityProfile,
    locator: AreaLocator,
    *,
    now: datetime,
    max_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
) -> Incident | Rejection:
    """Decode and validate one message of ``patrol.incidents.v1``.

    The incident comes back with its district: the one it carries when the city knows it,
    or the one :class:`~patrol.incidents.areas.AreaLocator` places it in when it has none.
    ``now`` (wall clock) only bounds how far in the future ``occurred_at`` may be.

    Examples
    --------
    >>> from datetime import UTC
    >>> from patrol.incidents.areas import locator_for
    >>> from patrol.incidents.profile import load_profile
    >>> chicago = load_profile("chicago")
    >>> kw = {"locator": locator_for(chicago), "now": datetime(2026, 1, 1, tzinfo=UTC)}
    >>> event = {"id": "1", "occurred_at": "2016-09-01T10:00:00-05:00",
    ...          "latitude": 41.88, "longitude": -87.63}
    >>> decode_incident(json.dumps(event).encode(), chicago, **kw).district
    '1'
    >>> decode_incident(b'{"id": ', chicago, **kw).reason
    'malformed json'
    >>> decode_incident(json.dumps({**event, "latitude": 95}).encode(), chicago, **kw)
    Rejection(reason='out of range', field='latitude', detail='latitude: 95.0 is out of range [-90.0, 90.0]')
    """  # noqa: E501
    if raw is None:
        return Rejection("empty", None, "the message has no value")
    if len(raw) > max_bytes:
        return Rejection("oversized", None, f"{len(raw)} bytes, more than {max_bytes}")
    try:
        obj = json.loads(raw)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        return Rejection("malformed json", None, f"not JSON: {str(exc)[:200]}")
    try:
        incident = parse_event(obj, profile)
    except IncidentError as err:
        return Rejection(err.category, err.field, str(err))
    if incident.occurred_at > now + FUTURE_SLACK:
        detail = f"occurred_at: {incident.occurred_at.isoformat()} is after {now.isoformat()}"
        return Rejection("in the future", "occurred_at", detail)
    if incident.district is None:
        return replace(incident, district=locator.locate(incident.latitude, incident.longitude))
    try:
        locator.station_for(incident.district)
    except KeyError:
        return Rejection(
            "unknown district", "district", f"district: {incident.district!r} is not in the city"
        )
    return incident


def dead_letter(
    rejection: Rejection,
    original: bytes | None,
    *,
    key: bytes | None,
    topic: str,
    partition: int,
    offset: int,
    received_at: datetime,
) -> bytes:
    """The JSON dead-letter record (see the module doc) for a rejected message."""
    data = original or b""
    kept = data[:DLQ_ORIGINAL_MAX]
    doc: dict[str, Any] = {
        "reason": rejection.reason,
        "field": rejection.field,
        "detail": rejection.detail,
        "original": base64.b64encode(kept).decode("ascii"),
        "original_bytes": len(data),
        "truncated": len(kept) < len(data),
        "key": None if key is None else key.decode("utf-8", "replace")[:256],
        "topic": topic,
        "partition": partition,
        "offset": offset,
        "received_at": received_at.isoformat(),
    }
    return json.dumps(doc).encode()


def incident_value(incident: Incident) -> bytes:
    """The event JSON of an incident (``to_event``), as forwarded to the state agent."""
    return json.dumps(incident.to_event(), separators=(",", ":")).encode()


def route_message_key(route: Route) -> bytes:
    """The key of a route on ``patrol.routes.v1``: ``district/shift`` (design.md)."""
    return f"{route.district}/{route.shift}".encode()


def route_value(route: Route) -> bytes:
    """The route's GeoJSON as compact JSON bytes."""
    return json.dumps(route.to_geojson(), separators=(",", ":")).encode()
