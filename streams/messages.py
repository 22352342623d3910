"""Faust messages: their headers and timestamps, and table writes from micro-batches (the one
place that sets Faust's current event).

Faust picks the changelog partition of a table write from its *current event* (the
``faust.streams._current_event`` context variable), which is set only inside per-event
iteration. A micro-batch (``take_events``) runs its body outside that iteration and mixes
partitions, so :func:`table_partition_of` sets the current event for one message's partition.
This relies on a private Faust name; every agent goes through here.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from faust.streams import _current_event


class _SourceEvent:
    """Stands for the Faust event of ``message`` while a micro-batch writes a table."""

    __slots__ = ("__weakref__", "message")

    def __init__(self, message: Any) -> None:
        self.message = message


@contextmanager
def table_partition_of(msg: Any) -> Iterator[None]:
    """Make ``msg`` Faust's current event, so that table writes inside the block go to the
    changelog partition of the message's source partition, as inside per-event iteration."""
    event = _SourceEvent(msg)
    token = _current_event.set(weakref.ref(event))  # type: ignore[arg-type]
    try:
        yield
    finally:
        _current_event.reset(token)


def header_of(msg: Any, name: str) -> bytes | None:
    """The value of header ``name`` of a Faust message (headers as a mapping or pairs)."""
    headers = getattr(msg, "headers", None) or ()
    pairs = headers.items() if isinstance(headers, dict) else headers
    for key, value in pairs:
        if key == name:
            return bytes(value) if value is not None else None
    return None


def produced_ms(msg: Any) -> bytes:
    """The message's Kafka timestamp in ms, as a header value (``b""`` when unknown)."""
    ts = getattr(msg, "timestamp", None)
    return str(round(ts * 1000)).encode() if isinstance(ts, int | float) else b""
