"""City profiles: everything city-specific about an incident export, in one TOML file.

A new city needs a profile, never code: its time zone, the time formats of its export, the
mapping from its CSV headers to our field names, its bounding box, optionally its district
boundaries (GeoJSON) and district stations (CSV), and the grid used when it has no districts.

The bundled profiles live in ``patrol/cities/`` (``load_profile("chicago")``). Paths inside a
profile are relative to the profile file. Every key is checked when the profile is loaded and
an error names the key (``chicago.toml: bbox.min_lat: expected a number, got 'x'``).
"""

from __future__ import annotations

import csv
import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from patrol.geo import LocalProjection

CITIES_DIR = Path(__file__).resolve().parent.parent / "cities"
"""Folder of the bundled profiles (``<name>.toml``)."""

FIELDS = (
    "id", "case_number", "occurred_at", "updated_at", "block", "iucr", "primary_type",
    "description", "location_description", "arrest", "domestic", "beat", "district", "ward",
    "community_area", "fbi_code", "latitude", "longitude",
)  # fmt: skip
"""Our field names a profile's ``[columns]`` table may map CSV headers to."""

REQUIRED_COLUMNS = ("id", "occurred_at", "latitude", "longitude")
"""Fields every profile must map (they are required in every incident)."""

_TOP_KEYS = frozenset(
    {"name", "timezone", "time_formats", "source", "fallback_grid_m", "columns", "bbox",
     "districts", "stations", "projection"}
)  # fmt: skip


class ProfileError(ValueError):
    """A city profile that cannot be used; the message names the file and the key."""


def normalise_code(value: str) -> str:
    """Normalise a district/beat-like code: strip, drop leading zeros and a ``.0`` suffix.

    Examples
    --------
    >>> [normalise_code(c) for c in (" 006 ", "0632", "000", "7.0")]
    ['6', '632', '0', '7']
    >>> normalise_code("A12")
    'A12'
    """
    s = value.strip()
    if s.endswith(".0") and s[:-2].isdigit():
        s = s[:-2]
    if s.isdigit() and s.isascii():
        return s.lstrip("0") or "0"
    return s


@dataclass(frozen=True, slots=True)
class BBox:
    """A latitude/longitude bounding box (inclusive)."""

    min_lat: float
    max_lat: float
    min_lon: float
    max_lon: float

    @property
    def centre(self) -> tuple[float, float]:
        """``(lat, lon)`` of the box centre."""
        return (self.min_lat + self.max_lat) / 2.0, (self.min_lon + self.max_lon) / 2.0

    def contains(self, lat: float, lon: float) -> bool:
        """Whether the point is inside the box (edges included)."""
        return self.min_lat <= lat <= self.max_lat and self.min_lon <= lon <= self.max_lon


@dataclass(frozen=True, slots=True)
class DistrictSource:
    """Where a profile's district boundaries are: a GeoJSON file and the id property."""

    geojson: Path
    id_property: str


@dataclass(frozen=True, slots=True)
class StationSource:
    """Where a profile's district stations are: a CSV file and its column names."""

    csv: Path
    district: str
    latitude: str
    longitude: str
    exclude: tuple[str, ...] = ()


