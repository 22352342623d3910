"""An optimising patrol planner: where to go as well as in what order (team orienteering).

CPSPA orders a few fixed way-points and its route ends long before the shift does. This planner
chooses, among the district's highest-risk sites for the shift's hours, which to reach, by which
of several units and in what order, to maximise the incidents covered in time as design.md
defines coverage (value ``V_j(a)`` of reaching site ``j`` at ``a``: :mod:`patrol.planning.exact`).
That is a team orienteering problem with time-dependent prizes (Vansteenwegen, Souffriau & Van
Oudheusden, "The orienteering problem: a survey", EJOR 209(1), 2011); every reached site costs a
patrol stop (Koper, "Just enough police presence", Justice Quarterly 12(4), 1995: 11-15 minute
stops work best) and nothing may run past the shift's end. Pieces, each replaceable:

* risk and sites (:mod:`patrol.planning.sites`, re-exported here): the best hotspot
  forecaster's level per 150 m cell (:func:`relevel_risk`) spread over 50 m cells and the shift's
  hours by decayed counts (:func:`history_risk`), and :func:`select_sites`, greedy 250 m discs
  of most risk, never overlapping (units kept apart); any :class:`CellRisk` will do;
* :func:`optimise_routes` - OR-Tools vehicle routing (Perron & Furnon, OR-Tools v9,
  https://developers.google.com/optimization/routing) as a prize-collecting VRP: disjunction
  penalty ``V_j(0)`` per site, a time dimension from the engine's travel provider plus the
  dwell capped at the shift length, and a late arrival priced by a soft upper bound of slope
  ``V_j(0) / T`` (exact for risk uniform over the shift); local cheapest insertion, then greedy
  descent under a time limit;
* :func:`improve_routes` - a vectorised local search on the exact hour-by-hour value that
  polishes the solver's routes (gap to :func:`patrol.planning.exact.solve_exact`: a few percent
  before, a few tenths after; ``bench/planner.py``).

Time left after the last stop is spent at the unit's most valuable site (a revisit;
:func:`patrol.planning.exact.book_routes`).
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from patrol.planning.cpspa import as_travel_matrices
from patrol.planning.exact import TeamPlan, book_routes, remaining_value, route_values
from patrol.planning.sites import (
    CellRisk,
    Sites,
    decayed_periods,
    disc_footprint,
    forecast_level,
    history_risk,
    relevel_risk,
    select_sites,
    weekly_counts,
)

__all__ = [
    "PRIZE_SCALE",
    "CellRisk",
    "Sites",
    "SolverOptions",
    "decayed_periods",
    "disc_footprint",
    "forecast_level",
    "history_risk",
    "improve_routes",
    "optimise_routes",
    "relevel_risk",
    "require_ortools",
    "select_sites",
    "weekly_counts",
]

FloatArray = npt.NDArray[np.float64]

PRIZE_SCALE = 1e8
"""Integer cost units per expected incident in the OR-Tools model."""


@dataclass(frozen=True, slots=True)
class SolverOptions:
    """Knobs of :func:`optimise_routes`' OR-Tools search.

    Attributes
    ----------
    time_limit_s : float
        Cap on the search; greedy descent usually stops at a local optimum before it.
    km_cost : float
        Expected incidents a kilometre is worth (a tie-break toward shorter routes).
    metaheuristic : str
        ``"GREEDY_DESCENT"`` (deterministic, stops at a local optimum) or any other
        ``LocalSearchMetaheuristic`` name (e.g. ``"GUIDED_LOCAL_SEARCH"``, which uses the whole
        time limit).
    polish : bool
        Improve the solver's routes on the exact, hour-by-hour value (:func:`improve_routes`).
    solution_limit : int, optional
        Stop the search after this many solutions. Unlike the time limit it does not depend on
        the machine's speed or load: with ``time_limit_s`` only as a safety net far above the
        search's length, the plan is the same everywhere (what the engine uses).
    """

    time_limit_s: float = 0.1
    km_cost: float = 1e-3
    metaheuristic: str = "GREEDY_DESCENT"
    polish: bool = True
    solution_limit: int | None = None


def optimise_routes(
    distance_m: npt.ArrayLike,
    time_s: npt.ArrayLike,
    risk: npt.ArrayLike,
    *,
    units: int = 1,
    budget_s: float = 8 * 3600.0,
    dwell_s: float = 900.0,
    slot_s: float = 3600.0,
    start: int = 0,
    fill: bool = True,
    options: SolverOptions | None = None,
) -> TeamPlan:
    """Plan ``units`` routes from the station maximising incidents covered in time.

    Parameters
    ----------
    distance_m, time_s : array_like
        ``(n + 1, n + 1)`` travel matrices from the engine's provider; node ``start`` is the
        station, the other nodes are the sites in order.
    risk : array_like
        ``(n, n_hours)`` expected incidents within the coverage radius of each site per hour
        slot of the shift (any forecaster; see :func:`select_sites`).
    units : int
        Patrol units, all starting at the station; a site is reached by at most one unit.
    budget_s : float
        Shift length (:func:`patrol.planning.shift_duration_s`): every stop ends by then.
    dwell_s : float
        Patrol stop at each site (default 15 minutes).
    slot_s : float
        Length of one risk column.
    start : int
        Station node.
    fill : bool
        Spend the time left after the last stop at the unit's most valuable site.
    options : SolverOptions, optional
        Search settings.

    Returns
    -------
    TeamPlan

    Examples
    --------
    Two sites 10 minutes from the station in opposite directions, one unit, a 1 h shift:

    >>> t = [[0, 600, 600], [600, 0, 1200], [600, 1200, 0]]
    >>> plan = optimise_routes(t, t, [[1.0], [3.0]], budget_s=3600.0, dwell_s=600.0)
    >>> plan.orders[0].order, plan.orders[0].arrival_s, round(plan.value, 4)
    ((2, 1), (600.0, 2400.0), 2.8333)
    """
    pywrapcp, routing_enums_pb2 = require_ortools()
    opts = options or SolverOptions()
    d, t = as_travel_matrices(distance_m, time_s, start)
    r = np.atleast_2d(np.asarray(risk, dtype=np.float64))
    sites = [k for k in range(d.shape[0]) if k != start]
    if r.shape[0] != len(sites):
        raise ValueError(f"risk has {r.shape[0]} rows for {len(sites)} sites")
    if units < 1 or budget_s <= 0 or dwell_s < 0:
        raise ValueError("need units >= 1, budget_s > 0 and dwell_s >= 0")
    if not sites:
        empty: list[list[int]] = [[] for _ in range(units)]
        return book_routes(
            d,
            t,
            r,
            empty,
            start=start,
            budget_s=budget_s,
            dwell_s=dwell_s,
            slot_s=slot_s,
            fill=fill,
        )
    prize = remaining_value(r, np.zeros(len(sites)), budget_s=budget_s, slot_s=slot_s)
    end = d.shape[0]  # a dummy end node: routes are open (they end where the last stop is)
    horizon = math.ceil(budget_s)
    transit = np.zeros((end + 1, end + 1))
    transit[:end, :end] = np.where(np.isfinite(t), t, horizon + 1.0)
    transit[[k for k in range(end) if k != start], :] += dwell_s
    transit[:, start] = horizon + 1.0  # never back through the station
    transit[end, :] = 0.0
    np.fill_diagonal(transit, 0.0)
    arc = np.zeros((end + 1, end + 1))
    arc[:end, :end] = np.where(np.isfinite(d), d, 0.0) * (opts.km_cost / 1000.0 * PRIZE_SCALE)

    manager = pywrapcp.RoutingIndexManager(end + 1, units, [start] * units, [end] * units)
    routing = pywrapcp.RoutingModel(manager)
    time_cb = routing.RegisterTransitMatrix(np.rint(transit).astype(np.int64).tolist())
    arc_cb = routing.RegisterTransitMatrix(np.rint(arc).astype(np.int64).tolist())
    routing.SetArcCostEvaluatorOfAllVehicles(arc_cb)
    routing.AddDimension(time_cb, 0, horizon, True, "time")
    clock = routing.GetDimensionOrDie("time")
    for k, node in enumerate(sites):
        index = manager.NodeToIndex(node)
        routing.AddDisjunction([index], round(float(prize[k]) * PRIZE_SCALE))
        clock.SetCumulVarSoftUpperBound(index, 0, round(float(prize[k]) * PRIZE_SCALE / budget_s))
    params = pywrapcp.DefaultRoutingSearchParameters()
    strategies = routing_enums_pb2.FirstSolutionStrategy
    params.first_solution_strategy = strategies.LOCAL_CHEAPEST_INSERTION
    params.local_search_metaheuristic = getattr(
        routing_enums_pb2.LocalSearchMetaheuristic, opts.metaheuristic
    )
    params.time_limit.FromMilliseconds(max(1, int(opts.time_limit_s * 1000)))
    if opts.solution_limit is not None:
        params.solution_limit = opts.solution_limit
    solution = routing.SolveWithParameters(params)
    routes: list[list[int]] = [[] for _ in range(units)]
    if solution is not None:
        for v in range(units):
            index = solution.Value(routing.NextVar(routing.Start(v)))
            while not routing.IsEnd(index):
                routes[v].append(manager.IndexToNode(index))
                index = solution.Value(routing.NextVar(index))
    if opts.polish:
        routes = improve_routes(
            t, r, routes, budget_s=budget_s, dwell_s=dwell_s, slot_s=slot_s, start=start
        )
    return book_routes(
        d, t, r, routes, start=start, budget_s=budget_s, dwell_s=dwell_s, slot_s=slot_s, fill=fill
    )


def require_ortools() -> tuple[Any, Any]:
    """OR-Tools' routing modules, imported on first use: an ``ImportError`` naming the
    ``optimize`` extra when OR-Tools (an optional dependency) is not installed."""
    try:
        from ortools.constraint_solver import pywrapcp, routing_enums_pb2
    except ImportError as exc:
        raise ImportError(
            "the optimising planner needs OR-Tools: pip install 'patrolstream[optimize]' "
            f"(the 'optimize' extra; {exc})"
        ) from exc
    return pywrapcp, routing_enums_pb2


def improve_routes(
    time_s: npt.ArrayLike,
    risk: npt.ArrayLike,
    routes: Sequence[Sequence[int]],
    *,
    budget_s: float,
    dwell_s: float,
    slot_s: float = 3600.0,
    start: int = 0,
    max_rounds: int = 100,
) -> list[list[int]]:
    """Best-improvement local search on the exact value of the routes.

    The OR-Tools model prices a late arrival linearly; the true loss follows the hour-by-hour
    risk (:mod:`patrol.planning.exact`). This polish evaluates, vectorised, for each unit every
    relocation of a site, every reversed segment (2-opt), every exchange of two sites, every
    replacement of a site by an unreached one and every insertion of an unreached one; and for
    each pair of units every transfer of a site from one to the other and every exchange of two
    sites between them. It applies the best move while one gains and stops at a local optimum
    (the classic moves of the orienteering heuristics surveyed by Vansteenwegen et al., 2011).
    """
    t = np.asarray(time_s, dtype=np.float64)
    r = np.atleast_2d(np.asarray(risk, dtype=np.float64))
    node_risk = np.zeros((t.shape[0], r.shape[1]))
    node_risk[[k for k in range(t.shape[0]) if k != start]] = r

    def value(cands: npt.NDArray[np.intp]) -> FloatArray:
        return route_values(
            t, node_risk, cands, budget_s=budget_s, dwell_s=dwell_s, slot_s=slot_s, start=start
        )

    cur = [np.asarray(rt, dtype=np.intp) for rt in routes]
    vals = [float(value(c[None])[0]) for c in cur]
    for _ in range(max_rounds):
        improved = False
        for u in range(len(cur)):
            while True:
                pool = np.array(
                    sorted(set(range(t.shape[0])) - {start} - {int(n) for c in cur for n in c}),
                    dtype=np.intp,
                )
                cands = _neighbours(cur[u], pool)
                scored = [
                    (float(v.max()), g, int(v.argmax()))
                    for g, v in enumerate(value(c) for c in cands)
                    if v.size
                ]
                best = max(scored, default=(-math.inf, 0, 0))
                if not best[0] > vals[u] + 1e-12:
                    break
                cur[u], vals[u], improved = cands[best[1]][best[2]], best[0], True
        for a, b in itertools.permutations(range(len(cur)), 2):
            gain, new_a, new_b = _best_transfer(cur[a], cur[b], value)
            if gain > vals[a] + vals[b] + 1e-12:
                cur[a], cur[b], improved = new_a, new_b, True
                vals[a], vals[b] = float(value(new_a[None])[0]), float(value(new_b[None])[0])
        if not improved:
            break
    return [c.tolist() for c in cur]


def _best_transfer(
    a: npt.NDArray[np.intp],
    b: npt.NDArray[np.intp],
    value: Callable[[npt.NDArray[np.intp]], FloatArray],
) -> tuple[float, npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """Best total value after moving one site of ``a`` into ``b``, or exchanging two."""
    best: tuple[float, npt.NDArray[np.intp], npt.NDArray[np.intp]] = (-math.inf, a, b)
    ma, mb = a.size, b.size
    if ma == 0:
        return best
    keep = np.array([[q for q in range(ma) if q != i] for i in range(ma)], dtype=np.intp)
    without = a[keep] if ma > 1 else np.zeros((1, 0), dtype=np.intp)
    ext = np.concatenate([np.repeat(b[None], ma, 0), a[:, None]], axis=1)
    with_a = ext[np.repeat(np.arange(ma), mb + 1)][
        np.arange(ma * (mb + 1))[:, None], np.tile(_insertions(mb), (ma, 1))
    ]
    total = value(without)[:, None] + value(with_a).reshape(ma, mb + 1)
    i, p = np.unravel_index(int(np.argmax(total)), total.shape)
    best = (float(total[i, p]), without[i], with_a[i * (mb + 1) + p])
    if mb:
        sa = np.repeat(a[None], ma * mb, 0)
        sb = np.repeat(b[None], ma * mb, 0)
        ii, jj = np.repeat(np.arange(ma), mb), np.tile(np.arange(mb), ma)
        sa[np.arange(ma * mb), ii] = b[jj]
        sb[np.arange(ma * mb), jj] = a[ii]
        swap = value(sa) + value(sb)
        k = int(np.argmax(swap))
        if swap[k] > best[0]:
            best = (float(swap[k]), sa[k], sb[k])
    return best


def _neighbours(
    route: npt.NDArray[np.intp], pool: npt.NDArray[np.intp]
) -> list[npt.NDArray[np.intp]]:
    """Candidate routes: same length (relocate, 2-opt, exchange, replace) and one longer."""
    m = route.size
    same = route[_templates(m)] if m > 1 else np.zeros((0, m), dtype=np.intp)
    if pool.size and m:
        swap = np.repeat(route[None], m * pool.size, axis=0)
        swap[np.arange(swap.shape[0]), np.tile(np.arange(m), pool.size)] = np.repeat(pool, m)
        same = np.concatenate([same, swap])
    longer = np.zeros((0, m + 1), dtype=np.intp)
    if pool.size:
        ext = np.concatenate([np.repeat(route[None], pool.size, 0), pool[:, None]], axis=1)
        longer = ext[np.repeat(np.arange(pool.size), m + 1)][
            np.arange((m + 1) * pool.size)[:, None], np.tile(_insertions(m), (pool.size, 1))
        ]
    return [same, longer]


@functools.lru_cache(maxsize=64)
def _templates(m: int) -> npt.NDArray[np.intp]:
    """Position maps of every relocation, 2-opt reversal and exchange of an ``m``-stop route."""
    seqs = []
    for i in range(m):
        for p in range(m):
            if p != i:
                seq = [q for q in range(m) if q != i]
                seq.insert(p, i)
                seqs.append(seq)
    for i in range(m):
        for j in range(i + 1, m):
            rev = list(range(m))
            rev[i : j + 1] = rev[i : j + 1][::-1]
            seqs.append(rev)
            if j > i + 1:
                swp = list(range(m))
                swp[i], swp[j] = swp[j], swp[i]
                seqs.append(swp)
    out = np.array(seqs, dtype=np.intp)
    out.setflags(write=False)
    return out


@functools.lru_cache(maxsize=64)
def _insertions(m: int) -> npt.NDArray[np.intp]:
    """Position maps inserting element ``m`` (the new site) at each place of ``m`` stops."""
    out = np.array([[*range(p), m, *range(p, m)] for p in range(m + 1)], dtype=np.intp)
    out.setflags(write=False)
    return out
