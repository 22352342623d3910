"""Per-district CPSPA state: phases 1-3 of the paper combined (seed 004, section 5).

:class:`DistrictModel` feeds every incident of one district to the four learners and turns
their predictions into the district's way-points O_k for a shift. Its whole state is a plain
dict (:meth:`DistrictModel.to_dict`), which is what the Faust workers keep in their tables.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from patrol.config import EngineConfig
from patrol.learners.base import Observation
from patrol.learners.clusters import Clustering, SpatialClusterer
from patrol.learners.decay import quantize
from patrol.learners.kde import KDEHotspot
from patrol.learners.probability import SpaceTimeTable
from patrol.learners.trend import LinearTrend
from patrol.learners.waypoints import select_waypoint
from patrol.planning.sites import CellRisk, decayed_periods

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

    def cell_risk(
        self, weekday: int, hours: Sequence[int], now: float, week_share: float = 0.5
    ) -> CellRisk:
        """Expected incidents per grid cell (``cell_m``) and shift hour, from the learned state.

        The same estimate as :func:`patrol.planning.history_risk` (the route backtest's
        decayed counts), read from the probability table's decayed per-cell counts of each
        weekly slot instead of a list of incidents (the engine keeps none): for each shift
        hour ``H``, ``week_share * (count at weekday and H) / (decayed weeks) + (1 - week_share)
        * (count at H, any day) / (decayed days)``, decayed to ``now``, with the model's
        half-life. Sums run in cell order and are rounded to 30 significant bits
        (:func:`patrol.learners.decay.quantize`), so the result does not depend on the order
        the incidents arrived in.

        Examples
        --------
        >>> m = DistrictModel(EngineConfig(half_life_days=math.inf))
        >>> for t in (16800.0, 16807.0):  # two Mondays at 18:00 (slot 18), one 50 m cell
        ...     m.learn_one(Observation(x=25.0, y=25.0, t=t, slot=18))
        >>> r = m.cell_risk(weekday=0, hours=[17, 18], now=16814.0)
        >>> r.risk.shape, r.risk[:, 0, 0].round(4).tolist()  # 0.5 * 2/2 weeks + 0.5 * 2/14 days
        ((2, 1, 1), [0.0, 0.5714])
        """
        cell_m = self.table.cell_m
        span = max(0.0, now - (self.first_t if self.first_t is not None else now))
        hl = self.config.half_life_days
        per_day = decayed_periods(span, 1.0, hl)
        per_week = decayed_periods(span, 7.0, hl)
        rows, cells, weights = [], [], []
        for h, hour in enumerate(hours):
            for dow in range(7):
                ij, w = self.table.decayed_cells(dow, hour, now)
                coef = (1.0 - week_share) / per_day + (
                    week_share / per_week if dow == weekday else 0.0
                )
                rows.append(np.full(len(w), h, dtype=np.int64))
                cells.append(ij)
                weights.append(w * coef)
        ij = np.concatenate(cells) if cells else np.zeros((0, 2), dtype=np.int64)
        if ij.shape[0] == 0:
            return CellRisk(0.0, 0.0, cell_m, np.zeros((len(hours), 1, 1)))
        lo = ij.min(axis=0)
        nx, ny = (ij.max(axis=0) - lo + 1).tolist()
        risk = np.zeros((len(hours), ny, nx))
        np.add.at(
            risk,
            (np.concatenate(rows), ij[:, 1] - lo[1], ij[:, 0] - lo[0]),
            np.concatenate(weights),
        )
        return CellRisk(float(lo[0] * cell_m), float(lo[1] * cell_m), cell_m, quantize(risk))

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
