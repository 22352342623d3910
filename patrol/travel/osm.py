"""Road-network travel provider routing on an OpenStreetMap extract (paper section 5.4).

CPSPA phase 4 calls the OpenStreetMap web API (``distanceAPI``/``timeAPI``) for every pair of
way-points, which dominates the paper's 247 s run time. :class:`RoadNetworkProvider` answers
the same question offline: it reads an OSM extract once (:mod:`patrol.travel.osm_xml`), keeps
the largest strongly connected component of the drivable directed graph so that every pair
is reachable, and runs :func:`scipy.sparse.csgraph.dijkstra` for the fastest free-flow route.
Differences from the paper: the provider is pluggable (same interface as the street grid),
traffic is a time-of-day :class:`~patrol.travel.speed.SpeedProfile` multiplier applied to the
network part of each trip, and a query point off the road network is joined to its nearest
graph node by a straight access leg driven at ``access_speed_kmh``, so every time is finite.

Because one multiplier applies to every road at a given hour, the fastest route does not
depend on the hour; shortest-path trees are therefore cached per source node (LRU).

Examples
--------
>>> import io
>>> xml = b'''<osm><node id="1" lat="41.90" lon="-87.70"/><node id="2" lat="41.91" lon="-87.70"/>
... <node id="3" lat="41.91" lon="-87.69"/>
... <way id="8"><nd ref="1"/><nd ref="2"/><nd ref="3"/><tag k="highway" v="residential"/></way>
... </osm>'''
>>> roads = RoadNetworkProvider.from_osm_xml(io.BytesIO(xml), profile=SpeedProfile.constant())
>>> roads.stats().nodes, roads.stats().edges
(3, 4)
>>> m = roads.matrix([(41.90, -87.70), (41.91, -87.69)], hour=3)
>>> round(float(m.distance_m[0, 1])), round(float(m.time_s[0, 1]))
(1939, 233)
>>> roads.path((41.90, -87.70), (41.91, -87.69))
[(41.9, -87.7), (41.91, -87.7), (41.91, -87.69)]
"""

from __future__ import annotations

import math
import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np
import numpy.typing as npt
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components, dijkstra
from scipy.spatial import cKDTree

from patrol.geo import LocalProjection
from patrol.travel._points import as_latlon_arrays, haversine_many
from patrol.travel.base import LatLon, TravelMatrix
from patrol.travel.osm_xml import OsmRoads, read_osm_xml
from patrol.travel.speed import SpeedProfile

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
_MIN_EDGE_TIME_S = 1e-3
"""Floor on an edge's time so that Dijkstra never sees a zero-weight edge."""
_Tree = tuple[FloatArray, FloatArray, npt.NDArray[np.int32]]
"""Per-source (free-flow time s, distance m along the fastest route, predecessor) rows."""
_TREE_BYTES_PER_NODE = 8 + 8 + 4
_CACHE_BYTES = 256 * 2**20


@dataclass(frozen=True, slots=True)
class RoadNetworkStats:
    """Size of the routing graph and of the OSM file it came from.

    Attributes
    ----------
    nodes, edges : int
        Nodes and directed edges of the graph routed on (largest strongly connected part).
    road_km : float
        Length of road in that graph, counting a two-way segment once.
    osm_nodes, osm_ways, highway_ways, drivable_ways : int
        Counts in the OSM file: ``<node>`` and ``<way>`` elements, ways with a ``highway``
        tag, ways kept as drivable.
    """

    nodes: int
    edges: int
    road_km: float
    osm_nodes: int
    osm_ways: int
    highway_ways: int
    drivable_ways: int


