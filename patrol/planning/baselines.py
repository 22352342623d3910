"""Baseline patrol orders to compare CPSPA against (paper section 6 compares with an expert).

Both walk the way-points with :func:`patrol.planning.cpspa.walk_route`, so legs, arrivals,
the budget cut and the optional return to the station are computed exactly as for
:func:`patrol.planning.cpspa.order_cpspa`; their ``scores`` are NaN (they do not score).
Both accept (and ignore) ``probability`` as third argument so that all three planners can be
called the same way.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from patrol.planning.cpspa import PlanOrder, as_travel_matrices, walk_route


def order_nearest(
    distance_m: npt.ArrayLike,
    time_s: npt.ArrayLike,
    probability: npt.ArrayLike | None = None,
    *,
    start: int = 0,
    budget_s: float = 8 * 3600.0,
    service_s: float = 0.0,
    return_to_start: bool = False,
) -> PlanOrder:
    """Greedy nearest neighbour by travel time (ties: lower index).

    Parameters
    ----------
    distance_m, time_s : array_like
        ``(n, n)`` travel matrices; node ``start`` is the station.
    probability : array_like, optional
        Ignored (same call signature as :func:`patrol.planning.cpspa.order_cpspa`).
    start, budget_s, service_s, return_to_start
        As in :func:`patrol.planning.cpspa.walk_route`.

    Returns
    -------
    PlanOrder

    Examples
    --------
    >>> t = [[0, 300, 100, 200], [300, 0, 200, 100], [100, 200, 0, 100], [200, 100, 100, 0]]
    >>> order_nearest(t, t).order
    (2, 3, 1)
    """
    _, t = as_travel_matrices(distance_m, time_s, start)

    def choose(current: int, clock: float, remaining: list[int]) -> tuple[int, float] | None:
        legs = t[current, remaining]
        best = int(np.argmin(legs))
        if not np.isfinite(legs[best]):
            return None
        return remaining[best], math.nan

    return walk_route(
        distance_m,
        time_s,
        choose,
        start=start,
        budget_s=budget_s,
        service_s=service_s,
        return_to_start=return_to_start,
    )


def order_random(
    distance_m: npt.ArrayLike,
    time_s: npt.ArrayLike,
    probability: npt.ArrayLike | None = None,
    *,
    seed: int = 0,
    start: int = 0,
    budget_s: float = 8 * 3600.0,
    service_s: float = 0.0,
    return_to_start: bool = False,
) -> PlanOrder:
    """Way-points in a uniformly random order (``numpy`` PCG64 seeded with ``seed``).

    The walk stops at the first way-point of the permutation that does not fit the budget
    or cannot be reached, like the other planners.  ``probability`` is ignored; the default
    ``seed=0`` keeps plans reproducible when called like
    :func:`patrol.planning.cpspa.order_cpspa`.

    Examples
    --------
    >>> t = [[0 if i == j else 60 for j in range(4)] for i in range(4)]
    >>> plan = order_random(t, t, seed=0)
    >>> sorted(plan.order), plan.order == order_random(t, t, seed=0).order
    ([1, 2, 3], True)
    """
    n = as_travel_matrices(distance_m, time_s, start)[0].shape[0]
    waypoints = np.array([k for k in range(n) if k != start], dtype=np.intp)
    sequence = iter(np.random.default_rng(seed).permutation(waypoints).tolist())

    def choose(current: int, clock: float, remaining: list[int]) -> tuple[int, float] | None:
        return next(sequence), math.nan

    return walk_route(
        distance_m,
        time_s,
        choose,
        start=start,
        budget_s=budget_s,
        service_s=service_s,
        return_to_start=return_to_start,
    )
