"""Street-grid travel provider: Manhattan distance and hourly speeds (paper section 5.4).

CPSPA phase 4 obtains the distance matrix ``M_d`` and the time matrix ``M_t`` between
way-points from the OpenStreetMap web API. patrolstream's default provider needs no network
and no map: Chicago's streets form a north-south / east-west grid, so the driving distance is
well approximated by the L1 (Manhattan) distance on a local metric projection, optionally
inflated by a circuity factor, and the time is that distance at a free-flow speed scaled by
the hour's :class:`~patrol.travel.speed.SpeedProfile` multiplier (the paper's "traffic at
certain times", which its API calls did not model explicitly).

Each entry ``(i, j)`` depends only on points ``i`` and ``j`` (no shared projection centre):
of the two L-shaped routes, the shorter one drives the east-west leg along the street of the
point nearer the pole, where a degree of longitude is shortest, and that leg is scaled exactly
like a :class:`~patrol.geo.LocalProjection` centred on that latitude. This is the shortest
staircase route on the sphere, so the distance is a true metric (the triangle inequality
holds for any two points less than ~110 degrees of longitude apart).

Examples
--------
>>> grid = StreetGridProvider(speed_kmh=36.0, profile=SpeedProfile.constant())
>>> m = grid.matrix([(41.88, -87.63), (41.89, -87.63)], hour=12)
>>> round(float(m.distance_m[0, 1]), 1), round(float(m.time_s[0, 1]), 1)
(1112.0, 111.2)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from patrol.geo import EARTH_RADIUS_M
from patrol.travel._points import as_latlon_arrays
from patrol.travel.base import LatLon, TravelMatrix
from patrol.travel.speed import SpeedProfile

_M_PER_DEG = math.radians(1.0) * EARTH_RADIUS_M
"""Metres per degree of latitude (and of longitude at the equator)."""


@dataclass(slots=True)
class StreetGridProvider:
    """Manhattan-distance travel on a N-S/E-W street grid at an hourly speed.

    Parameters
    ----------
    speed_kmh : float
        Free-flow driving speed in km/h, multiplied by the profile's hourly multiplier.
    profile : SpeedProfile
        Hour-of-day speed multipliers; the default urban profile slows down rush hours.
    circuity : float
        Factor >= 1 applied to the Manhattan distance for detours (one-way streets, diagonal
        avenues, missing links). 1.0 means a perfect grid.
    name : str
        Provider name reported to the planner.

    Raises
    ------
    ValueError
        If ``speed_kmh`` is not finite and positive or ``circuity`` is not finite and >= 1.

    Examples
    --------
    >>> grid = StreetGridProvider()
    >>> m = grid.matrix([(41.92, -87.72), (41.93, -87.71), (41.94, -87.70)], hour=8)
    >>> m.distance_m.shape, bool(np.all(np.diag(m.time_s) == 0))
    ((3, 3), True)
    >>> grid.path((41.92, -87.72), (41.93, -87.71))
    [(41.92, -87.72), (41.93, -87.72), (41.93, -87.71)]
    """

    speed_kmh: float = 30.0
    profile: SpeedProfile = field(default_factory=SpeedProfile.default)
    circuity: float = 1.0
    name: str = "street-grid"

    def __post_init__(self) -> None:
        if not (math.isfinite(self.speed_kmh) and self.speed_kmh > 0.0):
            raise ValueError(f"speed_kmh must be finite and > 0, got {self.speed_kmh}")
        if not (math.isfinite(self.circuity) and self.circuity >= 1.0):
            raise ValueError(f"circuity must be finite and >= 1, got {self.circuity}")

    def speed_mps(self, hour: int) -> float:
        """Return the driving speed in metres per second at local ``hour`` (0..23).

        Examples
        --------
        >>> StreetGridProvider(speed_kmh=36.0, profile=SpeedProfile.constant(0.5)).speed_mps(8)
        5.0
        """
        return self.profile.speed_kmh(self.speed_kmh, hour) / 3.6

    def matrix(self, points: Sequence[LatLon], hour: int) -> TravelMatrix:
        """Return Manhattan distances (metres) and times (seconds) between all ``points``.

        Parameters
        ----------
        points : sequence of (lat, lon)
            Way-points in degrees.
        hour : int
            Local departure hour, 0..23.

        Returns
        -------
        TravelMatrix
            Symmetric ``(n, n)`` matrices with a zero diagonal;
            ``time_s = distance_m / speed_mps(hour)``.

        Examples
        --------
        >>> grid = StreetGridProvider(speed_kmh=30.0, profile=SpeedProfile.constant())
        >>> m = grid.matrix([(0.0, 0.0), (0.0, 0.001), (0.001, 0.001)], hour=0)
        >>> np.round(m.distance_m, 2)
        array([[  0.  , 111.2 , 222.39],
               [111.2 ,   0.  , 111.2 ],
               [222.39, 111.2 ,   0.  ]])
        """
        speed = self.speed_mps(hour)
        lat, lon = as_latlon_arrays(points)
        dlat = np.abs(lat[:, None] - lat[None, :])
        dlon = np.abs((lon[None, :] - lon[:, None] + 180.0) % 360.0 - 180.0)
        poleward = np.maximum(np.abs(lat)[:, None], np.abs(lat)[None, :])
        distance = (dlat + dlon * np.cos(np.radians(poleward))) * (_M_PER_DEG * self.circuity)
        np.fill_diagonal(distance, 0.0)
        return TravelMatrix(distance_m=distance, time_s=distance / speed)

    def path(self, a: LatLon, b: LatLon) -> list[LatLon]:
        """Return the L-shaped route ``[a, corner, b]`` whose length is ``matrix``'s distance.

        The east-west leg runs along the street of whichever point is nearer the pole (``a``
        on a tie); repeated points are dropped, so ``path(a, a) == [a]``.

        Examples
        --------
        >>> grid = StreetGridProvider()
        >>> grid.path((41.9, -87.7), (41.8, -87.6))
        [(41.9, -87.7), (41.9, -87.6), (41.8, -87.6)]
        >>> grid.path((41.8, -87.6), (41.9, -87.7))
        [(41.8, -87.6), (41.9, -87.6), (41.9, -87.7)]
        >>> grid.path((41.9, -87.7), (41.9, -87.6))
        [(41.9, -87.7), (41.9, -87.6)]
        """
        a = (float(a[0]), float(a[1]))
        b = (float(b[0]), float(b[1]))
        _check_pair(a, b)
        corner = (a[0], b[1]) if abs(a[0]) >= abs(b[0]) else (b[0], a[1])
        out: list[LatLon] = []
        for p in (a, corner, b):
            if not out or out[-1] != p:
                out.append(p)
        return out


def _check_pair(a: LatLon, b: LatLon) -> None:
    """:func:`as_latlon_arrays`'s checks (same errors) for two float pairs, in plain Python."""
    values = (a[0], a[1], b[0], b[1])
    if not all(math.isfinite(v) for v in values):
        raise ValueError("points must be finite")
    if abs(a[0]) > 90.0 or abs(b[0]) > 90.0 or abs(a[1]) > 180.0 or abs(b[1]) > 180.0:
        raise ValueError("latitudes must be in [-90, 90] and longitudes in [-180, 180]")