class RoadNetworkProvider:
    """Fastest-route distances and times on a directed road graph.

    Build it with :meth:`from_osm_xml`; the constructor takes already-parsed roads.

    Parameters
    ----------
    roads : OsmRoads
        Directed drivable segments from :func:`~patrol.travel.osm_xml.read_osm_xml`.
    profile : SpeedProfile, optional
        Hourly speed multipliers; defaults to :meth:`SpeedProfile.default`.
    name : str
        Provider name reported to the planner.
    access_speed_kmh : float
        Speed of the straight leg between a query point and its nearest graph node.
    cache_size : int, optional
        Number of per-source shortest-path trees kept (least recently used are dropped);
        each costs 20 bytes per graph node. ``None`` fits the cache in about 256 MB
        (thousands of trees for a neighbourhood, ~50 for a whole city); 0 disables it.

    Raises
    ------
    ValueError
        If there is no drivable segment, or an option is out of range.
    """

    def __init__(
        self,
        roads: OsmRoads,
        profile: SpeedProfile | None = None,
        name: str = "osm-road",
        access_speed_kmh: float = 10.0,
        cache_size: int | None = None,
    ) -> None:
        if not (math.isfinite(access_speed_kmh) and access_speed_kmh > 0.0):
            raise ValueError(f"access_speed_kmh must be finite and > 0, got {access_speed_kmh}")
        if cache_size is not None and cache_size < 0:
            raise ValueError(f"cache_size must be >= 0, got {cache_size}")
        if roads.tail.size == 0:
            raise ValueError("the OSM data has no drivable road segment")
        self.name = name
        self.profile = SpeedProfile.default() if profile is None else profile
        self.access_speed_kmh = float(access_speed_kmh)
        self._cache: OrderedDict[int, _Tree] = OrderedDict()
        self._lock = threading.Lock()
        self._source_counts = (
            roads.osm_nodes,
            roads.osm_ways,
            roads.highway_ways,
            roads.drivable_ways,
        )
        self._build(roads)
        self._cache_size = (
            max(16, _CACHE_BYTES // (_TREE_BYTES_PER_NODE * self._lat.size))
            if cache_size is None
            else cache_size
        )

    @classmethod
    def from_osm_xml(
        cls,
        path: str | os.PathLike[str] | BinaryIO,
        profile: SpeedProfile | None = None,
        name: str = "osm-road",
        access_speed_kmh: float = 10.0,
        cache_size: int | None = None,
    ) -> RoadNetworkProvider:
        """Read an OSM XML file and build the provider (see the class for parameters)."""
        return cls(read_osm_xml(path), profile, name, access_speed_kmh, cache_size)

    def _build(self, roads: OsmRoads) -> None:
        ids, inverse = np.unique(np.concatenate([roads.tail, roads.head]), return_inverse=True)
        m = roads.tail.size
        tail, head = inverse[:m].astype(np.int64), inverse[m:].astype(np.int64)
        open_node = np.zeros(ids.size, dtype=np.bool_)
        open_node[tail[~roads.controlled]] = True
        open_node[head[~roads.controlled]] = True
        time = np.maximum(roads.length_m / (roads.speed_kmh / 3.6), _MIN_EDGE_TIME_S)
        # Parallel segments between the same two nodes: keep the fastest.
        key = tail * ids.size + head
        order = np.lexsort((time, key))
        _, first = np.unique(key[order], return_index=True)
        pick = order[first]
        tail, head, time, length = tail[pick], head[pick], time[pick], roads.length_m[pick]
        graph = csr_matrix((time, (tail, head)), shape=(ids.size, ids.size))
        _, labels = connected_components(graph, directed=True, connection="strong")
        keep_node = labels == np.bincount(labels).argmax()
        new_index = np.cumsum(keep_node) - 1
        keep = keep_node[tail] & keep_node[head]
        tail, head = new_index[tail[keep]], new_index[head[keep]]
        time, length = time[keep], length[keep]
        n = int(keep_node.sum())
        self._osm_ids: IntArray = ids[keep_node].astype(np.int64)
        self._lat = np.array([roads.node_lat[int(i)] for i in self._osm_ids], dtype=np.float64)
        self._lon = np.array([roads.node_lon[int(i)] for i in self._osm_ids], dtype=np.float64)
        self._graph = csr_matrix((time, (tail, head)), shape=(n, n))
        key = tail * n + head
        order = np.argsort(key)
        self._edge_key: IntArray = key[order]
        self._edge_len: FloatArray = length[order]
        lo, hi = np.minimum(tail, head), np.maximum(tail, head)
        _, first = np.unique(lo * n + hi, return_index=True)
        self._road_km = float(length[first].sum() / 1000.0)
        self._proj = LocalProjection(float(self._lat.mean()), float(self._lon.mean()))
        # Snap targets: nodes on ordinary streets (not mid-expressway), unless there are none.
        snappable = open_node[keep_node]
        self._snap_nodes: IntArray = np.flatnonzero(snappable if snappable.any() else keep_node)
        x, y = self._proj.forward_many(self._lat[self._snap_nodes], self._lon[self._snap_nodes])
        self._kdtree = cKDTree(np.column_stack([x, y]))

    def stats(self) -> RoadNetworkStats:
        """Return the size of the routing graph and counts from the OSM file."""
        return RoadNetworkStats(
            int(self._lat.size), int(self._edge_key.size), self._road_km, *self._source_counts
        )

    def node_latlon(self, node: int) -> LatLon:
        """Return the ``(lat, lon)`` of graph node index ``node``."""
        return float(self._lat[node]), float(self._lon[node])

    def node_osm_id(self, node: int) -> int:
        """Return the OpenStreetMap id of graph node index ``node``."""
        return int(self._osm_ids[node])

    def snap(self, points: Sequence[LatLon]) -> tuple[IntArray, FloatArray]:
        """Return the nearest graph node of each point and the access distance in metres.

        Nodes only on motorways or motorway links are not snap targets (a car cannot join
        an expressway between junctions) unless the graph has nothing else.

        Examples
        --------
        >>> import io
        >>> xml = (b'<osm><node id="1" lat="0" lon="0"/><node id="2" lat="0" lon="0.01"/>'
        ...        b'<way id="3"><nd ref="1"/><nd ref="2"/><tag k="highway" v="service"/></way>'
        ...        b'</osm>')
        >>> roads = RoadNetworkProvider.from_osm_xml(io.BytesIO(xml))
        >>> nodes, access = roads.snap([(0.001, 0.0099)])
        >>> roads.node_osm_id(int(nodes[0])), round(float(access[0]))
        (2, 112)
        """
        lat, lon = as_latlon_arrays(points)
        if lat.size == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64)
        x, y = self._proj.forward_many(lat, lon)
        _, idx = self._kdtree.query(np.column_stack([x, y]))
        nodes = self._snap_nodes[np.asarray(idx, dtype=np.int64)]
        access = haversine_many(lat, lon, self._lat[nodes], self._lon[nodes])
        return nodes, access

    def _trees(self, sources: IntArray) -> list[_Tree]:
        """Return the (cached) shortest-path tree of each source node."""
        with self._lock:
            found = {int(s): self._cache.get(int(s)) for s in sources}
            for s, tree in found.items():
                if tree is not None:
                    self._cache.move_to_end(s)
        missing = np.array([s for s, t in found.items() if t is None], dtype=np.int64)
        if missing.size:
            fresh = self._solve(missing)
            with self._lock:
                for s, tree in zip(missing.tolist(), fresh, strict=True):
                    found[s] = tree
                    if self._cache_size:
                        self._cache[s] = tree
                while len(self._cache) > self._cache_size:
                    self._cache.popitem(last=False)
        out: list[_Tree] = []
        for s in sources:
            tree = found[int(s)]
            assert tree is not None
            out.append(tree)
        return out

    def _solve(self, sources: IntArray) -> list[_Tree]:
        """Run Dijkstra from ``sources`` and measure the distance along each fastest route.

        The distance is accumulated over each predecessor tree by pointer jumping, so all
        sources are handled in O(log depth) vectorised passes.
        """
        time, pred = dijkstra(self._graph, directed=True, indices=sources, return_predecessors=True)
        time = np.atleast_2d(time)
        pred = np.atleast_2d(pred).astype(np.int64)
        rows = np.arange(sources.size)[:, None]
        nodes = np.broadcast_to(np.arange(self._lat.size), pred.shape)
        is_root = pred < 0
        parent = np.where(is_root, nodes, pred)
        pos = np.searchsorted(self._edge_key, parent * self._lat.size + nodes)
        pos = np.minimum(pos, self._edge_key.size - 1)
        dist = np.where(is_root, 0.0, self._edge_len[pos])
        while True:
            grand = parent[rows, parent]
            if np.array_equal(grand, parent):
                break
            dist = dist + dist[rows, parent]
            parent = grand
        return [(time[k], dist[k], pred[k].astype(np.int32)) for k in range(sources.size)]

    def matrix(self, points: Sequence[LatLon], hour: int) -> TravelMatrix:
        """Return fastest-route distances (metres) and times (seconds) between ``points``.

        ``time_s[i, j] = (access_i + access_j) / access_speed + network_time / multiplier``
        where ``network_time`` is the free-flow time between the snapped nodes and
        ``multiplier`` is the profile's value at ``hour``. Identical points are 0 apart.

        Parameters
        ----------
        points : sequence of (lat, lon)
            Way-points in degrees.
        hour : int
            Local departure hour, 0..23.

        Returns
        -------
        TravelMatrix
            ``(n, n)`` matrices, not symmetric where one-way streets matter.
        """
        multiplier = self.profile.multiplier(hour)
        lat, lon = as_latlon_arrays(points)
        nodes, access = self.snap(points)
        sources, inverse = np.unique(nodes, return_inverse=True)
        trees = self._trees(sources) if sources.size else []
        if trees:
            net_t = np.stack([t[0] for t in trees])[inverse][:, nodes]
            net_d = np.stack([t[1] for t in trees])[inverse][:, nodes]
        else:
            net_t = net_d = np.zeros((0, 0), dtype=np.float64)
        legs = access[:, None] + access[None, :]
        distance = legs + net_d
        time = legs / (self.access_speed_kmh / 3.6) + net_t / multiplier
        same = (lat[:, None] == lat[None, :]) & (lon[:, None] == lon[None, :])
        distance[same] = 0.0
        time[same] = 0.0
        return TravelMatrix(distance_m=distance, time_s=time)

    def path(self, a: LatLon, b: LatLon) -> list[LatLon]:
        """Return ``[a, node, ..., node, b]``: the fastest route's node polyline.

        Consecutive repeated points are dropped, so a point that sits on a node is not
        repeated and ``path(a, a) == [a]``.
        """
        a = (float(a[0]), float(a[1]))
        b = (float(b[0]), float(b[1]))
        nodes, _ = self.snap([a, b])
        if a == b:
            return [a]
        start, end = int(nodes[0]), int(nodes[1])
        pred = self._trees(np.array([start], dtype=np.int64))[0][2]
        chain = [end]
        while chain[-1] != start:
            chain.append(int(pred[chain[-1]]))
        out: list[LatLon] = [a]
        for p in [*(self.node_latlon(n) for n in reversed(chain)), b]:
            if out[-1] != p:
                out.append(p)
        return out
