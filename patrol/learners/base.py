"""What every CPSPA learner consumes: a projected, time-stamped observation."""

from __future__ import annotations

from dataclasses import dataclass

SECONDS_PER_DAY = 86_400.0


@dataclass(frozen=True, slots=True)
class Observation:
    """One incident as the learners see it.

    Attributes
    ----------
    x, y
        Metres east and north on the city's :class:`patrol.geo.LocalProjection`.
    t
        Event time in days since the Unix epoch (``timestamp / 86400``); never the wall clock.
    slot
        Local day-of-week and hour, ``dow * 24 + hour`` with Monday = 0 (0..167).
    """

    x: float
    y: float
    t: float
    slot: int

    @property
    def dow(self) -> int:
        """Local day of week, Monday = 0."""
        return self.slot // 24

    @property
    def hour(self) -> int:
        """Local hour of day, 0..23."""
        return self.slot % 24
