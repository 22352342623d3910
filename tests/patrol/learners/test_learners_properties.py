"""Hypothesis properties shared by all learners: robustness, order independence, exact undo,
and lossless JSON round trips."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from patrol.learners import (
    KDEHotspot,
    LinearTrend,
    SpaceTimeTable,
    SpatialClusterer,
    select_waypoint,
)
from patrol.learners.base import Observation
from patrol.learners.clusters import Clustering

T_LO, T_HI = 16_000.0, 16_400.0

city = st.floats(-20_000.0, 20_000.0, allow_nan=False)
observations = st.builds(
    Observation, city, city, st.floats(T_LO, T_HI, allow_nan=False), st.integers(0, 167)
)
wild = st.builds(  # far-flung coordinates, times over 80 years
    Observation,
    st.floats(-5e6, 5e6, allow_nan=False),
    st.floats(-5e6, 5e6, allow_nan=False),
    st.floats(0.0, 30_000.0, allow_nan=False),
    st.integers(0, 167),
)
half_lives = st.sampled_from([math.inf, 90.0, 30.0])
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


class Learners:
    """One of each learner, with the same half-life."""

    def __init__(self, half_life: float) -> None:
        self.h = half_life
        self.clusterer = SpatialClusterer(half_life_days=half_life, k_max=4)
        self.kde = KDEHotspot(half_life_days=half_life)
        self.trend = LinearTrend(half_life_days=half_life)
        self.table = SpaceTimeTable(half_life_days=half_life)
        self.all: list[Any] = [self.clusterer, self.kde, self.trend, self.table]

    def learn(self, obs: list[Observation]) -> Learners:
        for o in obs:
            for m in self.all:
                m.learn_one(o)
        return self

    def forget(self, obs: list[Observation]) -> Learners:
        for o in obs:
            for m in self.all:
                m.forget_one(o)
        return self

    def predictions(self, c: Clustering, at: float) -> dict[str, Any]:
        return {
            "H": self.kde.predict_hotspots(c, at),
            "L": self.trend.predict_points(c, at + 0.5),
            "Lfree": self.trend.predict_points(c, at + 0.5, clamp=False),
            "P": [self.table.predict_proba(c, d, h, at).tolist() for d in range(7) for h in (0, 9)],
            "mass": self.clusterer.total_weight(at),
        }

    def weights(self, at: float) -> dict[str, dict[tuple[int, ...], tuple[float, int]]]:
        """Cell weights decayed to ``at`` (comparable across landmarks) and exact counts."""
        out = {}
        for name, m in [("clusterer", self.clusterer), ("kde", self.kde)]:
            d = m.to_dict()
            out[name] = {(r[0], r[1]): (r[2] * self.factor(d, at), r[-1]) for r in d["cells"]}
        d = self.table.to_dict()
        out["table"] = {(r[0], r[1], r[2]): (r[3] * self.factor(d, at), r[4]) for r in d["slots"]}
        return out

    def factor(self, d: dict[str, Any], at: float) -> float:
        t_ref = d["decay"]["t_ref"]
        return 1.0 if t_ref is None or math.isinf(self.h) else 0.5 ** ((at - t_ref) / self.h)


def centroids_from(obs: list[Observation]) -> Clustering:
    pts = [(o.x, o.y) for o in obs[:3]]
    return Clustering(np.array(pts), 0.0)


def assert_close(a: Any, b: Any) -> None:
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for k in a:
            assert_close(a[k], b[k])
    elif isinstance(a, list | tuple):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            assert_close(x, y)
    elif isinstance(a, float):
        assert a == pytest.approx(b, rel=1e-6, abs=1e-6)
    else:
        assert a == b


@SETTINGS
@given(st.lists(wild, min_size=1, max_size=40), st.sampled_from([math.inf, 90.0, 7.0, 0.5]))
def test_arbitrary_observations_never_crash(obs: list[Observation], half_life: float) -> None:
    ls = Learners(half_life).learn(obs)
    now = max(o.t for o in obs)
    c = ls.clusterer.fit(now)
    assert 0 <= c.k <= 4 and np.isfinite(c.centroids).all()
    hot = ls.kde.predict_hotspots(c, now)
    pred = ls.trend.predict_points(c, now + 1.0)
    assert len(hot) == len(pred) == c.k
    for j, (h, p) in enumerate(zip(hot, pred, strict=True)):
        if h is not None:
            assert math.isfinite(h[0]) and math.isfinite(h[1])
            assert int(c.assign(*h)) == j
        if p is not None:
            assert math.isfinite(p[0]) and math.isfinite(p[1])
        point, _ = select_waypoint(h, p)
        assert point is None or all(math.isfinite(v) for v in point)
    for o in obs[:3]:
        prob = ls.table.predict_proba(c, o.dow, o.hour, now)
        assert ((prob >= 0.0) & (prob <= 1.0 + 1e-12)).all()
        assert prob.sum() == pytest.approx(1.0) or prob.sum() == 0.0


@SETTINGS
@given(st.lists(observations, min_size=1, max_size=40), half_lives, st.randoms())
def test_arrival_order_does_not_change_the_state(
    obs: list[Observation], half_life: float, rnd: Any
) -> None:
    shuffled = obs[:]
    rnd.shuffle(shuffled)
    a, b = Learners(half_life).learn(obs), Learners(half_life).learn(shuffled)
    assert_close(a.weights(T_HI), b.weights(T_HI))
    c = centroids_from(obs)
    assert_close(a.predictions(c, T_HI), b.predictions(c, T_HI))
    ca, cb = a.clusterer.fit(T_HI), b.clusterer.fit(T_HI)
    assert ca.k == cb.k
    np.testing.assert_allclose(ca.centroids, cb.centroids, rtol=1e-6, atol=1e-6)


@SETTINGS
@given(
    st.lists(observations, min_size=1, max_size=30),
    st.lists(observations, min_size=1, max_size=30),
    half_lives,
    st.randoms(),
)
def test_learn_then_forget_restores_the_previous_state(
    base: list[Observation], extra: list[Observation], half_life: float, rnd: Any
) -> None:
    ls = Learners(half_life).learn(base)
    c = centroids_from(base)
    before_w, before_p = ls.weights(T_HI), ls.predictions(c, T_HI)
    undo = extra[:]
    rnd.shuffle(undo)
    ls.learn(extra).forget(undo)
    assert_close(ls.weights(T_HI), before_w)
    assert_close(ls.predictions(c, T_HI), before_p)


@SETTINGS
@given(st.lists(observations, min_size=1, max_size=30), half_lives, st.randoms())
def test_forgetting_everything_gives_the_empty_state(
    obs: list[Observation], half_life: float, rnd: Any
) -> None:
    ls = Learners(half_life).learn(obs)
    undo = obs[:]
    rnd.shuffle(undo)
    ls.forget(undo)
    fresh = Learners(half_life)
    for m, f in zip(ls.all, fresh.all, strict=True):
        assert m.to_dict() == f.to_dict()


@SETTINGS
@given(st.lists(observations, max_size=30), st.lists(observations, max_size=5), half_lives)
def test_json_round_trip_is_exact(
    obs: list[Observation], more: list[Observation], half_life: float
) -> None:
    ls = Learners(half_life).learn(obs)
    ls.clusterer.fit(T_HI)
    for m in ls.all:
        d = m.to_dict()
        back = type(m).from_dict(json.loads(json.dumps(d, allow_nan=False)))
        assert back.to_dict() == d
        for o in more:  # the restored learner continues exactly like the original
            m.learn_one(o)
            back.learn_one(o)
        assert back.to_dict() == m.to_dict()
    if obs:
        c = ls.clusterer.fit(T_HI)
        back_c = SpatialClusterer.from_dict(json.loads(json.dumps(ls.clusterer.to_dict())))
        assert back_c.fit(T_HI).to_dict() == c.to_dict()
