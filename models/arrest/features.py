"""Features of an incident known when it is reported, and their encoding into one matrix.

Two paths give the same raw fields (tested to give identical encodings):

* :func:`raw_frame`: vectorised, from a pandas frame of a city's CSV export (training);
* :func:`raw_incident`: one :class:`~patrol.incidents.schema.Incident` (serving).

Raw fields (:data:`RAW_FIELDS`): the strings ``primary_type``, ``description``,
``location_description``, ``block``, the codes ``beat``, ``district``, ``community_area``
(normalised without leading zeros), ``domestic`` (``"true"``/``"false"``/``None``), the
coordinates and the local wall-clock parts of ``occurred_at`` (``hour``, ``minute``,
``day_of_week`` with Monday 0, ``month``, ``day_of_month``). ``arrest`` is the label, never a
feature.

:class:`FeatureEncoder` turns raw fields into a float32 matrix: categorical fields become
indices into an explicit vocabulary (0 is the reserved "unknown" index, also used for missing
values and for values too rare in training), numeric fields pass through, and each target
table adds the smoothed historical arrest rate of a key (e.g. beat x primary type) computed on
the training rows only (:mod:`models.arrest.encoding`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from models.arrest.encoding import TargetTable, fit_target_tables, key_series, key_value
from patrol.incidents.profile import BBox, CityProfile, normalise_code
from patrol.incidents.schema import Incident
from patrol.incidents.timeparse import parse_time

STRING_FIELDS = ("primary_type", "description", "location_description", "block")
CODE_FIELDS = ("beat", "district", "community_area")
TIME_FIELDS = ("hour", "minute", "day_of_week", "month", "day_of_month")
RAW_FIELDS = (*STRING_FIELDS, *CODE_FIELDS, "domestic", "latitude", "longitude", *TIME_FIELDS)
"""Every raw field (the categorical ones are strings or ``None``, the rest numbers)."""

DERIVED = {
    "on_the_hour": lambda minute: minute == 0,
    "on_five_minutes": lambda minute: minute % 5 == 0,
}
"""Numeric features derived from ``minute``: a rounded occurrence time (an estimate given by
a victim reporting later) versus a precise one (often an on-view arrest)."""

SEED_CATEGORICAL = ("primary_type", "description", "location_description", "domestic")
SEED_NUMERIC = ("latitude", "longitude")
"""The seed paper's features (Primary Type, Description, Location Description, Domestic,
coordinates); its X/Y State Plane coordinates are a linear map of latitude/longitude here."""

HONEST_CATEGORICAL = (*SEED_CATEGORICAL, "beat", "district", "community_area")
HONEST_NUMERIC = (
    "latitude",
    "longitude",
    "hour",
    "minute",
    "on_the_hour",
    "on_five_minutes",
    "day_of_week",
    "month",
    "day_of_month",
)
HONEST_TARGETS: tuple[tuple[str, ...], ...] = (
    ("block",),
    ("primary_type", "description", "location_description"),
    ("beat", "primary_type"),
    ("block", "primary_type"),
)
"""Keys of the historical arrest-rate tables of the honest model (training years only)."""

KNOWN_ARREST_ONLY = (
    "NARCOTICS",
    "PROSTITUTION",
    "GAMBLING",
    "LIQUOR LAW VIOLATION",
    "INTERFERENCE WITH PUBLIC OFFICER",
)
"""Offence types recorded only when an arrest is made (data README)."""

_TRUE = frozenset({"true", "t", "yes", "y", "1"})
_FALSE = frozenset({"false", "f", "no", "n", "0"})


def _bool_text(value: bool | None) -> str | None:
    return None if value is None else ("true" if value else "false")


def raw_incident(inc: Incident) -> dict[str, Any]:
    """The raw fields of one incident (the serving path).

    Examples
    --------
    >>> from datetime import datetime, timedelta, timezone
    >>> t = datetime(2016, 3, 13, 3, 30, tzinfo=timezone(timedelta(hours=-5)))
    >>> r = raw_incident(Incident("1", t, 41.9, -87.7, primary_type="THEFT", beat="111"))
    >>> r["primary_type"], r["beat"], r["hour"], r["minute"], r["day_of_week"], r["domestic"]
    ('THEFT', '111', 3, 30, 6, None)
    """
    t = inc.occurred_at
    return {
        "primary_type": inc.primary_type,
        "description": inc.description,
        "location_description": inc.location_description,
        "block": inc.block,
        "beat": inc.beat,
        "district": inc.district,
        "community_area": inc.community_area,
        "domestic": _bool_text(inc.domestic),
        "latitude": inc.latitude,
        "longitude": inc.longitude,
        "hour": t.hour,
        "minute": t.minute,
        "day_of_week": t.weekday(),
        "month": t.month,
        "day_of_month": t.day,
    }


def _clean(col: pd.Series) -> pd.Series:
    """Strip strings; empty -> ``None`` (object dtype, like the incident path)."""
    codes, uniques = pd.factorize(col)
    objs = np.asarray(uniques, dtype=object)
    cleaned = [(v.strip() or None) if isinstance(v, str) else None for v in objs]
    table = np.array([*cleaned, None], dtype=object)  # code -1 (missing) -> None
    return pd.Series(table[codes], index=col.index, dtype=object)


def _local_times(text: pd.Series, profile: CityProfile) -> pd.DataFrame:
    """Local wall-clock parts and the UTC instant of each time string (NaT when unparsable).

    The profile's first format is parsed vectorised and localised with the rules of
    :mod:`patrol.incidents.timeparse` (ambiguous -> first occurrence, gap -> shifted forward
    by the gap); anything else goes through ``parse_time`` one value at a time.
    """
    n = len(text)
    fmt = profile.time_formats[0] if profile.time_formats else None
    naive = (
        pd.to_datetime(text, format=fmt, errors="coerce")
        if fmt
        else pd.Series(pd.NaT, index=text.index, dtype="datetime64[ns]")
    )
    local = naive.dt.tz_localize(
        profile.zone, ambiguous=np.ones(n, dtype=bool), nonexistent=pd.Timedelta(hours=1)
    )
    utc = local.dt.tz_convert("UTC")
    parts = pd.DataFrame(
        {
            "hour": local.dt.hour,
            "minute": local.dt.minute,
            "day_of_week": local.dt.day_of_week,
            "month": local.dt.month,
            "day_of_month": local.dt.day,
            "occurred_utc": utc,
        },
        index=text.index,
    )
    todo = np.flatnonzero(naive.isna().to_numpy() & text.notna().to_numpy())
    for i in todo:
        try:
            t = parse_time(str(text.iloc[i]).strip(), profile.zone, profile.time_formats, "t")
        except ValueError:
            continue
        row = parts.index[i]
        parts.loc[row, ["hour", "minute", "day_of_week", "month", "day_of_month"]] = (
            t.hour,
            t.minute,
            t.weekday(),
            t.month,
            t.day,
        )
        parts.loc[row, "occurred_utc"] = pd.Timestamp(t).tz_convert("UTC")
    return parts


def _coords(col: pd.Series, lo: float, hi: float) -> np.ndarray:
    """Floats parsed like the incident path (Python ``float``); NaN when bad or outside."""
    codes, uniques = pd.factorize(col)
    values = np.full(len(uniques) + 1, np.nan)  # code -1 (missing) -> NaN
    for i, v in enumerate(np.asarray(uniques, dtype=object)):
        if isinstance(v, str) and "_" not in v:
            try:
                f = float(v)
            except ValueError:
                continue
            if lo <= f <= hi:
                values[i] = f
    return values[codes]


def raw_frame(df: pd.DataFrame, profile: CityProfile) -> pd.DataFrame:
    """The raw fields of every valid row of a CSV frame (the training path), vectorised.

    ``df`` has the city's headers (``profile.columns``) as read with ``dtype=str``. Valid rows
    are those :func:`~patrol.incidents.parse.parse_row` accepts as far as features go: an id,
    a parsable occurrence time, coordinates inside the profile's bounding box. The result has
    :data:`RAW_FIELDS` plus ``id``, ``occurred_utc`` and ``arrest`` (1.0, 0.0 or NaN), and
    keeps the original index.
    """
    cols = profile.columns

    def get(name: str) -> pd.Series:
        header = cols.get(name)
        if header is None or header not in df.columns:
            return pd.Series([None] * len(df), index=df.index, dtype=object)
        return _clean(df[header])

    out = pd.DataFrame(index=df.index)
    out["id"] = get("id")
    for name in STRING_FIELDS:
        out[name] = get(name)
    for name in CODE_FIELDS:
        raw = get(name)
        uniques = {v: normalise_code(v) for v in raw.dropna().unique()}
        out[name] = raw.map(uniques).astype(object).where(raw.notna(), None)
    for name in ("domestic", "arrest"):
        low = get(name).str.lower()
        text = np.where(low.isin(_TRUE), "true", np.where(low.isin(_FALSE), "false", None))
        out[name] = pd.Series(text, index=df.index, dtype=object)
    out["arrest"] = out["arrest"].map({"true": 1.0, "false": 0.0}).astype(float)
    box: BBox = profile.bbox
    out["latitude"] = _coords(get("latitude"), box.min_lat, box.max_lat)
    out["longitude"] = _coords(get("longitude"), box.min_lon, box.max_lon)
    times = _local_times(get("occurred_at"), profile)
    for name in (*TIME_FIELDS, "occurred_utc"):
        out[name] = times[name]
    valid = (
        out["id"].notna()
        & out["occurred_utc"].notna()
        & out["latitude"].notna()
        & out["longitude"].notna()
    )
    out = out[valid].copy()
    for name in TIME_FIELDS:
        out[name] = out[name].astype(np.int64)
    return out


@dataclass
class FeatureEncoder:
    """Raw fields -> float32 matrix; fitted on training rows, stored in the model card.

    Column order: categorical indices, numeric values, target-table rates (:attr:`columns`).
    """

    categorical: tuple[str, ...]
    numeric: tuple[str, ...]
    vocabularies: dict[str, list[str]]
    targets: list[TargetTable] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._index = {
            name: {v: i + 1 for i, v in enumerate(vocab)}
            for name, vocab in self.vocabularies.items()
        }

    @property
    def columns(self) -> list[str]:
        """Names of the matrix columns (``rate:beat*primary_type`` for a target table)."""
        return [*self.categorical, *self.numeric, *(t.name for t in self.targets)]

    @property
    def cardinalities(self) -> list[int]:
        """Number of indices of each categorical column (vocabulary size + unknown)."""
        return [len(self.vocabularies[c]) + 1 for c in self.categorical]

    def transform_frame(self, raw: pd.DataFrame) -> np.ndarray:
        """Encode a raw frame (:func:`raw_frame`) into an ``(n, len(columns))`` float32 array."""
        out = np.empty((len(raw), len(self.columns)), dtype=np.float32)
        j = 0
        for name in self.categorical:
            vocab = pd.Index(self.vocabularies[name], dtype=object)
            out[:, j] = vocab.get_indexer(raw[name].astype(object)) + 1  # -1 (unknown) -> 0
            j += 1
        for name in self.numeric:
            if name in DERIVED:
                out[:, j] = DERIVED[name](raw["minute"].to_numpy())
            else:
                out[:, j] = raw[name].to_numpy(dtype=np.float64)
            j += 1
        for table in self.targets:
            out[:, j] = table.lookup_frame(key_series(raw, table.keys))
            j += 1
        return out

    def transform_raw(self, raw: Mapping[str, Any]) -> np.ndarray:
        """Encode one incident's raw fields (:func:`raw_incident`) into a float32 vector."""
        values: list[float] = [self._index[n].get(raw[n], 0) for n in self.categorical]
        for name in self.numeric:
            v = DERIVED[name](raw["minute"]) if name in DERIVED else raw[name]
            values.append(np.nan if v is None else float(v))
        values.extend(t.lookup(key_value(raw, t.keys)) for t in self.targets)
        return np.asarray(values, dtype=np.float32)

    def transform_incidents(self, incidents: Iterable[Incident]) -> np.ndarray:
        """Encode incidents one by one (the serving path) into a float32 matrix."""
        rows = [self.transform_raw(raw_incident(inc)) for inc in incidents]
        if not rows:
            return np.empty((0, len(self.columns)), dtype=np.float32)
        return np.stack(rows)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description (the ``features`` part of the model card)."""
        return {
            "columns": self.columns,
            "categorical": list(self.categorical),
            "numeric": list(self.numeric),
            "unknown_index": 0,
            "vocabularies": {k: list(v) for k, v in self.vocabularies.items()},
            "targets": [t.to_dict() for t in self.targets],
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> FeatureEncoder:
        """The inverse of :meth:`to_dict`."""
        return cls(
            categorical=tuple(d["categorical"]),
            numeric=tuple(d["numeric"]),
            vocabularies={k: list(v) for k, v in d["vocabularies"].items()},
            targets=[TargetTable.from_dict(t) for t in d.get("targets", [])],
        )


def build_vocabulary(values: pd.Series, min_count: int) -> list[str]:
    """Values seen at least ``min_count`` times, most frequent first (ties by value).

    Examples
    --------
    >>> build_vocabulary(pd.Series(["b", "a", "b", None, "c", "a"]), 2)
    ['a', 'b']
    """
    counts = values.dropna().value_counts()
    kept = counts[counts >= min_count]
    return [str(v) for v, _ in sorted(kept.items(), key=lambda kv: (-kv[1], str(kv[0])))]


def fit_encoder(
    raw: pd.DataFrame,
    y: np.ndarray,
    *,
    categorical: Sequence[str],
    numeric: Sequence[str],
    targets: Sequence[tuple[str, ...]] = (),
    folds: np.ndarray | None = None,
    min_count: int = 20,
    alpha: float = 20.0,
) -> tuple[FeatureEncoder, np.ndarray]:
    """Fit an encoder on training rows and encode them.

    Target tables are computed on these rows only; the training rows themselves get
    out-of-fold rates (``folds``: one fold id per row, e.g. the year) so that a row's own
    label never enters its feature. Returns ``(encoder, X_train)``.
    """
    vocab = {c: build_vocabulary(raw[c], min_count) for c in categorical}
    tables, oof = fit_target_tables(raw, y, targets, folds, min_count=min_count, alpha=alpha)
    enc = FeatureEncoder(tuple(categorical), tuple(numeric), vocab, tables)
    X = enc.transform_frame(raw)
    if tables:
        X[:, len(categorical) + len(numeric) :] = oof
    return enc, X


def arrest_only_types(
    primary_type: pd.Series,
    y: np.ndarray,
    *,
    threshold: float = 0.95,
    min_count: int = 20,
    known: Sequence[str] = KNOWN_ARREST_ONLY,
) -> dict[str, float]:
    """Offence types recorded only on arrest: ``known`` plus any type with at least
    ``min_count`` training rows whose arrest rate is above ``threshold``.

    Returns ``{type: training arrest rate}``; a known type absent from the rows is left out.

    Examples
    --------
    >>> t = pd.Series(["A"] * 30 + ["B"] * 30 + ["NARCOTICS"] * 2)
    >>> y = np.array([1] * 30 + [1] * 20 + [0] * 10 + [1, 1])
    >>> arrest_only_types(t, y)
    {'A': 1.0, 'NARCOTICS': 1.0}
    """
    rates = pd.Series(np.asarray(y, dtype=float), index=primary_type.index).groupby(
        primary_type.to_numpy()
    )
    stats = rates.agg(["mean", "size"])
    out = {
        str(k): float(r["mean"])
        for k, r in stats.iterrows()
        if r["size"] >= min_count and r["mean"] > threshold
    }
    for k in known:
        if k in stats.index:
            out.setdefault(k, float(stats.loc[k, "mean"]))
    return dict(sorted(out.items()))
