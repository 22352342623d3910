"""Validation of city CSV rows and JSON events into :class:`~patrol.incidents.schema.Incident`.

Both entry points raise only :class:`~patrol.incidents.schema.IncidentError`, whose message
names the field and the reason, and whose ``category`` is a coarse reason for counting.

* Strings are stripped; empty or whitespace-only values are ``None``.
* ``id`` is required, non-empty and at most ``MAX_ID_LENGTH`` characters.
* Times: see :mod:`patrol.incidents.timeparse` (profile formats or ISO 8601, local time in the
  profile's zone, DST fold -> first occurrence, DST gap -> shifted forward). ``occurred_at``
  more than a day after ``updated_at`` is rejected (a record cannot be updated before the
  incident happened; 0 of the 1.45 M Chicago rows of 2012-2016 do this).
* Booleans: ``true``/``false``, ``t``/``f``, ``yes``/``no``, ``y``/``n``, ``1``/``0`` in any
  case; empty -> ``None``.
* ``beat``, ``district``, ``ward``, ``community_area``: leading zeros dropped (``"006"`` ->
  ``"6"``), see :func:`~patrol.incidents.profile.normalise_code`.
* ``latitude``/``longitude``: required numbers, finite, within [-90, 90] / [-180, 180] and
  inside the profile's bounding box.
"""

from __future__ import annotations

import csv
import gzip
import io
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from patrol.incidents.profile import FIELDS, REQUIRED_COLUMNS, CityProfile
from patrol.incidents.report import RejectionReport
from patrol.incidents.schema import SCHEMA_VERSION, Incident, IncidentError
from patrol.incidents.timeparse import parse_time
from patrol.incidents.values import _CODE_CACHE, clean, code, parse_bool, parse_coord, show

if TYPE_CHECKING:
    from patrol.incidents.areas import AreaLocator

__all__ = [
    "MAX_ID_LENGTH", "ParsedBatch", "RejectionReport", "iter_csv", "parse_event", "parse_row",
    "read_csv",
]  # fmt: skip

MAX_ID_LENGTH = 128
"""Longest accepted incident id (ids become Kafka keys and table keys)."""

UPDATE_SLACK = timedelta(days=1)
"""How far ``occurred_at`` may be after ``updated_at`` before the record is rejected."""

_CODES = ("beat", "district", "ward", "community_area")
_TIMES = ("occurred_at", "updated_at")
assert FIELDS[0] == "id" and FIELDS[-2:] == ("latitude", "longitude")  # _make unpacks by order
_UNMAPPED = "\x00unmapped"  # a header no row has: unmapped fields read as None
_intern = sys.intern


class _Plan:
    """Per-profile constants of :func:`parse_row`, computed once."""

    def __init__(self, profile: CityProfile) -> None:
        self.profile = profile
        self.name = profile.name
        self.zone = profile.zone
        self.formats = profile.time_formats
        self.bbox = profile.bbox
        self.source = profile.source_name
        self.headers = tuple(profile.columns.get(f, _UNMAPPED) for f in FIELDS)
        self.times: dict[str, datetime] = {}

    def time(self, text: str, field: str) -> datetime:
        """Parse a time (and remember it: exports repeat timestamps a lot)."""
        got = parse_time(text, self.zone, self.formats, field)
        if len(self.times) >= 8192:
            self.times.clear()
        self.times[text] = got
        return got


_PLANS: dict[int, _Plan] = {}


def _plan(profile: CityProfile) -> _Plan:
    plan = _PLANS.get(id(profile))
    if plan is None or plan.profile is not profile:
        if len(_PLANS) > 64:
            _PLANS.clear()
        plan = _PLANS[id(profile)] = _Plan(profile)
    return plan


def _make(
    row: Mapping[Any, Any], headers: tuple[str, ...], p: _Plan, source: str | None
) -> Incident:
    get = row.get
    (rid, case_number, occ, upd, block, iucr, primary_type, description, location_description,
     arrest, domestic, beat, district, ward, community_area, fbi_code, lat_s, lon_s) = [
        (v.strip() or None) if (v := get(h)).__class__ is str else clean(v) for h in headers
    ]  # fmt: skip
    if rid is None:
        raise IncidentError("id", "missing")
    if len(rid) > MAX_ID_LENGTH:
        raise IncidentError("id", f"longer than {MAX_ID_LENGTH} characters", "too long")
    if occ is None:
        raise IncidentError("occurred_at", "missing")
    occurred = p.times.get(occ) or p.time(occ, "occurred_at")
    lat = parse_coord(lat_s, "latitude", p.bbox, p.name)
    lon = parse_coord(lon_s, "longitude", p.bbox, p.name)
    updated = None if upd is None else (p.times.get(upd) or p.time(upd, "updated_at"))
    if updated is not None and occurred - updated > UPDATE_SLACK:
        raise IncidentError(
            "occurred_at",
            f"{occurred.isoformat()} is after updated_at {updated.isoformat()}",
            "after updated_at",
        )
    codes = _CODE_CACHE  # code() inlined for the hit path
    return Incident(
        id=rid, occurred_at=occurred, latitude=lat, longitude=lon, updated_at=updated,
        case_number=case_number, block=block,
        iucr=iucr and _intern(iucr),
        primary_type=primary_type and _intern(primary_type),
        description=description and _intern(description),
        location_description=location_description and _intern(location_description),
        fbi_code=fbi_code and _intern(fbi_code),
        arrest=None if arrest is None else parse_bool(arrest, "arrest"),
        domestic=None if domestic is None else parse_bool(domestic, "domestic"),
        beat=beat and (codes.get(beat) or code(beat)),
        district=district and (codes.get(district) or code(district)),
        ward=ward and (codes.get(ward) or code(ward)),
        community_area=community_area and (codes.get(community_area) or code(community_area)),
        source=source,
    )  # fmt: skip


