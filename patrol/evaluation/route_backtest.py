"""Route backtest: plan every district, shift and day from the past, score it on what happened.

For each wanted ``(day, shift)`` the incidents are replayed in event-time order through a fresh
:class:`patrol.engine.Engine`; when the replay reaches the shift's start, every planner plans
from what is known then (the engine's state, and the district's incidents strictly before the
start), and the plan is scored with :mod:`patrol.evaluation.coverage` against the incidents of
the shift. Planners, all on the same district-shifts:

* ``cpspa`` - the paper's whole pipeline, :meth:`Engine.plan <patrol.engine.Engine.plan>`
  (elbow-chosen k, KDE / regression way-points, fuzzy Algorithm 2 order);
* ``nearest`` and ``random`` - the same way-points, nearest-neighbour and random order
  (:func:`patrol.planner.plan_route` with the other orderers);
* ``optimizer`` - :func:`patrol.planner.plan_team`: sites (:func:`patrol.planning.select_sites`)
  from the best hotspot forecaster of docs/backtest.md, ``ours-boosted``
  (:class:`patrol.forecast.BoostedCells`): its expected count per 150 m cell for the week from
  the day's local midnight, spread over 50 m cells and the shift's hours by decayed counts
  (:func:`patrol.planning.relevel_risk`, :func:`patrol.planning.history_risk`); routes of
  ``units`` units by :func:`patrol.planning.optimise_routes`;
* ``optimizer-counts`` - the same without the forecaster (decayed counts alone), to measure
  what the forecaster adds;
* ``oracle`` - a ceiling that sees the future: way-points on the shift's actual incidents
  (skipping those within the radius of an earlier one), driven in time order from the station
  without dwell, within the shift.

No look-ahead: the engine plans from what it ingested before the shift's start, the other
planners read the district's incidents strictly before it, and the forecaster learns only
incidents before the day's midnight (:class:`patrol.forecast.LookAheadError` otherwise).

Pure: no I/O and no clock; the caller reads files and reports progress (``on_slot``).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime

import numpy as np
import numpy.typing as npt

from patrol.config import EngineConfig
from patrol.engine import Engine
from patrol.evaluation.coverage import (
    COVERAGE_RADIUS_M,
    Coverage,
    Visits,
    coverage,
    visits_from_route,
)
from patrol.evaluation.route_forecast import ForecastLevel, forecast_levels
from patrol.incidents.profile import CityProfile
from patrol.incidents.schema import Incident
from patrol.planner import plan_route, plan_team
from patrol.planning import (
    SHIFTS,
    Shift,
    SolverOptions,
    history_risk,
    relevel_risk,
    select_sites,
    shift_bounds,
    shift_duration_s,
    shift_local_hours,
    walk_route,
)
from patrol.routes import Route
from patrol.travel.base import LatLon, TravelProvider

PLANNERS: tuple[str, ...] = (
    "cpspa",
    "nearest",
    "random",
    "optimizer",
    "optimizer-counts",
    "oracle",
)
"""Every planner the backtest knows, in report order."""

DEFAULT_PLANNERS: tuple[str, ...] = ("cpspa", "nearest", "random", "optimizer", "oracle")
"""The planners compared by default (issue 6, part 2)."""

RISKS: tuple[str, ...] = ("boosted", "served", "counts")
"""Where the ``optimizer`` planner's risk comes from (``optimizer-counts`` always uses counts)."""

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class RouteBacktestConfig:
    """What to compare and how.

    Attributes
    ----------
    planners : tuple of str
        Subset of :data:`PLANNERS` (default :data:`DEFAULT_PLANNERS`).
    units : int
        Units per district for the optimiser (the others plan one route).
    dwell_s : float
        The optimiser's patrol stop at each site.
    sites_per_unit : int
        Candidate sites offered to the optimiser per unit.
    radius_m : float
        Coverage radius, also the sites' disc.
    half_life_days, week_share : float
        Decay and same-weekday weight of the decayed counts (:func:`history_risk`), and the
        decay of the counts level the forecaster's level replaces (:func:`weekly_counts`).
    risk : str
        ``"boosted"`` (the forecaster's level, default), ``"served"`` (the per-district form
        the stream serves, :class:`patrol.forecast.DistrictBoosted`) or ``"counts"`` for
        ``optimizer``.
    forecast_cell_m, forecast_origins, retrain_days : float, int, float
        The forecaster's cell (150 m, as in the hotspot backtest), its training origins (weeks)
        and how old its fit may get before it is refit at a day's midnight.
    engine : EngineConfig
        The engine's parameters (``planner`` is ignored: every orderer is run).
    solver : SolverOptions
        The optimiser's search settings.
    """

    planners: tuple[str, ...] = DEFAULT_PLANNERS
    units: int = 1
    dwell_s: float = 900.0
    sites_per_unit: int = 25
    radius_m: float = COVERAGE_RADIUS_M
    half_life_days: float = 365.0
    week_share: float = 0.5
    risk: str = "boosted"
    forecast_cell_m: float = 150.0
    forecast_origins: int = 52
    retrain_days: float = 91.0
    engine: EngineConfig = field(default_factory=EngineConfig)
    solver: SolverOptions = field(default_factory=SolverOptions)

    def __post_init__(self) -> None:
        unknown = set(self.planners) - set(PLANNERS)
        if unknown or not self.planners:
            raise ValueError(f"planners must be among {PLANNERS}, got {self.planners}")
        if self.units < 1 or self.sites_per_unit < 1:
            raise ValueError("units and sites_per_unit must be >= 1")
        if self.risk not in RISKS:
            raise ValueError(f"risk must be one of {RISKS}, got {self.risk!r}")

    @property
    def uses_forecaster(self) -> bool:
        """Whether a planner needs the hotspot forecaster's level."""
        return "optimizer" in self.planners and self.risk in ("boosted", "served")


