"""From a district's learned state to an ordered route for one shift (CPSPA phases 3-5).

The assembly follows the paper's sequence (seed 004, section 5, Figure 5): way-points O_k
(phase 3) -> distance and time matrices M_d, M_t from a travel provider (phase 4) -> the
probability matrix M_p for the shift's hours (Algorithm 1) -> the order of the way-points
(phase 5, Algorithm 2, or a baseline order) -> a :class:`patrol.routes.Route`.

Beyond the paper, :func:`plan_team` plans several units over candidate sites from any forecaster
with the optimising planner (:mod:`patrol.planning.optimizer`), and :func:`team_routes` turns
its plan into one :class:`~patrol.routes.Route` per unit with the same assembly.
:func:`plan_optimised` is the engine's ``planner="optimizer"``: sites from the district's learned
state (:meth:`DistrictModel.cell_risk <patrol.model.DistrictModel.cell_risk>`), then
:func:`plan_team` with a deterministic search.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from patrol import __version__
from patrol.config import EngineConfig
from patrol.geo import LocalProjection
from patrol.model import DistrictModel
from patrol.planning import (
    PlanOrder,
    Shift,
    Sites,
    SolverOptions,
    TeamPlan,
    optimise_routes,
    order_cpspa,
    order_nearest,
    order_random,
    relevel_risk,
    select_sites,
    shift_bounds,
    shift_duration_s,
    shift_local_hours,
)
from patrol.routes import Route, Waypoint
from patrol.travel.base import LatLon, TravelProvider

OrderFn = Callable[..., PlanOrder]
FloatArray = npt.NDArray[np.float64]

ORDERERS: Mapping[str, OrderFn] = {
    "cpspa": order_cpspa,
    "nearest": order_nearest,
    "random": order_random,
}


def plan_route(
    *,
    district: str,
    model: DistrictModel,
    station: LatLon,
    day: date,
    shift: Shift,
    tz: ZoneInfo,
    projection: LocalProjection,
    travel: TravelProvider,
    config: EngineConfig,
    version: int,
    generated_at: datetime,
    unit: int = 1,
    refit: bool = True,
) -> Route | None:
    """Plan one unit's route for ``district`` on ``day`` and ``shift``.

    The learners are read as of the shift's start (``now``), the predicted points L_k at the
    shift's middle. Returns ``None`` when the district has no way-point yet. ``refit=False``
    keeps the model's last fitted clusters even when they are stale (see
    :meth:`DistrictModel.clustering <patrol.model.DistrictModel.clustering>`).
    """
    start, _ = shift_bounds(day, shift, tz)
    duration_s = shift_duration_s(day, shift, tz)  # 7 or 9 h on DST days
    now = start.timestamp() / 86_400.0
    at = (start.timestamp() + duration_s / 2) / 86_400.0
    cands = model.candidates(now=now, at=at, refit=refit)
    if not cands:
        return None
    clustering = model.clustering(now, refit)
    clusters = np.array([c.cluster for c in cands], dtype=np.int64)
    dow = day.weekday()  # a shift never crosses midnight
    hours = shift_local_hours(day, shift, tz)
    prob = np.zeros((len(hours), len(cands) + 1))
    rate = np.zeros((len(hours), len(cands) + 1))
    for i, hour in enumerate(hours):
        p, r = model.expected_rate(clustering, dow, hour, now)
        prob[i, 1:] = p[clusters]
        rate[i, 1:] = r[clusters]
    points: list[LatLon] = [station, *(projection.inverse(*c.point) for c in cands)]
    matrix = travel.matrix(points, hour=hours[0])
    order = ORDERERS[config.planner](
        matrix.distance_m,
        matrix.time_s,
        prob,
        start=0,
        budget_s=duration_s,
        return_to_start=config.return_to_station,
    )
    return _route(
        district=district,
        day=day,
        shift=shift,
        start=start,
        points=points,
        cands_cluster=clusters,
        cand_rules=[c.rule for c in cands],
        prob=prob,
        rate=rate,
        order=order,
        travel=travel,
        planner=config.planner,
        version=version,
        generated_at=generated_at,
        unit=unit,
        model_info={"k": clustering.k, "clusters_fitted_at": clustering.fitted_at},
    )


SAFETY_TIME_LIMIT_S = 30.0
"""The engine's OR-Tools time limit: only a safety net, far above the search's length (the
solution limit ``EngineConfig.solver_solutions`` and greedy descent's local optimum end it),
so the routes do not depend on the machine's speed."""


def plan_optimised(
    *,
    district: str,
    model: DistrictModel,
    station: LatLon,
    day: date,
    shift: Shift,
    tz: ZoneInfo,
    projection: LocalProjection,
    travel: TravelProvider,
    config: EngineConfig,
    version: int,
    generated_at: datetime,
    factor_at: Callable[[FloatArray, FloatArray], FloatArray] | None = None,
) -> list[Route]:
    """The engine's optimising planner: ``config.units`` routes that choose where and in what order.

    Risk per 50 m cell and shift hour comes from the district's learned state as of the shift's
    start (:meth:`DistrictModel.cell_risk <patrol.model.DistrictModel.cell_risk>`, the
    decayed counts of the route backtest's ``optimizer-counts``, docs/routes.md), the
    candidate sites are its ``config.sites_per_unit * config.units`` highest-risk discs
    (:func:`patrol.planning.select_sites`) and :func:`plan_team` routes the units with a
    deterministic search (:data:`SAFETY_TIME_LIMIT_S`). Returns no route while the district has
    no risk for the shift's hours. With ``factor_at`` (the served forecaster's level per 150 m
    cell, :meth:`patrol.engine.Engine.forecast_factor`), the risk is re-levelled to it
    (:func:`patrol.planning.relevel_risk`, as the route backtest's ``optimizer`` does).
    """
    start, _ = shift_bounds(day, shift, tz)
    hours = shift_local_hours(day, shift, tz)
    cells = model.cell_risk(day.weekday(), hours, start.timestamp() / 86_400.0)
    if factor_at is not None:
        cells = relevel_risk(cells, factor_at)
    sites = select_sites(cells, config.sites_per_unit * config.units, radius_m=config.site_radius_m)
    if sites.x.size == 0:
        return []
    options = SolverOptions(
        time_limit_s=SAFETY_TIME_LIMIT_S, solution_limit=config.solver_solutions
    )
    _, routes = plan_team(
        district=district,
        sites=sites,
        station=station,
        day=day,
        shift=shift,
        tz=tz,
        projection=projection,
        travel=travel,
        version=version,
        generated_at=generated_at,
        units=config.units,
        dwell_s=config.dwell_s,
        options=options,
    )
    return routes


def plan_team(
    *,
    district: str,
    sites: Sites,
    station: LatLon,
    day: date,
    shift: Shift,
    tz: ZoneInfo,
    projection: LocalProjection,
    travel: TravelProvider,
    version: int,
    generated_at: datetime,
    units: int = 1,
    dwell_s: float = 900.0,
    options: SolverOptions | None = None,
) -> tuple[TeamPlan, list[Route]]:
    """Plan ``units`` routes over candidate ``sites`` with the optimising planner.

    The sites (metres on ``projection``, risk per hour of the shift from any forecaster, see
    :func:`patrol.planning.select_sites`) and the station become the nodes of the provider's
    matrices at the shift's first hour, as in :func:`plan_route`; the order comes from
    :func:`patrol.planning.optimise_routes` and each unit's route from :func:`team_routes`.
    """
    start, _ = shift_bounds(day, shift, tz)
    hours = shift_local_hours(day, shift, tz)
    if sites.risk.shape[1] != len(hours):
        raise ValueError(f"sites.risk has {sites.risk.shape[1]} hours, the shift {len(hours)}")
    points: list[LatLon] = [
        station,
        *(projection.inverse(float(x), float(y)) for x, y in zip(sites.x, sites.y, strict=True)),
    ]
    matrix = travel.matrix(points, hour=hours[0])
    plan = optimise_routes(
        matrix.distance_m,
        matrix.time_s,
        sites.risk,
        units=units,
        budget_s=shift_duration_s(day, shift, tz),
        dwell_s=dwell_s,
        options=options,
    )
    routes = team_routes(
        district=district,
        day=day,
        shift=shift,
        start=start,
        points=points,
        risk=sites.risk,
        plan=plan,
        travel=travel,
        version=version,
        generated_at=generated_at,
        model_info={"sites": len(points) - 1, "units": units, "dwell_s": dwell_s},
    )
    return plan, routes


def team_routes(
    *,
    district: str,
    day: date,
    shift: Shift,
    start: datetime,
    points: list[LatLon],
    risk: npt.NDArray[np.float64],
    plan: TeamPlan,
    travel: TravelProvider,
    version: int,
    generated_at: datetime,
    planner: str = "optimizer",
    model_info: dict[str, Any] | None = None,
) -> list[Route]:
    """One :class:`Route` per unit of an optimised :class:`~patrol.planning.optimizer.TeamPlan`.

    Parameters
    ----------
    points
        ``[station, *sites]`` as (latitude, longitude), the nodes of the plan's matrices.
    risk
        ``(n_sites, n_hours)`` expected incidents near each site per hour of the shift (the
        optimiser's input). A way-point's ``probability`` is its share of the sites' risk in
        the hour of its ETA and its ``cluster`` the site's index; ``expected_incidents`` is
        the unit's value (incidents covered in time, see :mod:`patrol.planning.exact`).
    """
    n_hours = risk.shape[1]
    rate = np.zeros((n_hours, len(points)))
    rate[:, 1:] = risk.T
    total = rate.sum(axis=1, keepdims=True)
    prob = np.divide(rate, total, out=np.zeros_like(rate), where=total > 0)
    n_sites = len(points) - 1
    return [
        _route(
            district=district,
            day=day,
            shift=shift,
            start=start,
            points=points,
            cands_cluster=np.arange(n_sites, dtype=np.int64),
            cand_rules=["risk"] * n_sites,
            prob=prob,
            rate=rate,
            order=order,
            travel=travel,
            planner=planner,
            version=version,
            generated_at=generated_at,
            unit=unit,
            model_info=dict(model_info or {}),
            expected_incidents=value,
        )
        for unit, (order, value) in enumerate(zip(plan.orders, plan.unit_values, strict=True), 1)
    ]


def _route(
    *,
    district: str,
    day: date,
    shift: Shift,
    start: datetime,
    points: list[LatLon],
    cands_cluster: npt.NDArray[np.int64],
    cand_rules: list[str],
    prob: npt.NDArray[np.float64],
    rate: npt.NDArray[np.float64],
    order: PlanOrder,
    travel: TravelProvider,
    planner: str,
    version: int,
    generated_at: datetime,
    unit: int,
    model_info: dict[str, Any],
    expected_incidents: float | None = None,
) -> Route:
    """Assemble the :class:`Route` (way-points, ETAs, drawn path, totals).

    ``expected_incidents`` defaults to the expected incidents of the shift's hours at the
    visited way-points (``rate`` summed, each way-point once).
    """
    n_hours = prob.shape[0]
    waypoints = []
    for seq, (node, arrival, leg_d, leg_t) in enumerate(
        zip(order.order, order.arrival_s, order.leg_distance_m, order.leg_time_s, strict=True),
        start=1,
    ):
        if node == 0:  # the closing leg back to the station is path, not a way-point
            continue
        h = min(n_hours - 1, int(arrival // 3600))
        lat, lon = points[node]
        waypoints.append(
            Waypoint(
                sequence=seq,
                latitude=lat,
                longitude=lon,
                eta=start + timedelta(seconds=round(float(arrival))),
                probability=float(prob[h, node]),
                cluster=int(cands_cluster[node - 1]),
                leg_distance_m=float(leg_d),
                leg_time_s=float(leg_t),
                rule=cand_rules[node - 1],
            )
        )
    stops = [0, *order.order]
    path: list[LatLon] = [points[0]]
    for a, b in itertools.pairwise(stops):
        path.extend(travel.path(points[a], points[b])[1:])
    if len(path) == 1:
        path.append(points[0])
    visited = sorted({n for n in order.order if n != 0})
    if expected_incidents is None:
        expected_incidents = float(rate[:, visited].sum())
    return Route(
        district=district,
        shift=shift.label,
        date=day.isoformat(),
        unit=unit,
        version=version,
        planner=planner,
        generated_at=generated_at,
        start=points[0],
        waypoints=tuple(waypoints),
        path=tuple(path),
        total_distance_m=float(order.total_distance_m),
        total_time_s=float(order.total_time_s),
        expected_incidents=expected_incidents,
        model={"engine": __version__, "travel": travel.name, **model_info},
    )
