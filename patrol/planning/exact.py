"""The value of a patrol plan under coverage in time, and its exact optimum on small instances.

A unit *reaches* a site (a way-point) at its arrival time ``a``; from then on, under the
coverage of design.md ("Measures we report", route quality: an incident is covered if it lies
within 250 m of a way-point the unit reached at or before the incident's time), the site
covers every incident within 250 m of it until the shift ends. So if ``risk[j, h]`` is the
expected number of incidents within 250 m of site ``j`` in hour ``h`` of the shift, reaching
``j`` at ``a`` is worth the expected incidents that remain,

    V_j(a) = sum_h risk[j, h] * |[h * slot, (h + 1) * slot) ∩ [a, T)| / slot,

with ``T`` the shift length (risk spread uniformly within an hour). A plan is worth the sum over
the sites it reaches (revisits add nothing: the first arrival counts). Maximising this over which
sites to reach and in what order, within the time budget and with a dwell at every site, is a
team orienteering problem with time-dependent (decreasing) prizes (Vansteenwegen, Souffriau &
Van Oudheusden, "The orienteering problem: a survey", EJOR 209(1), 2011, sections 3-5).

:func:`solve_exact` solves it exactly for small instances (up to about 12 sites) by dynamic
programming over visited sets with Pareto labels (departure time, value): a label that leaves
later with no more value can never lead to a better plan, because every ``V_j`` is
non-increasing in the arrival time. Several units are combined over disjoint site sets (units
never reach the same site). It is the reference the OR-Tools planner of
:mod:`patrol.planning.optimizer` is checked against.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from patrol.planning.cpspa import PlanOrder

FloatArray = npt.NDArray[np.float64]
Label = tuple[float, float, tuple[int, ...]]
"""A partial route: ``(departure_s, value, sites reached in order)``."""

MAX_EXACT_SITES = 14
"""Larger instances are refused by :func:`solve_exact` (its work grows like ``3**n``)."""


def remaining_value(
    risk: npt.ArrayLike, arrival_s: npt.ArrayLike, *, budget_s: float, slot_s: float = 3600.0
) -> FloatArray:
    """``V_j(a)``: expected incidents at each site from its arrival time to the shift end.

    Parameters
    ----------
    risk : array_like
        ``(n_sites, n_hours)`` expected incidents within the coverage radius per hour slot.
    arrival_s : array_like
        ``(n_sites,)`` arrival time at each site, seconds since the shift start (``inf``: never).
    budget_s : float
        Shift length ``T``: nothing after it counts.
    slot_s : float
        Length of one risk column (an hour).

    Returns
    -------
    numpy.ndarray
        ``(n_sites,)`` values.

    Examples
    --------
    >>> remaining_value([[1.0, 2.0], [4.0, 0.0]], [1800.0, 0.0], budget_s=7200.0).tolist()
    [2.5, 4.0]
    >>> remaining_value([[1.0, 2.0]], [math.inf], budget_s=7200.0).tolist()
    [0.0]
    """
    r = np.atleast_2d(np.asarray(risk, dtype=np.float64))
    a = np.asarray(arrival_s, dtype=np.float64).reshape(-1)
    if a.shape[0] != r.shape[0]:
        raise ValueError(f"{a.shape[0]} arrival times for {r.shape[0]} sites")
    lo = np.arange(r.shape[1], dtype=np.float64) * slot_s
    hi = np.minimum(lo + slot_s, budget_s)
    start = np.maximum(lo[None, :], np.minimum(a, budget_s)[:, None])
    share = np.clip(hi[None, :] - start, 0.0, slot_s) / slot_s
    out: FloatArray = (r * share).sum(axis=1)
    return out


def route_values(
    time_s: npt.ArrayLike,
    node_risk: npt.ArrayLike,
    routes: npt.ArrayLike,
    *,
    budget_s: float,
    dwell_s: float,
    slot_s: float = 3600.0,
    start: int = 0,
) -> FloatArray:
    """Value of many candidate routes of one length at once (``-inf`` if one overruns).

    ``routes`` is ``(k, m)`` node indices and ``node_risk`` ``(n_nodes, n_hours)`` the risk of
    every node (the station's row is ignored); a route is infeasible when its last stop ends
    after ``budget_s`` (which must not exceed ``n_hours * slot_s``). ``V_j(a)`` is read from the
    cumulative risk of the site in O(1).

    Examples
    --------
    >>> t = [[0, 600, 600], [600, 0, 1200], [600, 1200, 0]]
    >>> risk = [[0.0], [1.0], [3.0]]
    >>> route_values(t, risk, [[1, 2], [2, 1]], budget_s=3600.0, dwell_s=600.0).round(4).tolist()
    [1.8333, 2.8333]
    """
    t = np.asarray(time_s, dtype=np.float64)
    r = np.asarray(node_risk, dtype=np.float64)
    rs = np.asarray(routes, dtype=np.intp)
    if rs.ndim != 2 or rs.shape[0] == 0 or rs.shape[1] == 0:
        return np.zeros(rs.shape[0] if rs.ndim else 0)
    prev = np.concatenate([np.full((rs.shape[0], 1), start, dtype=np.intp), rs[:, :-1]], axis=1)
    arrival = np.cumsum(t[prev, rs] + dwell_s, axis=1) - dwell_s
    cum = np.concatenate([np.zeros((r.shape[0], 1)), np.cumsum(r, axis=1)], axis=1)
    at = np.minimum(arrival, budget_s)
    h = np.clip((at // slot_s).astype(np.intp), 0, r.shape[1] - 1)
    before = cum[rs, h] + r[rs, h] * np.clip(at - h * slot_s, 0.0, slot_s) / slot_s
    hb = min(int(budget_s // slot_s), r.shape[1] - 1)
    total = cum[:, hb] + r[:, hb] * min(budget_s - hb * slot_s, slot_s) / slot_s
    value = (total[rs] - before).sum(axis=1)
    ok = arrival[:, -1] + dwell_s <= budget_s + 1e-9
    out: FloatArray = np.where(ok, value, -np.inf)
    return out


@dataclass(frozen=True, slots=True)
class TeamPlan:
    """The routes of several units, one :class:`~patrol.planning.cpspa.PlanOrder` each.

    Attributes
    ----------
    orders : tuple of PlanOrder
        Per unit; nodes index the travel matrices (the station is node ``start``). A node may
        appear twice: the final revisit that fills the shift. ``scores`` is the value each stop
        added (0 for a revisit) and ``skipped`` the sites no unit reaches.
    departure_s : tuple of tuple of float
        Per unit and stop, when the unit leaves (arrival plus dwell; the shift end for the last).
    value : float
        Expected incidents covered in time by the team (sum of :attr:`unit_values`).
    unit_values : tuple of float
        The same per unit.
    """

    orders: tuple[PlanOrder, ...]
    departure_s: tuple[tuple[float, ...], ...]
    value: float
    unit_values: tuple[float, ...]


@dataclass(frozen=True, slots=True)
class ExactSolution:
    """The optimum of :func:`solve_exact`.

    Attributes
    ----------
    value : float
        Expected incidents covered in time by all units together.
    routes : tuple of tuple of int
        Per unit, the sites reached in order (node indices of the matrix, station excluded).
    arrival_s : tuple of tuple of float
        Per unit, the arrival time at each of its sites.
    """

    value: float
    routes: tuple[tuple[int, ...], ...]
    arrival_s: tuple[tuple[float, ...], ...]


def route_arrivals(
    time_s: npt.ArrayLike, route: tuple[int, ...] | list[int], *, dwell_s: float, start: int = 0
) -> list[float]:
    """Arrival times along ``route`` from ``start``, dwelling ``dwell_s`` at every site.

    Examples
    --------
    >>> route_arrivals([[0, 60, 90], [60, 0, 30], [90, 30, 0]], [1, 2], dwell_s=600.0)
    [60.0, 690.0]
    """
    t = np.asarray(time_s, dtype=np.float64)
    clock, here, out = 0.0, start, []
    for node in route:
        clock += float(t[here, node])
        out.append(clock)
        clock += dwell_s
        here = node
    return out


def solve_exact(
    time_s: npt.ArrayLike,
    risk: npt.ArrayLike,
    *,
    units: int = 1,
    budget_s: float,
    dwell_s: float,
    slot_s: float = 3600.0,
    start: int = 0,
) -> ExactSolution:
    """Best plan of ``units`` units by exhaustive dynamic programming (small instances only).

    Parameters
    ----------
    time_s : array_like
        ``(n + 1, n + 1)`` travel times; node ``start`` is the station, the other nodes are
        the sites in order.
    risk : array_like
        ``(n, n_hours)`` expected incidents per hour near each site (row ``k`` is the ``k``-th
        non-station node).
    units : int
        Patrol units, all starting at the station; a site is reached by at most one unit.
    budget_s, dwell_s, slot_s
        Shift length, time spent at each reached site (it must end within the shift) and the
        length of a risk column.
    start : int
        Station node.

    Returns
    -------
    ExactSolution

    Examples
    --------
    Two sites 10 minutes away in opposite directions; one unit with a 1 h shift and 10 min
    dwell reaches the richer site first (at 10 min: 3 * 50/60), then the other (at 40 min:
    1 * 20/60):

    >>> t = [[0, 600, 600], [600, 0, 1200], [600, 1200, 0]]
    >>> sol = solve_exact(t, [[1.0], [3.0]], budget_s=3600.0, dwell_s=600.0)
    >>> sol.routes, sol.arrival_s, round(sol.value, 4)
    (((2, 1),), ((600.0, 2400.0),), 2.8333)
    """
    t = np.asarray(time_s, dtype=np.float64)
    r = np.atleast_2d(np.asarray(risk, dtype=np.float64))
    nodes = [k for k in range(t.shape[0]) if k != start]
    n = len(nodes)
    if r.shape[0] != n:
        raise ValueError(f"risk has {r.shape[0]} rows for {n} sites")
    if n > MAX_EXACT_SITES:
        raise ValueError(f"solve_exact is for at most {MAX_EXACT_SITES} sites, got {n}")
    if units < 1:
        raise ValueError("units must be >= 1")
    best_single, back = _single_unit_front(t, r, nodes, budget_s, dwell_s, slot_s, start)
    # combine units over disjoint sets: best_k[mask] = max over s ⊆ mask of best_1[s] + best_{k-1}
    full = 1 << n
    combos: list[list[int]] = [[m] for m in range(full)]
    best = best_single.copy()
    for _ in range(1, units):
        nxt = best.copy()
        nxt_combo = [list(c) for c in combos]
        for mask in range(full):
            sub = mask
            while sub:
                v = best_single[sub] + best[mask ^ sub]
                if v > nxt[mask] + 1e-12:
                    nxt[mask] = v
                    nxt_combo[mask] = [sub, *combos[mask ^ sub]]
                sub = (sub - 1) & mask
        best, combos = nxt, nxt_combo
    top = int(np.argmax(best))
    routes, arrivals = [], []
    for sub in combos[top]:
        route = back[sub]
        if route:
            routes.append(route)
            arrivals.append(tuple(route_arrivals(t, route, dwell_s=dwell_s, start=start)))
    routes_t = tuple(routes) + ((),) * (units - len(routes))
    arrivals_t = tuple(arrivals) + ((),) * (units - len(arrivals))
    return ExactSolution(value=float(best[top]), routes=routes_t, arrival_s=arrivals_t)


def _single_unit_front(
    t: FloatArray,
    r: FloatArray,
    nodes: list[int],
    budget_s: float,
    dwell_s: float,
    slot_s: float,
    start: int,
) -> tuple[FloatArray, dict[int, tuple[int, ...]]]:
    """Best value of one unit reaching exactly each set of sites, and a route achieving it.

    Labels ``(departure, value, route)`` are kept per ``(visited set, last site)``; a superset
    is numerically larger than its subsets, so increasing mask order processes every label
    after all the labels it can come from.
    """
    n = len(nodes)
    full = 1 << n
    best = np.zeros(full)
    back: dict[int, tuple[int, ...]] = {}
    labels: dict[tuple[int, int], list[Label]] = {(0, -1): [(0.0, 0.0, ())]}
    for mask in range(full):
        for last in range(-1, n) if mask == 0 else range(n):
            front = labels.pop((mask, last), None)
            if not front:
                continue
            here = start if last < 0 else nodes[last]
            for dep, val, route in front:
                if val > best[mask] or mask not in back:
                    best[mask], back[mask] = max(best[mask], val), route
                for k in range(n):
                    bit = 1 << k
                    if mask & bit:
                        continue
                    arrive = dep + float(t[here, nodes[k]])
                    if not math.isfinite(arrive) or arrive + dwell_s > budget_s:
                        continue
                    gain = _value_one(r[k], arrive, budget_s, slot_s)
                    _insert_label(
                        labels, (mask | bit, k), (arrive + dwell_s, val + gain, (*route, nodes[k]))
                    )
    for mask in range(full):
        back.setdefault(mask, ())
    return best, back


def _value_one(row: FloatArray, arrive: float, budget_s: float, slot_s: float) -> float:
    """:func:`remaining_value` of one site (scalar fast path)."""
    total = 0.0
    for h, rate in enumerate(row):
        lo = h * slot_s
        hi = min(lo + slot_s, budget_s)
        span = hi - max(lo, arrive)
        if span > 0.0:
            total += float(rate) * span / slot_s
    return total


def _insert_label(
    labels: dict[tuple[int, int], list[Label]], key: tuple[int, int], label: Label
) -> bool:
    """Add ``label`` to the Pareto list of ``key`` unless dominated; drop what it dominates."""
    front = labels.get(key)
    if front is None:
        labels[key] = [label]
        return True
    dep, val, _ = label
    if any(d <= dep and v >= val for d, v, _ in front):
        return False
    front[:] = [x for x in front if not (dep <= x[0] and val >= x[1])]
    front.append(label)
    return True


def book_routes(
    distance_m: npt.ArrayLike,
    time_s: npt.ArrayLike,
    risk: npt.ArrayLike,
    routes: Sequence[Sequence[int]],
    *,
    start: int = 0,
    budget_s: float,
    dwell_s: float,
    slot_s: float = 3600.0,
    fill: bool = False,
) -> TeamPlan:
    """The :class:`TeamPlan` of given routes: arrivals, legs, value of every stop.

    Each unit drives its sites in order from ``start`` and dwells ``dwell_s`` at each; with
    ``fill`` the time left after the last stop is spent at the reached site where the unit would
    see the most risk until the shift ends (staying put on ties): the last stop's dwell is
    extended, or the unit drives back to an earlier site (a revisit, worth 0 in coverage in time)
    and stays there. Routes must fit the budget (not checked here).

    Examples
    --------
    >>> t = [[0, 600, 600], [600, 0, 1200], [600, 1200, 0]]
    >>> plan = book_routes(t, t, [[1.0], [3.0]], [[1, 2]], budget_s=3600.0, dwell_s=600.0,
    ...                    fill=True)
    >>> plan.orders[0].order, plan.departure_s, round(plan.value, 4)  # stays at site 2 to the end
    ((1, 2), ((1200.0, 3600.0),), 1.8333)
    """
    d = np.asarray(distance_m, dtype=np.float64)
    t = np.asarray(time_s, dtype=np.float64)
    r = np.atleast_2d(np.asarray(risk, dtype=np.float64))
    sites = [k for k in range(d.shape[0]) if k != start]
    row = {node: k for k, node in enumerate(sites)}
    skipped = tuple(n for n in sites if n not in {m for route in routes for m in route})
    orders, departures, values = [], [], []
    for route in routes:
        stops: list[list[float]] = []  # node, arrival, departure, leg distance, leg time, gain
        here, clock = start, 0.0
        for node in route:
            a = clock + float(t[here, node])
            gain = _value_one(r[row[node]], a, budget_s, slot_s)
            stops.append([node, a, a + dwell_s, float(d[here, node]), float(t[here, node]), gain])
            here, clock = node, a + dwell_s
        if fill and stops and clock < budget_s:
            options = list(dict.fromkeys([here, *route]))  # staying put first: it wins ties
            arrive = clock + t[here, options]
            stay = remaining_value(
                r[[row[n] for n in options]], arrive, budget_s=budget_s, slot_s=slot_s
            )
            best = options[int(np.argmax(np.where(arrive < budget_s, stay, -1.0)))]
            if best == here:
                stops[-1][2] = budget_s
            else:
                a = clock + float(t[here, best])
                stops.append([best, a, budget_s, float(d[here, best]), float(t[here, best]), 0.0])
        cols = [tuple(c) for c in zip(*stops, strict=True)] if stops else [()] * 6
        orders.append(
            PlanOrder(
                order=tuple(int(n) for n in cols[0]),
                arrival_s=cols[1],
                leg_distance_m=cols[3],
                leg_time_s=cols[4],
                scores=cols[5],
                total_distance_m=float(sum(cols[3])),
                total_time_s=float(cols[2][-1]) if stops else 0.0,
                skipped=skipped,
            )
        )
        departures.append(cols[2])
        values.append(float(sum(cols[5])))
    return TeamPlan(
        orders=tuple(orders),
        departure_s=tuple(departures),
        value=float(sum(values)),
        unit_values=tuple(values),
    )
