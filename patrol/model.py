"""Per-district CPSPA state: phases 1-3 of the paper combined (seed 004, section 5).

:class:`DistrictModel` feeds every incident of one district to the four learners and turns
their predictions into the district's way-points O_k for a shift. Its whole state is a plain
dict (:meth:`DistrictModel.to_dict`), which is what the Faust workers keep in their tables.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from patrol.config import EngineConfig
from patrol.learners.base import Observation
from patrol.learners.clusters import Clustering, SpatialClusterer
from patrol.learners.kde import KDEHotspot
from patrol.learners.probability import SpaceTimeTable
from patrol.learners.trend import LinearTrend
from patrol.learners.waypoints import select_waypoint

Point = tuple[float, float]


@dataclass(frozen=True, slots=True)
class Candidate:
    """A cluster's way-point O_k (phase 3) with the H_k and L_k it came from (metres)."""

    cluster: int
    point: Point
    rule: str
    hotspot: Point | None
    predicted: Point | None


def decayed_weeks(span_days: float, half_life_days: float) -> float:
    """How many weeks of history a decayed weekly-slot count holds.

    ``sum_{w=0}^{W} exp(-lambda * 7 w)`` with ``W = span / 7`` (a plain week count without decay).

    Examples
    --------
    >>> decayed_weeks(70.0, math.inf)
    11.0
    >>> round(decayed_weeks(1e6, 7.0), 6)  # weights 1, 1/2, 1/4, ... sum to 2
    2.0
    """
    if math.isinf(half_life_days):
        return span_days / 7.0 + 1.0
    q = math.exp(-math.log(2) / half_life_days * 7.0)
    return float((1 - q ** (span_days / 7.0 + 1.0)) / (1 - q))


class DistrictModel:
    """Incremental CPSPA model of one district.

    Parameters
    ----------
    config
        Engine parameters (cell size, half-life, bandwidth, epsilon, elbow range).

    Examples
    --------
    >>> m = DistrictModel(EngineConfig(min_incidents=1))
    >>> for i in range(60):
    ...     m.learn_one(Observation(x=(i % 3) * 3000.0 + i, y=0.0, t=17000.0 + i / 10, slot=18))
    >>> m.n_incidents
    60
    >>> c = m.candidates(now=17006.0, at=17006.2)
    >>> sorted(round(p.point[0], -3) for p in c)
    [0.0, 3000.0, 6000.0]
    """

    def __init__(self, config: EngineConfig | None = None) -> None:
        self.config = cfg = config or EngineConfig()
        self.clusterer = SpatialClusterer(
            cell_m=cfg.cluster_cell_m,
            half_life_days=cfg.half_life_days,
            k_max=cfg.k_max,
            refit_growth=cfg.refit_growth,
            refit_days=cfg.refit_days,
        )
        self.kde = KDEHotspot(
            cell_m=cfg.cell_m, bandwidth_m=cfg.bandwidth_m, half_life_days=cfg.half_life_days
        )
        self.trend = LinearTrend(cell_m=cfg.cell_m, half_life_days=cfg.half_life_days)
        self.table = SpaceTimeTable(cell_m=cfg.cell_m, half_life_days=cfg.half_life_days)
        self.n_incidents = 0
        self.first_t: float | None = None

    def learn_one(self, obs: Observation) -> None:
        """Add one incident to every learner."""
        self.clusterer.learn_one(obs)
        self.kde.learn_one(obs)
        self.trend.learn_one(obs)
        self.table.learn_one(obs)
        self.n_incidents += 1
        if self.first_t is None or obs.t < self.first_t:
            self.first_t = obs.t

    def forget_one(self, obs: Observation) -> None:
        """Remove an incident learned before (a revision replaces it)."""
        self.clusterer.forget_one(obs)
        self.kde.forget_one(obs)
        self.trend.forget_one(obs)
        self.table.forget_one(obs)
        self.n_incidents -= 1

    def clustering(self, now: float, refit: bool = True) -> Clustering:
        """Phase 1: the current clusters, re-chosen by the elbow method when stale.

        With ``refit=False`` the last fitted clusters are kept even when stale (a forecast,
        see :mod:`patrol.policy`); they are fitted only if there are none yet.
        """
        if not refit and self.clusterer.clustering is not None:
            return self.clusterer.clustering
        return self.clusterer.fit(now)

    def candidates(self, now: float, at: float, refit: bool = True) -> list[Candidate]:
        """Phases 2-3: one way-point per cluster from H_k (KDE peak) and L_k (trend at ``at``)."""
        clustering = self.clustering(now, refit)
        hotspots = self.kde.predict_hotspots(clustering, now)
        predicted = self.trend.predict_points(clustering, at)
        out = []
        for k, (h, lk) in enumerate(zip(hotspots, predicted, strict=True)):
            point, rule = select_waypoint(h, lk, epsilon_m=self.config.epsilon_m)
            if point is None:
                continue
            out.append(Candidate(k, (float(point[0]), float(point[1])), rule, h, lk))
        return out

    def expected_rate(
        self, clustering: Clustering, dow: int, hour: int, now: float
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """P(cluster | dow, hour) (Algorithm 1) and expected incidents per cluster in that hour.

        The expected count divides the decayed count of that weekly slot by the decayed number
        of weeks of history, ``sum_w exp(-lambda * 7 w)`` over the weeks seen so far.
        """
        rep, tot = self.table.decayed_counts(clustering, dow, hour, now)
        p = rep / tot if tot > 0 else np.zeros_like(rep)
        span = max(0.0, now - (self.first_t if self.first_t is not None else now))
        return p, rep / max(1.0, decayed_weeks(span, self.config.half_life_days))

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON-ready state."""
        return {
            "config": self.config.to_dict(),
            "clusterer": self.clusterer.to_dict(),
            "kde": self.kde.to_dict(),
            "trend": self.trend.to_dict(),
            "table": self.table.to_dict(),
            "n_incidents": self.n_incidents,
            "first_t": self.first_t,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DistrictModel:
        """Inverse of :meth:`to_dict`."""
        m = cls(EngineConfig.from_dict(d["config"]))
        m.clusterer = SpatialClusterer.from_dict(d["clusterer"])
        m.kde = KDEHotspot.from_dict(d["kde"])
        m.trend = LinearTrend.from_dict(d["trend"])
        m.table = SpaceTimeTable.from_dict(d["table"])
        m.n_incidents = int(d["n_incidents"])
        m.first_t = d["first_t"]
        return m
