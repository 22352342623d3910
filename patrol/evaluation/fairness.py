"""Fairness audit: where planned patrol time goes, against where incidents are and people live.

The unit of account is the community area (Chicago's 77; any polygon layer with an id works).
For a set of planned routes:

* a route's **planned patrol minutes** are where the unit is during the plan: its driving time
  spread along the driven path, and each way-point's dwell at the way-point
  (:func:`patrol_minutes`). Time after a route's last planned minute is not counted: the plan
  says nothing about it (CPSPA's routes plan 15 to 95 of a shift's 480 minutes);
* an area's **patrol share** is its way-points' minutes over all minutes; its **incident share**
  the share of the reported incidents in it; its **population share** the share of residents
  (when a population table is supplied, :func:`read_population`);
* the gap between two distributions is their **total variation distance**
  (:func:`total_variation`, half the L1 distance, 0 = identical, 1 = disjoint). Unlike
  Kullback-Leibler it stays finite when a plan gives an area no time at all, which the CPSPA
  plans (a few way-points per district and shift) do for most areas in most shifts.

Pure: no clock, no I/O except :class:`CommunityAreas` and :func:`read_population`, which read the
files they are given.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import shapely
from shapely.geometry import shape

from patrol.geo import LocalProjection
from patrol.routes import Route

CHICAGO_COMMUNITY_AREAS = (
    Path(__file__).resolve().parent.parent / "cities" / "data" / "chicago_community_areas.geojson"
)
"""Chicago's 77 community areas, simplified (see docs/fairness.md for the derivation)."""


def area_id(value: object) -> str | None:
    """A community-area id in canonical form: digits without leading zeros, else stripped text.

    Examples
    --------
    >>> area_id("08"), area_id(" 32 "), area_id(""), area_id(None), area_id(7)
    ('8', '32', None, None, '7')
    """
    if value is None:
        return None
    text = str(value).strip()
    if not text:
        return None
    return text.lstrip("0") or "0" if text.isdigit() else text


class CommunityAreas:
    """Point-in-polygon lookup of community areas from a GeoJSON FeatureCollection.

    Parameters
    ----------
    path
        GeoJSON file; each feature needs an id property (``id_field``) and may carry a name.
    id_field, name_field
        Feature properties holding the area's id and display name.

    Examples
    --------
    >>> ca = CommunityAreas()
    >>> len(ca.ids), ca.names["32"], ca.locate_many([41.8837], [-87.6282])
    (77, 'Loop', ['32'])
    >>> ca.locate_many([0.0], [0.0])  # outside every area
    [None]
    """

    def __init__(
        self,
        path: Path = CHICAGO_COMMUNITY_AREAS,
        *,
        id_field: str = "area",
        name_field: str = "name",
    ) -> None:
        doc = json.loads(Path(path).read_text())
        ids: list[str] = []
        geoms = []
        self.names: dict[str, str] = {}
        for k, feat in enumerate(doc.get("features", [])):
            props = feat.get("properties") or {}
            aid = area_id(props.get(id_field))
            if aid is None:
                raise ValueError(f"{path}: feature {k}: property {id_field!r} is missing")
            ids.append(aid)
            geoms.append(shape(feat["geometry"]))
            self.names[aid] = str(props.get(name_field, aid))
        if not ids:
            raise ValueError(f"{path}: no features")
        self.ids: list[str] = ids
        self._tree = shapely.STRtree(geoms)

    def locate_many(self, lat: npt.ArrayLike, lon: npt.ArrayLike) -> list[str | None]:
        """The area of each point (``None`` outside every area)."""
        la = np.asarray(lat, dtype=np.float64).reshape(-1)
        lo = np.asarray(lon, dtype=np.float64).reshape(-1)
        out: list[str | None] = [None] * la.size
        if la.size == 0:
            return out
        pts, geo = self._tree.query(shapely.points(lo, la), predicate="within")
        for p, g in zip(pts.tolist(), geo.tolist(), strict=True):
            if out[p] is None:
                out[p] = self.ids[g]
        return out


