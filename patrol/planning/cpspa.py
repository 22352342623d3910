"""CPSPA phase 5 route ordering: Algorithm 2 of the paper (section 5.5).

Algorithm 2 as printed loops ``for i = 1..k`` over start points and ``for f = 1..k`` over end
points, runs the FDSS on ``(P(CS), Rd, Rt)`` of the leg ``O_i -> O_f`` and "carries out the
patrol of O_i to O_j" whenever the output is SELECTED, advancing ``dy_start`` by ``Rt``.
Read literally it can select several successors of one point, revisit points and never
visit points whose output stays NOT SELECTED, so it does not define a route.  Section 6
says it "provides appropriate routes for all selected way-points in the order the fuzzy logic
system determines", so :func:`order_cpspa` reads it as a greedy sequential choice: from the
current point, score every unvisited way-point with the FDSS, drive to the best-scored one
(the crisp centroid ranks candidates; SELECTED is just ``score >= 0.5``), advance the clock by
the leg time and repeat.  Every way-point is thus visited at most once, and all of them are
visited unless the shift budget runs out.

The leg, arrival and budget bookkeeping is :func:`walk_route`, shared with the baselines in
:mod:`patrol.planning.baselines`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeAlias

import numpy as np
import numpy.typing as npt

from patrol.planning.fuzzy import FloatArray, FuzzyPointSelector

Chooser: TypeAlias = Callable[[int, float, list[int]], tuple[int, float] | None]
"""``choose(current, clock_s, remaining) -> (next_node, score)`` or ``None`` to stop.

