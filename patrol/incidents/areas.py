"""Placement of incidents into areas: police districts, or grid cells when a city has none.

:class:`AreaLocator` is built from a :class:`~patrol.incidents.profile.CityProfile`:

* with ``[districts]`` boundaries, ``locate`` is point-in-polygon. A regular lookup grid over
  the districts and the bbox (about 160 m cells in Chicago) answers most points with one list
  index (cells entirely inside one district); cells crossed by a boundary test their few
  candidate districts with prepared shapely geometries. A point inside no district (on a
  boundary line, in the lake, in a suburb inside the bbox) is given to the *nearest* district
  (lowest id on ties), so every incident inside the bounding box has a district; use
  :meth:`AreaLocator.locate_exact` to tell the two apart. Nearest-district candidates are
  computed once per lookup cell, on first use (about 0.1 ms), then cost a few microseconds;
* without boundaries and with ``fallback_grid_m > 0``, areas are square cells of that size on
  the profile's local projection, named ``g<ix>_<iy>`` (cell ``ix`` spans
  ``[ix * size, (ix + 1) * size)`` metres east of the projection origin, likewise north);
* otherwise there is one city-wide area, ``"city"``.
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import replace
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import shapely
from shapely.geometry import Point, shape
from shapely.geometry.base import BaseGeometry

from patrol.incidents.profile import CityProfile, ProfileError, normalise_code
from patrol.incidents.schema import Incident

CITY_AREA = "city"
"""The single area id of a profile with neither districts nor a grid."""

_LOOKUP_CELLS = 256
"""Lookup-grid cells along the longer side of the districts' extent (the grid spans the
districts and the profile's bbox)."""

Cell = int | tuple[int, ...]