def shares(values: Mapping[str, float]) -> dict[str, float]:
    """Each value over the total (all zeros when the total is 0).

    Examples
    --------
    >>> shares({"a": 3.0, "b": 1.0})
    {'a': 0.75, 'b': 0.25}
    >>> shares({"a": 0.0})
    {'a': 0.0}
    """
    total = float(sum(values.values()))
    if total < 0 or any(v < 0 for v in values.values()):
        raise ValueError("shares: values must be >= 0")
    return {k: (float(v) / total if total > 0 else 0.0) for k, v in values.items()}


def total_variation(p: Mapping[str, float], q: Mapping[str, float]) -> float:
    """Total variation distance between two distributions given as non-negative weights.

    Both are normalised first; keys missing on one side count as 0. NaN when either is empty.

    Examples
    --------
    >>> total_variation({"a": 1, "b": 1}, {"a": 3, "b": 1})
    0.25
    >>> total_variation({"a": 1}, {"b": 5})
    1.0
    >>> total_variation({"a": 2, "b": 2}, {"b": 1, "a": 1})
    0.0
    """
    ps, qs = shares(p), shares(q)
    if not any(ps.values()) or not any(qs.values()):
        return math.nan
    keys = set(ps) | set(qs)
    return 0.5 * sum(abs(ps.get(k, 0.0) - qs.get(k, 0.0)) for k in keys)


def patrol_minutes(
    route: Route,
    projection: LocalProjection,
    shift_start: datetime,
    step_m: float = 100.0,
    *,
    stay_until: datetime | None = None,
) -> list[tuple[float, float, float]]:
    """Where the unit spends the route's planned minutes: ``(x, y, minutes)`` samples.

    The driving time (the sum of the legs' times) is spread along the driven path in pieces of
    at most ``step_m``, in proportion to their length, each placed at its midpoint; each
    way-point's dwell (the time to the next way-point's ETA less that leg's driving; for the
    last one, to the route's planned end ``shift_start + total_time_s``) sits at the way-point.
    Time after the route's planned end is not counted (the plan says nothing of it) unless
    ``stay_until`` is given: then the unit stays at its last way-point until then (the shift's
    end, say: the convention of :mod:`patrol.evaluation.coverage` for coverage in presence).
    Without it the samples' minutes add up to the route's ``total_time_s / 60``.

    Examples
    --------
    A 1 km straight path driven in 10 minutes, then 5 minutes at its only way-point:

    >>> from datetime import timedelta, timezone
    >>> from patrol.routes import Waypoint
    >>> proj = LocalProjection(41.9, -87.7)
    >>> t0 = datetime(2016, 9, 5, 16, tzinfo=timezone.utc)
    >>> end = proj.inverse(1000.0, 0.0)
    >>> wp = Waypoint(1, *end, t0 + timedelta(minutes=10), 0.5, 0, 1000.0, 600.0)
    >>> r = Route("8", "16-24", "2016-09-05", 1, 1, "cpspa", t0, (41.9, -87.7), (wp,),
    ...           ((41.9, -87.7), end), 1000.0, 900.0, 1.0)
    >>> s = patrol_minutes(r, proj, t0, step_m=250.0)
    >>> [(round(x), round(y), round(m, 2)) for x, y, m in s]
    [(125, 0, 2.5), (375, 0, 2.5), (625, 0, 2.5), (875, 0, 2.5), (1000, 0, 5.0)]
    >>> patrol_minutes(r, proj, t0, 250.0, stay_until=t0 + timedelta(hours=8))[-1][2]
    470.0
    """
    if step_m <= 0:
        raise ValueError(f"step_m: must be > 0, got {step_m}")
    wps = route.waypoints
    out: list[tuple[float, float, float]] = []
    drive_min = sum(w.leg_time_s for w in wps) / 60.0
    path = np.array([projection.forward(lat, lon) for lat, lon in route.path], dtype=np.float64)
    if len(path) >= 2 and drive_min > 0:
        seg = np.hypot(*np.diff(path, axis=0).T)
        total = float(seg.sum())
        for i in np.flatnonzero(seg > 0).tolist():
            n = math.ceil(float(seg[i]) / step_m)
            for j in range(n):
                f = (j + 0.5) / n
                x, y = path[i] + f * (path[i + 1] - path[i])
                out.append((float(x), float(y), drive_min * float(seg[i]) / n / total))
    arrival = [(w.eta - shift_start).total_seconds() for w in wps]
    leaves = [arrival[k + 1] - wps[k + 1].leg_time_s for k in range(len(wps) - 1)]
    leaves.append(route.total_time_s)
    if stay_until is not None and wps:
        leaves[-1] = max(leaves[-1], (stay_until - shift_start).total_seconds())
    for k, w in enumerate(wps):
        dwell = max(0.0, leaves[k] - arrival[k])
        if dwell > 0:
            x, y = projection.forward(w.latitude, w.longitude)
            out.append((float(x), float(y), dwell / 60.0))
    return out