``remaining`` lists the unvisited way-points in increasing index order (the walk's own
list: read it, do not modify it)."""

_DEFAULT_SELECTOR = FuzzyPointSelector()


@dataclass(frozen=True, slots=True)
class PlanOrder:
    """The ordered patrol of one shift.

    Attributes
    ----------
    order : tuple of int
        Visited way-points (node indices), in visiting order, excluding the start node.
    arrival_s : tuple of float
        Arrival time at each visited way-point, seconds since the shift start.
    leg_distance_m, leg_time_s : tuple of float
        The leg driven to reach each visited way-point from the previous node.
    scores : tuple of float
        FDSS score of each way-point when it was chosen (NaN for the baselines).
    total_distance_m : float
        Sum of the legs, plus the return leg if any.
    total_time_s : float
        End of the route since the shift start: legs, ``service_s`` per visited way-point and
        the return leg if any.
    skipped : tuple of int
        Way-points not visited (budget exhausted or unreachable), increasing index order.
    return_distance_m, return_time_s : float
        The final leg back to the start node (0 unless ``return_to_start``).
    """

    order: tuple[int, ...]
    arrival_s: tuple[float, ...]
    leg_distance_m: tuple[float, ...]
    leg_time_s: tuple[float, ...]
    scores: tuple[float, ...]
    total_distance_m: float
    total_time_s: float
    skipped: tuple[int, ...]
    return_distance_m: float = 0.0
    return_time_s: float = 0.0


def as_travel_matrices(
    distance_m: npt.ArrayLike, time_s: npt.ArrayLike, start: int
) -> tuple[FloatArray, FloatArray]:
    """Validate and convert the ``(n, n)`` distance and time matrices.

    Entries must be non-negative; ``inf`` marks an unreachable pair, NaN is rejected.

    Examples
    --------
    >>> d, t = as_travel_matrices([[0, 1], [1, 0]], [[0, 60], [60, 0]], start=0)
    >>> d.dtype, t.shape
    (dtype('float64'), (2, 2))
    """
    d = np.asarray(distance_m, dtype=np.float64)
    t = np.asarray(time_s, dtype=np.float64)
    if d.ndim != 2 or d.shape[0] != d.shape[1] or d.shape[0] == 0:
        raise ValueError(f"distance_m must be a non-empty square matrix, got {d.shape}")
    if t.shape != d.shape:
        raise ValueError(f"time_s shape {t.shape} differs from distance_m {d.shape}")
    for name, m in (("distance_m", d), ("time_s", t)):
        if np.isnan(m).any() or (m < 0).any():
            raise ValueError(f"{name} must be non-negative (inf = unreachable), not NaN")
    if not 0 <= start < d.shape[0]:
        raise ValueError(f"start {start} is not a node of the {d.shape[0]}-node matrices")
    return d, t


def walk_route(
    distance_m: npt.ArrayLike,
    time_s: npt.ArrayLike,
    choose: Chooser,
    *,
    start: int = 0,
    budget_s: float = 8 * 3600.0,
    service_s: float = 0.0,
    return_to_start: bool = False,
) -> PlanOrder:
    """Drive from ``start`` to the way-points ``choose`` picks, keeping the books.

    A pick is driven only if the leg is finite and the unit can arrive, patrol the point for
    ``service_s`` and (with ``return_to_start``) get back to ``start``, all by ``budget_s``;
    otherwise the walk stops and the unvisited way-points are ``skipped``.

    Parameters
    ----------
    distance_m, time_s : array_like
        ``(n, n)`` travel matrices; node ``start`` is the station, the others way-points.
    choose : Chooser
        Called with ``(current, clock_s, remaining)``; returns ``(node, score)`` or ``None``.
    start : int
        Index of the police station.
    budget_s : float
        Shift length in seconds (see :func:`patrol.planning.shifts.shift_duration_s`).
    service_s : float
        Time spent patrolling at each way-point.
    return_to_start : bool
        Reserve time for, and drive, a final leg back to ``start``.

    Returns
    -------
    PlanOrder

    Examples
    --------
    >>> t = [[0, 60, 60], [60, 0, 60], [60, 60, 0]]
    >>> plan = walk_route(t, t, lambda cur, clock, rem: (rem[-1], 0.0), budget_s=100)
    >>> plan.order, plan.arrival_s, plan.skipped
    ((2,), (60.0,), (1,))
    """
    d, t = as_travel_matrices(distance_m, time_s, start)
    if budget_s < 0 or service_s < 0:
        raise ValueError("budget_s and service_s must be non-negative")
    remaining = [k for k in range(d.shape[0]) if k != start]
    order: list[int] = []
    arrivals: list[float] = []
    legs_d: list[float] = []
    legs_t: list[float] = []
    scores: list[float] = []
    current, clock = start, 0.0
    while remaining:
        pick = choose(current, clock, remaining)
        if pick is None:
            break
        node, score = pick
        if node not in remaining:
            raise ValueError(f"chooser picked {node}, which is not an unvisited way-point")
        leg_d, leg_t = float(d[current, node]), float(t[current, node])
        back = float(t[node, start]) if return_to_start else 0.0
        finish = clock + leg_t + service_s
        if not (math.isfinite(leg_d) and math.isfinite(leg_t)) or finish + back > budget_s:
            break
        order.append(node)
        arrivals.append(clock + leg_t)
        legs_d.append(leg_d)
        legs_t.append(leg_t)
        scores.append(score)
        remaining.remove(node)
        current, clock = node, finish
    ret_d = ret_t = 0.0
    if return_to_start and order:
        ret_d, ret_t = float(d[current, start]), float(t[current, start])
    return PlanOrder(
        order=tuple(order),
        arrival_s=tuple(arrivals),
        leg_distance_m=tuple(legs_d),
        leg_time_s=tuple(legs_t),
        scores=tuple(scores),
        total_distance_m=float(sum(legs_d)) + ret_d,
        total_time_s=clock + ret_t,
        skipped=tuple(remaining),
        return_distance_m=ret_d,
        return_time_s=ret_t,
    )


def _max_finite(m: FloatArray) -> float:
    finite = m[np.isfinite(m)]
    top = float(finite.max()) if finite.size else 0.0
    return top if top > 0.0 else 1.0


def order_cpspa(
    distance_m: npt.ArrayLike,
    time_s: npt.ArrayLike,
    probability: npt.ArrayLike,
    *,
    start: int = 0,
    budget_s: float = 8 * 3600.0,
    service_s: float = 0.0,
    selector: FuzzyPointSelector | None = None,
    slot_s: float = 3600.0,
    return_to_start: bool = False,
) -> PlanOrder:
    """Order the way-points of one shift with the FDSS (Algorithm 2, greedy reading).

    At each step, from the current node at clock ``c`` (seconds since the shift start, after
    the service at the current point; the paper's ``dy_start + Rt``), every unvisited
    way-point ``j`` reachable from the current node (finite leg) is scored with the FDSS on

    * ``Rd = distance_m[cur, j] / Dmax``, ``Dmax`` the largest finite entry of ``distance_m``;
    * ``Rt = time_s[cur, j] / Tmax``, ``Tmax`` the largest finite entry of ``time_s``;
    * ``P = probability[h, j] / max_k probability[h, k]`` over those same candidates ``k``,
      with hour row ``h = min(floor(c / slot_s), n_hours - 1)``; if that maximum is 0 all
      candidates get ``P = 1`` (equal probabilities carry no information, exactly as equal
      positive ones, which also normalise to 1).

    The best score wins (ties: lower index) and the unit drives there if the leg fits the
    budget (see :func:`walk_route`); otherwise, or when no candidate is reachable, the route
    ends.  With ``return_to_start=True`` each move must leave time to drive back, and the
    final leg back to the station is added (off by default: the paper's route ends at its
    last way-point and a unit's next task rarely starts at the station).

    Parameters
    ----------
    distance_m, time_s : array_like
        ``(n, n)`` matrices (M_d and M_t, section 5.4); node ``start`` is the station.
    probability : array_like
        ``(n_hours, n)`` P(CS) of each node per hour offset since the shift start (M_p,
        section 5.2.3); a 1-D ``(n,)`` array is one hour.  The station's column is ignored.
    start : int
        Station node.
    budget_s, service_s, return_to_start
        As in :func:`walk_route`.
    selector : FuzzyPointSelector, optional
        FDSS to use (default: the :data:`~patrol.planning.fuzzy.DEFAULT_RULES` one).
    slot_s : float
        Length of one probability row (an hour).

    Returns
    -------
    PlanOrder

    Examples
    --------
    Five nodes along one street (metres), driven at 10 m/s; node 0 is the station.  The unit
    first goes to the most probable point (1 km away), then to its near neighbour, then back
    to the low-probability point it passed, and last to the far one:

    >>> x = [0.0, 500.0, 3000.0, 1000.0, 1200.0]
    >>> d = [[abs(a - b) for b in x] for a in x]
    >>> t = [[v / 10.0 for v in row] for row in d]
    >>> plan = order_cpspa(d, t, [0.0, 0.1, 0.3, 1.0, 0.2])
    >>> plan.order, plan.arrival_s, plan.total_distance_m
    ((3, 4, 1, 2), (100.0, 120.0, 190.0, 440.0), 4400.0)
    """
    d, t = as_travel_matrices(distance_m, time_s, start)
    n = d.shape[0]
    p = np.asarray(probability, dtype=np.float64)
    if p.ndim == 1:
        p = p[None, :]
    if p.ndim != 2 or p.shape[1] != n or p.shape[0] == 0:
        raise ValueError(f"probability must be (n_hours, {n}), got {p.shape}")
    if not np.isfinite(p).all() or (p < 0).any():
        raise ValueError("probability must be finite and non-negative")
    if slot_s <= 0:
        raise ValueError("slot_s must be positive")
    fdss = _DEFAULT_SELECTOR if selector is None else selector
    d_norm = d / _max_finite(d)
    t_norm = t / _max_finite(t)
    last_row = p.shape[0] - 1

    def choose(current: int, clock: float, remaining: list[int]) -> tuple[int, float] | None:
        cand = np.asarray(remaining, dtype=np.intp)
        rd, rt = d_norm[current, cand], t_norm[current, cand]
        reachable = np.isfinite(rd) & np.isfinite(rt)
        if not reachable.all():
            cand, rd, rt = cand[reachable], rd[reachable], rt[reachable]
            if cand.size == 0:
                return None
        prob = p[min(int(clock // slot_s), last_row), cand]
        top = prob.max()
        pn = prob / top if top > 0.0 else np.ones_like(prob)
        scores = fdss.score(rd, rt, pn)
        best = int(np.argmax(scores))
        return int(cand[best]), float(scores[best])

    return walk_route(
        d,
        t,
        choose,
        start=start,
        budget_s=budget_s,
        service_s=service_s,
        return_to_start=return_to_start,
    )
