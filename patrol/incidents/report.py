"""Counts of rejected records, safe to log: no record content beyond the id.

A :class:`RejectionReport` aggregates :class:`~patrol.incidents.schema.IncidentError` by
``"field: category"`` (``"latitude: missing"``, ``"latitude: outside bbox"``) and keeps the
first few examples as row number, record id and that key only: never the row, never the
offending value, so reports and logs carry no personal data.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from patrol.incidents.schema import IncidentError

_MAX_ID_CHARS = 64


@dataclass
class RejectionReport:
    """Rejected records: counts by field and reason category, plus the first examples.

    Examples
    --------
    >>> r = RejectionReport(max_examples=1)
    >>> r.add(IncidentError("latitude", "missing"), row_number=3, record_id="10365277")
    >>> r.add(IncidentError("latitude", "36.6 is outside ...", "outside bbox"), 9, "10366057")
    >>> r.total, r.by_reason()
    (2, {'latitude: missing': 1, 'latitude: outside bbox': 1})
    >>> r.to_dict()["examples"]
    [{'row': 3, 'id': '10365277', 'reason': 'latitude: missing'}]
    """

    max_examples: int = 20
    counts: Counter[str] = field(default_factory=Counter)
    examples: list[dict[str, Any]] = field(default_factory=list)

    @staticmethod
    def key(err: IncidentError) -> str:
        """The aggregation key of an error: ``"field: category"``."""
        category = getattr(err, "category", None) or err.reason
        return f"{err.field}: {category}"

    def add(self, err: IncidentError, row_number: int | None, record_id: str | None) -> None:
        """Count one rejected record (and keep it as an example while there is room)."""
        key = self.key(err)
        self.counts[key] += 1
        if len(self.examples) < self.max_examples:
            rid = None if record_id is None else str(record_id)[:_MAX_ID_CHARS]
            self.examples.append({"row": row_number, "id": rid, "reason": key})

    @property
    def total(self) -> int:
        """Number of rejected records."""
        return sum(self.counts.values())

    def by_reason(self) -> dict[str, int]:
        """Counts keyed ``"field: category"``, most frequent first (ties by key)."""
        return dict(sorted(self.counts.items(), key=lambda kv: (-kv[1], kv[0])))

    def merge(self, other: RejectionReport) -> RejectionReport:
        """Add ``other``'s counts and examples (up to ``max_examples``) to this report."""
        self.counts.update(other.counts)
        room = self.max_examples - len(self.examples)
        if room > 0:
            self.examples.extend(dict(e) for e in other.examples[:room])
        return self

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: ``total``, ``by_reason`` and ``examples``."""
        return {
            "total": self.total,
            "by_reason": self.by_reason(),
            "examples": [dict(e) for e in self.examples],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], max_examples: int = 20) -> RejectionReport:
        """Inverse of :meth:`to_dict`."""
        return cls(
            max_examples=max_examples,
            counts=Counter({str(k): int(v) for k, v in data.get("by_reason", {}).items()}),
            examples=[dict(e) for e in data.get("examples", [])][:max_examples],
        )

    def __str__(self) -> str:
        reasons = ", ".join(f"{k} x{v}" for k, v in self.by_reason().items())
        return f"{self.total} rejected" + (f" ({reasons})" if reasons else "")
