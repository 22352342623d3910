"""Route coverage: how many of a shift's actual incidents a patrol plan covered.

Definitions (design.md, "Measures we report", route quality; per district, shift and day):

* **coverage in time** (the headline measure): the share of the shift's incidents that lie
  within ``radius_m`` (250 m, inclusive) of a way-point the unit reached *at or before* the
  incident's time. A way-point reached at ETA ``a`` covers the incidents near it at every time
  ``t >= a`` until the shift ends, whether or not the unit is still there: reaching is what
  counts, so with dwell and revisits only the *first* arrival at a way-point matters.
* **coverage in presence** (stricter, reported next to it): the share of incidents that happen
  while the unit is at a way-point within ``radius_m`` of them, i.e. with
  ``arrival <= t <= departure`` for one of its stops. A stop's departure is its arrival plus
  its dwell; the unit stays at its last stop until the shift ends (CPSPA's routes end at their
  last way-point and the paper says nothing of the rest of the shift).
* **spatial coverage**: the share within ``radius_m`` of any way-point, whatever the times.
* **covered per patrol-km**: incidents covered in time per kilometre driven; with the route's
  kilometres and minutes (driving plus dwell; the minutes run to the last stop's arrival plus its
  planned dwell, not to the shift end).

Several units of one district count as one team: an incident is covered if any unit covers it.
Times are seconds since the shift start; positions metres on one local projection.

:func:`summarise` pools the counts of many district-shifts per planner (sum covered / sum
incidents) with percentile bootstrap intervals over days (Efron & Tibshirani, "An Introduction
to the Bootstrap", 1993, ch. 13), and the ratio of incidents covered to a reference planner.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from patrol.geo import LocalProjection
from patrol.routes import Route

COVERAGE_RADIUS_M = 250.0
"""design.md: an incident within 250 m of a way-point is covered."""

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Visits:
    """The stops of one or more units: where, and when the unit arrived and left.

    Attributes
    ----------
    x, y : numpy.ndarray
        Stop positions, metres.
    arrival_s, departure_s : numpy.ndarray
        Seconds since the shift start (``departure_s >= arrival_s``).
    distance_m, time_s : float
        Kilometres driven (in metres) and minutes used (in seconds) by all units together.
    """

    x: FloatArray
    y: FloatArray
    arrival_s: FloatArray
    departure_s: FloatArray
    distance_m: float = 0.0
    time_s: float = 0.0

    @classmethod
    def of(
        cls,
        x: npt.ArrayLike,
        y: npt.ArrayLike,
        arrival_s: npt.ArrayLike,
        departure_s: npt.ArrayLike | None = None,
        *,
        distance_m: float = 0.0,
        time_s: float = 0.0,
    ) -> Visits:
        """Build from array-likes; ``departure_s`` defaults to the arrivals (no dwell)."""
        arr = np.asarray(arrival_s, dtype=np.float64).reshape(-1)
        dep = arr if departure_s is None else np.asarray(departure_s, dtype=np.float64)
        out = cls(
            np.asarray(x, dtype=np.float64).reshape(-1),
            np.asarray(y, dtype=np.float64).reshape(-1),
            arr,
            dep.reshape(-1),
            float(distance_m),
            float(time_s),
        )
        if not out.x.shape == out.y.shape == out.arrival_s.shape == out.departure_s.shape:
            raise ValueError("x, y, arrival_s and departure_s must have the same length")
        if (out.departure_s < out.arrival_s).any():
            raise ValueError("a stop departs before it arrives")
        return out

    @staticmethod
    def merge(parts: list[Visits]) -> Visits:
        """The stops of several units as one team (kilometres and minutes add up)."""
        if not parts:
            return Visits.of([], [], [])
        return Visits(
            np.concatenate([p.x for p in parts]),
            np.concatenate([p.y for p in parts]),
            np.concatenate([p.arrival_s for p in parts]),
            np.concatenate([p.departure_s for p in parts]),
            float(sum(p.distance_m for p in parts)),
            float(sum(p.time_s for p in parts)),
        )


@dataclass(frozen=True, slots=True)
class Coverage:
    """Counts of one plan against one shift's incidents (see the module's definitions)."""

    incidents: int
    in_time: int
    in_presence: int
    spatial: int
    waypoints: int
    distance_m: float
    time_s: float

    @property
    def share_in_time(self) -> float:
        """Coverage in time (NaN when the shift had no incident)."""
        return self.in_time / self.incidents if self.incidents else math.nan

    @property
    def share_spatial(self) -> float:
        """Spatial coverage (NaN when the shift had no incident)."""
        return self.spatial / self.incidents if self.incidents else math.nan

    @property
    def share_in_presence(self) -> float:
        """Coverage in presence (NaN when the shift had no incident)."""
        return self.in_presence / self.incidents if self.incidents else math.nan

    @property
    def per_km(self) -> float:
        """Incidents covered in time per kilometre driven (NaN for a route of 0 km)."""
        return self.in_time / (self.distance_m / 1000.0) if self.distance_m > 0 else math.nan


def coverage(
    visits: Visits,
    inc_x: npt.ArrayLike,
    inc_y: npt.ArrayLike,
    inc_t_s: npt.ArrayLike,
    *,
    radius_m: float = COVERAGE_RADIUS_M,
) -> Coverage:
    """Coverage of ``visits`` against the incidents at ``(inc_x, inc_y)`` and times ``inc_t_s``.

    Parameters
    ----------
    visits : Visits
        The plan's stops (a team's, merged).
    inc_x, inc_y : array_like
        Incident positions, metres, on the projection of ``visits``.
    inc_t_s : array_like
        Incident times, seconds since the shift start.
    radius_m : float
        Coverage radius (inclusive).

    Returns
    -------
    Coverage

    Examples
    --------
    One stop at the origin reached at 600 s and left at 1200 s; incidents at 100 m (t = 300:
    before the arrival), 200 m (t = 900: while there), 240 m (t = 2000: after it left) and 300 m
    (too far):

    >>> v = Visits.of([0.0], [0.0], [600.0], [1200.0], distance_m=2000.0, time_s=1200.0)
    >>> c = coverage(v, [100.0, 0.0, 240.0, 300.0], [0.0, 200.0, 0.0, 0.0],
    ...              [300.0, 900.0, 2000.0, 100.0])
    >>> c.in_time, c.in_presence, c.spatial, c.share_in_time, c.per_km
    (2, 1, 3, 0.5, 1.0)
    """
    ix = np.asarray(inc_x, dtype=np.float64).reshape(-1)
    iy = np.asarray(inc_y, dtype=np.float64).reshape(-1)
    it = np.asarray(inc_t_s, dtype=np.float64).reshape(-1)
    if not ix.shape == iy.shape == it.shape:
        raise ValueError("inc_x, inc_y and inc_t_s must have the same length")
    n_stops = len(np.unique(np.stack([visits.x, visits.y]), axis=1).T) if visits.x.size else 0
    if ix.size == 0 or visits.x.size == 0:
        return Coverage(ix.size, 0, 0, 0, n_stops, visits.distance_m, visits.time_s)
    near = np.hypot(ix[:, None] - visits.x[None, :], iy[:, None] - visits.y[None, :]) <= radius_m
    reached = visits.arrival_s[None, :] <= it[:, None]
    present = reached & (it[:, None] <= visits.departure_s[None, :])
    return Coverage(
        incidents=int(ix.size),
        in_time=int((near & reached).any(axis=1).sum()),
        in_presence=int((near & present).any(axis=1).sum()),
        spatial=int(near.any(axis=1).sum()),
        waypoints=n_stops,
        distance_m=visits.distance_m,
        time_s=visits.time_s,
    )


def visits_from_route(
    route: Route, projection: LocalProjection, shift_start: datetime, shift_end: datetime
) -> Visits:
    """The stops of a :class:`~patrol.routes.Route`, with dwell read from its legs.

    A way-point's departure is the next way-point's ETA minus that leg's driving time; the last
    way-point's departure is the shift end (the unit stays there; see the module docstring).
    Kilometres and minutes are the route's ``total_distance_m`` and ``total_time_s``.

    Examples
    --------
    >>> from datetime import timedelta, timezone
    >>> from patrol.routes import Waypoint
    >>> t0 = datetime(2016, 9, 5, 16, tzinfo=timezone.utc)
    >>> wps = tuple(
    ...     Waypoint(k + 1, 41.9, -87.7 + k / 100, t0 + timedelta(seconds=s), 0.5, k, 830.0, 60.0)
    ...     for k, s in enumerate([60.0, 1020.0]))
    >>> r = Route("8", "16-24", "2016-09-05", 1, 1, "optimizer", t0, (41.9, -87.7), wps,
    ...           ((41.9, -87.7), (41.9, -87.69)), 1660.0, 1920.0, 1.0)
    >>> v = visits_from_route(r, LocalProjection(41.9, -87.7), t0, t0 + timedelta(hours=8))
    >>> v.arrival_s.tolist(), v.departure_s.tolist(), v.time_s
    ([60.0, 1020.0], [960.0, 28800.0], 1920.0)
    """
    wps = route.waypoints
    xy = [projection.forward(w.latitude, w.longitude) for w in wps]
    arrival = [(w.eta - shift_start).total_seconds() for w in wps]
    departure = [arrival[k + 1] - wps[k + 1].leg_time_s for k in range(len(wps) - 1)]
    departure.append((shift_end - shift_start).total_seconds())
    return Visits.of(
        [p[0] for p in xy],
        [p[1] for p in xy],
        arrival,
        np.maximum(departure, arrival) if wps else [],
        distance_m=route.total_distance_m,
        time_s=route.total_time_s,
    )


SUMMED = ("incidents", "in_time", "in_presence", "spatial", "distance_m", "time_s", "waypoints")
"""The per-shift counts :func:`summarise` adds up (keys of each row)."""


def summarise(
    rows: Sequence[Mapping[str, Any]],
    planners: Sequence[str],
    *,
    reference: str | None = None,
    n_boot: int = 2000,
    seed: int = 0,
    level: float = 0.95,
) -> dict[str, Any]:
    """Pooled coverage per planner with bootstrap intervals over days, and ratios to a reference.

    Parameters
    ----------
    rows : sequence of mapping
        One per planner, district, day and shift, with a ``"date"``, a ``"planner"`` and the
        counts in :data:`SUMMED`; only district-shifts with a row for every planner are used.
    planners : sequence of str
        Planners to report, in order.
    reference : str, optional
        Planner the others are divided by (``covered in time`` ratio), e.g. ``"cpspa"``.
    n_boot, seed, level
        Bootstrap replicates (resampling whole days, so that the district-shifts of a day stay
        together), the generator's seed and the interval's level (percentile intervals).

    Returns
    -------
    dict
        ``{"days", "district_shifts", "planners": {name: {...}}, "ratios": {name: {...}}}``;
        each share is ``{"value", "low", "high"}`` and pools counts (sum covered / sum
        incidents); ``mean_shift_share_in_time`` averages the per-shift shares of shifts with
        incidents.

    Examples
    --------
    >>> rows = [dict(date=d, district="1", shift="s", planner=p, incidents=4, in_time=k,
    ...              in_presence=0, spatial=k, distance_m=1000.0, time_s=600.0, waypoints=2)
    ...         for d in ("a", "b") for p, k in (("x", 1), ("y", 2))]
    >>> out = summarise(rows, ["x", "y"], reference="x", n_boot=50)
    >>> out["planners"]["y"]["in_time"]["value"], out["ratios"]["y"]["value"]
    (0.5, 2.0)
    """
    by_key: dict[tuple[str, str, str], dict[str, Mapping[str, Any]]] = {}
    for r in rows:
        key = (str(r["district"]), str(r["date"]), str(r["shift"]))
        by_key.setdefault(key, {})[str(r["planner"])] = r
    complete = {k: v for k, v in by_key.items() if all(p in v for p in planners)}
    days = sorted({k[1] for k in complete})
    day_index = {d: i for i, d in enumerate(days)}
    sums = {p: np.zeros((len(days), len(SUMMED))) for p in planners}
    shares: dict[str, list[float]] = {p: [] for p in planners}
    for (_, day, _), per in complete.items():
        for p in planners:
            counts = [float(per[p][name]) for name in SUMMED]
            sums[p][day_index[day]] += counts
            if counts[0] > 0:
                shares[p].append(counts[1] / counts[0])
    rng = np.random.default_rng(seed)
    n = len(days)
    weights = rng.multinomial(n, np.full(n, 1.0 / n), size=n_boot) if n else np.zeros((0, 0))
    q = (100 * (1 - level) / 2, 100 * (1 + level) / 2)

    def interval(num: FloatArray, den: FloatArray) -> dict[str, float]:
        total_den = float(den.sum())
        value = float(num.sum()) / total_den if total_den > 0 else math.nan
        if not n:
            return {"value": value, "low": math.nan, "high": math.nan}
        with np.errstate(invalid="ignore", divide="ignore"):
            boot = (weights @ num) / (weights @ den)
        low, high = np.nanpercentile(boot, q)
        return {"value": value, "low": float(low), "high": float(high)}

    col = {name: i for i, name in enumerate(SUMMED)}
    out_planners: dict[str, Any] = {}
    for p in planners:
        s = sums[p]
        shifts = len(complete)
        out_planners[p] = {
            **{m: interval(s[:, col[m]], s[:, col["incidents"]]) for m in SUMMED[1:4]},
            "mean_shift_share_in_time": float(np.mean(shares[p])) if shares[p] else math.nan,
            "in_time_per_km": interval(s[:, col["in_time"]], s[:, col["distance_m"]] / 1000.0),
            "incidents": int(s[:, col["incidents"]].sum()),
            "covered_in_time": int(s[:, col["in_time"]].sum()),
            "mean_km": float(s[:, col["distance_m"]].sum()) / 1000.0 / max(1, shifts),
            "mean_minutes": float(s[:, col["time_s"]].sum()) / 60.0 / max(1, shifts),
            "mean_waypoints": float(s[:, col["waypoints"]].sum()) / max(1, shifts),
        }
    ratios: dict[str, Any] = {}
    if reference is not None and reference in planners:
        ref = sums[reference][:, col["in_time"]]
        for p in planners:
            if p != reference:
                ratios[p] = interval(sums[p][:, col["in_time"]], ref)
    return {
        "days": len(days),
        "district_shifts": len(complete),
        "reference": reference,
        "level": level,
        "planners": out_planners,
        "ratios": ratios,
    }
