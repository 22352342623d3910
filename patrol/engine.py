"""The patrol engine: incidents in, routes out, the same code in every runtime.

:class:`Engine` owns one :class:`DistrictState` per district (the unit of partitioning in the
Faust workers) and exposes three operations:

* :meth:`Engine.ingest` - validate placement, de-duplicate and apply revisions, learn;
* :meth:`Engine.plan` - plan a district's route for a date and shift from what was learned
  (:meth:`Engine.plan_units`: the routes of every unit, with ``planner="optimizer"``);
* :meth:`Engine.due_shifts` - which shifts start as the event-time watermark advances.

With ``config.forecaster == "served"`` the engine also keeps each district's last two years of
incidents (:class:`~patrol.forecast.window.IncidentWindow`) and forecasts its 150 m cells with
the trained ``ours-served`` model it is given (:meth:`Engine.forecast`, the hotspot backtest's
best, docs/backtest.md); the optimiser's sites follow that forecast
(:meth:`Engine.forecast_factor`).

The streaming runtime adds a few hooks used by :mod:`patrol.policy`: :meth:`Engine.preview`
(what ``ingest`` would do, without doing it), dry-run planning (``plan(..., dry_run=True)``: a
forecast that changes no state and burns no version), :meth:`Engine.commit_version` and
:meth:`Engine.adopt_clustering` (replaying a recorded cluster refit without re-running k-means).

Time only ever comes from the incidents (their ``occurred_at``) or from the caller.
"""

from __future__ import annotations

import copy
import enum
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np

from patrol.config import EngineConfig
from patrol.evaluation.grid import Grid
from patrol.forecast.served import CellRateModel, cell_lookup, district_features
from patrol.forecast.window import IncidentWindow, kind_code
from patrol.incidents.areas import locator_for
from patrol.incidents.profile import CityProfile
from patrol.incidents.revisions import RevisionKind, RevisionLog, same_content
from patrol.incidents.schema import Incident
from patrol.learners.base import SECONDS_PER_DAY, Observation
from patrol.learners.clusters import Clustering
from patrol.learners.decay import table_arrays
from patrol.model import DistrictModel
from patrol.planner import plan_optimised, plan_route
from patrol.planning import SHIFTS, Shift, forecast_level, shift_bounds, weekly_counts
from patrol.planning.optimizer import require_ortools
from patrol.routes import Route
from patrol.travel import StreetGridProvider
from patrol.travel.base import TravelProvider


class Outcome(enum.StrEnum):
    """What :meth:`Engine.ingest` did with an incident."""

    NEW = "new"
    REVISION = "revision"
    DUPLICATE = "duplicate"
    STALE = "stale"
    LATE = "late"

    @property
    def learned(self) -> bool:
        """Whether the incident changed what the learners know (``new`` or ``revision``)."""
        return self in (Outcome.NEW, Outcome.REVISION)


def route_key(day: date, shift: Shift) -> str:
    """The key of a district's route slot in :attr:`DistrictState.versions`: ``date/shift``.

    Examples
    --------
    >>> route_key(date(2016, 9, 5), SHIFTS[1])
    '2016-09-05/08-16'
    """
    return f"{day.isoformat()}/{shift.label}"


@dataclass
class DistrictState:
    """Everything the engine knows about one district; plain-dict serialisable."""

    model: DistrictModel
    revisions: RevisionLog
    versions: dict[str, int] = field(default_factory=dict)
    window: IncidentWindow | None = None
    """The last two years of incidents, kept for the served forecaster only."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready state."""
        out = {
            "model": self.model.to_dict(),
            "revisions": self.revisions.to_dict(),
            "versions": dict(self.versions),
        }
        if self.window is not None:
            out["window"] = self.window.to_dict()
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DistrictState:
        """Inverse of :meth:`to_dict`."""
        window = d.get("window")
        return cls(
            model=DistrictModel.from_dict(d["model"]),
            revisions=RevisionLog.from_dict(d["revisions"]),
            versions={str(k): int(v) for k, v in d["versions"].items()},
            window=None if window is None else IncidentWindow.from_dict(window),
        )