@dataclass(frozen=True)
class CityProfile:
    """Everything city-specific about an incident export (loaded from TOML, immutable).

    Attributes
    ----------
    name, timezone
        Profile name and IANA time zone of the export's local times (``zone`` is the
        ``ZoneInfo``).
    columns
        Our field name -> the city's CSV header (:data:`FIELDS`; the :data:`REQUIRED_COLUMNS`
        must be mapped).
    bbox
        Incidents outside it are rejected.
    time_formats
        strptime formats tried before ISO 8601 (always accepted).
    districts, station_source
        Optional district boundaries (GeoJSON + id property) and stations (CSV + columns).
    origin
        ``(lat0, lon0)`` of :attr:`projection`; ``None`` means the bbox centre.
    fallback_grid_m
        Grid cell size when there are no districts; 0 means one area, ``"city"``.
    source
        ``Incident.source`` of parsed rows (default: ``name``).

    Examples
    --------
    >>> p = load_profile("chicago")
    >>> p.name, p.timezone, p.columns["latitude"], p.districts is not None
    ('chicago', 'America/Chicago', 'Latitude', True)
    >>> p.bbox.contains(41.8584, -87.6274)
    True
    >>> p.stations()["1"]
    (41.85837259, -87.62735617)
    """

    name: str
    timezone: str
    columns: Mapping[str, str]
    bbox: BBox
    time_formats: tuple[str, ...] = ()
    districts: DistrictSource | None = None
    station_source: StationSource | None = None
    origin: tuple[float, float] | None = None
    fallback_grid_m: float = 0.0
    source: str | None = None
    path: Path | None = field(default=None, compare=False)

    def __hash__(self) -> int:
        return hash((self.name, self.timezone, self.bbox, self.time_formats))

    @cached_property
    def zone(self) -> ZoneInfo:
        """The profile's IANA time zone."""
        return ZoneInfo(self.timezone)

    @property
    def projection(self) -> LocalProjection:
        """The city's local metric projection (origin: ``[projection]`` or the bbox centre)."""
        lat0, lon0 = self.origin if self.origin is not None else self.bbox.centre
        return LocalProjection(lat0, lon0)

    @property
    def source_name(self) -> str:
        """The ``source`` stamped on parsed incidents (defaults to the profile name)."""
        return self.source if self.source is not None else self.name

    def stations(self) -> dict[str, tuple[float, float]]:
        """District stations as ``{district id: (lat, lon)}``; empty when none are configured.

        District ids are normalised like ``Incident.district``; rows listed in
        ``stations.exclude`` (e.g. Chicago's "Headquarters") are left out.
        """
        src = self.station_source
        if src is None:
            return {}
        out: dict[str, tuple[float, float]] = {}
        with src.csv.open(newline="", encoding="utf-8-sig") as fh:
            for n, row in enumerate(csv.DictReader(fh), start=2):
                raw = (row.get(src.district) or "").strip()
                if not raw or raw in src.exclude:
                    continue
                try:
                    lat = float(row.get(src.latitude) or "")
                    lon = float(row.get(src.longitude) or "")
                except ValueError:
                    raise ProfileError(
                        f"{src.csv}: line {n}: station {raw!r} has no valid latitude/longitude"
                    ) from None
                out[normalise_code(raw)] = (lat, lon)
        return out


