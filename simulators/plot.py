"""Maps of planned patrol routes as PNG files (``patrolstream run --plot``).

Routes (design.md "Route") are drawn in km on the city's local projection (equal aspect, north
up) over the profile's district boundaries: no tile server, headless Agg, no pyplot state.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import shapely
from matplotlib import patheffects
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from mpl_toolkits.axes_grid1.anchored_artists import AnchoredSizeBar
from shapely.geometry.base import BaseGeometry
from shapely.ops import polylabel
from shapely.plotting import patch_from_polygon

from patrol.incidents.areas import AreaLocator, locator_for
from patrol.incidents.profile import CityProfile
from patrol.routes import Route

PALETTE = (
    "#e6194b", "#4363d8", "#3cb44b", "#f58231", "#911eb4", "#0f9fb5", "#d4149d", "#9a6324",
    "#000075", "#808000", "#469990", "#800000", "#c99a00", "#7570b3", "#66a61e", "#ff6f61",
    "#1b9e77", "#d95f02", "#2f4f4f", "#e7298a", "#5a8fd6", "#222222",
)  # fmt: skip
"""Route colours: saturated, none pale enough to vanish on the light district fill."""
_RGB = np.array([to_rgb(c) for c in PALETTE])
FIGSIZE, DPI = (10.0, 10.0), 120  # inches; dots per inch of the PNGs
Boundaries = AreaLocator | CityProfile
Doc = Mapping[str, Any]
Areas = Mapping[str, BaseGeometry]
Style = dict[str, Any]
_DIRS = np.array([(np.cos(a), np.sin(a)) for a in np.arange(8) * np.pi / 4])
_SIDES = np.rint(_DIRS).astype(int)  # -1, 0, 1: a label's side of its anchor, per axis
_CITY = {"fc": "#f1f0ec", "ec": "#9b9b9b", "lw": 0.7, "zorder": 1}
_OWN = _CITY | {"ec": "#555", "lw": 1.6, "zorder": 2}
_NEIGHBOUR = {"fc": "#fafafa", "ec": "#c4c4c4", "lw": 0.7}
_HALO = [patheffects.withStroke(linewidth=4.5, foreground="white")]
_NUMBER: Style = {"fontweight": "bold", "ha": "center", "va": "center_baseline", "zorder": 6}
_AREA_ID: Style = {"color": "#9d9d9d", "fontsize": 9, "fontweight": "bold", "ha": "center"}
_STATION: Style = {"marker": "s", "mfc": "white", "mew": 2.2, "gid": "station", "zorder": 5}
_LEADER = {"arrowstyle": "-", "color": "#777", "lw": 0.6, "shrinkB": 10}
_MONO = {"family": "monospace", "size": 9}


def plot_routes(
    routes: Sequence[Doc | Route], boundaries: Boundaries, out: Path, title: str
) -> Path:
    """Write the city overview of one date and shift (:func:`city_figure`) as a PNG.

    Parameters
    ----------
    routes : route GeoJSON documents or :class:`~patrol.routes.Route` objects
    boundaries : the city's :class:`AreaLocator` or profile (districts are the base layer)
    out : the PNG to write (parent folders are created)
    title : the map's title

    Returns
    -------
    Path
        ``out``.
    """
    out.parent.mkdir(parents=True, exist_ok=True)
    city_figure(routes, boundaries, title).savefig(out, dpi=DPI, facecolor="white")
    return out


def plot_route(route: Doc | Route, boundaries: Boundaries, out: Path, title: str = "") -> Path:
    """Write one route zoomed on its district (:func:`district_figure`) as a PNG.

    Parameters and result are those of :func:`plot_routes`, for a single ``route``; the
    default ``title`` names the district, date and shift.
    """
    out.parent.mkdir(parents=True, exist_ok=True)
    district_figure(route, boundaries, title).savefig(out, dpi=DPI, facecolor="white")
    return out


def plot_run(out_dir: Path, profile: Boundaries) -> list[Path]:
    """Write ``<date>_<shift>.png``, the city overview, for each date and shift of a run.

    Parameters
    ----------
    out_dir : a ``patrolstream run`` output folder; its ``*.geojson`` routes are grouped by
        their ``date`` and ``shift`` members and the PNGs are written beside them
    profile : the city profile (or its :class:`AreaLocator`)

    Returns
    -------
    list of Path
        The PNGs written, in (date, shift) order; empty when the folder holds no route.
    """
    groups: dict[tuple[str, str], list[Doc]] = defaultdict(list)
    for path in sorted(out_dir.glob("*.geojson")):
        doc = json.loads(path.read_text(encoding="utf-8"))
        if doc.get("type") == "FeatureCollection" and "date" in doc and "shift" in doc:
            groups[(str(doc["date"]), str(doc["shift"]))].append(doc)
    out = []
    for (day, shift), docs in sorted(groups.items()):
        title = f"Patrol routes  ·  {day}  ·  shift {shift} h  ·  {len(docs)} units"
        out.append(plot_routes(docs, profile, out_dir / f"{day}_{shift}.png", title))
    return out


def city_figure(routes: Sequence[Doc | Route], boundaries: Boundaries, title: str) -> Figure:
    """The city overview: a colour per route, legend with district, km, minutes and stops.

    Artists' gids: ``"path"``, ``"station"`` (one per route), ``"waypoint"`` (the sequence
    number of each way-point; overlapping ones are nudged apart), ``"district"`` (ids).
    """
    docs, parts, areas = _inputs(boundaries, routes)
    fig, ax = _figure(title, (0.01, 0.02, 0.71, 0.92))
    for geom in areas.values():
        ax.add_patch(patch_from_polygon(geom, **_CITY))
    view, kpp = _frame(ax, parts, list(areas.values()), 0.02)
    shown, colours = _spread(parts, 12.0 * kpp), _colours(docs, areas)
    handles = [_draw(ax, *a, 12.0) for a in zip(parts, shown, colours, strict=True)] + [
        Line2D([], [], ls="", marker="s", ms=8, mfc="white", mec="#444", mew=2),
        Line2D([], [], ls="", marker="o", ms=10, mfc="#666", mec="white"),
    ]
    _label_areas(ax, areas, parts, view)
    ax.legend(handles, [*map(_summary, docs), "start", "way-point #"], loc="upper left",
              bbox_to_anchor=(1.01, 1.0), frameon=False, title="district   km   min  stops",
              title_fontproperties=_MONO, prop=_MONO, alignment="left")  # fmt: skip
    return fig


def district_figure(route: Doc | Route, boundaries: Boundaries, title: str = "") -> Figure:
    """One route zoomed on its district, neighbours for context, each way-point's ETA.

    Artists' gids: those of :func:`city_figure`, ``"eta"`` (per way-point) and ``"start"``.
    """
    (doc,), (part,), areas = _inputs(boundaries, [route])
    district, shift = str(doc["district"]), str(doc.get("shift"))
    fig, ax = _figure(title or f"District {district}  ·  {doc.get('date')}  ·  shift {shift} h",
                      (0.03, 0.03, 0.94, 0.86))  # fmt: skip
    fig.text(0.02, 0.92, _summary(doc, long=True), fontsize=10.5, color="#333")
    for area, geom in areas.items():  # the axes clip the neighbours
        ax.add_patch(patch_from_polygon(geom, **(_OWN if area == district else _NEIGHBOUR)))
    view, kpp = _frame(ax, [part], [areas[district]] if district in areas else [], 0.08)
    colour, (shown,) = PALETTE[1], _spread([part], 20.0 * kpp)
    _draw(ax, part, shown, colour, 20.0)
    _label_areas(ax, {a: g for a, g in areas.items() if a != district}, [part], view)
    marks = [*shapely.points(shown), shapely.Point(part.start)]
    avoid = shapely.union_all([shapely.linestrings(part.path), *shapely.buffer(marks, 10 * kpp)])
    box: Style | None = {"boxstyle": "round,pad=0.25", "fc": "white", "ec": colour}
    feats = doc["features"][1:]  # ETA labels: "<sequence> · HH:MM"
    etas = [f"{i} · {str(f['properties'].get('eta'))[11:16]}" for i, f in enumerate(feats, 1)]
    labels = [(xy, eta, "eta", box) for xy, eta in zip(shown, etas, strict=True)]
    labels.append((part.start, f"start {shift.split('-')[0]}:00", "start", None))
    for (x, y), text, gid, bbox in labels:  # beside its point, in the freest of 8 directions
        half = np.array([3.0 * len(text) + 4, 8])  # the label's half-size, points (estimated)
        at = np.array([x, y]) + (_DIRS * [20, 18] + _SIDES * half) * kpp  # its centre
        boxes = shapely.box(*(at - half * kpp).T, *(at + half * kpp).T)
        free = 10 * shapely.distance(avoid, boxes) + shapely.distance(avoid, shapely.points(at))
        k = int(np.argmax(free))
        (dx, dy), (sx, sy), avoid = _DIRS[k], _SIDES[k], avoid.union(boxes[k])
        ax.annotate(text, (x, y), xytext=(dx * 20, dy * 18), textcoords="offset points",
                    ha=("right", "center", "left")[sx + 1], va=("top", "center", "bottom")[sy + 1],
                    fontsize=10, bbox=bbox, gid=gid, zorder=7, arrowprops=_LEADER)  # fmt: skip
    return fig


class _Parts(NamedTuple):
    """One route in km east/north of the projection origin."""

    path: np.ndarray  # (n, 2)
    start: np.ndarray  # (2,)
    points: np.ndarray  # (m, 2) way-points, in visiting order


def _parts(doc: Doc, loc: AreaLocator) -> _Parts:
    """The route's path, start and way-points in km (way-points are in sequence order)."""
    feats = list(doc["features"])
    path = _km(loc, feats[0]["geometry"]["coordinates"])
    start = (feats[0].get("properties") or {}).get("start")
    pts = _km(loc, [f["geometry"]["coordinates"][:2] for f in feats[1:]])
    return _Parts(path, _km(loc, start)[0] if start else path[0], pts)


