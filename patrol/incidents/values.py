"""Validators of single incident values (booleans, coordinates, codes) shared by the parsers.

Each raises :class:`~patrol.incidents.schema.IncidentError` naming the field, with a coarse
``category`` for counting, and shows at most 40 characters of the offending value.
"""

from __future__ import annotations

import math
import sys

from patrol.incidents.profile import BBox, normalise_code
from patrol.incidents.schema import IncidentError

BOOLEANS = {
    "true": True, "false": False, "t": True, "f": False, "yes": True, "no": False,
    "y": True, "n": False, "1": True, "0": False,
}  # fmt: skip
"""Accepted boolean spellings (compared case-insensitively, after stripping)."""

_CODE_CACHE: dict[str, str] = {}


def show(value: object, limit: int = 40) -> str:
    """A short quoted rendering of a value for error messages.

    Examples
    --------
    >>> show("abc"), show("x" * 50)[-6:]
    ("'abc'", "x...'")
    """
    text = value if isinstance(value, str) else repr(value)
    return repr(text if len(text) <= limit else text[:limit] + "...")


def clean(value: object) -> str | None:
    """Strip a value to text; empty or whitespace-only -> ``None``.

    Examples
    --------
    >>> clean("  HZ101659 "), clean("   "), clean(None), clean(17)
    ('HZ101659', None, None, '17')
    """
    if value is None:
        return None
    s = (value if isinstance(value, str) else str(value)).strip()
    return s or None


def parse_bool(value: str | None, field: str) -> bool | None:
    """A boolean from any spelling in :data:`BOOLEANS`; empty -> ``None``.

    Examples
    --------
    >>> [parse_bool(v, "arrest") for v in ("true", "FALSE", " Yes ", "0", "T", "", None)]
    [True, False, True, False, True, None, None]
    >>> parse_bool("maybe", "arrest")
    Traceback (most recent call last):
    ...
    patrol.incidents.schema.IncidentError: arrest: not a boolean: 'maybe'
    """
    if value is None:
        return None
    got = BOOLEANS.get(value)
    if got is None:
        s = value.strip().lower()
        if not s:
            return None
        got = BOOLEANS.get(s)
        if got is None:
            raise IncidentError(field, f"not a boolean: {show(value)}", "not a boolean")
    return got


def parse_coord(value: str | None, field: str, bbox: BBox, city: str = "city") -> float:
    """A latitude (``field="latitude"``) or longitude, checked for range and the bbox.

    Examples
    --------
    >>> box = BBox(41.6, 42.07, -87.99, -87.48)
    >>> parse_coord(" 41.886012928 ", "latitude", box)
    41.886012928
    >>> try:
    ...     parse_coord("36.619446395", "latitude", box, "chicago")
    ... except IncidentError as err:
    ...     print(err.field, "|", err.category, "|", err.reason)  # doctest: +ELLIPSIS
    latitude | outside bbox | 36.619446395 is outside the chicago bounding box (lat 41.6..42.07...
    """
    if field == "latitude":
        limit, lo, hi = 90.0, bbox.min_lat, bbox.max_lat
    else:
        limit, lo, hi = 180.0, bbox.min_lon, bbox.max_lon
    s = clean(value)
    if s is None:
        raise IncidentError(field, "missing")
    try:
        if "_" in s:
            raise ValueError(s)
        v = float(s)
    except ValueError:
        raise IncidentError(field, f"not a number: {show(s)}", "not a number") from None
    if not math.isfinite(v):
        raise IncidentError(field, f"not a finite number: {show(s)}", "not a number")
    if not -limit <= v <= limit:
        raise IncidentError(field, f"{v!r} is out of range [{-limit}, {limit}]", "out of range")
    if not lo <= v <= hi:
        raise IncidentError(
            field,
            f"{v!r} is outside the {city} bounding box "
            f"(lat {bbox.min_lat}..{bbox.max_lat}, lon {bbox.min_lon}..{bbox.max_lon})",
            "outside bbox",
        )
    return v


def code(value: str) -> str:
    """:func:`~patrol.incidents.profile.normalise_code`, interned and memoised.

    Examples
    --------
    >>> code("006"), code("0632")
    ('6', '632')
    """
    got = _CODE_CACHE.get(value)
    if got is None:
        if len(_CODE_CACHE) > 100_000:
            _CODE_CACHE.clear()
        got = _CODE_CACHE[value] = sys.intern(normalise_code(value))
    return got
