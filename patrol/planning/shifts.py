"""Patrol shifts ("turns") and their real, DST-aware bounds.

The paper (section 5.2.3) splits the day into the three surveillance turns of the Ecuadorian
National Police: turn 1 00:00-07:59, turn 2 08:00-15:59 and turn 3 16:00-23:59.  A shift is
8 *wall-clock* hours; on a daylight-saving transition day the shift containing the
transition really lasts 7 h (spring forward) or 9 h (fall back), which
:func:`shift_duration_s` computes from aware datetimes (via UTC, because Python subtracts
datetimes sharing a ``tzinfo`` in wall-clock time).
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Final
from zoneinfo import ZoneInfo

_UTC: Final = dt.UTC


@dataclass(frozen=True, slots=True)
class Shift:
    """One patrol turn: local wall-clock hours ``[start_hour, end_hour)``.

    Examples
    --------
    >>> SHIFTS[2].label, SHIFTS[2].index, list(SHIFTS[2].hours)[:2]
    ('16-24', 3, [16, 17])
    """

    index: int
    start_hour: int
    end_hour: int

    @property
    def label(self) -> str:
        """``"00-08"``, ``"08-16"`` or ``"16-24"``."""
        return f"{self.start_hour:02d}-{self.end_hour:02d}"

    @property
    def hours(self) -> range:
        """The local hours of day covered by the shift."""
        return range(self.start_hour, self.end_hour)


SHIFTS: Final[tuple[Shift, Shift, Shift]] = (Shift(1, 0, 8), Shift(2, 8, 16), Shift(3, 16, 24))
"""The three turns of section 5.2.3, in order (``SHIFTS[i].index == i + 1``)."""


def shift_of_hour(hour: int) -> Shift:
    """The shift containing local hour ``hour`` (0..23).

    Examples
    --------
    >>> shift_of_hour(7).label, shift_of_hour(8).label, shift_of_hour(23).label
    ('00-08', '08-16', '16-24')
    """
    if not 0 <= hour <= 23:
        raise ValueError(f"hour must be in 0..23, got {hour}")
    return SHIFTS[hour // 8]


def _as_shift(shift: Shift | int) -> Shift:
    if isinstance(shift, Shift):
        return shift
    if not 1 <= shift <= 3:
        raise ValueError(f"shift index must be 1, 2 or 3, got {shift}")
    return SHIFTS[shift - 1]


@lru_cache(maxsize=4096)
def _local(day: dt.date, hour: int, tz: ZoneInfo) -> dt.datetime:
    """Aware ``day`` at ``hour``:00 in ``tz`` (hour 24 = next midnight), normalised.

    Ambiguous times take their first occurrence (``fold=0``); a non-existent time (a
    boundary inside a DST gap) becomes the instant the gap ends, shown in real local time.
    Memoised (a pure function of its arguments; datetimes are immutable): the streaming
    policy asks for the same few shift starts on every incident.
    """
    if hour == 24:
        day, hour = day + dt.timedelta(days=1), 0
    naive = dt.datetime.combine(day, dt.time(hour))
    return naive.replace(tzinfo=tz).astimezone(_UTC).astimezone(tz)


def shift_bounds(day: dt.date, shift: Shift | int, tz: ZoneInfo) -> tuple[dt.datetime, dt.datetime]:
    """Start and end of ``shift`` on local date ``day`` as aware datetimes in ``tz``.

    The end is exclusive and equals the start of the next shift (shift 3 ends at the next
    day's midnight), so consecutive shifts tile time without gaps or overlaps.

    Parameters
    ----------
    day : datetime.date
        Local calendar date of the shift start.
    shift : Shift or int
        The shift or its index 1..3.
    tz : zoneinfo.ZoneInfo
        The city's time zone.

    Returns
    -------
    (datetime.datetime, datetime.datetime)
        ``(start, end)``, aware, in ``tz``.

    Examples
    --------
    >>> chicago = ZoneInfo("America/Chicago")
    >>> start, end = shift_bounds(dt.date(2024, 3, 10), 1, chicago)
    >>> start.isoformat(), end.isoformat()
    ('2024-03-10T00:00:00-06:00', '2024-03-10T08:00:00-05:00')
    """
    s = _as_shift(shift)
    return _local(day, s.start_hour, tz), _local(day, s.end_hour, tz)


def shift_duration_s(day: dt.date, shift: Shift | int, tz: ZoneInfo) -> float:
    """Real elapsed seconds of the shift (7, 8 or 9 h around DST transitions).

    Use it as the planning budget (``budget_s``) of :func:`patrol.planning.order_cpspa`.

    Examples
    --------
    >>> chicago = ZoneInfo("America/Chicago")
    >>> shift_duration_s(dt.date(2024, 11, 3), 1, chicago) / 3600
    9.0
    """
    start, end = shift_bounds(day, shift, tz)
    return (end.astimezone(_UTC) - start.astimezone(_UTC)).total_seconds()


def shift_local_hours(day: dt.date, shift: Shift | int, tz: ZoneInfo) -> list[int]:
    """Local hour of day at each real elapsed hour of the shift.

    Row ``k`` of the ``probability`` matrix given to :func:`patrol.planning.order_cpspa` is
    the hour starting ``k`` real hours after the shift start; this maps those rows to local
    hours of day (the keys of the paper's ``M_p``), which skip or repeat an hour on DST days.

    Examples
    --------
    >>> chicago = ZoneInfo("America/Chicago")
    >>> shift_local_hours(dt.date(2024, 3, 10), 1, chicago)
    [0, 1, 3, 4, 5, 6, 7]
    >>> shift_local_hours(dt.date(2024, 11, 3), 1, chicago)
    [0, 1, 1, 2, 3, 4, 5, 6, 7]
    """
    return list(_local_hours(day, _as_shift(shift), tz))


@lru_cache(maxsize=1024)
def _local_hours(day: dt.date, shift: Shift, tz: ZoneInfo) -> tuple[int, ...]:
    start, _ = shift_bounds(day, shift, tz)
    n = math.ceil(shift_duration_s(day, shift, tz) / 3600.0)
    utc0 = start.astimezone(_UTC)
    return tuple((utc0 + dt.timedelta(hours=k)).astimezone(tz).hour for k in range(n))