def _draw(ax: Axes, part: _Parts, shown: np.ndarray, colour: str, size: float) -> Line2D:
    """Path, start square and numbered way-points (at ``shown``) of one route."""
    ax.plot(*part.path.T, color=colour, lw=2.2, path_effects=_HALO, gid="path", zorder=4)
    ax.plot(*part.start, ms=size * 0.75, mec=colour, **_STATION)
    moved = np.hypot(*(shown - part.points).T) > 1e-4  # nudged apart: a leader line to the spot
    ax.plot(*np.stack([part.points[moved], shown[moved]]).transpose(2, 0, 1), c=colour, lw=0.9)
    ax.plot(*shown.T, "o", ms=size, mfc=colour, mec="white", mew=1.2, zorder=5)
    ink = "black" if float(np.dot(to_rgb(colour), (0.3, 0.59, 0.11))) > 0.6 else "white"
    for s, (x, y) in enumerate(shown, start=1):
        ax.text(x, y, str(s), color=ink, fontsize=size * 0.55, gid="waypoint", **_NUMBER)
    return Line2D([], [], color=colour, lw=2.2, marker="o", ms=6)  # for a legend


def _spread(parts: Sequence[_Parts], gap: float) -> list[np.ndarray]:
    """Way-points nudged until no two (nor a way-point and a station) are closer than ``gap``."""
    n = [len(q.points) for q in parts]
    p = np.concatenate([q.points for q in parts] + [q.start[None] for q in parts])
    free = np.arange(len(p)) < sum(n)  # the stations stay put
    p[free] += np.arange(sum(n))[:, None] * [0.0, 1e-9]  # no two exactly on top of each other
    for _ in range(60):
        d = p[:, None, :] - p[None, :, :]
        dist = np.hypot(d[..., 0], d[..., 1]) + np.eye(len(p)) * gap
        i, j = np.nonzero((dist < gap) & free[:, None])
        push = (gap - dist[i, j]) * np.where(free[j], 0.3, 0.6) / np.maximum(dist[i, j], 1e-12)
        np.add.at(p, i, d[i, j] * push[:, None])
    return np.split(p[: sum(n)], np.cumsum(n)[:-1])


