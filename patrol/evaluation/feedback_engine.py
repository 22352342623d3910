"""The engine and the optimising planner in the closed-loop replay of :mod:`.feedback`.

* :class:`EnginePolicy` - :class:`patrol.engine.Engine` (CPSPA routes, as in the stream);
* :class:`OptimizerPolicy` - the optimising planner (:func:`patrol.planner.plan_team`) over
  decayed-count sites;
* :func:`engine_events` and :func:`shift_slots` - the replay's inputs from incidents and dates.

Pure: no clock, no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from datetime import date, datetime, timedelta

import numpy as np

from patrol.engine import Engine
from patrol.evaluation.fairness import area_id, patrol_minutes
from patrol.evaluation.feedback import DISCOVERABLE_TYPES, Event, ShiftSlot, Stop
from patrol.incidents.schema import Incident
from patrol.planner import plan_team
from patrol.planning import (
    SHIFTS,
    SolverOptions,
    history_risk,
    select_sites,
    shift_bounds,
    shift_local_hours,
)


class EnginePolicy:
    """:class:`patrol.engine.Engine` as a :class:`Policy`: ingest what is learned, plan routes.

    Parameters
    ----------
    engine
        A fresh engine (its profile, config and travel provider are used as they are).
    districts
        The districts planned each shift (ids as the engine names them).
    area_of
        Maps latitudes and longitudes to area ids (e.g.
        :meth:`patrol.evaluation.fairness.CommunityAreas.locate_many`).
    step_m
        Spacing of the samples of patrol time along the driven path (:func:`patrol_minutes`).
    stay
        Count the rest of the shift, after the route's planned end, at its last way-point.
    """

    def __init__(
        self,
        engine: Engine,
        districts: Sequence[str],
        area_of: Callable[[list[float], list[float]], list[str | None]],
        step_m: float = 100.0,
        stay: bool = False,
    ) -> None:
        self.engine = engine
        self.step_m = step_m
        self.stay = stay
        self.districts = list(districts)
        self.area_of = area_of
        self._shifts = {s.label: s for s in SHIFTS}

    def learn(self, event: Event) -> None:
        """Ingest the event's incident."""
        self.engine.ingest(event.payload)

    def plan(self, slot: ShiftSlot) -> list[Stop]:
        """Every district's route for the slot, as :func:`patrol_minutes` samples."""
        shift = self._shifts[slot.label]
        start = datetime.fromtimestamp(slot.start, tz=self.engine.tz)
        until = datetime.fromtimestamp(slot.end, tz=self.engine.tz) if self.stay else None
        proj = self.engine.projection
        samples: list[tuple[float, float, float]] = []
        for d in self.districts:
            route = self.engine.plan(d, slot.day, shift, generated_at=start)
            if route is not None:
                samples.extend(patrol_minutes(route, proj, start, self.step_m, stay_until=until))
        if not samples:
            return []
        latlon = [proj.inverse(x, y) for x, y, _ in samples]
        areas = self.area_of([p[0] for p in latlon], [p[1] for p in latlon])
        return [Stop(x, y, m, a) for (x, y, m), a in zip(samples, areas, strict=True)]