class AreaLocator:
    """Maps a point to an area id and an area id to its patrol start point.

    Examples
    --------
    >>> from patrol.incidents.profile import load_profile
    >>> loc = AreaLocator(load_profile("chicago"))
    >>> loc.kind, loc.locate(41.8584, -87.6274), loc.locate(41.9474, -87.6515)
    ('districts', '1', '19')
    >>> loc.station_for("1")
    (41.85837259, -87.62735617)
    >>> grid = AreaLocator(load_profile("example_grid_city"))
    >>> grid.locate(39.78, -89.65), grid.locate(39.7750, -89.6560)
    ('g0_0', 'g-2_-2')
    """

    def __init__(self, profile: CityProfile) -> None:
        self.profile = profile
        self._proj = profile.projection
        self._stations = profile.stations()
        self._ids: list[str] = []
        self._geoms: list[BaseGeometry] = []
        self.kind: Literal["districts", "grid", "city"]
        if profile.districts is not None:
            self.kind = "districts"
            self._load_districts()
            self._build_lookup()
        elif profile.fallback_grid_m > 0:
            self.kind = "grid"
            self._cell_m = profile.fallback_grid_m
        else:
            self.kind = "city"

    # -- building ---------------------------------------------------------------------------
    def _load_districts(self) -> None:
        src = self.profile.districts
        assert src is not None
        try:
            data = json.loads(src.geojson.read_text(encoding="utf-8"))
            parts: dict[str, list[BaseGeometry]] = {}
            for i, feat in enumerate(data["features"]):
                raw = (feat.get("properties") or {}).get(src.id_property)
                if raw is None or not str(raw).strip():
                    raise ProfileError(
                        f"{src.geojson}: feature {i} has no property {src.id_property!r}"
                    )
                parts.setdefault(normalise_code(str(raw)), []).append(shape(feat["geometry"]))
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ProfileError(f"{src.geojson}: not usable district GeoJSON: {exc}") from exc
        if not parts:
            raise ProfileError(f"{src.geojson}: no district features")
        for key in sorted(parts, key=_natural_key):
            geom = shapely.make_valid(shapely.union_all(parts[key]))
            shapely.prepare(geom)
            self._ids.append(key)
            self._geoms.append(geom)
        self._tree = shapely.STRtree(self._geoms)
        self._geom_array = np.array(self._geoms, dtype=object)
        self._near: dict[int, tuple[int, ...]] = {}

    def _build_lookup(self) -> None:
        x0, y0, x1, y1 = shapely.total_bounds(self._geoms).tolist()
        step = max(x1 - x0, y1 - y0) / _LOOKUP_CELLS
        b = self.profile.bbox  # cover the bbox too: every valid incident hits the grid
        x0, y0 = min(x0, b.min_lon), min(y0, b.min_lat)
        x1, y1 = max(x1, b.max_lon), max(y1, b.max_lat)
        nx, ny = math.ceil((x1 - x0) / step) + 1, math.ceil((y1 - y0) / step) + 1
        ix, iy = np.meshgrid(np.arange(nx), np.arange(ny), indexing="ij")
        bx, by = x0 + ix.ravel() * step, y0 + iy.ravel() * step
        boxes = shapely.box(bx, by, bx + step, by + step)
        touching = self._tree.query(boxes, predicate="intersects")
        inside = self._tree.query(boxes, predicate="within")
        cells: list[list[int]] = [[] for _ in range(nx * ny)]
        for b, g in zip(*touching.tolist(), strict=True):
            cells[b].append(g)
        lookup: list[Cell] = [tuple(c) for c in cells]
        for b, g in zip(*inside.tolist(), strict=True):
            lookup[b] = g  # the whole cell is inside district g
        self._lookup: list[Cell] = lookup
        self._x0: float = x0
        self._y0: float = y0
        self._step: float = step
        self._nx: int = nx
        self._ny: int = ny

    # -- queries ----------------------------------------------------------------------------
    def locate(self, lat: float, lon: float) -> str:
        """The area id of a point: its district (nearest one if inside none), cell or "city"."""
        if self.kind == "districts":
            found = self._contains(lat, lon)
            if found is None:
                found = self._nearest(lat, lon)
            return self._ids[found]
        if self.kind == "grid":
            x, y = self._proj.forward(lat, lon)
            return f"g{math.floor(x / self._cell_m)}_{math.floor(y / self._cell_m)}"
        return CITY_AREA

    def locate_exact(self, lat: float, lon: float) -> str | None:
        """Like :meth:`locate` but ``None`` for a point strictly inside no district.

        Examples
        --------
        >>> from patrol.incidents.profile import load_profile
        >>> loc = AreaLocator(load_profile("chicago"))
        >>> loc.locate_exact(41.88, -87.55), loc.locate(41.88, -87.55)  # Lake Michigan
        (None, '18')
        """
        if self.kind != "districts":
            return self.locate(lat, lon)
        found = self._contains(lat, lon)
        return None if found is None else self._ids[found]

    def locate_many(self, lat: npt.ArrayLike, lon: npt.ArrayLike) -> list[str]:
        """Vectorised :meth:`locate` (same answers; faster for large batches).

        Examples
        --------
        >>> from patrol.incidents.profile import load_profile
        >>> AreaLocator(load_profile("chicago")).locate_many([41.8584, 41.88], [-87.6274, -87.55])
        ['1', '18']
        """
        la = np.asarray(lat, dtype=np.float64).ravel()
        lo = np.asarray(lon, dtype=np.float64).ravel()
        if self.kind != "districts":
            return [self.locate(a, b) for a, b in zip(la.tolist(), lo.tolist(), strict=True)]
        found = np.full(la.shape, -1, dtype=np.int64)
        for g, geom in enumerate(self._geoms):
            todo = found < 0
            hit = shapely.contains_xy(geom, lo[todo], la[todo])
            found[np.flatnonzero(todo)[hit]] = g
        for i in np.flatnonzero(found < 0).tolist():
            found[i] = self._nearest(float(la[i]), float(lo[i]))
        return [self._ids[g] for g in found.tolist()]

    def _contains(self, lat: float, lon: float) -> int | None:
        i = int((lon - self._x0) // self._step)
        j = int((lat - self._y0) // self._step)
        if not (0 <= i < self._nx and 0 <= j < self._ny):
            return None
        cell = self._lookup[i * self._ny + j]
        if isinstance(cell, int):
            return cell
        for g in cell:
            if bool(shapely.contains_xy(self._geoms[g], lon, lat)):
                return g
        return None

    def _nearest(self, lat: float, lon: float) -> int:
        """The nearest district (lowest index on ties) to a point inside none of them.

        Per lookup cell, the candidates are remembered on first use: the districts within
        (distance of the nearest one to the cell + the cell's diagonal), which must hold the
        nearest district of every point of the cell. Usually there is one.
        """
        i = int((lon - self._x0) // self._step)
        j = int((lat - self._y0) // self._step)
        if not (0 <= i < self._nx and 0 <= j < self._ny):
            idx = self._tree.query_nearest(Point(lon, lat), all_matches=True)
            return int(idx.min())
        key = i * self._ny + j
        cands = self._near.get(key)
        if cands is None:
            x, y = self._x0 + i * self._step, self._y0 + j * self._step
            cell = shapely.box(x, y, x + self._step, y + self._step)
            _, dist = self._tree.query_nearest(cell, return_distance=True)
            reach = float(dist.min()) + self._step * math.sqrt(2.0)
            near = self._tree.query(cell, predicate="dwithin", distance=reach)
            cands = self._near[key] = tuple(sorted(int(g) for g in near))
        if len(cands) == 1:
            return cands[0]
        dist = shapely.distance(self._geom_array[list(cands)], Point(lon, lat))
        return cands[int(np.argmin(dist))]

    def distance_m(self, area_id: str, lat: float, lon: float) -> float:
        """Lower bound of the distance in metres from a point to a district (0 inside).

        Degrees are turned into metres at the east-west scale of the point's latitude, the
        shorter of the two axes, so the result never overstates the distance. ``inf`` for an
        unknown district or when the profile has no district boundaries.

        Examples
        --------
        >>> from patrol.incidents.profile import load_profile
        >>> loc = AreaLocator(load_profile("chicago"))
        >>> loc.distance_m("1", 41.8583725929, -87.627356171)  # the 1st district's station
        0.0
        >>> 10_000 < loc.distance_m("16", 41.8583725929, -87.627356171) < 30_000
        True
        """
        if self.kind != "districts" or normalise_code(area_id) not in self._ids:
            return math.inf
        deg = float(self.geometry(area_id).distance(Point(lon, lat)))
        return deg * 111_320.0 * math.cos(math.radians(lat))

    def areas(self) -> list[str]:
        """Known area ids: the districts, the grid cells covering the bbox, or ``["city"]``."""
        if self.kind == "districts":
            return list(self._ids)
        if self.kind == "grid":
            b = self.profile.bbox
            (xa, ya), (xb, yb) = (self._proj.forward(b.min_lat, b.min_lon),
                                  self._proj.forward(b.max_lat, b.max_lon))  # fmt: skip
            c = self._cell_m
            return [
                f"g{i}_{j}"
                for i in range(math.floor(xa / c), math.floor(xb / c) + 1)
                for j in range(math.floor(ya / c), math.floor(yb / c) + 1)
            ]
        return [CITY_AREA]

    def geometry(self, area_id: str) -> BaseGeometry:
        """The area's shape in (lon, lat) coordinates: district polygon, cell or the bbox."""
        if self.kind == "districts":
            return self._geoms[self._index(area_id)]
        if self.kind == "grid":
            i, j = self._cell(area_id)
            c = self._cell_m
            lat0, lon0 = self._proj.inverse(i * c, j * c)
            lat1, lon1 = self._proj.inverse((i + 1) * c, (j + 1) * c)
            return shapely.box(lon0, lat0, lon1, lat1)
        self._check_city(area_id)
        b = self.profile.bbox
        return shapely.box(b.min_lon, b.min_lat, b.max_lon, b.max_lat)

    def station_for(self, area_id: str) -> tuple[float, float]:
        """``(lat, lon)`` where patrols of the area start.

        The profile's station for the area when it has one; otherwise the area's centroid
        (a district's centroid, or a point on its surface when the centroid falls outside
        it), the grid cell's centre, or the bbox centre for ``"city"``. Raises ``KeyError``
        for an unknown area id.
        """
        key = normalise_code(area_id)
        if key in self._stations:
            return self._stations[key]
        if self.kind == "districts":
            geom = self._geoms[self._index(key)]
            pt = geom.centroid
            if not geom.contains(pt):
                pt = geom.point_on_surface()
            return float(pt.y), float(pt.x)
        if self.kind == "grid":
            i, j = self._cell(area_id)
            return self._proj.inverse((i + 0.5) * self._cell_m, (j + 0.5) * self._cell_m)
        self._check_city(area_id)
        return self.profile.bbox.centre

    def place(self, incident: Incident) -> Incident:
        """The incident with ``district`` filled by :meth:`locate` when it has none."""
        if incident.district is not None:
            return incident
        return replace(incident, district=self.locate(incident.latitude, incident.longitude))

    # -- helpers ----------------------------------------------------------------------------
    def _index(self, area_id: str) -> int:
        key = normalise_code(area_id)
        try:
            return self._ids.index(key)
        except ValueError:
            raise KeyError(f"unknown district {area_id!r} (known: {self._ids})") from None

    def _cell(self, area_id: str) -> tuple[int, int]:
        try:
            if not area_id.startswith("g"):
                raise ValueError
            i, j = area_id[1:].split("_")
            return int(i), int(j)
        except ValueError:
            raise KeyError(f"not a grid cell id: {area_id!r} (expected g<ix>_<iy>)") from None

    def _check_city(self, area_id: str) -> None:
        if area_id != CITY_AREA:
            raise KeyError(f"unknown area {area_id!r} (this profile has only {CITY_AREA!r})")

    def __repr__(self) -> str:
        return f"AreaLocator({self.profile.name!r}, kind={self.kind!r}, areas={len(self.areas())})"


def _natural_key(s: str) -> tuple[Any, ...]:
    return (0, int(s), s) if s.isdigit() else (1, 0, s)


@functools.lru_cache(maxsize=8)
def locator_for(profile: CityProfile) -> AreaLocator:
    """A shared :class:`AreaLocator` per profile (building one parses the boundaries)."""
    return AreaLocator(profile)