@dataclass(frozen=True, slots=True)
class ShiftRecord:
    """One planner's plan for one district, day and shift, and its coverage."""

    district: str
    day: date
    shift: str
    planner: str
    coverage: Coverage
    visits: Visits

    def to_dict(self) -> dict[str, object]:
        """JSON-ready counts (the stops are left out)."""
        c = self.coverage
        return {
            "district": self.district,
            "date": self.day.isoformat(),
            "shift": self.shift,
            "planner": self.planner,
            "incidents": c.incidents,
            "in_time": c.in_time,
            "in_presence": c.in_presence,
            "spatial": c.spatial,
            "waypoints": c.waypoints,
            "distance_m": round(c.distance_m, 1),
            "time_s": round(c.time_s, 1),
        }


@dataclass
class _History:
    """One district's incidents as arrays, in event-time order (all of them, past and future)."""

    x: list[float] = field(default_factory=list)
    y: list[float] = field(default_factory=list)
    t: list[float] = field(default_factory=list)
    hour: list[int] = field(default_factory=list)
    dow: list[int] = field(default_factory=list)
    lat: list[float] = field(default_factory=list)
    lon: list[float] = field(default_factory=list)

    COLUMNS = ("x", "y", "t", "hour", "dow", "lat", "lon")

    def freeze(self) -> dict[str, npt.NDArray[np.generic]]:
        return {k: np.asarray(v) for k, v in vars(self).items()}


