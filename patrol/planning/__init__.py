"""CPSPA phase 5: the fuzzy decision system and the ordering of a shift's way-points.

* :mod:`patrol.planning.fuzzy` - the FDSS of paper section 5.5 (numpy fast path and the
  scikit-fuzzy reference it reproduces);
* :mod:`patrol.planning.cpspa` - Algorithm 2 as a greedy FDSS-driven walk (:func:`order_cpspa`);
* :mod:`patrol.planning.baselines` - nearest-neighbour and random orders on the same walk;
* :mod:`patrol.planning.shifts` - the three 8-hour turns of section 5.2.3, DST-aware.
"""

from __future__ import annotations

from patrol.planning.baselines import order_nearest, order_random
from patrol.planning.cpspa import Chooser, PlanOrder, as_travel_matrices, order_cpspa, walk_route
from patrol.planning.fuzzy import (
    DEFAULT_RULES,
    FuzzyPointSelector,
    FuzzyRule,
    centroid_score,
)
from patrol.planning.shifts import (
    SHIFTS,
    Shift,
    shift_bounds,
    shift_duration_s,
    shift_local_hours,
    shift_of_hour,
)

__all__ = [
    "DEFAULT_RULES",
    "SHIFTS",
    "Chooser",
    "FuzzyPointSelector",
    "FuzzyRule",
    "PlanOrder",
    "Shift",
    "as_travel_matrices",
    "centroid_score",
    "order_cpspa",
    "order_nearest",
    "order_random",
    "shift_bounds",
    "shift_duration_s",
    "shift_local_hours",
    "shift_of_hour",
    "walk_route",
]