class OptimizerPolicy:
    """The optimising planner (:func:`patrol.planner.plan_team`) as a :class:`Policy`.

    Its sites come from decayed counts of the learned incidents (:func:`patrol.planning.
    history_risk`, :func:`patrol.planning.select_sites`): the route backtest's
    ``optimizer-counts`` planner, without the boosted forecaster's weekly level. It uses the
    whole shift (15-minute stops at up to ``sites`` sites), so its exposure is far larger than
    CPSPA's.

    Parameters
    ----------
    engine
        Supplies the projection, time zone, stations, travel times and district placement
        (nothing is ingested into it).
    districts, area_of, step_m
        As for :class:`EnginePolicy`.
    dwell_s, sites, half_life_days, week_share, options
        The planner's stop length, candidate sites per unit, the counts' decay and same-weekday
        weight, and the OR-Tools search settings (default: 30 ms, no polishing, to keep a
        closed-loop replay of thousands of plans affordable).
    """

    def __init__(
        self,
        engine: Engine,
        districts: Sequence[str],
        area_of: Callable[[list[float], list[float]], list[str | None]],
        *,
        step_m: float = 100.0,
        dwell_s: float = 900.0,
        sites: int = 25,
        half_life_days: float = 365.0,
        week_share: float = 0.5,
        options: SolverOptions | None = None,
    ) -> None:
        self.engine = engine
        self.districts = list(districts)
        self.area_of = area_of
        self.step_m, self.dwell_s, self.sites = step_m, dwell_s, sites
        self.half_life_days, self.week_share = half_life_days, week_share
        self.options = options or SolverOptions(time_limit_s=0.03, polish=False)
        self._shifts = {s.label: s for s in SHIFTS}
        self._hist: dict[str, list[tuple[float, float, float, int, int]]] = {}

    def learn(self, event: Event) -> None:
        """Remember the incident's position, time, hour and weekday in its district."""
        inc = event.payload
        o = self.engine.observe(inc)
        row = (o.x, o.y, o.t, o.slot % 24, o.slot // 24)
        self._hist.setdefault(self.engine.district_of(inc), []).append(row)

    def plan(self, slot: ShiftSlot) -> list[Stop]:
        """Every district's optimised route for the slot, as :func:`patrol_minutes` samples."""
        eng = self.engine
        shift = self._shifts[slot.label]
        start = datetime.fromtimestamp(slot.start, tz=eng.tz)
        hours = shift_local_hours(slot.day, shift, eng.tz)
        samples: list[tuple[float, float, float]] = []
        for d in self.districts:
            rows = self._hist.get(d, [])
            if len(rows) < eng.config.min_incidents:
                continue
            x, y, t, hour, dow = (np.asarray(c) for c in zip(*rows, strict=True))
            cells = history_risk(
                x, y, t, hour, dow, now=slot.start / 86_400.0, hours=hours,
                weekday=slot.day.weekday(), half_life_days=self.half_life_days,
                week_share=self.week_share,
            )  # fmt: skip
            sites = select_sites(cells, self.sites)
            _, routes = plan_team(
                district=d, sites=sites, station=eng.station(d), day=slot.day, shift=shift,
                tz=eng.tz, projection=eng.projection, travel=eng.travel, version=1,
                generated_at=start, units=1, dwell_s=self.dwell_s, options=self.options,
            )  # fmt: skip
            for route in routes:
                samples.extend(patrol_minutes(route, eng.projection, start, self.step_m))
        if not samples:
            return []
        latlon = [eng.projection.inverse(x, y) for x, y, _ in samples]
        areas = self.area_of([p[0] for p in latlon], [p[1] for p in latlon])
        return [Stop(x, y, m, a) for (x, y, m), a in zip(samples, areas, strict=True)]


def engine_events(
    engine: Engine,
    incidents: Sequence[Incident],
    districts: Collection[str] | None,
    area_of: Callable[[list[float], list[float]], list[str | None]],
    discoverable: Collection[str] = DISCOVERABLE_TYPES,
) -> list[Event]:
    """The :class:`Event` of each incident of ``districts`` (all when ``None``), in time order.

    An incident's area is its recorded ``community_area``, else the polygon it falls in.
    """
    mine = [i for i in incidents if districts is None or engine.district_of(i) in districts]
    mine.sort(key=lambda i: i.occurred_at)
    located = area_of([i.latitude for i in mine], [i.longitude for i in mine])
    out = []
    for inc, where in zip(mine, located, strict=True):
        x, y = engine.projection.forward(inc.latitude, inc.longitude)
        out.append(
            Event(
                t=inc.occurred_at.timestamp(),
                x=float(x),
                y=float(y),
                area=area_id(inc.community_area) or where,
                discoverable=(inc.primary_type or "").upper() in discoverable,
                payload=inc,
            )
        )
    return out


def shift_slots(engine: Engine, first: date, days: int) -> list[ShiftSlot]:
    """Every shift of ``days`` consecutive days from ``first``, with week numbers from 0."""
    out = []
    for k in range(days):
        day = first + timedelta(days=k)
        for shift in SHIFTS:
            start, end = shift_bounds(day, shift, engine.tz)
            out.append(ShiftSlot(day, shift.label, start.timestamp(), end.timestamp(), k // 7))
    return out