def run_route_backtest(
    incidents: Sequence[Incident],
    profile: CityProfile,
    slots: Iterable[tuple[date, Shift]],
    *,
    districts: Collection[str] | None = None,
    config: RouteBacktestConfig | None = None,
    travel: TravelProvider | None = None,
    on_slot: Callable[[date, Shift], None] | None = None,
) -> list[ShiftRecord]:
    """Plan and score every wanted ``(day, shift)`` of every district.

    Parameters
    ----------
    incidents : sequence of Incident
        Everything, history and evaluation period, sorted by ``occurred_at``.
    profile : CityProfile
        The city (time zone, projection, districts and stations).
    slots : iterable of (date, Shift)
        The shifts to evaluate.
    districts : collection of str, optional
        Only these districts (ids as the engine normalises them, e.g. ``"8"``).
    config : RouteBacktestConfig, optional
    travel : TravelProvider, optional
        Travel times for every planner (default: the engine's street grid).
    on_slot : callable, optional
        Called after each evaluated ``(day, shift)`` (progress).

    Returns
    -------
    list of ShiftRecord
        One per planner for each district-shift where every planner could plan (the engine
        plans a district only after ``min_incidents``), in time order.
    """
    cfg = config or RouteBacktestConfig()
    engine = Engine(profile, cfg.engine, travel)
    wanted = {(d, s.label) for d, s in slots}
    keep = None if districts is None else set(districts)
    mine = [i for i in incidents if keep is None or engine.district_of(i) in keep]
    hist: dict[str, _History] = {}
    for inc in mine:
        o = engine.observe(inc)
        h = hist.setdefault(engine.district_of(inc), _History())
        row = (o.x, o.y, o.t, o.slot % 24, o.slot // 24, inc.latitude, inc.longitude)
        for column, value in zip(_History.COLUMNS, row, strict=True):
            getattr(h, column).append(value)
    arrays = {d: h.freeze() for d, h in hist.items()}
    level = None
    if cfg.uses_forecaster and wanted:
        level = forecast_levels(
            mine,
            engine,
            sorted({d for d, _ in wanted}),
            cell_m=cfg.forecast_cell_m,
            origins=cfg.forecast_origins,
            retrain_days=cfg.retrain_days,
            half_life_days=cfg.half_life_days,
            served=cfg.risk == "served",
        )
    records: list[ShiftRecord] = []

    def plan_due(before: datetime, after: datetime) -> None:
        for day, shift in engine.due_shifts(before, after):
            if (day, shift.label) in wanted:
                for d in sorted(engine.districts, key=_district_key):
                    records.extend(_plan_district(engine, cfg, arrays[d], d, day, shift, level))
                if on_slot is not None:
                    on_slot(day, shift)

    clock: datetime | None = None
    for inc in mine:
        if clock is not None and inc.occurred_at > clock:
            plan_due(clock, inc.occurred_at)
        if clock is None or inc.occurred_at > clock:
            clock = inc.occurred_at
        engine.ingest(inc)
    if clock is not None and wanted:
        last = max(shift_bounds(d, _shift(label), engine.tz)[0] for d, label in wanted)
        if last > clock:
            plan_due(clock, last)
    return records


def _plan_district(
    engine: Engine,
    cfg: RouteBacktestConfig,
    arr: dict[str, npt.NDArray[np.generic]],
    district: str,
    day: date,
    shift: Shift,
    level: ForecastLevel | None = None,
) -> list[ShiftRecord]:
    """Every planner's plan of one district-shift, scored (nothing when one cannot plan)."""
    start, end = shift_bounds(day, shift, engine.tz)
    t0, t1 = start.timestamp() / 86_400.0, end.timestamp() / 86_400.0
    t = arr["t"].astype(np.float64)
    k0, k1 = np.searchsorted(t, [t0, t1], side="left")
    station = engine.station(district)
    visits: dict[str, Visits] = {}
    past = {k: v[:k0] for k, v in arr.items()}  # strictly before the shift start
    for name in cfg.planners:
        if name == "oracle":
            continue
        v = _plan_one(engine, cfg, name, past, district, day, shift, station, level)
        if v is None:
            return []
        visits[name] = v
    if "oracle" in cfg.planners:
        future = {k: v[k0:k1] for k, v in arr.items()}
        visits["oracle"] = oracle_visits(engine, future, station, day, shift, radius_m=cfg.radius_m)
    xs, ys = arr["x"][k0:k1], arr["y"][k0:k1]
    ts = (t[k0:k1] - t0) * 86_400.0
    return [
        ShiftRecord(
            district,
            day,
            shift.label,
            name,
            coverage(visits[name], xs, ys, ts, radius_m=cfg.radius_m),
            visits[name],
        )
        for name in cfg.planners
    ]


def _plan_one(
    engine: Engine,
    cfg: RouteBacktestConfig,
    name: str,
    past: dict[str, npt.NDArray[np.generic]],
    district: str,
    day: date,
    shift: Shift,
    station: LatLon,
    level: ForecastLevel | None = None,
) -> Visits | None:
    """One planner's stops for the district-shift, from the past only."""
    start, end = shift_bounds(day, shift, engine.tz)
    routes: list[Route]
    if name == "cpspa":
        route = engine.plan(district, day, shift, generated_at=start)
        routes = [] if route is None else [route]
    elif name in ("nearest", "random"):
        st = engine.districts.get(district)
        if st is None or st.model.n_incidents < engine.config.min_incidents:
            return None
        route = plan_route(
            district=district,
            model=st.model,
            station=station,
            day=day,
            shift=shift,
            tz=engine.tz,
            projection=engine.projection,
            travel=engine.travel,
            config=replace(engine.config, planner=name),
            version=1,
            generated_at=start,
        )
        routes = [] if route is None else [route]
    else:
        if len(past["t"]) < engine.config.min_incidents:
            return None
        hours = shift_local_hours(day, shift, engine.tz)
        cells = history_risk(
            past["x"],
            past["y"],
            past["t"],
            past["hour"],
            past["dow"],
            now=start.timestamp() / 86_400.0,
            hours=hours,
            weekday=day.weekday(),
            half_life_days=cfg.half_life_days,
            week_share=cfg.week_share,
        )
        if name == "optimizer" and cfg.risk in ("boosted", "served"):
            if level is None:
                raise ValueError("the optimizer's boosted risk needs forecast_levels()")
            cells = relevel_risk(cells, level.factor_at(day))
        sites = select_sites(cells, cfg.sites_per_unit * cfg.units, radius_m=cfg.radius_m)
        _, routes = plan_team(
            district=district,
            sites=sites,
            station=station,
            day=day,
            shift=shift,
            tz=engine.tz,
            projection=engine.projection,
            travel=engine.travel,
            version=1,
            generated_at=start,
            units=cfg.units,
            dwell_s=cfg.dwell_s,
            options=cfg.solver,
        )
    if not routes:
        return None
    return Visits.merge([visits_from_route(r, engine.projection, start, end) for r in routes])


def oracle_visits(
    engine: Engine,
    actual: dict[str, npt.NDArray[np.generic]],
    station: LatLon,
    day: date,
    shift: Shift,
    *,
    radius_m: float = COVERAGE_RADIUS_M,
) -> Visits:
    """The oracle's stops: the shift's actual incidents in time order, no dwell.

    An incident within ``radius_m`` of an earlier way-point is not a way-point again. The unit
    drives from the station at the provider's speed of the shift's first hour and stops when
    the next way-point would fall after the shift end; it stays at its last way-point.
    """
    start, end = shift_bounds(day, shift, engine.tz)
    xs, ys = actual["x"].astype(np.float64), actual["y"].astype(np.float64)
    chosen: list[int] = []
    for k in range(xs.size):
        if all(np.hypot(xs[k] - xs[j], ys[k] - ys[j]) > radius_m for j in chosen):
            chosen.append(k)
    if not chosen:
        return Visits.of([], [], [])
    points: list[LatLon] = [
        station,
        *((float(actual["lat"][k]), float(actual["lon"][k])) for k in chosen),
    ]
    hours = shift_local_hours(day, shift, engine.tz)
    m = engine.travel.matrix(points, hour=hours[0])
    sequence = iter(range(1, len(points)))
    order = walk_route(
        m.distance_m,
        m.time_s,
        lambda cur, clock, rem: (next(sequence), 0.0),
        budget_s=shift_duration_s(day, shift, engine.tz),
    )
    nodes = [n - 1 for n in order.order]
    arrival = np.asarray(order.arrival_s, dtype=np.float64)
    departure = arrival.copy()
    if departure.size:
        departure[-1] = (end - start).total_seconds()
    return Visits.of(
        xs[chosen][nodes],
        ys[chosen][nodes],
        arrival,
        departure,
        distance_m=order.total_distance_m,
        time_s=order.total_time_s,
    )


def _shift(label: str) -> Shift:
    return next(s for s in SHIFTS if s.label == label)


def _district_key(d: str) -> tuple[int, str]:
    return (int(d), d) if d.isdigit() else (10**9, d)
