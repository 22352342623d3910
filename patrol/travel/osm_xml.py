"""Read a drivable road graph from OpenStreetMap XML (CPSPA phase 4, paper section 5.4).

The paper gets distances and times from the OpenStreetMap web API at planning time. We read
an OSM extract once instead (no network at run time, no rate limits, reproducible tests) and
build a directed graph of drivable road segments that
:class:`~patrol.travel.osm.RoadNetworkProvider` routes on. Parsing streams the file with
:func:`xml.etree.ElementTree.iterparse` and frees each element as soon as it is read.

Modelling choices: ``highway`` classes from motorway to residential plus ``unclassified``,
``service``, ``living_street`` and the ``*_link`` ramps are drivable; footways, cycleways,
paths, steps, tracks, construction and ``access=no/private`` ways are not. ``oneway=yes/true/1``
means drawing order only, ``-1``/``reverse`` means the opposite, roundabouts and motorways
(and their links) are one-way unless tagged ``oneway=no``, and ``oneway=reversible`` lanes
(Chicago's Kennedy express lanes) are dropped since their direction depends on the time of
day. Speeds come from ``maxspeed`` (km/h, or ``mph``) or a default per class. Turn
restrictions (relations) are not modelled.

Examples
--------
>>> import io
>>> xml = b'''<osm><node id="1" lat="41.90" lon="-87.70"/><node id="2" lat="41.91" lon="-87.70"/>
... <way id="9"><nd ref="1"/><nd ref="2"/><tag k="highway" v="residential"/>
... <tag k="oneway" v="yes"/></way></osm>'''
>>> net = read_osm_xml(io.BytesIO(xml))
>>> net.osm_ways, net.drivable_ways, net.tail.tolist(), net.head.tolist()
(1, 1, [1], [2])
>>> round(float(net.length_m[0])), round(float(net.speed_kmh[0]))
(1112, 30)
"""

from __future__ import annotations

import itertools
import math
import os
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np
import numpy.typing as npt

from patrol.travel._points import haversine_many

DEFAULT_SPEED_KMH: Mapping[str, float] = {
    "motorway": 90.0,
    "trunk": 70.0,
    "primary": 50.0,
    "secondary": 45.0,
    "tertiary": 40.0,
    "unclassified": 35.0,
    "residential": 30.0,
    "living_street": 10.0,
    "service": 15.0,
    "motorway_link": 60.0,
    "trunk_link": 50.0,
    "primary_link": 40.0,
    "secondary_link": 35.0,
    "tertiary_link": 30.0,
}
"""Free-flow speed (km/h) per drivable ``highway`` class when a way has no usable
``maxspeed``; the keys are exactly the classes we treat as drivable."""

MPH_TO_KMH = 1.609344

_FORBIDDEN_ACCESS = frozenset({"no", "private", "agricultural", "forestry"})
_ONEWAY_FORWARD = frozenset({"yes", "true", "1"})
_ONEWAY_BACKWARD = frozenset({"-1", "reverse"})
_ONEWAY_SKIP = frozenset({"reversible", "alternating"})
_IMPLIED_ONEWAY = frozenset({"motorway", "motorway_link"})
_MAXSPEED = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(mph|km/h|kmh|kph)?\s*$", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class OsmRoads:
    """Directed drivable segments read from an OSM file (before any graph clean-up).

    Attributes
    ----------
    tail, head : ndarray of int64
        OSM node ids at the start and end of each directed segment.
    length_m : ndarray of float64
        Great-circle length of each segment.
    speed_kmh : ndarray of float64
        Free-flow speed of the way the segment belongs to.
    controlled : ndarray of bool
        Whether the segment is controlled-access (motorway or motorway link): it can only
        be entered at its junctions, so query points are not snapped onto it.
    node_lat, node_lon : dict
        Coordinates of every node referenced by a drivable segment, by OSM id.
    osm_nodes, osm_ways, highway_ways, drivable_ways : int
        Counts of ``<node>`` elements, ``<way>`` elements, ways with a ``highway`` tag and
        ways kept as drivable.
    """

    tail: npt.NDArray[np.int64]
    head: npt.NDArray[np.int64]
    length_m: npt.NDArray[np.float64]
    speed_kmh: npt.NDArray[np.float64]
    controlled: npt.NDArray[np.bool_]
    node_lat: dict[int, float]
    node_lon: dict[int, float]
    osm_nodes: int
    osm_ways: int
    highway_ways: int
    drivable_ways: int


def parse_maxspeed_kmh(value: str | None) -> float | None:
    """Return a ``maxspeed`` tag in km/h, or ``None`` if missing or not numeric.

    Only the first of several ``;``-separated values is used.

    Examples
    --------
    >>> round(parse_maxspeed_kmh("55 mph") or 0.0, 3), parse_maxspeed_kmh("50 km/h; 30")
    (88.514, 50.0)
    >>> parse_maxspeed_kmh("none") is None
    True
    """
    if value is None:
        return None
    match = _MAXSPEED.match(value.split(";")[0])
    if match is None:
        return None
    speed = float(match.group(1))
    if (match.group(2) or "").lower() == "mph":
        speed *= MPH_TO_KMH
    return speed if math.isfinite(speed) and speed > 0.0 else None


