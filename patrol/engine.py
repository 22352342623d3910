"""The patrol engine: incidents in, routes out, the same code in every runtime.

:class:`Engine` owns one :class:`DistrictState` per district (the unit of partitioning in the
Faust workers) and exposes three operations:

* :meth:`Engine.ingest` - validate placement, de-duplicate and apply revisions, learn;
* :meth:`Engine.plan` - plan a district's route for a date and shift from what was learned;
* :meth:`Engine.due_shifts` - which shifts start as the event-time watermark advances.

Time only ever comes from the incidents (their ``occurred_at``) or from the caller.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from patrol.config import EngineConfig
from patrol.incidents.areas import locator_for
from patrol.incidents.profile import CityProfile
from patrol.incidents.revisions import RevisionKind, RevisionLog
from patrol.incidents.schema import Incident
from patrol.learners.base import SECONDS_PER_DAY, Observation
from patrol.model import DistrictModel
from patrol.planner import plan_route
from patrol.planning import SHIFTS, Shift, shift_bounds
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


@dataclass
class DistrictState:
    """Everything the engine knows about one district; plain-dict serialisable."""

    model: DistrictModel
    revisions: RevisionLog
    versions: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready state."""
        return {
            "model": self.model.to_dict(),
            "revisions": self.revisions.to_dict(),
            "versions": dict(self.versions),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DistrictState:
        """Inverse of :meth:`to_dict`."""
        return cls(
            model=DistrictModel.from_dict(d["model"]),
            revisions=RevisionLog.from_dict(d["revisions"]),
            versions={str(k): int(v) for k, v in d["versions"].items()},
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
    """

    def __init__(
        self,
        profile: CityProfile,
        config: EngineConfig | None = None,
        travel: TravelProvider | None = None,
    ) -> None:
        self.profile = profile
        self.config = config or EngineConfig()
        self.travel: TravelProvider = travel or StreetGridProvider()
        self.locator = locator_for(profile)
        self.tz = profile.zone
        self.projection = profile.projection
        self.districts: dict[str, DistrictState] = {}

    # -- ingest ---------------------------------------------------------------------------
    def district_of(self, incident: Incident) -> str:
        """The incident's district, placed by point-in-polygon (or grid) when it has none."""
        return incident.district or self.locator.locate(incident.latitude, incident.longitude)

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
        return Outcome(rev.kind.value)

    # -- planning -------------------------------------------------------------------------
    def station(self, district: str) -> tuple[float, float]:
        """Where the district's units start: its station, else the area's centroid."""
        return self.locator.station_for(district)

    def plan(
        self, district: str, day: date, shift: Shift, *, generated_at: datetime
    ) -> Route | None:
        """Plan the district's route for ``day``/``shift`` and bump its version.

        Returns ``None`` while the district has fewer than ``min_incidents`` incidents.
        """
        st = self.districts.get(district)
        if st is None or st.model.n_incidents < self.config.min_incidents:
            return None
        key = f"{day.isoformat()}/{shift.label}"
        route = plan_route(
            district=district,
            model=st.model,
            station=self.station(district),
            day=day,
            shift=shift,
            tz=self.tz,
            projection=self.projection,
            travel=self.travel,
            config=self.config,
            version=st.versions.get(key, 0) + 1,
            generated_at=generated_at,
        )
        if route is not None:
            st.versions[key] = route.version
        return route

    def plan_all(self, day: date, shift: Shift, *, generated_at: datetime) -> list[Route]:
        """Plan every known district for ``day``/``shift`` (sorted by district id)."""
        routes = []
        for district in sorted(self.districts, key=_district_sort_key):
            route = self.plan(district, day, shift, generated_at=generated_at)
            if route is not None:
                routes.append(route)
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


def _district_sort_key(d: str) -> tuple[int, str]:
    return (int(d), d) if d.isdigit() else (10**9, d)
