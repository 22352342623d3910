"""A district's recent incidents as columns: the feature store of the served forecaster.

:class:`IncidentWindow` keeps what :func:`patrol.forecast.served.district_features` reads of
every incident of the last :data:`KEEP_DAYS` behind the district's event clock: time, position,
local hour and weekday, offence type (one of :data:`~patrol.forecast.features.TOP_KINDS` or
other) and the domestic flag, keyed by a stable 64-bit digest of the incident id so that a
revision replaces its record. Columns are compact ``array`` buffers (about 50 bytes per
incident), the state is a plain dict (:meth:`IncidentWindow.to_dict`), and nothing depends on
the order records arrive in: :meth:`IncidentWindow.events` sorts by time (ties by id digest).
"""

from __future__ import annotations

import hashlib
from array import array
from typing import Any

import numpy as np

from patrol.evaluation.events import Events
from patrol.forecast.features import TOP_KINDS

KEEP_DAYS = 735.0
"""Records older than this behind the newest are dropped (the features read 730 days)."""

_KIND_CODE = {k: i for i, k in enumerate(TOP_KINDS)}
_COLUMNS = (("key", "q"), ("t", "d"), ("x", "d"), ("y", "d"), ("hour", "b"), ("dow", "b"),
            ("kind", "h"), ("domestic", "b"))  # fmt: skip


def id_key(incident_id: str) -> int:
    """A stable signed 64-bit digest of an incident id (the same in every process).

    Examples
    --------
    >>> id_key("10000092") == id_key("10000092") != id_key("10000093")
    True
    """
    digest = hashlib.blake2b(incident_id.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little", signed=True)


def kind_code(primary_type: str | None) -> int:
    """Index of the offence type in ``TOP_KINDS``; -1 for any other or none.

    Examples
    --------
    >>> kind_code("THEFT"), kind_code("ARSON"), kind_code(None)
    (0, -1, -1)
    """
    return _KIND_CODE.get(primary_type or "", -1)


class IncidentWindow:
    """The last two years of one district's incidents, for per-cell features.

    Examples
    --------
    >>> w = IncidentWindow()
    >>> w.learn_one("a", t=10.0, x=1.0, y=2.0, hour=3, dow=0, kind=0, domestic=False)
    >>> w.learn_one("b", t=5.0, x=4.0, y=4.0, hour=9, dow=2, kind=-1, domestic=True)
    >>> w.learn_one("a", t=11.0, x=1.5, y=2.0, hour=4, dow=0, kind=0, domestic=False)  # revised
    >>> ev = w.events()
    >>> ev.t.tolist(), ev.kinds[ev.kind[1]], bool(ev.domestic[0]), len(w)
    ([5.0, 11.0], 'THEFT', True, 2)
    >>> w.learn_one("c", t=745.0, x=0.0, y=0.0, hour=0, dow=0, kind=-1, domestic=False)
    >>> w.events().t.tolist()  # "b" is more than 735 days older than the newest
    [11.0, 745.0]
    >>> IncidentWindow.from_dict(w.to_dict()).to_dict() == w.to_dict()
    True
    """

    def __init__(self) -> None:
        self._cols: dict[str, array[Any]] = {name: array(code) for name, code in _COLUMNS}
        self._row: dict[int, int] = {}  # id digest -> row
        self._newest = -np.inf
        self._compacted_at = -np.inf
        self._cache: Events | None = None
        self.version = 0
        """Counts changes (not state: a cache key for the forecasts of the kept records)."""

    def __len__(self) -> int:
        return len(self._row)

    def learn_one(
        self,
        incident_id: str,
        *,
        t: float,
        x: float,
        y: float,
        hour: int,
        dow: int,
        kind: int,
        domestic: bool,
    ) -> None:
        """Add an incident (days, metres, local hour and weekday); a known id is replaced."""
        key = id_key(incident_id)
        self.forget_key(key)
        row = len(self._cols["t"])
        for name, value in (("key", key), ("t", t), ("x", x), ("y", y), ("hour", hour),
                            ("dow", dow), ("kind", kind), ("domestic", int(domestic))):  # fmt: skip
            self._cols[name].append(value)
        self._row[key] = row
        self._newest = max(self._newest, t)
        self._cache = None
        self.version += 1
        if len(self._cols["t"]) > 2 * len(self._row) + 64 or t > self._compacted_at + 7.0:
            self._compact()  # layout only: what events() returns does not depend on when

    def forget(self, incident_id: str) -> None:
        """Drop the incident's record, if kept."""
        self.forget_key(id_key(incident_id))

    def forget_key(self, key: int) -> None:
        """Drop the record with this id digest, if kept (its row is reclaimed later)."""
        row = self._row.pop(key, None)
        if row is not None:
            self._cols["key"][row] = 0
            self._cols["t"][row] = -np.inf  # a tombstone until the next compaction
            self._cache = None
            self.version += 1

    def _compact(self) -> None:
        """Rewrite the columns without tombstones and records older than :data:`KEEP_DAYS`."""
        t = np.frombuffer(self._cols["t"], dtype=np.float64)
        keep = np.flatnonzero(t >= self._newest - KEEP_DAYS)
        cols = {}
        for name, code in _COLUMNS:
            a = np.frombuffer(self._cols[name], dtype=np.dtype(code))[keep]
            cols[name] = array(code, a.tobytes())
        self._cols = cols
        self._row = {int(k): i for i, k in enumerate(cols["key"])}
        self._compacted_at = self._newest

    def events(self) -> Events:
        """The kept incidents as time-sorted :class:`Events` (kinds ``TOP_KINDS``)."""
        if self._cache is not None:
            return self._cache
        t = np.frombuffer(self._cols["t"], dtype=np.float64)
        key = np.frombuffer(self._cols["key"], dtype=np.int64)
        live = np.flatnonzero(t >= self._newest - KEEP_DAYS)
        order = live[np.lexsort((key[live], t[live]))]

        def col(name: str) -> Any:
            code = dict(_COLUMNS)[name]
            return np.frombuffer(self._cols[name], dtype=np.dtype(code))[order]

        self._cache = Events.from_arrays(
            t=t[order], x=col("x"), y=col("y"), hour=col("hour"), dow=col("dow"),
            kind=col("kind"), domestic=col("domestic").astype(bool), kinds=TOP_KINDS,
        )  # fmt: skip
        return self._cache

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready state: the live records, time-sorted, one list per column."""
        self._compact()
        t = np.frombuffer(self._cols["t"], dtype=np.float64)
        key = np.frombuffer(self._cols["key"], dtype=np.int64)
        order = np.lexsort((key, t))
        newest = float(self._newest) if np.isfinite(self._newest) else None  # even if all expired
        out: dict[str, Any] = {"newest": newest}
        for name, code in _COLUMNS:
            out[name] = np.frombuffer(self._cols[name], dtype=np.dtype(code))[order].tolist()
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> IncidentWindow:
        """Inverse of :meth:`to_dict`."""
        w = cls()
        for name, code in _COLUMNS:
            w._cols[name] = array(code, d[name])
        w._row = {int(k): i for i, k in enumerate(d["key"])}
        w._newest = -np.inf if d.get("newest") is None else float(d["newest"])
        w._compacted_at = w._newest
        return w
