"""The travel-time provider interface (CPSPA phase 4, paper section 5.4).

The paper queried the OpenStreetMap API for the distance matrix M_d and time matrix M_t between
way-points; patrolstream makes the provider pluggable so the planner never knows whether the
numbers come from a street grid, a road graph or a routing service.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

LatLon = tuple[float, float]


@dataclass(frozen=True, slots=True)
class TravelMatrix:
    """Pairwise travel between points: ``distance_m[i, j]`` and ``time_s[i, j]`` from i to j."""

    distance_m: npt.NDArray[np.float64]
    time_s: npt.NDArray[np.float64]


@runtime_checkable
class TravelProvider(Protocol):
    """Distances, times and drawable paths between (latitude, longitude) points."""

    name: str

    def matrix(self, points: Sequence[LatLon], hour: int) -> TravelMatrix:
        """Travel from every point to every other, departing at local ``hour`` (0..23)."""
        ...

    def path(self, a: LatLon, b: LatLon) -> list[LatLon]:
        """The polyline a unit drives from ``a`` to ``b`` (first point ``a``, last ``b``)."""
        ...