def _frame(
    ax: Axes, parts: Sequence[_Parts], geoms: Sequence[BaseGeometry], margin: float
) -> tuple[BaseGeometry, float]:
    """Equal-aspect view of geometries and routes with a scale bar: (view box, km per point)."""
    pts = np.concatenate([a for p in parts for a in (p.path, p.points)] + [np.empty((0, 2))])
    if geoms:
        pts = np.vstack([pts, shapely.total_bounds(list(geoms)).reshape(2, 2)])
    pad = margin * max(float(np.ptp(pts, axis=0).max()), 1.0)
    (x0, y0), (x1, y1) = pts.min(axis=0) - pad, pts.max(axis=0) + pad
    ax.set(xlim=(x0, x1), ylim=(y0, y1), xticks=[], yticks=[], aspect="equal")
    ax.spines[:].set_color("#bbb")
    km = max((k for k in (0.25, 0.5, 1, 2, 5, 10, 20) if k <= (x1 - x0) / 6), default=0.25)
    ax.add_artist(AnchoredSizeBar(ax.transData, km, f"{km:g} km", 3, frameon=False, color="#444"))
    box = ax.get_position()  # equal aspect: the longer side, relative to the axes, sets the scale
    kpp = max((x1 - x0) / (box.width * FIGSIZE[0]), (y1 - y0) / (box.height * FIGSIZE[1])) / 72
    return shapely.box(x0, y0, x1, y1), kpp


