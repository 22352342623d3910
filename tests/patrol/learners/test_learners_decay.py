"""Forward decay: half-lives, landmark moves, and the grid-cell helpers."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from patrol.learners import KDEHotspot, SpaceTimeTable, SpatialClusterer
from patrol.learners.base import Observation
from patrol.learners.clusters import Clustering
from patrol.learners.decay import REBASE_EXPONENT, ForwardDecay, cell_of, quantize


def test_weight_halves_after_one_half_life() -> None:
    d = ForwardDecay(half_life_days=7.0)
    w0 = d.weight(100.0)
    w1 = d.weight(107.0)
    assert w0 / w1 == pytest.approx(0.5, rel=1e-12)
    # read at `now`, an event's weight is 2 ** -(age / half-life)
    assert w0 * d.factor(107.0) == pytest.approx(0.5, rel=1e-12)
    assert w0 * d.factor(121.0) == pytest.approx(0.125, rel=1e-12)
    assert w1 * d.factor(107.0) == pytest.approx(1.0, rel=1e-12)


def test_decayed_mass_of_a_learner_halves_after_one_half_life() -> None:
    m = SpatialClusterer(half_life_days=30.0)
    for i in range(4):
        m.learn_one(Observation(10.0 * i, 0.0, 17000.0, 0))
    assert m.total_weight(17000.0) == pytest.approx(4.0, rel=1e-12)
    assert m.total_weight(17030.0) == pytest.approx(2.0, rel=1e-12)
    assert m.total_weight(17060.0) == pytest.approx(1.0, rel=1e-12)


def test_decayed_counts_follow_the_half_life() -> None:
    st = SpaceTimeTable(half_life_days=10.0)
    st.learn_one(Observation(0.0, 0.0, 500.0, 5))
    st.learn_one(Observation(0.0, 0.0, 510.0, 5))
    one = Clustering(np.zeros((1, 2)), 0.0)
    rep, tot = st.decayed_counts(one, 0, 5, now=520.0)
    assert tot == pytest.approx(0.25 + 0.5, rel=1e-12)
    assert rep.tolist() == pytest.approx([0.75], rel=1e-12)


@pytest.mark.parametrize("h", [2.0, 1000.0, math.inf])
def test_landmark_moves_in_fixed_steps_independent_of_order(h: float) -> None:
    # the documented step: min(8 / rate, 1024) days (23.1 days for h = 2)
    span = min(REBASE_EXPONENT * h / math.log(2.0), 1024.0)
    times = [1000.0 + 3.3 * i for i in range(40)] + [5000.0 - 97.0 * i for i in range(20)]
    refs = []
    for seed in range(5):
        shuffled = times[:]
        random.Random(seed).shuffle(shuffled)
        calls: list[tuple[float, float]] = []
        d = ForwardDecay(h, on_rebase=lambda f, s, calls=calls: calls.append((f, s)))
        for t in shuffled:
            d.weight(t)
        assert d.t_ref is not None
        refs.append(d.t_ref)
        assert d.t_ref <= max(times) < d.t_ref + span
        assert (d.t_ref / span) == pytest.approx(round(d.t_ref / span), abs=1e-9)
        for f, s in calls:  # each move rescales by 2 ** -(shift / half-life)
            assert s > 0
            assert f == pytest.approx(2.0 ** (-s / h), rel=1e-9)
    assert len(set(refs)) == 1


def test_weights_stay_bounded_through_landmark_moves() -> None:
    d = ForwardDecay(1.0)
    for t in np.arange(0.0, 3000.0, 0.7):
        w = d.weight(float(t))
        assert 0.0 < w < math.exp(REBASE_EXPONENT) * (1 + 1e-9)


def test_infinite_half_life_counts() -> None:
    d = ForwardDecay(math.inf)
    assert [d.weight(t) for t in (0.0, 1e5, -3.0)] == [1.0, 1.0, 1.0]
    assert d.factor(1e9) == 1.0
    assert d.to_dict()["half_life_days"] is None


@pytest.mark.parametrize("bad", [0.0, -1.0, math.nan])
def test_half_life_must_be_positive(bad: float) -> None:
    with pytest.raises(ValueError):
        ForwardDecay(bad)


@pytest.mark.parametrize("t", [math.nan, math.inf, -math.inf])
def test_non_finite_time_is_rejected_without_changing_state(t: float) -> None:
    kde = KDEHotspot()
    kde.learn_one(Observation(0.0, 0.0, 100.0, 0))
    before = kde.to_dict()
    with pytest.raises(ValueError):
        kde.learn_one(Observation(0.0, 0.0, t, 0))
    assert kde.to_dict() == before


@pytest.mark.parametrize(("x", "y"), [(math.nan, 0.0), (0.0, math.inf), (-math.inf, 1.0)])
def test_non_finite_coordinates_are_rejected(x: float, y: float) -> None:
    with pytest.raises(ValueError):
        cell_of(x, y, 50.0)
    st = SpaceTimeTable()
    with pytest.raises(ValueError):
        st.learn_one(Observation(x, y, 100.0, 0))
    assert st.n_observations == 0


def test_cell_of_floors_negative_coordinates() -> None:
    assert cell_of(0.0, 49.999, 50.0) == (0, 0)
    assert cell_of(-0.001, 50.0, 50.0) == (-1, 1)
    assert cell_of(-100.0, -100.5, 50.0) == (-2, -3)


def test_quantize_keeps_about_nine_significant_digits() -> None:
    a = np.array([1.0, 1.0 + 1e-13, 123456.789, 2.0**-40])
    q = quantize(a)
    assert q[0] == q[1] == 1.0
    assert q[2] == pytest.approx(123456.789, rel=1e-9)
    assert q[3] == 2.0**-40
