"""Incidents as column arrays, sorted by event time: what the forecasters and the backtest read.

A backtest over 1.45 M incidents cannot afford one Python object per incident in its inner
loops, so :class:`Events` keeps one numpy array per field. It is built once from parsed
:class:`~patrol.incidents.schema.Incident` objects (:func:`events_from_incidents`, which
consumes an iterator and keeps no incident), and every later step slices it by time with
binary search. Arrays are read-only: a forecaster handed a slice cannot write into the data.

Times are days since the Unix epoch (``timestamp / 86400``), as in
:class:`patrol.learners.base.Observation`; ``hour`` and ``dow`` are local (Monday = 0).
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from patrol.geo import LocalProjection
    from patrol.incidents.schema import Incident

SECONDS_PER_DAY = 86_400.0

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
I16 = npt.NDArray[np.int16]
I8 = npt.NDArray[np.int8]
B = npt.NDArray[np.bool_]

_FIELDS = ("t", "x", "y", "hour", "dow", "kind", "domestic", "area")


def _frozen(a: npt.NDArray[np.generic]) -> npt.NDArray[np.generic]:
    a.setflags(write=False)
    return a


@dataclass(frozen=True, eq=False)
class Events:
    """Incidents as parallel read-only arrays, sorted by ``t``.

    Attributes
    ----------
    t
        Event time, days since the Unix epoch.
    x, y
        Metres east and north on the city projection.
    hour, dow
        Local hour (0..23) and day of week (Monday = 0).
    kind
        Index of the offence type in ``kinds`` (-1: unknown).
    domestic
        The incident's Domestic flag (False when unknown).
    area
        Index of the district in ``areas`` (-1: unknown).
    kinds, areas
        The vocabularies of ``kind`` and ``area``.

    Examples
    --------
    >>> ev = Events.from_arrays(t=[3.0, 1.0, 2.0], x=[0.0, 10.0, 20.0], y=[0.0, 0.0, 0.0])
    >>> ev.t.tolist(), ev.x.tolist()  # sorted by time on construction
    ([1.0, 2.0, 3.0], [10.0, 20.0, 0.0])
    >>> len(ev.between(1.5, 3.0)), len(ev.before(3.0))
    (1, 2)
    """

    t: F64
    x: F64
    y: F64
    hour: I8
    dow: I8
    kind: I16
    domestic: B
    area: I16
    kinds: tuple[str, ...] = ()
    areas: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        n = len(self.t)
        for name in _FIELDS:
            a = getattr(self, name)
            if len(a) != n:
                raise ValueError(f"{name}: {len(a)} values, t has {n}")
            _frozen(a)
        if n > 1 and not bool(np.all(self.t[1:] >= self.t[:-1])):
            raise ValueError("Events must be sorted by t (use Events.from_arrays to sort)")

    @classmethod
    def from_arrays(
        cls,
        t: npt.ArrayLike,
        x: npt.ArrayLike,
        y: npt.ArrayLike,
        hour: npt.ArrayLike | None = None,
        dow: npt.ArrayLike | None = None,
        kind: npt.ArrayLike | None = None,
        domestic: npt.ArrayLike | None = None,
        area: npt.ArrayLike | None = None,
        kinds: Sequence[str] = (),
        areas: Sequence[str] = (),
    ) -> Events:
        """Build from array-likes (missing fields: 0 / -1 / False), sorting by ``t`` (stable)."""
        tt = np.asarray(t, dtype=np.float64).reshape(-1)
        n = len(tt)

        def col(v: npt.ArrayLike | None, dtype: type, fill: int) -> Any:
            a: npt.NDArray[Any] = (
                np.full(n, fill, dtype) if v is None else np.asarray(v, dtype).reshape(-1)
            )
            return a[order]

        order = np.argsort(tt, kind="stable")
        return cls(
            t=tt[order],
            x=col(x, np.float64, 0),
            y=col(y, np.float64, 0),
            hour=col(hour, np.int8, 0),
            dow=col(dow, np.int8, 0),
            kind=col(kind, np.int16, -1),
            domestic=col(domestic, np.bool_, 0),
            area=col(area, np.int16, -1),
            kinds=tuple(kinds),
            areas=tuple(areas),
        )

    @classmethod
    def empty(cls, kinds: Sequence[str] = (), areas: Sequence[str] = ()) -> Events:
        """No incident."""
        return cls.from_arrays([], [], [], kinds=kinds, areas=areas)

    def __len__(self) -> int:
        return len(self.t)

    def take(self, index: slice | npt.NDArray[np.bool_] | I64) -> Events:
        """The incidents selected by a slice, a boolean mask or sorted indices."""
        cols: dict[str, Any] = {f: getattr(self, f)[index] for f in _FIELDS}
        return Events(**cols, kinds=self.kinds, areas=self.areas)

    def copy(self) -> Events:
        """A copy that shares no memory with this one (a slice of it is a view of the whole).

        Examples
        --------
        >>> ev = Events.from_arrays([1.0, 2.0], [0.0, 0.0], [0.0, 0.0])
        >>> ev.before(2.0).t.base is not None, ev.before(2.0).copy().t.base is None
        (True, True)
        """
        cols: dict[str, Any] = {f: getattr(self, f).copy() for f in _FIELDS}
        return Events(**cols, kinds=self.kinds, areas=self.areas)

    def index_of(self, t: float) -> int:
        """Number of incidents strictly before ``t``."""
        return int(np.searchsorted(self.t, t, side="left"))

    def between(self, start: float, end: float) -> Events:
        """Incidents with ``start <= t < end``."""
        return self.take(slice(self.index_of(start), self.index_of(end)))

    def before(self, end: float) -> Events:
        """Incidents with ``t < end``."""
        return self.take(slice(0, self.index_of(end)))

    def in_area(self, name: str) -> Events:
        """Incidents of one district (by its name in ``areas``; none if unknown)."""
        if name not in self.areas:
            return self.take(slice(0, 0))
        return self.take(self.area == self.areas.index(name))

    @property
    def t_max(self) -> float:
        """Time of the newest incident (``-inf`` when empty)."""
        return float(self.t[-1]) if len(self.t) else -np.inf

    def concat(self, other: Events) -> Events:
        """These incidents followed by ``other`` (which must not be older than the newest)."""
        if len(other) and len(self) and other.t[0] < self.t[-1]:
            raise ValueError("concat: the appended incidents are older than the newest one")
        if len(other) and (other.kinds, other.areas) != (self.kinds, self.areas) and len(self):
            raise ValueError("concat: different kind/area vocabularies")
        if not len(self):
            return other
        cols: dict[str, Any] = {
            f: np.concatenate([getattr(self, f), getattr(other, f)]) for f in _FIELDS
        }
        return Events(**cols, kinds=self.kinds, areas=self.areas)


def events_from_incidents(
    incidents: Iterable[Incident],
    projection: LocalProjection,
    kinds: Sequence[str] | None = None,
    areas: Sequence[str] | None = None,
) -> Events:
    """Column arrays of parsed incidents (consumed one by one; none is kept), sorted by time.

    ``kinds`` / ``areas`` fix the vocabularies of ``primary_type`` / ``district`` (values not
    in them get -1); ``None`` builds them from the data, sorted. Local hour and day of week
    come from ``occurred_at``, which the parser sets in the city's zone.

    Examples
    --------
    >>> from datetime import datetime
    >>> from zoneinfo import ZoneInfo
    >>> from patrol.geo import LocalProjection
    >>> from patrol.incidents.schema import Incident
    >>> at = datetime(2016, 7, 4, 21, 15, tzinfo=ZoneInfo("America/Chicago"))
    >>> inc = Incident("1", at, 41.89, -87.63, primary_type="THEFT", district="1")
    >>> ev = events_from_incidents([inc], LocalProjection(41.88, -87.63))
    >>> round(ev.y[0]), int(ev.hour[0]), int(ev.dow[0]), ev.kinds, ev.areas
    (1112, 21, 0, ('THEFT',), ('1',))
    """
    t, lat, lon = array("d"), array("d"), array("d")
    hour, dow, dom = array("b"), array("b"), array("b")
    kind_names: list[str | None] = []
    area_names: list[str | None] = []
    for inc in incidents:
        at = inc.occurred_at
        t.append(at.timestamp() / SECONDS_PER_DAY)
        lat.append(inc.latitude)
        lon.append(inc.longitude)
        hour.append(at.hour)
        dow.append(at.weekday())
        dom.append(1 if inc.domestic else 0)
        kind_names.append(inc.primary_type)
        area_names.append(inc.district)
    kv = tuple(kinds) if kinds is not None else tuple(sorted({k for k in kind_names if k}))
    av = tuple(areas) if areas is not None else tuple(sorted({a for a in area_names if a}))
    kmap = {k: i for i, k in enumerate(kv)}
    amap = {a: i for i, a in enumerate(av)}
    x, y = projection.forward_many(np.frombuffer(lat), np.frombuffer(lon))
    return Events.from_arrays(
        t=np.frombuffer(t),
        x=x,
        y=y,
        hour=np.frombuffer(hour, np.int8),
        dow=np.frombuffer(dow, np.int8),
        kind=np.fromiter((kmap.get(k, -1) if k else -1 for k in kind_names), np.int16),
        domestic=np.frombuffer(dom, np.int8).astype(np.bool_),
        area=np.fromiter((amap.get(a, -1) if a else -1 for a in area_names), np.int16),
        kinds=kv,
        areas=av,
    )
