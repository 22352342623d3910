"""Read-only views of the worker's district state for the API: hotspots, probabilities,
boundaries.

Nothing here changes a district: the clusters are the last ones a plan fitted
(``SpatialClusterer.clustering``), never refitted for a request (a refit would change the
state the changelog describes). "Now" is the district's event clock (the latest incident it
learned), never the wall clock. A district this worker does not own, or has not rebuilt since
its last rebalance, or has never planned (no clustering yet), has no hotspots.

With the served forecaster (``forecaster=served``, the hotspot backtest's best) the hotspots
also hold the district's :data:`FORECAST_CELLS` highest 150 m cells of its forecast for the
seven days from the local midnight of the district's clock (``kind: forecast``).
"""

from __future__ import annotations

import json
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from patrol.engine import Engine
from patrol.incidents.profile import CityProfile, normalise_code
from patrol.learners.base import SECONDS_PER_DAY
from patrol.learners.waypoints import select_waypoint
from patrol.policy import EmissionPolicy

FORECAST_CELLS = 10
"""Forecast cells listed per district in ``/v1/hotspots``."""


def _point(engine: Engine, xy: tuple[float, float]) -> list[float]:
    lat, lon = engine.projection.inverse(xy[0], xy[1])
    return [round(lon, 6), round(lat, 6)]


def _feature(coords: list[float], **props: Any) -> dict[str, Any]:
    return {"type": "Feature", "geometry": {"type": "Point", "coordinates": coords},
            "properties": props}  # fmt: skip


class DistrictView:
    """Hotspots and probability tables of the districts a policy drives.

    Parameters
    ----------
    policy
        The worker's emission policy (its engine holds the district states).
    """

    def __init__(self, policy: EmissionPolicy) -> None:
        self.policy = policy
        self.engine = policy.engine

    def districts(self) -> list[str]:
        """Districts with a state on this worker, sorted numerically."""
        return sorted(self.engine.districts, key=lambda d: (0, int(d)) if d.isdigit() else (1, 0))

    def now(self, district: str) -> float | None:
        """The district's event clock in days (learners' time), ``None`` before any incident."""
        cur = self.policy.cursors.get(district)
        if cur is None or cur.clock is None:
            return None
        return cur.clock.timestamp() / SECONDS_PER_DAY

    def hotspots(self, district: str) -> list[dict[str, Any]]:
        """GeoJSON Point features: ``hotspot`` (H_k), ``predicted`` (L_k), ``waypoint`` (O_k).

        ``risk`` is the cluster's share of the district's (decayed) incidents over all days and
        hours, in [0, 1].
        """
        st = self.engine.districts.get(district)
        now = self.now(district)
        if st is None or now is None:
            return []
        out = self.forecast_cells(district, now)
        model = st.model
        clustering = model.clusterer.clustering
        if clustering is None or clustering.k == 0:
            return out
        hot = model.kde.predict_hotspots(clustering, now)
        pred = model.trend.predict_points(clustering, now)
        risk = self._cluster_share(district, clustering, now)
        eps = self.engine.config.epsilon_m
        for k in range(clustering.k):
            r = round(float(risk[k]), 6)
            base = {"district": district, "cluster": k, "risk": r}
            h, lk = hot[k], pred[k]
            if h is not None:
                out.append(_feature(_point(self.engine, h), **base, kind="hotspot"))
            if lk is not None:
                out.append(_feature(_point(self.engine, lk), **base, kind="predicted"))
            way, rule = select_waypoint(h, lk, epsilon_m=eps)
            if way is not None:
                out.append(_feature(_point(self.engine, way), **base, kind="waypoint", rule=rule))
        return out

    def forecast_cells(self, district: str, now: float) -> list[dict[str, Any]]:
        """The served forecast's highest cells for the week from the clock's local midnight:
        ``expected`` incidents in the 7 days, ``risk`` = expected / the district's highest."""
        engine = self.engine
        if engine.forecast_model is None:
            return []
        local = datetime.fromtimestamp(now * SECONDS_PER_DAY, engine.tz)
        midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
        cells, expected = engine.forecast(district, midnight.timestamp() / SECONDS_PER_DAY)
        if not len(cells) or not float(expected.max()) > 0:
            return []
        order = np.argsort(-expected, kind="stable")[:FORECAST_CELLS]
        xs, ys = engine.forecast_grid.centres(cells[order])
        top = float(expected[order[0]])
        base = {
            "district": district,
            "kind": "forecast",
            "model": engine.forecast_model.version,
            "cell_m": engine.forecast_grid.cell_m,
            "from": midnight.date().isoformat(),
        }
        return [
            _feature(_point(engine, (float(x), float(y))), **base, rank=rank,
                     expected=round(float(expected[i]), 4),
                     risk=round(float(expected[i]) / top, 6))
            for rank, (i, x, y) in enumerate(zip(order, xs, ys, strict=True), start=1)
        ]  # fmt: skip

    def _cluster_share(self, district: str, clustering: Any, now: float) -> Any:
        table = self.engine.districts[district].model.table
        rep = np.zeros(clustering.k)
        tot = 0.0
        for day in range(7):
            for hour in range(24):
                r, t = table.decayed_counts(clustering, day, hour, now)
                rep += r
                tot += t
        return rep / tot if tot > 0 else rep

    def probabilities(self, district: str, day: int, hour: int) -> list[dict[str, Any]] | None:
        """Algorithm 1's P(day, hour, cluster) for every cluster, ``None`` if no clusters."""
        st = self.engine.districts.get(district)
        now = self.now(district)
        if st is None or now is None:
            return None
        clustering = st.model.clusterer.clustering
        if clustering is None:
            return None
        p = st.model.table.predict_proba(clustering, day, hour, now)
        return [{"cluster": k, "probability": round(float(v), 6)} for k, v in enumerate(p)]


def hotspot_collection(features: list[dict[str, Any]]) -> dict[str, Any]:
    """A GeoJSON FeatureCollection of ``features``."""
    return {"type": "FeatureCollection", "features": features}


@lru_cache(maxsize=8)
def _boundaries(path: Path, id_property: str) -> str:
    data = json.loads(path.read_text(encoding="utf-8"))
    feats = []
    for f in data.get("features", []):
        raw = (f.get("properties") or {}).get(id_property)
        if raw is None:
            continue
        feats.append(
            {"type": "Feature", "geometry": f["geometry"],
             "properties": {"district": normalise_code(str(raw))}}
        )  # fmt: skip
    return json.dumps({"type": "FeatureCollection", "features": feats}, separators=(",", ":"))


def boundaries(profile: CityProfile) -> dict[str, Any]:
    """The city's district boundaries as GeoJSON (``properties.district``); the profile's file
    is already simplified (``patrol/cities/data/README.md``). No districts: empty collection."""
    src = profile.districts
    if src is None:
        return {"type": "FeatureCollection", "features": []}
    out: dict[str, Any] = json.loads(_boundaries(Path(src.geojson), src.id_property))
    return out
