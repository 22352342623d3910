"""IncidentWindow: the served forecaster's per-district store (hypothesis properties)."""

from __future__ import annotations

import json

import numpy as np
from hypothesis import example, given, settings
from hypothesis import strategies as st

from patrol.forecast.window import KEEP_DAYS, IncidentWindow, id_key

ops = st.lists(
    st.tuples(
        st.sampled_from([f"id{i}" for i in range(12)]),
        st.floats(0, 2000, allow_nan=False),  # t, days: spans more than the window
        st.booleans(),  # forget instead of learn
    ),
    max_size=60,
)


def reference(sequence: list[tuple[str, float, bool]]) -> list[tuple[float, float]]:
    """What the window must hold: the last record per id, unless forgotten after it, within
    KEEP_DAYS of the newest time ever learned; sorted by (t, id digest)."""
    kept: dict[str, float] = {}
    newest = -np.inf
    for incident_id, t, forget in sequence:
        if forget:
            kept.pop(incident_id, None)
        else:
            kept[incident_id] = t
            newest = max(newest, t)
    rows = [(t, id_key(i)) for i, t in kept.items() if t >= newest - KEEP_DAYS]
    return [(t, float(t) * 2) for t, _ in sorted(rows)]


def apply(sequence: list[tuple[str, float, bool]]) -> IncidentWindow:
    w = IncidentWindow()
    for incident_id, t, forget in sequence:
        if forget:
            w.forget(incident_id)
        else:
            w.learn_one(incident_id, t=t, x=t * 2, y=0.0, hour=int(t) % 24, dow=int(t) % 7,
                        kind=int(t) % 3 - 1, domestic=bool(int(t) % 2))  # fmt: skip
    return w


@settings(max_examples=150, deadline=None)
@given(ops)
def test_window_holds_the_last_version_of_each_live_incident(seq: list) -> None:
    ev = apply(seq).events()
    assert list(zip(ev.t.tolist(), ev.x.tolist(), strict=True)) == reference(seq)
    assert np.all(np.diff(ev.t) >= 0)
    assert ev.hour.tolist() == [int(t) % 24 for t in ev.t]  # columns stay aligned
    assert ev.domestic.tolist() == [bool(int(t) % 2) for t in ev.t]


@settings(max_examples=100, deadline=None)
@given(ops, st.randoms(use_true_random=False))
def test_arrival_order_of_distinct_incidents_does_not_matter(seq: list, rnd) -> None:
    last: dict[str, tuple[str, float, bool]] = {}
    for op in seq:
        if not op[2]:
            last[op[0]] = op
    learned = list(last.values())
    shuffled = learned[:]
    rnd.shuffle(shuffled)
    assert apply(learned).to_dict() == apply(shuffled).to_dict()


@settings(max_examples=100, deadline=None)
@given(ops)
@example([("id0", 1501.0, False), ("id0", 0.0, False)])  # every record expired: keep "newest"
def test_state_round_trips_through_json(seq: list) -> None:
    w = apply(seq)
    back = IncidentWindow.from_dict(json.loads(json.dumps(w.to_dict())))
    assert back.to_dict() == w.to_dict()
    a, b = back.events(), w.events()
    for name in ("t", "x", "y", "hour", "dow", "kind", "domestic"):
        assert getattr(a, name).tolist() == getattr(b, name).tolist()
    # and it keeps working the same after the round trip
    for win in (w, back):
        win.learn_one("late", t=1500.0, x=1.0, y=1.0, hour=1, dow=1, kind=0, domestic=False)
    assert back.to_dict() == w.to_dict()
