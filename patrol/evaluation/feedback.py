"""Closed-loop replay: does patrolling where crime was *recorded* drift away from where it is?

Ensign et al. (2018, "Runaway feedback loops in predictive policing", FAT* / PMLR 81) show that
a forecaster trained on incidents the police *discover* sends patrols back to where they already
were. This module replays real incidents through a patrol policy (the engine) shift by shift,
with a documented, parameterised **discovery model** deciding which incidents get recorded and
so learned:

* the true incidents are the data as given (every row; see the caveats in docs/fairness.md);
* victim-reported offence types are always recorded;
* a *discoverable* offence type (:data:`DISCOVERABLE_TYPES`: offences mostly found by officers,
  not reported by victims) is recorded with probability
  ``min(1, base + lift_per_min * exposure)``, where ``exposure`` is the shift's planned patrol
  minutes (driving along the path and dwelling at way-points, :func:`patrol.evaluation.
  fairness.patrol_minutes`) within ``radius_m`` of the incident (:class:`DiscoveryModel`).

Variants, on the same incidents and the same random numbers (common random numbers: they
differ only through what they plan):

* ``open`` - no feedback: every incident recorded and learned (the engine on the data as is);
* ``closed`` - the discovery model decides what is recorded; everything recorded is learned;
* ``victim_only`` (mitigation) - learn only victim-reported types (history included);
* ``reweight`` (mitigation, after the fix Ensign et al. 2018 propose: update the model with a
  discovered incident only with a probability that undoes the patrol's sampling bias): a
  recorded discoverable incident is learned with probability ``base / p`` where ``p`` is its
  recording probability, so that every true discoverable incident is learned with probability
  ``base`` wherever the patrols were (inverse-propensity thinning; it needs the discovery model,
  which in practice would have to be estimated).

History (the incidents before the replay) is learned by ``open`` as it is; by ``closed`` and
``reweight`` with each discoverable incident kept with probability ``base``, as if recorded with
no patrol near it (the same draws for both, so they start from the same state and differ only by
the feedback); by ``victim_only`` without the discoverable types.

Each shift: the policy plans from what it learned before the shift; the shift's incidents are
recorded or not by the plan's exposure; what is learned is learned after the shift ends. The
drift measure is the total variation distance, per week, between a variant's patrol-minute
shares and the true-incident shares by area (:func:`drift`).

The engine and the optimising planner as policies, and the events from incidents, are in
:mod:`patrol.evaluation.feedback_engine`.

Pure: no clock, no I/O; the caller builds the :class:`Event` list and reports progress.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from patrol.evaluation.fairness import total_variation

DISCOVERABLE_TYPES: frozenset[str] = frozenset(
    {
        "NARCOTICS",
        "OTHER NARCOTIC VIOLATION",
        "PROSTITUTION",
        "GAMBLING",
        "WEAPONS VIOLATION",
        "CONCEALED CARRY LICENSE VIOLATION",
        "CRIMINAL TRESPASS",
        "LIQUOR LAW VIOLATION",
        "PUBLIC PEACE VIOLATION",
        "INTERFERENCE WITH PUBLIC OFFICER",
        "PUBLIC INDECENCY",
        "OBSCENITY",
    }
)
"""Chicago Primary Types treated as *discovered* by patrols rather than reported by victims."""

VARIANTS: tuple[str, ...] = ("open", "closed", "victim_only", "reweight")
"""Every variant of the replay, in report order."""

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class DiscoveryModel:
    """Probability that a true incident is recorded, given the patrol exposure near it.

    Parameters
    ----------
    base : float
        Recording probability of a discoverable incident with no patrol near it.
    lift_per_min : float
        Added probability per planned patrol minute within ``radius_m`` (capped at 1).
    radius_m : float
        How near a way-point must be to expose an incident (design.md's 250 m).

    Examples
    --------
    >>> m = DiscoveryModel(base=0.2, lift_per_min=0.01)
    >>> m.probability([0.0, 30.0, 500.0], [True, True, True]).tolist()
    [0.2, 0.5, 1.0]
    >>> m.probability([30.0], [False]).tolist()  # victim-reported: always recorded
    [1.0]
    """

    base: float = 0.2
    lift_per_min: float = 0.01
    radius_m: float = 250.0

    def __post_init__(self) -> None:
        if not 0.0 < self.base <= 1.0:
            raise ValueError(f"base: must be in (0, 1], got {self.base}")
        if self.lift_per_min < 0:
            raise ValueError(f"lift_per_min: must be >= 0, got {self.lift_per_min}")
        if self.radius_m <= 0:
            raise ValueError(f"radius_m: must be > 0, got {self.radius_m}")

    def probability(self, exposure_min: npt.ArrayLike, discoverable: npt.ArrayLike) -> FloatArray:
        """Recording probability of each incident (1 for victim-reported ones)."""
        e = np.asarray(exposure_min, dtype=np.float64)
        d = np.asarray(discoverable, dtype=bool)
        p = np.minimum(1.0, self.base + self.lift_per_min * e)
        return np.where(d, p, 1.0)

    def to_dict(self) -> dict[str, float]:
        """JSON-ready parameters."""
        return {"base": self.base, "lift_per_min": self.lift_per_min, "radius_m": self.radius_m}


def exposure_minutes(
    inc_x: npt.ArrayLike,
    inc_y: npt.ArrayLike,
    stops: Sequence[Stop],
    radius_m: float,
) -> FloatArray:
    """Planned patrol minutes of the ``stops`` within ``radius_m`` (inclusive) of each incident.

    Examples
    --------
    >>> stops = [Stop(0.0, 0.0, 10.0, "a"), Stop(200.0, 0.0, 5.0, "a")]
    >>> exposure_minutes([0.0, 300.0, 1000.0], [0.0, 0.0, 0.0], stops, 250.0).tolist()
    [15.0, 5.0, 0.0]
    """
    ix = np.asarray(inc_x, dtype=np.float64).reshape(-1)
    iy = np.asarray(inc_y, dtype=np.float64).reshape(-1)
    if not stops or ix.size == 0:
        return np.zeros(ix.size)
    sx = np.array([s.x for s in stops])
    sy = np.array([s.y for s in stops])
    sm = np.array([s.minutes for s in stops])
    near = np.hypot(ix[:, None] - sx[None, :], iy[:, None] - sy[None, :]) <= radius_m
    return np.asarray(near @ sm, dtype=np.float64)


@dataclass(frozen=True, slots=True)
class Stop:
    """A planned way-point: position (metres), planned minutes, and its area (or ``None``)."""

    x: float
    y: float
    minutes: float
    area: str | None


@dataclass(frozen=True, slots=True)
class Event:
    """A true incident as the replay sees it.

    ``t`` is seconds since the epoch; ``x``, ``y`` metres on the policy's projection;
    ``payload`` is whatever the policy learns from (an :class:`~patrol.incidents.schema.
    Incident` for the engine).
    """

    t: float
    x: float
    y: float
    area: str | None
    discoverable: bool
    payload: Any = None


@dataclass(frozen=True, slots=True)
class ShiftSlot:
    """One shift to plan: a label for the policy, its bounds (epoch seconds) and its week."""

    day: date
    label: str
    start: float
    end: float
    week: int


class Policy(Protocol):
    """What the replay drives: learn incidents, plan a shift's stops from what was learned."""

    def learn(self, event: Event) -> None:
        """Learn one recorded incident."""

    def plan(self, slot: ShiftSlot) -> Sequence[Stop]:
        """The stops of every unit for ``slot``, from what was learned so far."""


@dataclass
class VariantTrace:
    """What one variant did, week by week."""

    exposure: list[dict[str, float]] = field(default_factory=list)
    recorded_discoverable: list[int] = field(default_factory=list)
    true_discoverable: list[int] = field(default_factory=list)
    learned: list[int] = field(default_factory=list)
    plans: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready trace."""
        return {
            "exposure": [{k: round(v, 2) for k, v in sorted(w.items())} for w in self.exposure],
            "recorded_discoverable": self.recorded_discoverable,
            "true_discoverable": self.true_discoverable,
            "learned": self.learned,
            "plans": self.plans,
        }


@dataclass
class FeedbackResult:
    """The replay's record: true incidents per week and area, and every variant's trace."""

    weeks: list[str]
    true_counts: list[dict[str, int]]
    variants: dict[str, VariantTrace]
    discovery: DiscoveryModel

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready result (with the drift series of :func:`drift`)."""
        return {
            "weeks": self.weeks,
            "discovery": self.discovery.to_dict(),
            "true_counts": [dict(sorted(w.items())) for w in self.true_counts],
            "variants": {k: v.to_dict() for k, v in self.variants.items()},
            "drift": drift(self),
            "drift_vs_open": drift_vs(self, "open") if "open" in self.variants else {},
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> FeedbackResult:
        """Inverse of :meth:`to_dict` (the drift series are recomputed, not read)."""
        return cls(
            weeks=list(d["weeks"]),
            true_counts=[{str(k): int(v) for k, v in w.items()} for w in d["true_counts"]],
            variants={
                name: VariantTrace(
                    exposure=[{str(k): float(v) for k, v in w.items()} for w in tr["exposure"]],
                    recorded_discoverable=list(tr["recorded_discoverable"]),
                    true_discoverable=list(tr["true_discoverable"]),
                    learned=list(tr["learned"]),
                    plans=int(tr["plans"]),
                )
                for name, tr in d["variants"].items()
            },
            discovery=DiscoveryModel(**d["discovery"]),
        )


def _learns(variant: str, discoverable: bool, recorded: bool, keep: bool) -> bool:
    if variant == "open":
        return True
    if not recorded:
        return False
    if variant == "victim_only":
        return not discoverable
    if variant == "reweight":
        return (not discoverable) or keep
    return True


def closed_loop(
    events: Sequence[Event],
    slots: Sequence[ShiftSlot],
    policy_factory: Callable[[], Policy],
    *,
    discovery: DiscoveryModel | None = None,
    variants: Sequence[str] = VARIANTS,
    seed: int = 0,
    week_labels: Sequence[str] | None = None,
    on_shift: Callable[[str, ShiftSlot], None] | None = None,
) -> FeedbackResult:
    """Replay ``events`` through a fresh policy per variant, shift by shift.

    Parameters
    ----------
    events : sequence of Event
        Every true incident, sorted by ``t``; those before the first slot are history: ``open``
        learns all of it; ``closed`` and ``reweight`` learn each discoverable one with
        probability ``base`` (as recorded with no patrol near it; the same draws, so the two
        start from the same state and differ only by the feedback); ``victim_only`` none.
        Events after the last slot, or between slots, are ignored.
    slots : sequence of ShiftSlot
        Consecutive shifts in time order; ``week`` numbers them 0, 1, ...
    policy_factory : callable
        Returns a fresh, empty policy.
    discovery : DiscoveryModel, optional
    variants : sequence of str
        A subset of :data:`VARIANTS`.
    seed : int
        Seeds the recording and thinning draws, shared by all variants.
    week_labels : sequence of str, optional
        Names of the weeks (default ``"0"``, ``"1"``, ...).
    on_shift : callable, optional
        Called with the variant and the slot after each planned shift (progress).
    """
    model = discovery or DiscoveryModel()
    bad = set(variants) - set(VARIANTS)
    if bad or not variants:
        raise ValueError(f"variants must be among {VARIANTS}, got {list(variants)}")
    t = np.array([e.t for e in events], dtype=np.float64)
    if t.size > 1 and (np.diff(t) < 0).any():
        raise ValueError("events must be sorted by t")
    n_weeks = 1 + max((s.week for s in slots), default=-1)
    labels = list(week_labels) if week_labels is not None else [str(w) for w in range(n_weeks)]
    rng = np.random.default_rng(seed)
    u_record, u_keep = rng.random(len(events)), rng.random(len(events))
    xs = np.array([e.x for e in events], dtype=np.float64)
    ys = np.array([e.y for e in events], dtype=np.float64)
    disc = np.array([e.discoverable for e in events], dtype=bool)
    first = float(slots[0].start) if slots else np.inf
    n_hist = int(np.searchsorted(t, first, side="left"))
    bounds = [
        (int(np.searchsorted(t, s.start, side="left")), int(np.searchsorted(t, s.end, "left")))
        for s in slots
    ]
    true_counts: list[dict[str, int]] = [{} for _ in range(n_weeks)]
    for s, (k0, k1) in zip(slots, bounds, strict=True):
        for e in events[k0:k1]:
            if e.area is not None:
                true_counts[s.week][e.area] = true_counts[s.week].get(e.area, 0) + 1
    traces: dict[str, VariantTrace] = {}
    for variant in variants:
        policy = policy_factory()
        tr = VariantTrace(
            exposure=[{} for _ in range(n_weeks)],
            recorded_discoverable=[0] * n_weeks,
            true_discoverable=[0] * n_weeks,
            learned=[0] * n_weeks,
        )
        for k, e in enumerate(events[:n_hist]):
            # history: recorded as with no patrol exposure (probability base), see above
            if e.discoverable and variant == "victim_only":
                continue
            if e.discoverable and variant != "open" and u_keep[k] >= model.base:
                continue
            policy.learn(e)
        for s, (k0, k1) in zip(slots, bounds, strict=True):
            stops = policy.plan(s)
            tr.plans += 1
            week = tr.exposure[s.week]
            for st in stops:
                if st.area is not None:
                    week[st.area] = week.get(st.area, 0.0) + st.minutes
            if k1 > k0:
                expo = exposure_minutes(xs[k0:k1], ys[k0:k1], stops, model.radius_m)
                p = model.probability(expo, disc[k0:k1])
                recorded = u_record[k0:k1] < p
                keep = u_keep[k0:k1] < model.base / p
                d = disc[k0:k1]
                tr.true_discoverable[s.week] += int(d.sum())
                tr.recorded_discoverable[s.week] += int((d & recorded).sum())
                for j in range(k1 - k0):
                    if _learns(variant, bool(d[j]), bool(recorded[j]), bool(keep[j])):
                        policy.learn(events[k0 + j])
                        tr.learned[s.week] += 1
            if on_shift is not None:
                on_shift(variant, s)
        traces[variant] = tr
    return FeedbackResult(labels, true_counts, traces, model)


def drift(result: FeedbackResult) -> dict[str, list[float | None]]:
    """Per variant and week: TV distance between patrol-minute and true-incident area shares.

    ``None`` for a week with no patrol minutes or no incidents.
    """
    out: dict[str, list[float | None]] = {}
    for name, tr in result.variants.items():
        out[name] = [
            _none_if_nan(total_variation(e, {k: float(v) for k, v in c.items()}))
            for e, c in zip(tr.exposure, result.true_counts, strict=True)
        ]
    return out


def drift_vs(result: FeedbackResult, reference: str) -> dict[str, list[float | None]]:
    """Per variant and week: TV distance between its patrol shares and ``reference``'s."""
    ref = result.variants[reference].exposure
    return {
        name: [_none_if_nan(total_variation(e, r)) for e, r in zip(tr.exposure, ref, strict=True)]
        for name, tr in result.variants.items()
        if name != reference
    }


def trend(series: Sequence[float | None], edge: int = 4) -> dict[str, float | None]:
    """Mean of the first and last ``edge`` weeks, their difference, and the OLS slope per week.

    Examples
    --------
    >>> trend([0.1, 0.2, 0.3, 0.4], edge=2)
    {'first': 0.15, 'last': 0.35, 'change': 0.2, 'slope_per_week': 0.1}
    """
    pts = [(k, v) for k, v in enumerate(series) if v is not None]
    if len(pts) < 2:
        return {"first": None, "last": None, "change": None, "slope_per_week": None}
    ks = np.array([k for k, _ in pts], dtype=np.float64)
    vs = np.array([v for _, v in pts], dtype=np.float64)
    n = min(edge, len(pts))
    first, last = float(vs[:n].mean()), float(vs[-n:].mean())
    slope = float(np.polyfit(ks, vs, 1)[0])
    return {
        "first": round(first, 6),
        "last": round(last, 6),
        "change": round(last - first, 6),
        "slope_per_week": round(slope, 6),
    }


def recording_rates(result: FeedbackResult) -> dict[str, float | None]:
    """Per variant: share of the true discoverable incidents that were recorded."""
    out: dict[str, float | None] = {}
    for name, tr in result.variants.items():
        n = sum(tr.true_discoverable)
        out[name] = (
            None if not n else (1.0 if name == "open" else sum(tr.recorded_discoverable) / n)
        )
    return out


def _none_if_nan(v: float) -> float | None:
    return None if v != v else round(v, 6)


def summarise(result: FeedbackResult, edge: int = 4) -> dict[str, Any]:
    """Trends of :func:`drift` and of the TV to the open loop per variant, recording rates.

    ``loop_effect``: the trend and mean of the weekly TV between the ``closed`` and
    ``reweight`` patrol shares. The two learn the same history with the same draws, so this is
    what the feedback itself moved (the part of the drift ``reweight`` removes).
    """
    d = drift(result)
    dv = drift_vs(result, "open") if "open" in result.variants else {}
    out: dict[str, Any] = {
        "drift": {k: trend(v, edge) for k, v in d.items()},
        "drift_vs_open": {k: trend(v, edge) for k, v in dv.items()},
        "mean_drift": {k: _mean(v) for k, v in d.items()},
        "mean_drift_vs_open": {k: _mean(v) for k, v in dv.items()},
        "recording_rate_discoverable": recording_rates(result),
    }
    if "closed" in result.variants and "reweight" in result.variants:
        loop = drift_vs(result, "reweight")["closed"]
        out["loop_effect"] = {**trend(loop, edge), "mean": _mean(loop)}
    return out


def _mean(values: Sequence[float | None]) -> float | None:
    vs = [v for v in values if v is not None]
    return round(float(np.mean(vs)), 6) if vs else None


def exposure_totals(result: FeedbackResult, variant: str) -> Mapping[str, float]:
    """A variant's patrol minutes per area summed over all weeks."""
    out: dict[str, float] = {}
    for week in result.variants[variant].exposure:
        for k, v in week.items():
            out[k] = out.get(k, 0.0) + v
    return out
