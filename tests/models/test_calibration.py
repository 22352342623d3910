"""Online recalibration: properties (hypothesis) and a known-answer bias correction."""

from __future__ import annotations

import json
import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from models.arrest.calibration import OnlineCalibrator, logit, replay
from models.arrest.metrics import ece

scores = st.one_of(st.floats(0.0, 1.0), st.sampled_from([0.0, 1.0, 1e-12, 1 - 1e-12]))
events = st.lists(
    st.tuples(scores, st.sampled_from(["THEFT", "BATTERY", "", "ROBBERY"]), st.booleans()),
    max_size=60,
)


@settings(max_examples=60, deadline=None)
@given(events=events, lr=st.sampled_from([0.001, 0.01, 0.2]), probe=scores)
def test_never_crashes_and_stays_a_probability(events: list, lr: float, probe: float) -> None:
    cal = OnlineCalibrator(lr=lr, min_group_labels=3)
    for score, group, label in events:
        p = cal.predict_one(score, group)
        assert 0.0 <= p <= 1.0 and not math.isnan(p)
        cal.learn_one(score, group, label)
    for group in ("THEFT", "never seen", None):
        assert 0.0 <= cal.predict_one(probe, group) <= 1.0


@settings(max_examples=40, deadline=None)
@given(events=events, probe=scores)
def test_state_round_trips_through_json(events: list, probe: float) -> None:
    cal = OnlineCalibrator(lr=0.05, min_group_labels=2)
    for score, group, label in events:
        cal.learn_one(score, group, label)
    back = OnlineCalibrator.from_dict(json.loads(json.dumps(cal.to_dict())))
    assert back.to_dict() == cal.to_dict()
    for group in ("THEFT", "BATTERY", "", "other"):
        assert back.predict_one(probe, group) == cal.predict_one(probe, group)
    # and both keep learning the same way
    cal.learn_one(0.3, "THEFT", True)
    back.learn_one(0.3, "THEFT", True)
    assert back.predict_one(probe, "THEFT") == cal.predict_one(probe, "THEFT")


def test_identity_before_any_label() -> None:
    cal = OnlineCalibrator()
    for p in (0.01, 0.2, 0.5, 0.93):
        assert abs(cal.predict_one(p, "THEFT") - p) < 1e-12


def test_fixes_a_deliberately_biased_stream() -> None:
    # true probabilities q; the model over-predicts by +1 on the logit scale (like a model
    # trained when arrests were more frequent). Labels ~ Bernoulli(q).
    rng = np.random.default_rng(3)
    n = 30_000
    q = 1 / (1 + np.exp(-rng.normal(-1.5, 1.0, n)))
    biased = 1 / (1 + np.exp(-(np.log(q / (1 - q)) + 1.0)))
    y = rng.random(n) < q
    groups = np.where(rng.random(n) < 0.5, "THEFT", "BATTERY")
    cal = OnlineCalibrator(lr=0.01)
    for s, g, label in zip(biased[:20_000], groups, y[:20_000], strict=False):
        cal.learn_one(float(s), str(g), bool(label))
    state = cal.to_dict()["levels"]["*"]
    # the global scaling learned z -> a z + b with b about -1 (the bias) and a about 1
    assert abs(state["b"] + 1.0) < 0.25 and abs(state["a"] - 1.0) < 0.25
    fixed = np.array(
        [
            cal.predict_one(float(s), str(g))
            for s, g in zip(biased[20_000:], groups[20_000:], strict=True)
        ]
    )
    assert ece(y[20_000:], biased[20_000:]) > 0.08
    assert ece(y[20_000:], fixed) < 0.03


def test_replay_learns_only_labels_older_than_the_delay() -> None:
    day = np.timedelta64(1, "D")
    t0 = np.datetime64("2016-01-01T00:00", "ns")
    hour = np.timedelta64(1, "h")
    times = np.array([t0, t0 + day, t0 + 7 * day + 12 * hour, t0 + 9 * day])
    scores = np.full(4, 0.5)
    labels = np.array([False, False, False, False])
    out = replay(
        times,
        np.array(["A"] * 4),
        scores,
        labels,
        delay=7 * day,
        calibrator=OnlineCalibrator(lr=0.5, min_group_labels=1),
    )
    # incidents 0 and 1 are scored before any label is known; 2 (day 7.5) after label 0
    # (known from day 7), 3 (day 9) after labels 0 and 1: scores fall as negatives arrive
    assert out[0] == out[1] == 0.5
    assert out[2] < 0.5 and out[3] < out[2]


def test_logit_clips_the_ends() -> None:
    assert math.isfinite(logit(0.0)) and math.isfinite(logit(1.0)) and logit(0.5) == 0.0
