"""Travel providers: distance and time matrices between way-points (CPSPA phase 4, §5.4).

The paper fills its matrices ``M_d`` (distance) and ``M_t`` (time) by calling the
OpenStreetMap web API for every pair of way-points. patrolstream makes the source pluggable
behind :class:`~patrol.travel.base.TravelProvider` and adds a time-of-day
:class:`~patrol.travel.speed.SpeedProfile`:

* ``"street-grid"`` -- :class:`~patrol.travel.grid.StreetGridProvider`, Manhattan distance on
  a N-S/E-W grid; no data needed, microseconds per matrix (the default).
* ``"osm-road"`` -- :class:`~patrol.travel.osm.RoadNetworkProvider`, fastest routes on a road
  graph read from an OpenStreetMap XML extract (``osm_path``).

Examples
--------
>>> provider = make_provider("street-grid", speed_kmh=25.0)
>>> provider.name, isinstance(provider, TravelProvider)
('street-grid', True)
>>> make_provider("street-grid", profile={"multipliers": [0.5] * 24}).profile.multiplier(3)
0.5
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from patrol.travel.base import LatLon, TravelMatrix, TravelProvider
from patrol.travel.grid import StreetGridProvider
from patrol.travel.osm import RoadNetworkProvider, RoadNetworkStats
from patrol.travel.osm_xml import DEFAULT_SPEED_KMH, OsmRoads, read_osm_xml
from patrol.travel.speed import SpeedProfile

PROVIDER_KINDS: tuple[str, ...] = ("street-grid", "osm-road")
"""The ``kind`` values accepted by :func:`make_provider`."""

__all__ = [
    "DEFAULT_SPEED_KMH",
    "PROVIDER_KINDS",
    "LatLon",
    "OsmRoads",
    "RoadNetworkProvider",
    "RoadNetworkStats",
    "SpeedProfile",
    "StreetGridProvider",
    "TravelMatrix",
    "TravelProvider",
    "make_provider",
    "read_osm_xml",
]


def make_provider(kind: str, **options: Any) -> TravelProvider:
    """Build a travel provider from a configuration ``kind`` and keyword options.

    Parameters
    ----------
    kind : {"street-grid", "osm-road"}
        Which provider to build.
    **options
        Keyword arguments of :class:`StreetGridProvider`, or of
        :meth:`RoadNetworkProvider.from_osm_xml` with the file given as ``osm_path``.
        ``profile`` may be a :class:`SpeedProfile` or a mapping accepted by
        :meth:`SpeedProfile.from_dict` (as read from a TOML/JSON config).

    Returns
    -------
    TravelProvider
        The provider.

    Raises
    ------
    ValueError
        If ``kind`` is unknown or ``osm_path`` is missing for ``"osm-road"``.
    TypeError
        If an option is not accepted by the provider.

    Examples
    --------
    >>> make_provider("bicycle")
    Traceback (most recent call last):
    ...
    ValueError: unknown travel provider kind 'bicycle'; expected one of ('street-grid', 'osm-road')
    """
    opts = dict(options)
    profile = opts.get("profile")
    if isinstance(profile, Mapping):
        opts["profile"] = SpeedProfile.from_dict(profile)
    if kind == "street-grid":
        return StreetGridProvider(**opts)
    if kind == "osm-road":
        if "osm_path" not in opts:
            raise ValueError("the 'osm-road' provider needs osm_path=<OpenStreetMap XML file>")
        return RoadNetworkProvider.from_osm_xml(opts.pop("osm_path"), **opts)
    raise ValueError(f"unknown travel provider kind {kind!r}; expected one of {PROVIDER_KINDS}")