def parse_row(row: Mapping[str, str | None], profile: CityProfile) -> Incident:
    """Validate one CSV row (keys: the city's headers, see ``profile.columns``).

    ``source`` is set to the profile's ``source`` (default: its name). Raises
    :class:`IncidentError` naming the field and the reason.

    Examples
    --------
    >>> from patrol.incidents.profile import load_profile
    >>> chicago = load_profile("chicago")
    >>> row = {"ID": "10365841", "Date": "01/01/2016 12:00:00 AM", "District": "001",
    ...        "Beat": "0111", "Arrest": "false", "Domestic": "TRUE",
    ...        "Latitude": "41.886012928", "Longitude": "-87.629505318"}
    >>> inc = parse_row(row, chicago)
    >>> inc.occurred_at.isoformat(), inc.district, inc.beat, inc.arrest, inc.domestic
    ('2016-01-01T00:00:00-06:00', '1', '111', False, True)
    >>> parse_row({**row, "Latitude": ""}, chicago)
    Traceback (most recent call last):
    ...
    patrol.incidents.schema.IncidentError: latitude: missing
    """
    p = _plan(profile)
    return _make(row, p.headers, p, p.source)


def _event_text(obj: Mapping[str, Any], field: str) -> str | None:
    """One event value as text for :func:`_make`, checking its JSON type."""
    v = obj.get(field)
    if v is None or isinstance(v, str):
        return v
    if field in ("latitude", "longitude"):
        kind = "a number"
        if isinstance(v, int | float) and not isinstance(v, bool):
            try:
                return repr(float(v))
            except OverflowError:
                raise IncidentError(field, f"{show(v)} is out of range", "out of range") from None
    elif field in ("arrest", "domestic"):
        kind = "a boolean"
        if isinstance(v, int) and v in (0, 1):  # True/False are ints too
            return str(int(v))
    else:
        kind = "a string"
        if isinstance(v, int) and not isinstance(v, bool) and field not in _TIMES:
            return str(v)
        if isinstance(v, float) and field in _CODES and v.is_integer():
            return str(int(v))
    raise IncidentError(field, f"expected {kind}, got {type(v).__name__} {show(v)}", "wrong type")


def parse_event(obj: Mapping[str, Any], profile: CityProfile) -> Incident:
    """Validate one JSON event (design.md "Incident event"); the inverse of ``to_event``.

    Values may be JSON strings or the natural JSON type (numbers, booleans; ``0``/``1`` for
    booleans). ``schema_version`` may be absent (read as the current version) or any version
    with the supported major number (``1``, ``"1"``, ``"1.2"``); others are rejected.

    Examples
    --------
    >>> from patrol.incidents.profile import load_profile
    >>> chicago = load_profile("chicago")
    >>> inc = parse_event({"id": 7, "occurred_at": "2016-07-04T21:15:00-05:00",
    ...     "latitude": 41.88, "longitude": "-87.63", "arrest": True, "district": "018"},
    ...     chicago)
    >>> inc.id, inc.district, inc.arrest, inc.source
    ('7', '18', True, None)
    >>> parse_event(inc.to_event(), chicago) == inc
    True
    >>> parse_event({**inc.to_event(), "schema_version": 2}, chicago)
    Traceback (most recent call last):
    ...
    patrol.incidents.schema.IncidentError: schema_version: unsupported version 2 ...
    """
    if not isinstance(obj, Mapping):
        kind = type(obj).__name__
        raise IncidentError("event", f"expected a JSON object, got {kind}", "wrong type")
    version = obj.get("schema_version", SCHEMA_VERSION)
    try:
        if isinstance(version, bool) or not isinstance(version, int | str):
            raise ValueError(version)
        major = int(str(version).strip().split(".")[0])
    except ValueError:
        major = -1
    if major != SCHEMA_VERSION:
        raise IncidentError(
            "schema_version",
            f"unsupported version {show(version)[1:-1]} (this build reads {SCHEMA_VERSION}.x)",
            "unsupported version",
        )
    texts = {f: _event_text(obj, f) for f in FIELDS}
    source = obj.get("source")
    if source is not None and not isinstance(source, str):
        raise IncidentError("source", f"expected a string, got {show(source)}", "wrong type")
    return _make(texts, FIELDS, _plan(profile), clean(source))


