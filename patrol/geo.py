"""Small geodesy helpers: a local metric projection and great-circle distance.

Every learner works in metres on a local equirectangular projection centred on the city (or
district) so that distances, grid cells and regressions are in base units. At city scale
(< 50 km) the projection's distance error is well under 0.5 %, far below GPS and geocoding
noise in crime data.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

EARTH_RADIUS_M = 6_371_008.8
"""Mean Earth radius (IUGG), metres."""


@dataclass(frozen=True, slots=True)
class LocalProjection:
    """Equirectangular projection around ``(lat0, lon0)``: degrees <-> metres east/north.

    Examples
    --------
    >>> p = LocalProjection(41.88, -87.63)
    >>> x, y = p.forward(41.89, -87.63)
    >>> round(x, 6), round(y)
    (0.0, 1112)
    >>> lat, lon = p.inverse(x, y)
    >>> round(lat, 9), round(lon, 9)
    (41.89, -87.63)
    """

    lat0: float
    lon0: float

    @property
    def _kx(self) -> float:
        return math.radians(1.0) * EARTH_RADIUS_M * math.cos(math.radians(self.lat0))

    @property
    def _ky(self) -> float:
        return math.radians(1.0) * EARTH_RADIUS_M

    def forward(self, lat: float, lon: float) -> tuple[float, float]:
        """Return ``(x, y)`` in metres east and north of the origin."""
        return (lon - self.lon0) * self._kx, (lat - self.lat0) * self._ky

    def inverse(self, x: float, y: float) -> tuple[float, float]:
        """Return ``(lat, lon)`` in degrees for metres ``(x, y)``."""
        return self.lat0 + y / self._ky, self.lon0 + x / self._kx

    def forward_many(
        self, lat: npt.ArrayLike, lon: npt.ArrayLike
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """Vectorised :meth:`forward`."""
        la = np.asarray(lat, dtype=np.float64)
        lo = np.asarray(lon, dtype=np.float64)
        return (lo - self.lon0) * self._kx, (la - self.lat0) * self._ky

    def inverse_many(
        self, x: npt.ArrayLike, y: npt.ArrayLike
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """Vectorised :meth:`inverse`."""
        xa = np.asarray(x, dtype=np.float64)
        ya = np.asarray(y, dtype=np.float64)
        return self.lat0 + ya / self._ky, self.lon0 + xa / self._kx


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres.

    Examples
    --------
    >>> round(haversine_m(41.88, -87.63, 41.89, -87.63))
    1112
    """
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp = p2 - p1
    dl = math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))