class Engine:
    """CPSPA over a stream of incidents, one state per district.

    Parameters
    ----------
    profile
        The city: time zone, projection, district boundaries and stations.
    config
        Engine parameters.
    travel
        Travel-time provider (phase 4); the street grid by default.
    forecast_model
        The trained served forecaster (needed with ``config.forecaster == "served"``; the
        workers load :mod:`models.forecast`'s ONNX model).

    Raises
    ------
    ImportError
        With ``planner="optimizer"`` when OR-Tools (the ``optimize`` extra) is missing: a
        worker fails at start rather than at its first shift.
    ValueError
        With ``forecaster="served"`` and no ``forecast_model``.
    """

    def __init__(
        self,
        profile: CityProfile,
        config: EngineConfig | None = None,
        travel: TravelProvider | None = None,
        forecast_model: CellRateModel | None = None,
    ) -> None:
        self.profile = profile
        self.config = config or EngineConfig()
        self.travel: TravelProvider = travel or StreetGridProvider()
        self.locator = locator_for(profile)
        self.tz = profile.zone
        self.projection = profile.projection
        self.districts: dict[str, DistrictState] = {}
        if self.config.planner == "optimizer":
            require_ortools()
        if self.config.forecaster == "served" and forecast_model is None:
            raise ValueError("forecaster 'served' needs a forecast_model (see models.forecast)")
        self.forecast_model = forecast_model
        self.forecast_grid = Grid.for_bbox(
            self.projection, profile.bbox, self.config.forecast_cell_m
        )
        # per district: (the window object, origin, its version) -> forecast / site factor;
        # the object itself, so that a district rebuilt after a rebalance never hits
        self._forecasts: dict[str, tuple[tuple[Any, float, int], Any, Any]] = {}
        self._factors: dict[str, tuple[tuple[Any, float, int], Any]] = {}

    # -- ingest ---------------------------------------------------------------------------
    def district_of(self, incident: Incident) -> str:
        """The district whose state learns the incident.

        The recorded district, unless the incident has none, names an unknown district, or lies
        more than ``district_tolerance_m`` outside that district's boundary (about 1.5 % of
        Chicago's rows disagree with their coordinates, mostly on the boundary street itself;
        a few are kilometres away and would put a patrol way-point in another district): then
        the district is placed by point-in-polygon (or the grid cell of a city without
        districts).
        """
        lat, lon = incident.latitude, incident.longitude
        recorded = incident.district
        loc = self.locator
        if recorded is None:
            return loc.locate(lat, lon)
        if loc.kind != "districts" or loc.locate_exact(lat, lon) == recorded:
            return recorded
        if loc.distance_m(recorded, lat, lon) <= self.config.district_tolerance_m:
            return recorded
        return loc.locate(lat, lon)

    def observe(self, incident: Incident) -> Observation:
        """Project an incident for the learners (metres, days, local weekly slot)."""
        local = incident.occurred_at.astimezone(self.tz)
        x, y = self.projection.forward(incident.latitude, incident.longitude)
        return Observation(
            x=x,
            y=y,
            t=incident.occurred_at.timestamp() / SECONDS_PER_DAY,
            slot=local.weekday() * 24 + local.hour,
        )

    def state(self, district: str) -> DistrictState:
        """The district's state, created empty on first use."""
        st = self.districts.get(district)
        if st is None:
            st = DistrictState(
                model=DistrictModel(self.config),
                revisions=RevisionLog(retention_days=self.config.retention_days),
                window=IncidentWindow() if self.config.forecaster == "served" else None,
            )
            self.districts[district] = st
        return st

    def ingest(self, incident: Incident) -> Outcome:
        """Learn one incident; a revision replaces the record with the same id.

        The district's :class:`~patrol.incidents.revisions.RevisionLog` decides (see its rules):
        ``new`` is learned, ``revision`` un-learns the kept version and learns the new one,
        ``duplicate`` and ``stale`` are ignored, and ``late`` (older than ``retention_days``
        behind the district's event-time watermark, when its history is no longer kept) is
        dropped rather than risk counting an incident twice.
        """
        st = self.state(self.district_of(incident))
        rev = st.revisions.classify(incident)
        if rev.kind is RevisionKind.NEW:
            st.model.learn_one(self.observe(incident))
        elif rev.kind is RevisionKind.REVISION:
            assert rev.previous is not None
            st.model.forget_one(self.observe(rev.previous))
            st.model.learn_one(self.observe(incident))
        if st.window is not None and rev.kind in (RevisionKind.NEW, RevisionKind.REVISION):
            obs = self.observe(incident)  # a revision replaces the record with the same id
            st.window.learn_one(
                incident.id, t=obs.t, x=obs.x, y=obs.y, hour=obs.slot % 24, dow=obs.slot // 24,
                kind=kind_code(incident.primary_type), domestic=bool(incident.domestic),
            )  # fmt: skip
        return Outcome(rev.kind.value)

    def preview(self, incident: Incident) -> Outcome:
        """What :meth:`ingest` would do with ``incident``, changing nothing.

        Mirrors :meth:`RevisionLog.classify <patrol.incidents.revisions.RevisionLog.classify>`,
        including the records the arrival's watermark would expire.
        """
        st = self.districts.get(self.district_of(incident))
        if st is None:
            return Outcome.NEW
        log = st.revisions
        ts = incident.timestamp
        horizon = (ts if log.watermark is None else max(log.watermark, ts)) - log.retention_s
        kept = log.get(incident.id)
        if kept is not None and kept.timestamp < horizon:
            kept = None  # advancing the watermark to ts would forget it first
        if kept is None:
            return Outcome.LATE if ts < horizon else Outcome.NEW
        if same_content(kept, incident):
            return Outcome.DUPLICATE
        if kept.updated_at and incident.updated_at and kept.updated_at > incident.updated_at:
            return Outcome.STALE
        return Outcome.REVISION

    # -- planning -------------------------------------------------------------------------
    def station(self, district: str) -> tuple[float, float]:
        """Where the district's units start: its station, else the area's centroid."""
        return self.locator.station_for(district)

    def plan(
        self,
        district: str,
        day: date,
        shift: Shift,
        *,
        generated_at: datetime,
        dry_run: bool = False,
    ) -> Route | None:
        """Plan the district's route for ``day``/``shift`` and bump its version (unit 1).

        :meth:`plan_units` with the first unit's route, ``None`` when there is none.
        """
        routes = self.plan_units(district, day, shift, generated_at=generated_at, dry_run=dry_run)
        return routes[0] if routes else None

    def plan_units(
        self,
        district: str,
        day: date,
        shift: Shift,
        *,
        generated_at: datetime,
        dry_run: bool = False,
    ) -> list[Route]:
        """Plan the district's routes for ``day``/``shift`` (units 1..n) and bump its version.

        Returns no route while the district has fewer than ``min_incidents`` incidents. The
        CPSPA orders (``planner`` ``cpspa``, ``nearest``, ``random``) plan one unit; the
        ``optimizer`` plans ``config.units`` (:func:`patrol.planner.plan_optimised`), all with
        the same version. With ``dry_run`` nothing changes: the district's last fitted clusters
        are used even when stale (no k-means refit: a forecast is cheap; only a district never
        fitted yet is fitted, on a copy that is thrown away), and the routes carry the *next*
        version without taking it (see :meth:`commit_version`), so that a forecast that is not
        emitted leaves no trace. The optimiser reads only the probability table's decayed
        counts: it never fits clusters.
        """
        st = self.districts.get(district)
        if st is None or st.model.n_incidents < self.config.min_incidents:
            return []
        key = route_key(day, shift)
        common: dict[str, Any] = {
            "district": district,
            "model": st.model,
            "station": self.station(district),
            "day": day,
            "shift": shift,
            "tz": self.tz,
            "projection": self.projection,
            "travel": self.travel,
            "config": self.config,
            "version": st.versions.get(key, 0) + 1,
            "generated_at": generated_at,
        }
        if self.config.planner == "optimizer":
            factor = self.forecast_factor(district, day) if st.window is not None else None
            routes = plan_optimised(**common, factor_at=factor)
        else:
            clusterer = st.model.clusterer
            if dry_run:  # fit() only rebinds attributes: a shallow copy keeps the original intact
                st.model.clusterer = copy.copy(clusterer)
            try:
                route = plan_route(**common, refit=not dry_run)
            finally:
                st.model.clusterer = clusterer
            routes = [] if route is None else [route]
        if routes and not dry_run:
            st.versions[key] = routes[0].version
        return routes

    # -- served forecaster ----------------------------------------------------------------
    def forecast(self, district: str, origin: float) -> tuple[Any, Any]:
        """The served forecaster's expected incidents of the district per 150 m cell over the
        week from ``origin`` (days since the epoch): ``(cells, expected)``, empty without a
        window. Reads only incidents before ``origin``; cached until the district learns.
        """
        st = self.districts.get(district)
        if st is None or st.window is None or self.forecast_model is None:
            return np.zeros(0, np.int64), np.zeros(0)
        window = st.window
        key = (window, origin, window.version)
        hit = self._forecasts.get(district)
        if hit is not None and _same_key(hit[0], key):
            return hit[1], hit[2]
        events = window.events()
        grid = self.forecast_grid
        cells, x = district_features(
            events, grid.cell_of(events.x, events.y), grid, origin, 7.0, self.tz
        )
        expected = self.forecast_model.forecast(x)
        self._forecasts[district] = (key, cells, expected)
        return cells, expected

    def forecast_factor(self, district: str, day: date) -> Any:
        """``factor_at(x, y)`` for :func:`patrol.planning.relevel_risk`: per 150 m cell, the
        served forecast for the week from ``day``'s local midnight over the level of the
        district's decayed counts (:func:`patrol.planning.forecast_level`), as the route
        backtest's ``optimizer`` uses it (docs/routes.md). Cached with the forecast: every
        re-plan of the day until the district learns again reuses it."""
        origin = datetime(day.year, day.month, day.day, tzinfo=self.tz).timestamp() / 86_400.0
        window = self.districts[district].window
        assert window is not None
        key = (window, origin, window.version)
        hit = self._factors.get(district)
        if hit is not None and _same_key(hit[0], key):
            return hit[1]
        cells, expected = self.forecast(district, origin)
        grid = self.forecast_grid
        forecast = np.zeros(grid.size)
        forecast[cells] = expected
        events = window.events()
        counts = weekly_counts(
            grid.cell_of(events.x, events.y), events.t, now=origin, n_cells=grid.size
        )
        at = cell_lookup(grid, forecast_level(forecast, counts))
        self._factors[district] = (key, at)
        return at

    def commit_version(self, route: Route) -> None:
        """Record ``route.version`` as taken for its district, date and shift (an emission)."""
        versions = self.state(route.district).versions
        key = f"{route.date}/{route.shift}"
        versions[key] = max(versions.get(key, 0), route.version)

    def adopt_clustering(self, district: str, clustering: Clustering) -> None:
        """Install a clustering recorded after a refit, as if ``fit`` had just produced it.

        Replaying a district's recorded history calls this where the original run refit its
        clusters; it sets exactly what :meth:`SpatialClusterer.fit
        <patrol.learners.clusters.SpatialClusterer.fit>` sets (the clustering, the mass at the
        fit, zero churn) without re-running k-means, so the restored state is bit-identical.
        """
        clusterer = self.state(district).model.clusterer
        _, vals = table_arrays(clusterer._cells)
        clusterer._clustering = clustering
        clusterer._fit_mass = float(vals[:, 0].sum())
        clusterer._churn = 0.0

    def drop_district(self, district: str) -> None:
        """Forget a district (its partition moved to another worker, or it is rebuilt)."""
        self.districts.pop(district, None)

    def plan_all(self, day: date, shift: Shift, *, generated_at: datetime) -> list[Route]:
        """Plan every known district for ``day``/``shift`` (sorted by district id, then unit)."""
        routes = []
        for district in sorted(self.districts, key=_district_sort_key):
            routes += self.plan_units(district, day, shift, generated_at=generated_at)
        return routes

    def due_shifts(self, before: datetime, after: datetime) -> list[tuple[date, Shift]]:
        """Shifts whose local start lies in ``(before, after]``, in time order."""
        if after <= before:
            return []
        out = []
        day = before.astimezone(self.tz).date()
        last = after.astimezone(self.tz).date()
        while day <= last:
            for shift in SHIFTS:
                start, _ = shift_bounds(day, shift, self.tz)
                if before < start <= after:
                    out.append((day, shift))
            day += timedelta(days=1)
        return out

    # -- state ----------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The whole engine state (district by district)."""
        return {d: st.to_dict() for d, st in self.districts.items()}

    def load_dict(self, d: dict[str, Any]) -> None:
        """Replace the state with one produced by :meth:`to_dict`."""
        self.districts = {k: DistrictState.from_dict(v) for k, v in d.items()}


def _same_key(a: tuple[Any, float, int], b: tuple[Any, float, int]) -> bool:
    """The same window object, origin and window version."""
    return a[0] is b[0] and a[1:] == b[1:]


def _district_sort_key(d: str) -> tuple[int, str]:
    return (int(d), d) if d.isdigit() else (10**9, d)