@dataclass
class ParsedBatch:
    """What :func:`read_csv` read: the valid incidents (file order) and the rejections.

    ``rows == len(incidents) + rejections.total`` (blank lines are not rows).
    """

    incidents: list[Incident]
    rejections: RejectionReport = field(default_factory=RejectionReport)
    rows: int = 0


def _open_text(path: Path) -> IO[str]:
    """Open a CSV file, gunzipping when it starts with the gzip magic bytes."""
    raw = path.open("rb")
    if raw.peek(2)[:2] == b"\x1f\x8b":
        return io.TextIOWrapper(gzip.GzipFile(fileobj=raw), "utf-8-sig", "replace", newline="")
    return io.TextIOWrapper(raw, "utf-8-sig", "replace", newline="")


def iter_csv(
    source: str | Path | IO[str],
    profile: CityProfile,
    report: RejectionReport,
    *,
    locate: bool = True,
    locator: AreaLocator | None = None,
) -> Iterator[Incident]:
    """Stream the valid incidents of a city CSV export (plain or gzip), in file order.

    Bad rows never raise: each is counted in ``report`` with its 1-based data row number
    (the header is row 0) and id. A file whose header lacks a required column raises
    ``ValueError`` (that is a wrong profile, not a bad row). With ``locate``, an incident
    without a district is placed by ``locator`` (built from the profile when not given).
    """
    fh = _open_text(Path(source)) if isinstance(source, str | Path) else source
    name = str(source) if isinstance(source, str | Path) else getattr(source, "name", "<csv>")
    try:
        reader = csv.reader(fh)
        header = next(reader, None)
        if header is None:
            raise ValueError(f"{name}: empty file, expected a header row")
        missing = [f"{profile.columns[f]!r} ({f})" for f in REQUIRED_COLUMNS
                   if profile.columns[f] not in header]  # fmt: skip
        if missing:
            raise ValueError(
                f"{name}: header lacks column(s) {', '.join(missing)} required by profile "
                f"{profile.name!r}; found {header[:30]}"
            )
        width = len(header)
        id_col = header.index(profile.columns["id"])
        row_number = 0
        while True:
            try:
                values = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                row_number += 1
                report.add(IncidentError("row", f"malformed CSV: {exc}", "malformed csv"),
                           row_number, None)  # fmt: skip
                continue
            if not values:
                continue
            row_number += 1
            try:
                if len(values) != width:
                    raise IncidentError(
                        "row", f"{len(values)} fields, header has {width}", "wrong field count"
                    )
                inc = parse_row(dict(zip(header, values, strict=True)), profile)
            except IncidentError as err:
                rid = values[id_col].strip() if len(values) > id_col else None
                report.add(err, row_number, rid or None)
                continue
            if locate and inc.district is None:
                if locator is None:
                    from patrol.incidents.areas import AreaLocator

                    locator = AreaLocator(profile)
                inc = replace(inc, district=locator.locate(inc.latitude, inc.longitude))
            yield inc
    finally:
        if isinstance(source, str | Path):
            fh.close()


def read_csv(
    source: str | Path | IO[str],
    profile: CityProfile,
    *,
    locate: bool = True,
    locator: AreaLocator | None = None,
    max_examples: int = 20,
) -> ParsedBatch:
    """Read a whole city CSV export (see :func:`iter_csv`); the caller sorts if needed.

    Examples
    --------
    >>> import io
    >>> from patrol.incidents.profile import load_profile
    >>> text = (
    ...     "ID,Date,Latitude,Longitude,District\\n"
    ...     "1,01/01/2016 12:00:00 AM,41.8858,-87.6181,\\n"
    ...     "2,01/01/2016 12:05:00 AM,,,001\\n"
    ... )
    >>> batch = read_csv(io.StringIO(text), load_profile("chicago"))
    >>> [(i.id, i.district) for i in batch.incidents], batch.rows
    ([('1', '1')], 2)
    >>> batch.rejections.by_reason(), batch.rejections.examples
    ({'latitude: missing': 1}, [{'row': 2, 'id': '2', 'reason': 'latitude: missing'}])
    """
    report = RejectionReport(max_examples=max_examples)
    incidents = list(iter_csv(source, profile, report, locate=locate, locator=locator))
    return ParsedBatch(incidents, report, len(incidents) + report.total)
