"""The closed-loop replay: discovery model, no look-ahead, and mitigations on synthetic loops.

The synthetic city has two areas, A at the origin and B 5 km east. Area B has 1.5 times A's
crime, but the history over-represents A (Ensign et al. 2018's set-up). The policy is an urn
that forgets (x 0.98 per shift) and sends 120 patrol minutes to the areas in proportion to the
square of their learned mass (it concentrates, as hotspot planning does). With everything
recorded, its patrol shares settle at (4/13, 9/13) against true shares (0.4, 0.6): a TV of
0.092. With discovery, A's discoverable incidents are recorded more because it is patrolled
more, which must push the shares towards A; both mitigations remove that push.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date, timedelta

import numpy as np
import pytest

from patrol.engine import Engine
from patrol.evaluation.fairness import CommunityAreas
from patrol.evaluation.feedback import (
    VARIANTS,
    DiscoveryModel,
    Event,
    FeedbackResult,
    ShiftSlot,
    Stop,
    closed_loop,
    drift,
    exposure_minutes,
    recording_rates,
    summarise,
)
from patrol.evaluation.feedback_engine import (
    EnginePolicy,
    OptimizerPolicy,
    engine_events,
    shift_slots,
)
from patrol.incidents.profile import CityProfile
from patrol.incidents.schema import Incident

H = 8 * 3600.0
CENTRES = {"A": (0.0, 0.0), "B": (5000.0, 0.0)}


class Urn:
    """The synthetic policy of the module docstring; remembers what it learned, and when."""

    def __init__(self, minutes: float = 120.0, power: float = 2.0, decay: float = 0.98) -> None:
        self.mass = {"A": 0.0, "B": 0.0}
        self.minutes, self.power, self.decay = minutes, power, decay
        self.learned: list[Event] = []
        self.plans: list[ShiftSlot] = []

    def learn(self, event: Event) -> None:
        assert event.area is not None
        self.mass[event.area] += 1.0
        self.learned.append(event)

    def plan(self, slot: ShiftSlot) -> Sequence[Stop]:
        assert all(e.t < slot.start for e in self.learned), "learned from the shift it plans"
        self.plans.append(slot)
        for k in self.mass:
            self.mass[k] *= self.decay
        w = {k: v**self.power for k, v in self.mass.items()}
        total = sum(w.values()) or 1.0
        return [Stop(*CENTRES[k], self.minutes * w[k] / total, k) for k in w]


def synthetic(
    weeks: int = 20,
    rate: dict[str, int] | None = None,
    history: dict[str, int] | None = None,
    history_shifts: int = 60,
) -> tuple[list[Event], list[ShiftSlot]]:
    """Incidents at the area centres; every third one is victim-reported."""
    rate = rate or {"A": 6, "B": 9}
    history = history or {"A": 9, "B": 3}
    events: list[Event] = []
    for s in range(history_shifts):
        for area, n in history.items():
            events += [Event(s * H + j, *CENTRES[area], area, j % 3 != 0) for j in range(n)]
    t0 = history_shifts * H
    slots = []
    for s in range(weeks * 21):
        start = t0 + s * H
        day = date(2016, 1, 4) + timedelta(days=s // 3)
        slots.append(ShiftSlot(day, "x", start, start + H, s // 21))
        for area, n in rate.items():
            events += [Event(start + 1 + j, *CENTRES[area], area, j % 3 != 0) for j in range(n)]
    events.sort(key=lambda e: e.t)
    return events, slots


MODEL = DiscoveryModel(base=0.2, lift_per_min=1 / 60, radius_m=250.0)


def _last_weeks(series: Sequence[float | None], n: int = 5) -> float:
    return float(np.mean([v for v in series[-n:] if v is not None]))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_feedback_drifts_and_both_mitigations_reduce_it(seed: int) -> None:
    events, slots = synthetic()
    result = closed_loop(events, slots, Urn, discovery=MODEL, seed=seed)
    d = drift(result)
    # with everything recorded the urn settles at TV 4/13 - 0.4 = 0.0923 (module docstring)
    assert _last_weeks(d["open"]) == pytest.approx(0.4 - 4 / 13, abs=0.005)
    closed = _last_weeks(d["closed"])
    assert closed > _last_weeks(d["open"]) + 0.07  # the loop pushes patrols to A
    assert d["closed"][-1] is not None and d["closed"][5] is not None
    assert d["closed"][-1] > d["closed"][5] + 0.05  # and keeps pushing: drift over weeks
    for mitigation in ("victim_only", "reweight"):
        assert _last_weeks(d[mitigation]) < closed - 0.05, mitigation
    # the victim-reported third is spread like the truth: the same shares as the open loop
    assert d["victim_only"] == d["open"]


def test_closed_loop_records_at_the_discovery_models_rate() -> None:
    """Half the discoverable incidents sit at a stop of 30 minutes (p = 0.2 + 0.3), half far."""

    class Fixed:
        def learn(self, event: Event) -> None:
            pass

        def plan(self, slot: ShiftSlot) -> Sequence[Stop]:
            return [Stop(0.0, 0.0, 30.0, "A")]

    slots = [ShiftSlot(date(2016, 1, 4), "x", s * H, (s + 1) * H, 0) for s in range(100)]
    events = [
        Event(s * H + j, 0.0 if j % 2 else 3000.0, 0.0, "A", True)
        for s in range(100)
        for j in range(40)
    ]
    model = DiscoveryModel(base=0.2, lift_per_min=0.01)
    result = closed_loop(events, slots, Fixed, discovery=model, variants=["closed"], seed=3)
    tr = result.variants["closed"]
    assert sum(tr.true_discoverable) == 4000
    # expected (0.5 + 0.2) / 2 = 0.35; binomial sd over 4000 draws is 0.0075
    assert recording_rates(result)["closed"] == pytest.approx(0.35, abs=0.03)
    assert tr.exposure == [{"A": 3000.0}]


def test_victim_reported_incidents_are_always_recorded() -> None:
    m = DiscoveryModel(base=0.05, lift_per_min=0.0)
    assert m.probability([0.0, 0.0], [False, True]).tolist() == [1.0, 0.05]


def test_every_variant_plans_only_from_the_past_and_learns_the_right_things() -> None:
    events, slots = synthetic(weeks=2)
    policies: dict[str, Urn] = {}
    order = iter(VARIANTS)

    def factory() -> Urn:
        policies[next(order)] = urn = Urn()
        return urn

    result = closed_loop(events, slots, factory, discovery=MODEL, seed=0)
    assert all(result.variants[v].plans == len(slots) for v in VARIANTS)
    assert len(policies["open"].learned) == len(events)
    assert not any(e.discoverable for e in policies["victim_only"].learned)
    n_hist = sum(1 for e in events if e.t < slots[0].start)
    hist_disc = sum(1 for e in events[:n_hist] if e.discoverable)
    # closed and reweight learn the same thinned history (common random numbers) ...
    closed_hist = [e for e in policies["closed"].learned if e.t < slots[0].start]
    reweight_hist = [e for e in policies["reweight"].learned if e.t < slots[0].start]
    assert closed_hist == reweight_hist
    kept = sum(1 for e in closed_hist if e.discoverable)
    assert kept == pytest.approx(0.2 * hist_disc, rel=0.25)
    # ... and reweight learns at most what closed recorded, after the history
    assert len(policies["reweight"].learned) <= len(policies["closed"].learned)


def test_exposure_counts_stops_within_the_radius_inclusive() -> None:
    stops = [Stop(0.0, 0.0, 10.0, "A"), Stop(250.0, 0.0, 4.0, "A")]
    got = exposure_minutes([0.0, 500.0, 125.0, 501.0], [0.0] * 4, stops, 250.0)
    assert got.tolist() == [14.0, 4.0, 14.0, 0.0]


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="base"):
        DiscoveryModel(base=0.0)
    with pytest.raises(ValueError, match="lift_per_min"):
        DiscoveryModel(lift_per_min=-1.0)
    events, slots = synthetic(weeks=1)
    with pytest.raises(ValueError, match="variants"):
        closed_loop(events, slots, Urn, variants=["nope"])
    with pytest.raises(ValueError, match="sorted"):
        closed_loop(events[::-1], slots, Urn)


def test_summary_reports_trends_rates_and_the_loop_effect() -> None:
    events, slots = synthetic(weeks=20)
    result = closed_loop(events, slots, Urn, discovery=MODEL, seed=0)
    s = summarise(result)
    assert set(s["drift"]) == set(VARIANTS) and set(s["drift_vs_open"]) == set(VARIANTS) - {"open"}
    assert s["recording_rate_discoverable"]["open"] == 1.0
    assert 0.2 < s["recording_rate_discoverable"]["closed"] < 1.0
    # closed and reweight start from the same state: the gap between them is the loop's doing
    assert s["loop_effect"]["first"] < 0.05 < s["loop_effect"]["last"]
    # the JSON form gives back the same result (exposures are rounded to 0.01 minute there)
    again = summarise(FeedbackResult.from_dict(json.loads(json.dumps(result.to_dict()))))
    assert again["recording_rate_discoverable"] == s["recording_rate_discoverable"]
    for v in VARIANTS:
        assert again["mean_drift"][v] == pytest.approx(s["mean_drift"][v], abs=1e-4)
    assert again["loop_effect"]["mean"] == pytest.approx(s["loop_effect"]["mean"], abs=1e-4)


def test_engine_policy_on_real_incidents(
    district8_september: list[Incident], chicago: CityProfile
) -> None:
    """The engine in the loop: district 8, history 1-24 Sept 2016, replay 25-30 Sept."""
    engine = Engine(chicago)
    areas = CommunityAreas()
    events = engine_events(engine, district8_september, {"8"}, areas.locate_many)
    assert len(events) == len(district8_september)
    assert any(e.discoverable for e in events) and not all(e.discoverable for e in events)
    slots = shift_slots(engine, date(2016, 9, 25), 2)
    assert [s.label for s in slots] == ["00-08", "08-16", "16-24"] * 2
    result = closed_loop(
        events,
        slots,
        lambda: EnginePolicy(Engine(chicago), ["8"], areas.locate_many),
        discovery=DiscoveryModel(),
        variants=["open", "closed"],
    )
    exposure = result.variants["open"].exposure[0]
    # the minutes go to district 8's community areas, as its incidents' recorded areas say
    recorded = {i.community_area.lstrip("0") for i in district8_september if i.community_area}
    assert exposure and set(exposure) <= recorded
    assert sum(exposure.values()) > 6 * 10  # six routes of more than 10 minutes each
    assert set(result.true_counts[0]) >= {"66", "70"}


def test_optimizer_policy_uses_the_whole_shift(
    district8_september: list[Incident], chicago: CityProfile
) -> None:
    """The optimising planner in the loop: 15-minute stops fill most of each 8-hour shift."""
    engine = Engine(chicago)
    areas = CommunityAreas()
    events = engine_events(engine, district8_september, {"8"}, areas.locate_many)
    slots = shift_slots(engine, date(2016, 9, 29), 1)
    result = closed_loop(
        events,
        slots,
        lambda: OptimizerPolicy(Engine(chicago), ["8"], areas.locate_many),
        variants=["open"],
    )
    exposure = result.variants["open"].exposure[0]
    recorded = {i.community_area.lstrip("0") for i in district8_september if i.community_area}
    assert set(exposure) <= recorded
    assert 3 * 360 < sum(exposure.values()) <= 3 * 480 + 1e-6
