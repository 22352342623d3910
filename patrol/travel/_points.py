"""Shared input checks and vectorised geodesy for the travel providers (paper section 5.4).

The paper's phase 4 sends way-points to the OpenStreetMap API; our providers receive them as
``(lat, lon)`` sequences and validate them here once, so each provider fails the same way.

Examples
--------
>>> lat, lon = as_latlon_arrays([(41.88, -87.63), (41.89, -87.63)])
>>> lat.tolist(), lon.tolist()
([41.88, 41.89], [-87.63, -87.63])
>>> round(float(haversine_many(lat[0], lon[0], lat[1], lon[1])))
1112
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from patrol.geo import EARTH_RADIUS_M

FloatArray = npt.NDArray[np.float64]


def as_latlon_arrays(points: Sequence[tuple[float, float]]) -> tuple[FloatArray, FloatArray]:
    """Return ``(lat, lon)`` float arrays for ``points``, checking they are valid degrees.

    Parameters
    ----------
    points : sequence of (float, float)
        ``(latitude, longitude)`` pairs in degrees; may be empty.

    Returns
    -------
    tuple of ndarray
        Latitudes and longitudes, each of shape ``(len(points),)``.

    Raises
    ------
    ValueError
        If the points are not pairs, not finite, or outside [-90, 90] x [-180, 180].

    Examples
    --------
    >>> as_latlon_arrays([])[0].shape
    (0,)
    >>> as_latlon_arrays([(91.0, 0.0)])
    Traceback (most recent call last):
    ...
    ValueError: latitudes must be in [-90, 90] and longitudes in [-180, 180]
    """
    arr = np.asarray(points, dtype=np.float64)
    if arr.size == 0:
        empty = np.zeros(0, dtype=np.float64)
        return empty, empty.copy()
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise ValueError(f"points must be a sequence of (lat, lon) pairs, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError("points must be finite")
    lat, lon = arr[:, 0].copy(), arr[:, 1].copy()
    if np.any(np.abs(lat) > 90.0) or np.any(np.abs(lon) > 180.0):
        raise ValueError("latitudes must be in [-90, 90] and longitudes in [-180, 180]")
    return lat, lon


def haversine_many(
    lat1: npt.ArrayLike, lon1: npt.ArrayLike, lat2: npt.ArrayLike, lon2: npt.ArrayLike
) -> FloatArray:
    """Vectorised (broadcasting) great-circle distance in metres, same formula as
    :func:`patrol.geo.haversine_m`.

    Examples
    --------
    >>> from patrol.geo import haversine_m
    >>> d = haversine_many([41.88, 41.90], [-87.63, -87.70], 41.89, -87.65)
    >>> bool(np.allclose(d, [haversine_m(41.88, -87.63, 41.89, -87.65),
    ...                      haversine_m(41.90, -87.70, 41.89, -87.65)]))
    True
    """
    p1 = np.radians(np.asarray(lat1, dtype=np.float64))
    p2 = np.radians(np.asarray(lat2, dtype=np.float64))
    dp = p2 - p1
    dl = np.radians(np.asarray(lon2, dtype=np.float64) - np.asarray(lon1, dtype=np.float64))
    a = np.sin(dp / 2.0) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2.0) ** 2
    out: FloatArray = 2.0 * EARTH_RADIUS_M * np.arcsin(np.minimum(1.0, np.sqrt(a)))
    return out