def load_profile(name_or_path: str | Path) -> CityProfile:
    """Load a profile by bundled name (``"chicago"``) or from a TOML file path.

    Examples
    --------
    >>> load_profile("example_grid_city").fallback_grid_m
    500.0
    >>> load_profile("atlantis")
    Traceback (most recent call last):
    ...
    patrol.incidents.profile.ProfileError: no bundled city profile 'atlantis' ...
    """
    text = str(name_or_path)
    path = Path(name_or_path)
    if not (isinstance(name_or_path, Path) or text.endswith(".toml") or "/" in text):
        path = CITIES_DIR / f"{text}.toml"
        if not path.is_file():
            known = sorted(p.stem for p in CITIES_DIR.glob("*.toml"))
            raise ProfileError(f"no bundled city profile {text!r} (bundled: {known})")
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise ProfileError(f"{path}: profile file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"{path}: not valid TOML: {exc}") from None
    return profile_from_dict(data, base_dir=path.parent, origin=path)


def profile_from_dict(
    data: Mapping[str, Any], *, base_dir: Path | None = None, origin: Path | str = "<profile>"
) -> CityProfile:
    """Build and validate a profile from the parsed TOML tables.

    Examples
    --------
    >>> p = profile_from_dict({"name": "x", "timezone": "UTC",
    ...     "columns": {"id": "i", "occurred_at": "t", "latitude": "y", "longitude": "x"},
    ...     "bbox": {"min_lat": 0, "max_lat": 1, "min_lon": 0, "max_lon": 1}})
    >>> p.projection
    LocalProjection(lat0=0.5, lon0=0.5)
    >>> profile_from_dict({"name": "x"})
    Traceback (most recent call last):
    ...
    patrol.incidents.profile.ProfileError: <profile>: timezone: missing
    """
    v = _Validator(str(origin), base_dir if base_dir is not None else Path.cwd())
    v.no_unknown(data, _TOP_KEYS, "")
    name = v.string(data, "name")
    tz = v.string(data, "timezone")
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise v.error("timezone", f"unknown IANA time zone {tz!r}") from None
    formats = v.get(data, "time_formats", list, [])
    for i, f in enumerate(formats):
        if not isinstance(f, str) or "%" not in f:
            raise v.error(f"time_formats[{i}]", f"expected a strptime format, got {f!r}")
    columns = v.table(data, "columns")
    v.no_unknown(columns, frozenset(FIELDS), "columns.")
    for key, header in columns.items():
        if not isinstance(header, str) or not header.strip():
            raise v.error(f"columns.{key}", f"expected a column name, got {header!r}")
    for key in REQUIRED_COLUMNS:
        if key not in columns:
            raise v.error(f"columns.{key}", "missing (required field)")
    bb = v.table(data, "bbox")
    v.no_unknown(bb, frozenset({"min_lat", "max_lat", "min_lon", "max_lon"}), "bbox.")
    box = BBox(*(v.number(bb, k, "bbox.") for k in ("min_lat", "max_lat", "min_lon", "max_lon")))
    if not -90.0 <= box.min_lat < box.max_lat <= 90.0:
        raise v.error("bbox.min_lat", "need -90 <= min_lat < max_lat <= 90")
    if not -180.0 <= box.min_lon < box.max_lon <= 180.0:
        raise v.error("bbox.min_lon", "need -180 <= min_lon < max_lon <= 180")
    districts = None
    if "districts" in data:
        d = v.table(data, "districts")
        v.no_unknown(d, frozenset({"geojson", "id_property"}), "districts.")
        districts = DistrictSource(v.path(d, "geojson", "districts."),
                                   v.string(d, "id_property", "districts."))  # fmt: skip
    stations = None
    if "stations" in data:
        s = v.table(data, "stations")
        v.no_unknown(s, frozenset({"csv", "exclude", "district", "latitude", "longitude"}),
                     "stations.")  # fmt: skip
        exclude = v.get(s, "exclude", list, [], "stations.")
        stations = StationSource(
            csv=v.path(s, "csv", "stations."),
            district=v.string(s, "district", "stations."),
            latitude=v.string(s, "latitude", "stations."),
            longitude=v.string(s, "longitude", "stations."),
            exclude=tuple(str(x) for x in exclude),
        )
    origin_pt = None
    if "projection" in data:
        pr = v.table(data, "projection")
        v.no_unknown(pr, frozenset({"lat0", "lon0"}), "projection.")
        origin_pt = (v.number(pr, "lat0", "projection."), v.number(pr, "lon0", "projection."))
    grid = float(v.get(data, "fallback_grid_m", (int, float), 0.0))
    if not math.isfinite(grid) or grid < 0:
        raise v.error("fallback_grid_m", f"expected a size in metres >= 0, got {grid!r}")
    source = v.string(data, "source") if "source" in data else None
    return CityProfile(
        name=name, timezone=tz, columns=MappingProxyType(dict(columns)), bbox=box,
        time_formats=tuple(formats), districts=districts, station_source=stations,
        origin=origin_pt, fallback_grid_m=grid, source=source,
        path=origin if isinstance(origin, Path) else None,
    )  # fmt: skip


class _Validator:
    """Typed access to TOML tables with errors naming the file and the dotted key."""

    def __init__(self, origin: str, base_dir: Path) -> None:
        self.origin = origin
        self.base_dir = base_dir

    def error(self, key: str, reason: str) -> ProfileError:
        return ProfileError(f"{self.origin}: {key}: {reason}")

    def no_unknown(self, table: Mapping[str, Any], allowed: frozenset[str], prefix: str) -> None:
        for key in table:
            if key not in allowed:
                raise self.error(f"{prefix}{key}", f"unknown key (allowed: {sorted(allowed)})")

    def get(
        self, table: Mapping[str, Any], key: str, kind: Any, default: Any, prefix: str = ""
    ) -> Any:
        value = table.get(key, default)
        if not isinstance(value, kind) or isinstance(value, bool):
            raise self.error(f"{prefix}{key}", f"wrong type {type(value).__name__}: {value!r}")
        return value

    def table(self, data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
        if key not in data:
            raise self.error(key, "missing")
        value = data[key]
        if not isinstance(value, Mapping):
            raise self.error(key, f"expected a table, got {value!r}")
        return value

    def string(self, table: Mapping[str, Any], key: str, prefix: str = "") -> str:
        if key not in table:
            raise self.error(f"{prefix}{key}", "missing")
        value = table[key]
        if not isinstance(value, str) or not value.strip():
            raise self.error(f"{prefix}{key}", f"expected a non-empty string, got {value!r}")
        return value.strip()

    def number(self, table: Mapping[str, Any], key: str, prefix: str = "") -> float:
        if key not in table:
            raise self.error(f"{prefix}{key}", "missing")
        value = table[key]
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.error(f"{prefix}{key}", f"expected a number, got {value!r}")
        if not math.isfinite(value):
            raise self.error(f"{prefix}{key}", f"expected a finite number, got {value!r}")
        return float(value)

    def path(self, table: Mapping[str, Any], key: str, prefix: str) -> Path:
        p = (self.base_dir / self.string(table, key, prefix)).resolve()
        if not p.is_file():
            raise self.error(f"{prefix}{key}", f"file not found: {p}")
        return p
