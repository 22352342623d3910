"""Patrol routes and their GeoJSON form (design.md "Route").

A route is an RFC 7946 FeatureCollection: one ``LineString`` for the driven path and one
``Point`` per way-point, coordinates ``[longitude, latitude]``, with the route's metadata as
foreign members at the top level.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from patrol.travel.base import LatLon

ROUTE_FIELDS = (
    "district",
    "shift",
    "date",
    "unit",
    "route_id",
    "version",
    "planner",
    "generated_at",
    "total_distance_m",
    "total_time_s",
    "expected_incidents",
    "model",
)
"""Top-level members every route carries (design.md)."""


@dataclass(frozen=True, slots=True)
class Waypoint:
    """One stop of a route, in visiting order (``sequence`` starts at 1)."""

    sequence: int
    latitude: float
    longitude: float
    eta: datetime
    probability: float
    cluster: int
    leg_distance_m: float
    leg_time_s: float
    rule: str = ""

    def to_feature(self) -> dict[str, Any]:
        """The way-point as a GeoJSON Point feature."""
        return {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [self.longitude, self.latitude]},
            "properties": {
                "kind": "waypoint",
                "sequence": self.sequence,
                "eta": self.eta.isoformat(),
                "probability": round(self.probability, 6),
                "cluster": self.cluster,
                "leg_distance_m": round(self.leg_distance_m, 1),
                "leg_time_s": round(self.leg_time_s, 1),
                "rule": self.rule,
            },
        }


@dataclass(frozen=True, slots=True)
class Route:
    """A planned patrol route for one unit, district, date and shift."""

    district: str
    shift: str
    date: str
    unit: int
    version: int
    planner: str
    generated_at: datetime
    start: LatLon
    waypoints: tuple[Waypoint, ...]
    path: tuple[LatLon, ...]
    total_distance_m: float
    total_time_s: float
    expected_incidents: float
    model: Mapping[str, Any] = field(default_factory=dict)

    @property
    def route_id(self) -> str:
        """Stable identity of the route slot: ``district/date/shift/unit``."""
        return f"{self.district}/{self.date}/{self.shift}/{self.unit}"

    def summary(self) -> str:
        """One human-readable line (used by ``patrolstream run``)."""
        return (
            f"district={self.district:>3} date={self.date} shift={self.shift} unit={self.unit} "
            f"v{self.version} planner={self.planner} waypoints={len(self.waypoints)} "
            f"km={self.total_distance_m / 1000:.1f} min={self.total_time_s / 60:.0f} "
            f"expected={self.expected_incidents:.2f}"
        )

    def to_geojson(self) -> dict[str, Any]:
        """The route as the GeoJSON FeatureCollection of design.md."""
        line = {
            "type": "Feature",
            "geometry": {
                "type": "LineString",
                "coordinates": [[lon, lat] for lat, lon in self.path],
            },
            "properties": {"kind": "path", "start": [self.start[1], self.start[0]]},
        }
        return {
            "type": "FeatureCollection",
            "features": [line, *(w.to_feature() for w in self.waypoints)],
            "district": self.district,
            "shift": self.shift,
            "date": self.date,
            "unit": self.unit,
            "route_id": self.route_id,
            "version": self.version,
            "planner": self.planner,
            "generated_at": self.generated_at.isoformat(),
            "total_distance_m": round(self.total_distance_m, 1),
            "total_time_s": round(self.total_time_s, 1),
            "expected_incidents": round(self.expected_incidents, 4),
            "model": dict(self.model),
        }


def validate_route_geojson(doc: Mapping[str, Any]) -> list[str]:
    """Problems with a route document (empty list when it is valid).

    Checks the members design.md promises and RFC 7946 basics: a FeatureCollection whose first
    feature is a LineString path with at least two positions, then Point way-points numbered
    1..n, positions ``[lon, lat]`` within range.

    Examples
    --------
    >>> validate_route_geojson({"type": "Feature"})[:1]
    ['type: expected FeatureCollection, got Feature']
    """
    problems: list[str] = []
    if doc.get("type") != "FeatureCollection":
        return [f"type: expected FeatureCollection, got {doc.get('type')}"]
    problems += [f"{name}: missing" for name in ROUTE_FIELDS if name not in doc]
    feats = doc.get("features") or []
    if not feats or feats[0].get("geometry", {}).get("type") != "LineString":
        problems.append("features[0]: expected the LineString path")
    elif len(feats[0]["geometry"]["coordinates"]) < 2:
        problems.append("features[0]: a LineString needs at least two positions")
    positions = [
        pos
        for f in feats
        for pos in (
            f["geometry"]["coordinates"]
            if f.get("geometry", {}).get("type") == "LineString"
            else [f.get("geometry", {}).get("coordinates", [])]
        )
    ]
    for pos in positions:
        if len(pos) != 2 or not (-180 <= pos[0] <= 180 and -90 <= pos[1] <= 90):
            problems.append(f"coordinates: {pos} is not a [longitude, latitude] position")
            break
    seqs = [f["properties"].get("sequence") for f in feats[1:]]
    if seqs != list(range(1, len(seqs) + 1)):
        problems.append(f"features: way-point sequence {seqs} is not 1..n")
    return problems
