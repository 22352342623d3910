"""Timestamps of incident exports: the City of Chicago format (fast path), strptime formats
of a profile, and ISO 8601; local times become aware datetimes with a fixed UTC offset.

Rules (all documented behaviour, tested):

* A time without an offset is local time in the profile's zone.
* Ambiguous local times (the repeated hour when DST ends, e.g. 2016-11-06 01:30 in Chicago)
  take the **first** occurrence (``fold=0``, daylight time: ``01:30-05:00``).
* Non-existent local times (the hour skipped when DST starts, e.g. 2016-03-13 02:30 in
  Chicago; the 2012-2016 Chicago data has such rows) are shifted **forward** by the length
  of the gap: ``02:30`` becomes ``03:30-05:00`` (the instant ``02:30`` would be with the
  offset in force before the gap, as PEP 495 ``fold=0`` and java.time do; order within the
  gap is kept). Note: pandas' ``nonexistent="shift_forward"`` differs (it gives ``03:00``);
  ``nonexistent=pd.Timedelta(hours=1)`` reproduces this rule.
* Every result carries a fixed ``datetime.timezone`` offset equal to the profile zone's
  offset at that instant, so ``.hour``/``.weekday()`` are the local ones and the ISO form is
  stable (``2016-01-01T00:00:00-06:00``); times given with another offset are converted.
* Years outside ``[MIN_YEAR, MAX_YEAR]`` are rejected as implausible (a check on the value
  alone: the wall clock is never read).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from patrol.incidents.schema import IncidentError

CHICAGO_FORMAT = "%m/%d/%Y %I:%M:%S %p"
"""``MM/DD/YYYY hh:mm:ss AM/PM``: parsed by slicing, not by strptime."""

MIN_YEAR = 1900
MAX_YEAR = 2199

_D2 = {f"{i:02d}": i for i in range(100)}
_FIXED: dict[timedelta, timezone] = {}


def fixed_zone(offset: timedelta) -> timezone:
    """A shared ``timezone`` object for ``offset`` (UTC for a zero offset)."""
    tz = _FIXED.get(offset)
    if tz is None:
        tz = UTC if not offset else timezone(offset)
        _FIXED[offset] = tz
    return tz


def localise(naive: datetime, zone: ZoneInfo, naive_fold1: datetime | None = None) -> datetime:
    """Attach ``zone``'s offset to a naive local time (gap and fold rules in the module doc).

    Examples
    --------
    >>> z = ZoneInfo("America/Chicago")
    >>> localise(datetime(2016, 11, 6, 1, 30), z).isoformat()
    '2016-11-06T01:30:00-05:00'
    >>> localise(datetime(2016, 3, 13, 2, 30), z).isoformat()
    '2016-03-13T03:30:00-05:00'
    """
    off0 = zone.utcoffset(naive)
    off1 = zone.utcoffset(naive_fold1 if naive_fold1 is not None else naive.replace(fold=1))
    if off0 is None or off1 is None:  # pragma: no cover - ZoneInfo always has offsets
        raise ValueError(f"zone {zone} has no UTC offset")
    if off1 > off0:  # in the gap: same instant as naive - off0, shown in the new offset
        return (naive + (off1 - off0)).replace(tzinfo=fixed_zone(off1), fold=0)
    return naive.replace(tzinfo=fixed_zone(off0), fold=0)


def to_local(aware: datetime, zone: ZoneInfo) -> datetime:
    """Convert an aware time to ``zone`` with a fixed offset (same instant).

    Examples
    --------
    >>> utc = datetime.fromisoformat("2016-07-01T17:00:00Z")
    >>> to_local(utc, ZoneInfo("America/Chicago")).isoformat()
    '2016-07-01T12:00:00-05:00'
    """
    local = aware.astimezone(zone)
    off = local.utcoffset()
    assert off is not None
    return local.replace(tzinfo=fixed_zone(off), fold=0)


def _show(text: str, limit: int = 40) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "...")


def _check_year(year: int, text: str, field: str) -> None:
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise IncidentError(
            field,
            f"implausible year {year} in {_show(text)} (accepted: {MIN_YEAR}-{MAX_YEAR})",
            "implausible year",
        )


def _chicago(s: str, zone: ZoneInfo, field: str) -> datetime | None:
    """Parse ``MM/DD/YYYY hh:mm:ss AM/PM``; ``None`` when ``s`` does not have that shape."""
    if s[2] != "/" or s[5] != "/" or s[10] != " " or s[13] != ":" or s[16] != ":":
        return None
    if s[19] != " ":
        return None
    try:
        mo, d, hh = _D2[s[0:2]], _D2[s[3:5]], _D2[s[11:13]]
        y = _D2[s[6:8]] * 100 + _D2[s[8:10]]
        mi, se = _D2[s[14:16]], _D2[s[17:19]]
    except KeyError:
        return None
    ampm = s[20:22].upper()
    if ampm not in ("AM", "PM"):
        return None
    if not 1 <= hh <= 12:
        raise IncidentError(field, f"not a valid time: {_show(s)} (hour {hh})", "not a valid date")
    h = hh % 12 + (12 if ampm == "PM" else 0)
    _check_year(y, s, field)
    hours = _HOURS.get(zone)
    if hours is None or len(hours) > 200_000:
        hours = _HOURS[zone] = {}
    key = s[0:13] + ampm
    try:
        tz = hours.get(key, _MISS)
        if tz is _MISS:
            tz = hours[key] = _uniform_hour(zone, y, mo, d, h)
        if tz is not None:
            return datetime(y, mo, d, h, mi, se, 0, tz)
        naive = datetime(y, mo, d, h, mi, se)
    except ValueError as exc:
        reason = f"not a valid date: {_show(s)} ({exc})"
        raise IncidentError(field, reason, "not a valid date") from None
    return localise(naive, zone, datetime(y, mo, d, h, mi, se, fold=1))


_MISS = timezone(timedelta(hours=23, minutes=59))  # a sentinel, never a real answer
_HOURS: dict[ZoneInfo, dict[str, timezone | None]] = {}


def _uniform_hour(zone: ZoneInfo, y: int, mo: int, d: int, h: int) -> timezone | None:
    """The fixed offset of a local hour with no DST transition in it, else ``None``."""
    a, b = datetime(y, mo, d, h), datetime(y, mo, d, h, 59, 59)
    offsets = {zone.utcoffset(t) for t in (a, b, a.replace(fold=1), b.replace(fold=1))}
    only = offsets.pop()
    return fixed_zone(only) if not offsets and only is not None else None


def parse_time(text: str, zone: ZoneInfo, formats: tuple[str, ...], field: str) -> datetime:
    """Parse a timestamp by the profile's ``formats`` then ISO 8601, as an aware local time.

    Raises :class:`IncidentError` naming ``field``: ``missing``, ``not a valid date``,
    ``implausible year`` or ``unrecognised time format``.

    Examples
    --------
    >>> z = ZoneInfo("America/Chicago")
    >>> parse_time("01/01/2016 12:00:00 AM", z, (CHICAGO_FORMAT,), "occurred_at").isoformat()
    '2016-01-01T00:00:00-06:00'
    >>> parse_time("2016-07-04T12:30:00", z, (), "occurred_at").isoformat()
    '2016-07-04T12:30:00-05:00'
    >>> parse_time("02/30/2016 10:00:00 AM", z, (CHICAGO_FORMAT,), "occurred_at")
    Traceback (most recent call last):
    ...
    patrol.incidents.schema.IncidentError: occurred_at: not a valid date: '02/30/2016 10:00:00 AM...
    """
    s = text.strip()
    if not s:
        raise IncidentError(field, "missing")
    invalid: str | None = None
    for fmt in formats:
        if fmt == CHICAGO_FORMAT:
            if len(s) == 22:
                got = _chicago(s, zone, field)
                if got is not None:
                    return got
            continue
        try:
            parsed = datetime.strptime(s, fmt)
        except ValueError as exc:
            invalid = invalid or _invalid_date(exc)
            continue
        return _finish(parsed, zone, s, field)
    try:
        parsed = datetime.fromisoformat(s)
    except ValueError as exc:
        invalid = invalid or _invalid_date(exc)
        if invalid is not None:
            raise IncidentError(
                field, f"not a valid date: {_show(s)} ({invalid})", "not a valid date"
            ) from None
        expected = ", ".join([*formats, "ISO 8601"])
        raise IncidentError(
            field, f"unrecognised time {_show(s)} (expected {expected})", "unrecognised time format"
        ) from None
    return _finish(parsed, zone, s, field)


def _invalid_date(exc: ValueError) -> str | None:
    """The message when parsing failed on the date's values, not on its shape."""
    msg = str(exc)
    return msg if "out of range" in msg or "must be in" in msg else None


def _finish(dt: datetime, zone: ZoneInfo, s: str, field: str) -> datetime:
    _check_year(dt.year, s, field)
    if dt.tzinfo is None:
        return localise(dt, zone)
    return to_local(dt, zone)