def read_population(path: Path) -> dict[str, float]:
    """A ``community_area,population`` CSV (header required) as ``{area id: residents}``.

    Raises
    ------
    ValueError
        Naming the row and field of the first bad value (missing column, not a number,
        negative, duplicate area).
    """
    out: dict[str, float] = {}
    with Path(path).open(newline="") as f:
        reader = csv.DictReader(f)
        fields = [c.strip().lower() for c in reader.fieldnames or []]
        if "community_area" not in fields or "population" not in fields:
            raise ValueError(f"{path}: header must have community_area and population")
        for n, raw in enumerate(reader, start=2):
            row = {k.strip().lower(): (v or "").strip() for k, v in raw.items() if k}
            aid = area_id(row["community_area"])
            if aid is None:
                raise ValueError(f"{path}: row {n}: community_area: missing")
            try:
                pop = float(row["population"])
            except ValueError:
                raise ValueError(
                    f"{path}: row {n}: population: {row['population']!r} is not a number"
                ) from None
            if not math.isfinite(pop) or pop < 0:
                raise ValueError(f"{path}: row {n}: population: must be >= 0, got {pop}")
            if aid in out:
                raise ValueError(f"{path}: row {n}: community_area: {aid} appears twice")
            out[aid] = pop
    if not out:
        raise ValueError(f"{path}: no rows")
    return out


