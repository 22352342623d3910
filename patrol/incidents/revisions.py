"""Idempotency and revisions: the latest record per incident id, bounded in event time.

Design rule (design.md): a second event with the same ``id`` is a revision; it replaces the
first and never adds to it. :meth:`RevisionLog.classify` says what an arriving incident is:

``new``
    First time this id is seen (within the retention horizon): learn it.
``revision``
    Same id, different content, and not older than the kept record: the caller un-learns
    ``previous`` and learns the incoming record, which is now the kept one.
``duplicate``
    Same id and the same content (a redelivery): ignore. If only ``updated_at`` is newer,
    the kept record takes the newer ``updated_at`` silently (nothing to re-learn).
``stale``
    Same id, different content, but an ``updated_at`` strictly older than the kept
    record's: an out-of-order old version. Ignore; the kept record stays.
``late``
    An unknown id whose ``occurred_at`` is older than the retention horizon: it cannot be
    told apart from a revision of a forgotten record, so it is not kept. Ignore it (or
    handle it as the caller's policy says); it never enters the log.

Ordering of versions: the later ``updated_at`` wins; when the two are equal or either is
missing, the later arrival wins.

Retention is in event time: the horizon is ``watermark - retention_days``, where the
watermark is the largest ``occurred_at`` seen (or the ``now`` the caller passes, e.g. the
stream's event-time clock). Records that occurred before the horizon are forgotten.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, fields, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from patrol.incidents.schema import Incident

_COMPARED = tuple(f.name for f in fields(Incident) if f.name not in ("updated_at", "source"))


class RevisionKind(StrEnum):
    """What an arriving incident is to the :class:`RevisionLog` (see the module doc)."""

    NEW = "new"
    REVISION = "revision"
    DUPLICATE = "duplicate"
    STALE = "stale"
    LATE = "late"


@dataclass(frozen=True, slots=True)
class Revision:
    """The classification of one arrival: ``kind``, the ``incident`` and what it replaced."""

    kind: RevisionKind
    incident: Incident
    previous: Incident | None = None


def same_content(a: Incident, b: Incident) -> bool:
    """Whether two records carry the same facts (ignoring ``updated_at`` and ``source``)."""
    return all(getattr(a, n) == getattr(b, n) for n in _COMPARED)


class RevisionLog:
    """The latest record per incident id within an event-time retention horizon.

    Examples
    --------
    >>> from datetime import datetime, timedelta, timezone
    >>> t = datetime(2016, 5, 1, 12, tzinfo=timezone(timedelta(hours=-5)))
    >>> first = Incident("42", t, 41.88, -87.63, arrest=False, updated_at=t)
    >>> log = RevisionLog(retention_days=30)
    >>> log.classify(first).kind
    <RevisionKind.NEW: 'new'>
    >>> log.classify(first).kind                       # redelivery
    <RevisionKind.DUPLICATE: 'duplicate'>
    >>> later = Incident("42", t, 41.88, -87.63, arrest=True, updated_at=t + timedelta(days=9))
    >>> r = log.classify(later)
    >>> r.kind, r.previous.arrest, log.get("42").arrest
    (<RevisionKind.REVISION: 'revision'>, False, True)
    >>> log.classify(first).kind                       # the older version arrives again
    <RevisionKind.STALE: 'stale'>
    >>> len(log)
    1
    """

    def __init__(self, retention_days: float = 365.0) -> None:
        if not retention_days > 0:
            raise ValueError(f"retention_days must be > 0, got {retention_days!r}")
        self.retention_s = float(retention_days) * 86400.0
        self.watermark: float | None = None
        self._records: dict[str, Incident] = {}
        self._heap: list[tuple[float, str]] = []  # (occurred_at timestamp, id), lazy deletion

    def __len__(self) -> int:
        return len(self._records)

    def __contains__(self, incident_id: object) -> bool:
        return incident_id in self._records

    def get(self, incident_id: str) -> Incident | None:
        """The kept record for ``incident_id`` (``None`` when unknown or forgotten)."""
        return self._records.get(incident_id)

    def records(self) -> list[Incident]:
        """The kept records (one per id)."""
        return list(self._records.values())

    @property
    def horizon(self) -> float | None:
        """POSIX time before which incidents are forgotten (``None`` before any arrival)."""
        return None if self.watermark is None else self.watermark - self.retention_s

    def classify(self, incident: Incident, *, now: datetime | float | None = None) -> Revision:
        """Classify an arrival and update the log (see the module doc for the rules).

        ``now`` is the event-time watermark to expire against; by default the largest
        ``occurred_at`` seen so far (this arrival included).
        """
        ts = incident.timestamp
        mark = ts if now is None else (now.timestamp() if isinstance(now, datetime) else now)
        self.advance(mark)
        kept = self._records.get(incident.id)
        if kept is None:
            horizon = self.horizon
            if horizon is not None and ts < horizon:
                return Revision(RevisionKind.LATE, incident)
            self._keep(incident)
            return Revision(RevisionKind.NEW, incident)
        if same_content(kept, incident):
            if _newer(incident.updated_at, kept.updated_at):
                self._records[incident.id] = replace(kept, updated_at=incident.updated_at)
            return Revision(RevisionKind.DUPLICATE, incident, kept)
        if _newer(kept.updated_at, incident.updated_at):
            return Revision(RevisionKind.STALE, incident, kept)
        self._keep(incident)
        return Revision(RevisionKind.REVISION, incident, kept)

    def advance(self, now: float) -> int:
        """Move the watermark to ``now`` (never back) and forget what fell behind; returns
        how many records were forgotten."""
        if self.watermark is None or now > self.watermark:
            self.watermark = now
        horizon = self.watermark - self.retention_s
        dropped = 0
        heap = self._heap
        while heap and heap[0][0] < horizon:
            ts, rid = heapq.heappop(heap)
            rec = self._records.get(rid)
            if rec is not None and rec.timestamp == ts:
                del self._records[rid]
                dropped += 1
        if len(heap) > 2 * len(self._records) + 1024:
            self._heap = [(r.timestamp, r.id) for r in self._records.values()]
            heapq.heapify(self._heap)
        return dropped

    def _keep(self, incident: Incident) -> None:
        old = self._records.get(incident.id)
        self._records[incident.id] = incident
        if old is None or old.timestamp != incident.timestamp:
            heapq.heappush(self._heap, (incident.timestamp, incident.id))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready state: retention, watermark and the kept records as events."""
        return {
            "retention_days": self.retention_s / 86400.0,
            "watermark": self.watermark,
            "records": [r.to_event() for r in self._records.values()],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RevisionLog:
        """Inverse of :meth:`to_dict` (the records are trusted: they were validated)."""
        log = cls(retention_days=float(data["retention_days"]))
        for event in data.get("records", []):
            log._keep(_incident_from_event(event))
        wm = data.get("watermark")
        log.watermark = None if wm is None else float(wm)
        return log


def _newer(a: datetime | None, b: datetime | None) -> bool:
    """Whether ``a`` is strictly later than ``b`` (``False`` when either is missing)."""
    return a is not None and b is not None and a > b


def _incident_from_event(event: dict[str, Any]) -> Incident:
    kw = dict(event)
    kw["occurred_at"] = datetime.fromisoformat(kw["occurred_at"])
    if kw.get("updated_at") is not None:
        kw["updated_at"] = datetime.fromisoformat(kw["updated_at"])
    return Incident(**kw)
