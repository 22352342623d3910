"""Time-of-day speed profiles for travel providers (CPSPA phase 4, paper section 5.4).

The paper notes that "a distance may be small but it may take a long time to travel due to
the conditions of the road or due to traffic at certain times" and relies on the OpenStreetMap
web API for travel times. patrolstream instead computes times offline with pluggable
providers and models traffic with a :class:`SpeedProfile`: one dimensionless multiplier of the
free-flow speed per local hour of day. ``1.0`` means free flow (empty streets at night),
``0.5`` means traffic halves the speed, so travel times double.

Examples
--------
>>> p = SpeedProfile.default()
>>> p.multiplier(8) < p.multiplier(12) < p.multiplier(3)
True
>>> p.speed_kmh(30.0, 3)
30.0
"""

from __future__ import annotations

import math
import operator
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, SupportsIndex

HOURS_PER_DAY = 24

# Free-flow at night, morning rush 7-9 h, evening rush 16-18 h, with shoulders at 9 and 18.
_DEFAULT_URBAN: tuple[float, ...] = (
    1.00, 1.00, 1.00, 1.00, 1.00, 0.95,  # 00-05 h: night, free flow
    0.85, 0.60, 0.60, 0.70, 0.80, 0.80,  # 06-11 h: morning rush 7-8 h, shoulder 9 h
    0.75, 0.75, 0.80, 0.75, 0.60, 0.60,  # 12-17 h: lunch, evening rush 16-17 h
    0.70, 0.85, 0.90, 0.95, 1.00, 1.00,  # 18-23 h: shoulder 18 h, evening
)  # fmt: skip


def check_hour(hour: SupportsIndex) -> int:
    """Return ``hour`` as an ``int`` after checking it is a local hour of day, 0..23.

    Parameters
    ----------
    hour : int
        Local hour of day; any integer-like value (``int``, ``numpy.int64``) is accepted.

    Returns
    -------
    int
        The same hour.

    Raises
    ------
    TypeError
        If ``hour`` is not integer-like (for example a ``float``).
    ValueError
        If ``hour`` is outside 0..23.

    Examples
    --------
    >>> check_hour(23)
    23
    >>> check_hour(24)
    Traceback (most recent call last):
    ...
    ValueError: hour must be in 0..23, got 24
    """
    h = operator.index(hour)
    if not 0 <= h < HOURS_PER_DAY:
        raise ValueError(f"hour must be in 0..{HOURS_PER_DAY - 1}, got {h}")
    return h


@dataclass(frozen=True, slots=True)
class SpeedProfile:
    """Multiplier of the free-flow speed for each local hour of day.

    Parameters
    ----------
    multipliers : tuple of float
        Exactly 24 finite, strictly positive values; ``multipliers[h]`` applies to departures
        between ``h:00`` and ``h:59`` local time. Values above 1 are allowed (for instance
        emergency driving faster than the free-flow speed of the base model).

    Raises
    ------
    ValueError
        If there are not 24 values or any value is not finite and positive.

    Examples
    --------
    >>> p = SpeedProfile.constant(0.5)
    >>> p.multiplier(17), p.speed_kmh(40.0, 17)
    (0.5, 20.0)
    >>> SpeedProfile((1.0,) * 23)
    Traceback (most recent call last):
    ...
    ValueError: a SpeedProfile needs 24 hourly multipliers, got 23
    """

    multipliers: tuple[float, ...]

    def __post_init__(self) -> None:
        values = tuple(float(m) for m in self.multipliers)
        if len(values) != HOURS_PER_DAY:
            raise ValueError(
                f"a SpeedProfile needs {HOURS_PER_DAY} hourly multipliers, got {len(values)}"
            )
        for hour, m in enumerate(values):
            if not (math.isfinite(m) and m > 0.0):
                raise ValueError(f"multiplier for hour {hour} must be finite and > 0, got {m}")
        object.__setattr__(self, "multipliers", values)

    @classmethod
    def default(cls) -> SpeedProfile:
        """Return the default urban profile.

        Free flow (1.0) at night, 0.6 in the 7-8 h and 16-17 h rush hours, 0.7 on the 9 h
        and 18 h shoulders and 0.75-0.8 through the working day.

        Examples
        --------
        >>> p = SpeedProfile.default()
        >>> p.multiplier(2), p.multiplier(8), p.multiplier(17)
        (1.0, 0.6, 0.6)
        """
        return cls(_DEFAULT_URBAN)

    @classmethod
    def constant(cls, multiplier: float = 1.0) -> SpeedProfile:
        """Return a profile with the same multiplier at every hour (no traffic model).

        Examples
        --------
        >>> SpeedProfile.constant().multiplier(8)
        1.0
        """
        return cls((float(multiplier),) * HOURS_PER_DAY)

    @classmethod
    def from_speeds_kmh(cls, speeds_kmh: Iterable[float], free_flow_kmh: float) -> SpeedProfile:
        """Build a profile from 24 observed speeds in km/h and the free-flow speed.

        Examples
        --------
        >>> p = SpeedProfile.from_speeds_kmh([30.0] * 7 + [15.0] * 17, free_flow_kmh=30.0)
        >>> p.multiplier(6), p.multiplier(7)
        (1.0, 0.5)
        """
        if not (math.isfinite(free_flow_kmh) and free_flow_kmh > 0.0):
            raise ValueError(f"free_flow_kmh must be finite and > 0, got {free_flow_kmh}")
        return cls(tuple(float(s) / free_flow_kmh for s in speeds_kmh))

    def multiplier(self, hour: SupportsIndex) -> float:
        """Return the multiplier of the free-flow speed at local ``hour`` (0..23)."""
        return self.multipliers[check_hour(hour)]

    def speed_kmh(self, free_flow_kmh: float, hour: SupportsIndex) -> float:
        """Return the speed in km/h at ``hour`` for a road whose free-flow speed is given."""
        return free_flow_kmh * self.multiplier(hour)

    def to_dict(self) -> dict[str, list[float]]:
        """Return a JSON/TOML-friendly ``{"multipliers": [24 floats]}``.

        Examples
        --------
        >>> p = SpeedProfile.default()
        >>> SpeedProfile.from_dict(p.to_dict()) == p
        True
        """
        return {"multipliers": list(self.multipliers)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SpeedProfile:
        """Build a profile from ``{"multipliers": [...]}`` or ``{"speeds_kmh": [...],
        "free_flow_kmh": x}``.

        Raises
        ------
        ValueError
            If the mapping has neither form, or has unknown keys, or the values are invalid.

        Examples
        --------
        >>> SpeedProfile.from_dict({"multipliers": [0.8] * 24}).multiplier(0)
        0.8
        >>> d = {"speeds_kmh": [40.0] * 24, "free_flow_kmh": 50.0}
        >>> SpeedProfile.from_dict(d).multiplier(0)
        0.8
        """
        keys = set(data)
        if keys == {"multipliers"}:
            return cls(tuple(float(m) for m in data["multipliers"]))
        if keys == {"speeds_kmh", "free_flow_kmh"}:
            return cls.from_speeds_kmh(data["speeds_kmh"], float(data["free_flow_kmh"]))
        raise ValueError(
            "a SpeedProfile mapping needs exactly {'multipliers'} or "
            f"{{'speeds_kmh', 'free_flow_kmh'}}, got {sorted(keys)}"
        )
