"""The incremental CPSPA learners (seed paper 004, sections 5.1-5.3).

Each learner consumes :class:`~patrol.learners.base.Observation` objects one at a time
(``learn_one``), can undo one exactly (``forget_one``, for revisions), keeps forward-decayed,
order-independent per-grid-cell statistics (:mod:`patrol.learners.decay`) and serialises to
plain JSON-ready dicts (``to_dict`` / ``from_dict``).

- :class:`SpatialClusterer` -- phase 1: weighted k-means with an elbow-chosen ``k``.
- :class:`KDEHotspot` -- phase 2.1: hotspot ``H_k`` per cluster.
- :class:`LinearTrend` -- phase 2.2: predicted point ``L_k`` per cluster.
- :class:`SpaceTimeTable` -- phase 2.3: Algorithm 1's ``P(day, hour, cluster)``.
- :func:`select_waypoint` -- phase 3: way-point ``O_k`` from ``H_k`` and ``L_k``.
"""

from __future__ import annotations

from patrol.learners.base import Observation
from patrol.learners.clusters import Clustering, SpatialClusterer
from patrol.learners.decay import ForwardDecay
from patrol.learners.kde import KDEHotspot
from patrol.learners.probability import SpaceTimeTable
from patrol.learners.trend import LinearTrend
from patrol.learners.waypoints import select_waypoint

__all__ = [
    "Clustering",
    "ForwardDecay",
    "KDEHotspot",
    "LinearTrend",
    "Observation",
    "SpaceTimeTable",
    "SpatialClusterer",
    "select_waypoint",
]