def _label_areas(ax: Axes, areas: Areas, parts: Sequence[_Parts], view: BaseGeometry) -> None:
    """Grey district ids, each at the visible spot farthest from the routes and its edges."""
    marks = [g for p in parts for g in (shapely.linestrings(p.path), *shapely.points(p.points))]
    drawn = shapely.union_all(marks).buffer(0.01)
    for area, geom in areas.items():
        free = [g for g in shapely.get_parts(geom.intersection(view) - drawn) if g.area > 0]
        if free:  # the pole of inaccessibility of the largest free piece
            pt = polylabel(max(free, key=lambda g: g.area), tolerance=0.05)
            ax.text(pt.x, pt.y, area, va="center", zorder=2, gid="district", **_AREA_ID)


def _colours(docs: Sequence[Doc], areas: Areas) -> list[str]:
    """A colour per route: the unused one farthest (RGB) from those of the routes already
    coloured in the same or a touching district (the palette repeats past its length)."""
    geoms = [areas.get(str(d["district"]), shapely.Point()) for d in docs]
    chosen: list[int] = []
    for g in geoms:
        near = [c for c, h in zip(chosen, geoms, strict=False) if shapely.dwithin(g, h, 0.2)]
        far = np.linalg.norm(_RGB[:, None] - _RGB[near], axis=2).min(axis=1, initial=2.0)
        chosen.append(int(np.argmax(far - 2.0 * np.isin(np.arange(len(PALETTE)), chosen))))
    return [PALETTE[c] for c in chosen]


def _inputs(
    boundaries: Boundaries, routes: Sequence[Doc | Route]
) -> tuple[list[Doc], list[_Parts], dict[str, BaseGeometry]]:
    """Route documents (by district and unit), the same in km, polygonal district outlines."""
    loc = boundaries if isinstance(boundaries, AreaLocator) else locator_for(boundaries)
    docs = [r.to_geojson() if isinstance(r, Route) else r for r in routes]
    docs.sort(key=lambda d: (len(str(d["district"])), str(d["district"]), d.get("unit", 1)))
    areas = {a: loc.geometry(a) for a in loc.areas()} if loc.kind == "districts" else {}
    km = {a: shapely.transform(shapely.union_all([p for p in shapely.get_parts(g) if p.area > 0]),
                               partial(_km, loc)) for a, g in areas.items()}  # fmt: skip
    return docs, [_parts(d, loc) for d in docs], km


def _km(loc: AreaLocator, lonlat: Any) -> np.ndarray:
    """``[lon, lat]`` rows -> ``[x, y]`` rows, km east and north of the projection's origin."""
    pos = np.asarray(lonlat, dtype=np.float64).reshape(-1, 2)
    x, y = loc.profile.projection.forward_many(pos[:, 1], pos[:, 0])
    return np.column_stack([x, y]) / 1000.0


def _summary(doc: Doc, long: bool = False) -> str:
    unit, stops = doc.get("unit", 1), len(doc["features"]) - 1
    km, mins = doc.get("total_distance_m", 0) / 1000, doc.get("total_time_s", 0) / 60
    if not long:
        name = f"{doc['district']}" + (f"/u{unit}" if unit != 1 else "")
        return f"{name:>5} {km:5.1f} {mins:5.0f} {stops:4d}"
    return (
        f"{km:.1f} km  ·  {mins:.0f} min driving  ·  {stops} way-points  ·  expected incidents "
        f"{doc.get('expected_incidents', 0):.1f}  ·  planner {doc.get('planner')} "
        f"v{doc.get('version')}  ·  unit {unit}"
    )


def _figure(title: str, rect: tuple[float, float, float, float]) -> tuple[Figure, Axes]:
    fig = Figure(figsize=FIGSIZE, dpi=DPI)
    FigureCanvasAgg(fig)  # headless: the Agg canvas, whatever the default backend
    fig.suptitle(title, x=0.02, y=0.975, ha="left", fontsize=14, fontweight="bold")
    return fig, fig.add_axes(rect)
