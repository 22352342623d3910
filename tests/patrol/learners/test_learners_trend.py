"""Phase 2.2: per-cluster weighted linear regression of position on time, L_k."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import pytest

from patrol.learners import LinearTrend, SpatialClusterer
from patrol.learners.base import Observation
from patrol.learners.clusters import Clustering

if TYPE_CHECKING:
    from conftest import District

T0 = 16_900.0
TWO = Clustering(np.array([[0.0, 0.0], [10_000.0, 0.0]]), 0.0)


def moving(trend: LinearTrend, days: int = 30, per_day: int = 3) -> None:
    """Cluster 0 drifts 12 m/day east and 4 m/day north from (100, 200); cluster 1 drifts
    8 m/day west from (10000, -300)."""
    for d in range(days):
        for k in range(per_day):
            t = T0 + d + k / per_day
            trend.learn_one(Observation(100.0 + 12.0 * (t - T0), 200.0 + 4.0 * (t - T0), t, 0))
            trend.learn_one(Observation(10_000.0 - 8.0 * (t - T0), -300.0, t, 0))


@pytest.mark.parametrize("half_life", [math.inf, 20.0, 0.5])  # 0.5 d: landmark moves often
def test_linear_motion_is_recovered_exactly_with_any_weights(half_life: float) -> None:
    trend = LinearTrend(half_life_days=half_life)
    moving(trend)
    at = T0 + 40.0
    (x0, y0), (x1, y1) = trend.predict_points(TWO, at, clamp=False)  # type: ignore[misc]
    assert x0 == pytest.approx(100.0 + 12.0 * 40.0, abs=1e-6)
    assert y0 == pytest.approx(200.0 + 4.0 * 40.0, abs=1e-6)
    assert x1 == pytest.approx(10_000.0 - 8.0 * 40.0, abs=1e-6)
    assert y1 == pytest.approx(-300.0, abs=1e-6)


def test_clamp_to_the_clusters_occupied_cells() -> None:
    trend = LinearTrend(half_life_days=math.inf)
    moving(trend)
    # cluster 0 spans x 100..(100 + 12 * 29.67 = 456) -> cells 2..9 -> [100, 500] m;
    # y 200..318.7 -> cells 4..6 -> [200, 350] m
    (x0, y0), (x1, y1) = trend.predict_points(TWO, T0 + 40.0)  # type: ignore[misc]
    assert (x0, y0) == (500.0, 350.0)
    # cluster 1: x 10000 down to 9762.7 -> cells 195..200 -> [9750, 10050]; 9680 -> 9750
    assert (x1, y1) == (9750.0, pytest.approx(-300.0))
    # inside the extent nothing is clamped
    (x0, _), _ = trend.predict_points(TWO, T0 + 10.0)  # type: ignore[misc]
    assert x0 == pytest.approx(220.0)


def test_decay_weights_match_an_explicit_weighted_least_squares() -> None:
    rng = np.random.default_rng(7)
    t = T0 + rng.uniform(0.0, 60.0, 200)
    x = 50.0 * np.sin(t) + 3.0 * (t - T0) + rng.normal(0, 30, 200)
    y = rng.normal(0, 30, 200) - 1.5 * (t - T0)
    h, now, at = 15.0, T0 + 60.0, T0 + 61.0
    trend = LinearTrend(half_life_days=h)
    for a, b, c in zip(x, y, t, strict=True):
        trend.learn_one(Observation(float(a), float(b), float(c), 0))
    (px, py), _ = trend.predict_points(TWO, at, clamp=False)  # type: ignore[misc]
    sw = np.sqrt(0.5 ** ((now - t) / h))  # lstsq minimises |sw * (A b - y)|^2
    design = np.column_stack([np.ones_like(t), t - T0]) * sw[:, None]
    bx = np.linalg.lstsq(design, x * sw, rcond=None)[0]
    by = np.linalg.lstsq(design, y * sw, rcond=None)[0]
    assert px == pytest.approx(bx[0] + bx[1] * (at - T0), abs=1e-6)
    assert py == pytest.approx(by[0] + by[1] * (at - T0), abs=1e-6)


def test_no_time_spread_gives_the_weighted_mean() -> None:
    trend = LinearTrend(half_life_days=5.0)
    for x, y in [(0.0, 0.0), (30.0, 0.0), (0.0, 90.0)]:
        trend.learn_one(Observation(x, y, T0, 0))
    assert trend.predict_points(TWO, T0 + 100.0) == [(pytest.approx(10.0), 30.0), None]


def test_matches_ordinary_least_squares_per_cluster_on_real_data(district8: District) -> None:
    clusterer = SpatialClusterer(half_life_days=math.inf, k_max=6)
    trend = LinearTrend(half_life_days=math.inf)
    for o in district8.observations:
        clusterer.learn_one(o)
        trend.learn_one(o)
    t_end = float(district8.t.max())
    c = clusterer.fit(now=t_end)
    got = trend.predict_points(c, t_end + 1.0, clamp=False)
    cx = (np.floor(district8.x / 50.0) + 0.5) * 50.0
    cy = (np.floor(district8.y / 50.0) + 0.5) * 50.0
    member = c.assign(cx, cy)
    for j, p in enumerate(got):
        sel = member == j
        fx = np.polyfit(district8.t[sel] - t_end, district8.x[sel], 1)
        fy = np.polyfit(district8.t[sel] - t_end, district8.y[sel], 1)
        assert p is not None
        assert p[0] == pytest.approx(np.polyval(fx, 1.0), abs=1e-3)
        assert p[1] == pytest.approx(np.polyval(fy, 1.0), abs=1e-3)


def test_forget_undoes_learn() -> None:
    trend = LinearTrend(half_life_days=10.0)
    moving(trend, days=5)
    before = trend.predict_points(TWO, T0 + 7.0, clamp=False)
    extra = [Observation(900.0, -900.0, T0 + 2.5, 0), Observation(50.0, 60.0, T0 + 0.1, 0)]
    for o in extra:
        trend.learn_one(o)
    assert trend.predict_points(TWO, T0 + 7.0, clamp=False) != before
    for o in extra:
        trend.forget_one(o)
    after = trend.predict_points(TWO, T0 + 7.0, clamp=False)
    for (ax, ay), (bx, by) in zip(after, before, strict=True):  # type: ignore[misc]
        assert ax == pytest.approx(bx, abs=1e-6) and ay == pytest.approx(by, abs=1e-6)


@pytest.mark.parametrize("half_life", [math.inf, 90.0])
def test_a_two_hour_trend_far_from_the_epoch_is_resolved(half_life: float) -> None:
    # 13 incidents over two hours, moving 1 m per minute north; t ~ 17,000 days since 1970
    trend = LinearTrend(half_life_days=half_life)
    t0 = 17_000.3
    for i in range(13):
        t = t0 + i * 10.0 / 1440.0
        trend.learn_one(Observation(0.0, 10.0 * i, t, 0))
    one = Clustering(np.zeros((1, 2)), 0.0)
    ((x, y),) = trend.predict_points(one, t0 + 3.0 / 24.0, clamp=False)  # type: ignore[misc]
    assert (x, y) == (pytest.approx(0.0, abs=1e-9), pytest.approx(180.0, abs=1e-3))
