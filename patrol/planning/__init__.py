"""CPSPA phase 5: the fuzzy decision system and the ordering of a shift's way-points.

* :mod:`patrol.planning.fuzzy` - the FDSS of paper section 5.5 (numpy fast path and the
  scikit-fuzzy reference it reproduces);
* :mod:`patrol.planning.cpspa` - Algorithm 2 as a greedy FDSS-driven walk (:func:`order_cpspa`);
* :mod:`patrol.planning.baselines` - nearest-neighbour and random orders on the same walk;
* :mod:`patrol.planning.shifts` - the three 8-hour turns of section 5.2.3, DST-aware;
* :mod:`patrol.planning.optimizer` - beyond the paper: where to patrol as well as in what order,
  several units (team orienteering with OR-Tools); :mod:`patrol.planning.sites` - its risk per
  cell and candidate sites; :mod:`patrol.planning.exact` - its value function and an exact
  solver for small instances.
"""

from __future__ import annotations

from patrol.planning.baselines import order_nearest, order_random
from patrol.planning.cpspa import Chooser, PlanOrder, as_travel_matrices, order_cpspa, walk_route
from patrol.planning.exact import ExactSolution, TeamPlan, book_routes, remaining_value, solve_exact
from patrol.planning.fuzzy import (
    DEFAULT_RULES,
    FuzzyPointSelector,
    FuzzyRule,
    centroid_score,
)
from patrol.planning.optimizer import SolverOptions, optimise_routes
from patrol.planning.shifts import (
    SHIFTS,
    Shift,
    shift_bounds,
    shift_duration_s,
    shift_local_hours,
    shift_of_hour,
)
from patrol.planning.sites import (
    CellRisk,
    Sites,
    forecast_level,
    history_risk,
    relevel_risk,
    select_sites,
    weekly_counts,
)

__all__ = [
    "DEFAULT_RULES",
    "SHIFTS",
    "CellRisk",
    "Chooser",
    "ExactSolution",
    "FuzzyPointSelector",
    "FuzzyRule",
    "PlanOrder",
    "Shift",
    "Sites",
    "SolverOptions",
    "TeamPlan",
    "as_travel_matrices",
    "book_routes",
    "centroid_score",
    "forecast_level",
    "history_risk",
    "optimise_routes",
    "order_cpspa",
    "order_nearest",
    "order_random",
    "relevel_risk",
    "remaining_value",
    "select_sites",
    "shift_bounds",
    "shift_duration_s",
    "shift_local_hours",
    "shift_of_hour",
    "solve_exact",
    "walk_route",
    "weekly_counts",
]