@dataclass(frozen=True, slots=True)
class AreaRow:
    """One community area of the audit table."""

    area: str
    name: str
    incidents: int
    incident_share: float
    patrol_minutes: float
    patrol_share: float
    population: float | None = None
    population_share: float | None = None

    @property
    def patrol_per_incident_share(self) -> float:
        """Patrol share over incident share (1 = proportional; NaN without incidents)."""
        return self.patrol_share / self.incident_share if self.incident_share else math.nan

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready row."""
        ratio = self.patrol_per_incident_share
        return {
            "area": self.area,
            "name": self.name,
            "incidents": self.incidents,
            "incident_share": round(self.incident_share, 6),
            "patrol_minutes": round(self.patrol_minutes, 1),
            "patrol_share": round(self.patrol_share, 6),
            "patrol_over_incident_share": None if math.isnan(ratio) else round(ratio, 4),
            "population": self.population,
            "population_share": None
            if self.population_share is None
            else round(self.population_share, 6),
        }


def audit_table(
    patrol_minutes: Mapping[str, float],
    incidents: Mapping[str, int],
    *,
    population: Mapping[str, float] | None = None,
    names: Mapping[str, str] | None = None,
) -> list[AreaRow]:
    """One row per area that has incidents or patrol time, sorted by incident share (desc).

    Population shares are over the areas of the table that appear in ``population`` (the
    audited districts' areas, not the whole city), so that they compare with the other shares.

    Examples
    --------
    >>> rows = audit_table({"1": 30.0, "2": 10.0}, {"1": 5, "2": 10, "3": 5},
    ...                    population={"1": 100.0, "2": 100.0, "3": 200.0, "9": 999.0})
    >>> [(r.area, r.incident_share, r.patrol_share, r.population_share) for r in rows]
    [('2', 0.5, 0.25, 0.25), ('1', 0.25, 0.75, 0.25), ('3', 0.25, 0.0, 0.5)]
    >>> rows[1].patrol_per_incident_share
    3.0
    """
    areas = sorted(
        {a for a, v in patrol_minutes.items() if v > 0} | {a for a, v in incidents.items() if v},
        key=natural_key,
    )
    inc = shares({a: float(incidents.get(a, 0)) for a in areas})
    pat = shares({a: float(patrol_minutes.get(a, 0.0)) for a in areas})
    pop = (
        shares({a: float(population[a]) for a in areas if a in population})
        if population is not None
        else {}
    )
    rows = [
        AreaRow(
            area=a,
            name=(names or {}).get(a, a),
            incidents=int(incidents.get(a, 0)),
            incident_share=inc[a],
            patrol_minutes=float(patrol_minutes.get(a, 0.0)),
            patrol_share=pat[a],
            population=None if population is None else population.get(a),
            population_share=None if population is None else pop.get(a),
        )
        for a in areas
    ]
    return sorted(rows, key=lambda r: (-r.incident_share, natural_key(r.area)))


def audit_summary(rows: Sequence[AreaRow]) -> dict[str, Any]:
    """Headline numbers of an audit table.

    ``tv_patrol_incidents`` (and ``tv_patrol_population`` with a population table): the total
    variation between the patrol shares and the incident (population) shares; ``areas_unpatrolled``:
    areas with incidents and no patrol minute, holding ``incident_share_unpatrolled`` of the
    incidents; ``top5_patrol_share``: the patrol share of the 5 most patrolled areas.

    Examples
    --------
    >>> rows = audit_table({"1": 30.0, "2": 10.0}, {"1": 5, "2": 10, "3": 5})
    >>> s = audit_summary(rows)
    >>> s["tv_patrol_incidents"], s["areas_unpatrolled"], s["incident_share_unpatrolled"]
    (0.5, 1, 0.25)
    """
    pat = {r.area: r.patrol_share for r in rows}
    out: dict[str, Any] = {
        "areas": len(rows),
        "tv_patrol_incidents": total_variation(pat, {r.area: r.incident_share for r in rows}),
        "areas_unpatrolled": sum(1 for r in rows if r.incidents and r.patrol_minutes == 0),
        "incident_share_unpatrolled": float(
            sum(r.incident_share for r in rows if r.patrol_minutes == 0)
        ),
        "top5_patrol_share": float(sum(sorted(pat.values(), reverse=True)[:5])),
        "patrol_minutes": float(sum(r.patrol_minutes for r in rows)),
        "incidents": int(sum(r.incidents for r in rows)),
    }
    pops = {r.area: r.population_share for r in rows if r.population_share is not None}
    if pops:
        out["tv_patrol_population"] = total_variation({a: pat[a] for a in pops}, pops)
        out["tv_incidents_population"] = total_variation(
            {r.area: r.incident_share for r in rows if r.area in pops}, pops
        )
    return out


def count_by_area(areas: Iterable[str | None]) -> dict[str, int]:
    """How many of ``areas`` fall in each area (``None``, outside every area, is dropped).

    Examples
    --------
    >>> count_by_area(["1", None, "1", "2"])
    {'1': 2, '2': 1}
    """
    out: dict[str, int] = {}
    for a in areas:
        if a is not None:
            out[a] = out.get(a, 0) + 1
    return out


def natural_key(s: str) -> tuple[int, str]:
    """Sort key putting numeric ids in numeric order (``"2"`` before ``"10"``)."""
    return (int(s), s) if s.isdigit() else (10**9, s)