def way_directions(tags: Mapping[str, str]) -> tuple[bool, bool] | None:
    """Return ``(forward, backward)`` drivability of a way, or ``None`` if not drivable.

    ``forward`` is the drawing order of the way's nodes.

    Examples
    --------
    >>> way_directions({"highway": "residential"})
    (True, True)
    >>> way_directions({"highway": "residential", "oneway": "-1"})
    (False, True)
    >>> way_directions({"highway": "primary", "junction": "roundabout"})
    (True, False)
    >>> way_directions({"highway": "footway"}) is None
    True
    """
    highway = tags.get("highway")
    if highway not in DEFAULT_SPEED_KMH or tags.get("area") == "yes":
        return None
    for key in ("motorcar", "motor_vehicle", "vehicle", "access"):
        if key in tags:
            if tags[key] in _FORBIDDEN_ACCESS:
                return None
            break
    oneway = tags.get("oneway", "").strip().lower()
    if oneway in _ONEWAY_SKIP:
        return None
    if oneway in _ONEWAY_FORWARD:
        return True, False
    if oneway in _ONEWAY_BACKWARD:
        return False, True
    if oneway not in ("no", "false", "0") and (
        tags.get("junction") in ("roundabout", "circular") or highway in _IMPLIED_ONEWAY
    ):
        return True, False
    return True, True


def read_osm_xml(source: str | os.PathLike[str] | BinaryIO) -> OsmRoads:
    """Stream-parse an OSM XML file into directed drivable segments.

    Parameters
    ----------
    source : path or binary file object
        An OSM XML document (``.osm``) as written by the OSM API or Overpass ``out meta``.

    Returns
    -------
    OsmRoads
        Segments whose both end nodes are present in the file; segments of zero length
        (repeated nodes) are dropped.
    """
    lat: dict[int, float] = {}
    lon: dict[int, float] = {}
    ways: list[tuple[list[int], tuple[bool, bool], float, bool]] = []
    osm_nodes = osm_ways = highway_ways = 0
    root: ET.Element | None = None
    for event, elem in ET.iterparse(source, events=("start", "end")):
        if event == "start":
            if root is None:
                root = elem
            continue
        if elem.tag == "node":
            osm_nodes += 1
            lat[int(elem.attrib["id"])] = float(elem.attrib["lat"])
            lon[int(elem.attrib["id"])] = float(elem.attrib["lon"])
        elif elem.tag == "way":
            osm_ways += 1
            tags = {t.attrib["k"]: t.attrib["v"] for t in elem.iterfind("tag")}
            highway_ways += "highway" in tags
            directions = way_directions(tags)
            if directions is not None:
                speed = parse_maxspeed_kmh(tags.get("maxspeed"))
                speed = DEFAULT_SPEED_KMH[tags["highway"]] if speed is None else speed
                refs = [int(nd.attrib["ref"]) for nd in elem.iterfind("nd")]
                ways.append((refs, directions, speed, tags["highway"] in _IMPLIED_ONEWAY))
        elif elem.tag != "relation":
            continue
        elem.clear()
        if root is not None:
            root.clear()

    tail: list[int] = []
    head: list[int] = []
    speeds: list[float] = []
    controlled: list[bool] = []
    for refs, (forward, backward), speed, ctrl in ways:
        for u, v in itertools.pairwise(refs):
            if u == v or u not in lat or v not in lat:
                continue
            if forward:
                tail.append(u)
                head.append(v)
                speeds.append(speed)
                controlled.append(ctrl)
            if backward:
                tail.append(v)
                head.append(u)
                speeds.append(speed)
                controlled.append(ctrl)
    t = np.asarray(tail, dtype=np.int64)
    h = np.asarray(head, dtype=np.int64)
    length = haversine_many(
        [lat[u] for u in tail],
        [lon[u] for u in tail],
        [lat[v] for v in head],
        [lon[v] for v in head],
    )
    keep = length > 0.0
    used = set(tail) | set(head)
    return OsmRoads(
        tail=t[keep],
        head=h[keep],
        length_m=np.asarray(length, dtype=np.float64).reshape(-1)[keep],
        speed_kmh=np.asarray(speeds, dtype=np.float64)[keep],
        controlled=np.asarray(controlled, dtype=np.bool_)[keep],
        node_lat={n: lat[n] for n in used},
        node_lon={n: lon[n] for n in used},
        osm_nodes=osm_nodes,
        osm_ways=osm_ways,
        highway_ways=highway_ways,
        drivable_ways=len(ways),
    )
