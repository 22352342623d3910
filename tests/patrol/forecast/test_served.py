"""The served forecaster: per-district rows, no look-ahead, the model arithmetic."""

from __future__ import annotations

import math

import numpy as np
import pytest

from patrol.evaluation.events import Events
from patrol.evaluation.grid import Grid
from patrol.forecast import LookAheadError, make_forecasters
from patrol.forecast.features import feature_names
from patrol.forecast.served import CellRateModel, DistrictBoosted, district_features

GRID = Grid(150.0, 0.0, 0.0, 6, 4)


def two_districts(extra_b: int = 0, seed: int = 0) -> Events:
    """District A (area 0) on the left half, B (area 1) on the right; weekly-ish incidents."""
    rng = np.random.default_rng(seed)
    n = 400
    t = np.sort(rng.uniform(0, 800, n))
    x = np.where(np.arange(n) % 2 == 0, rng.uniform(0, 440, n), rng.uniform(460, 890, n))
    area = (x > 450).astype(int)
    y = rng.uniform(0, 590, n)
    if extra_b:
        t = np.concatenate([t, rng.uniform(0, 800, extra_b)])
        x = np.concatenate([x, rng.uniform(460, 890, extra_b)])
        y = np.concatenate([y, rng.uniform(0, 590, extra_b)])
        area = np.concatenate([area, np.ones(extra_b, int)])
    return Events.from_arrays(t=t, x=x, y=y, hour=(t * 24 % 24).astype(int), area=area,
                              areas=("A", "B"))  # fmt: skip


def test_features_read_only_incidents_before_the_origin() -> None:
    ev = two_districts()
    cells = GRID.cell_of(ev.x, ev.y)
    origin = 500.0
    c1, x1 = district_features(ev.before(origin), cells[: ev.index_of(origin)], GRID, origin,
                               7.0, None)  # fmt: skip
    c2, x2 = district_features(ev, cells, GRID, origin, 7.0, None)  # the future is in ev too
    assert c1.tolist() == c2.tolist()
    assert np.array_equal(x1, x2)


def test_a_districts_rows_ignore_other_districts_incidents() -> None:
    base, more = DistrictBoosted(n_origins=5), DistrictBoosted(n_origins=5)
    base.fit(two_districts(), GRID)
    more.fit(two_districts(extra_b=300), GRID)  # same A, many more incidents in B
    (da, ca, xa), (db, cb, xb) = base.rows(600.0, 7.0), more.rows(600.0, 7.0)
    assert np.array_equal(ca[da == 0], cb[db == 0])
    assert np.array_equal(xa[da == 0], xb[db == 0])
    assert not np.array_equal(xa[da == 1], xb[db == 1])


def test_rows_count_each_districts_own_incidents() -> None:
    ev = two_districts()
    f = DistrictBoosted(n_origins=5).fit(ev, GRID)
    dist, cells, x = f.rows(600.0, 7.0)
    col = feature_names().index("n_365d")
    ev_cells = GRID.cell_of(ev.x, ev.y)
    for a in (0, 1):
        for c, v in zip(cells[dist == a], x[dist == a, col], strict=True):
            expected = np.sum((ev.area == a) & (ev_cells == c) & (ev.t >= 235.0) & (ev.t < 600.0))
            assert v == expected


def test_labels_are_the_districts_counts_in_the_next_period() -> None:
    ev = two_districts()
    f = DistrictBoosted(n_origins=5).fit(ev, GRID)
    dist, cells, _ = f.rows(300.0, 7.0)
    got = f._labels(dist, cells, 300.0, 307.0)
    ev_cells = GRID.cell_of(ev.x, ev.y)
    want = [np.sum((ev.area == a) & (ev_cells == c) & (ev.t >= 300.0) & (ev.t < 307.0))
            for a, c in zip(dist, cells, strict=True)]  # fmt: skip
    assert got.tolist() == [float(w) for w in want]


def test_forecast_sums_the_districts_rows_and_refuses_look_ahead() -> None:
    ev = two_districts()
    f = DistrictBoosted(n_origins=10, min_samples_leaf=5).fit(ev.before(700.0), GRID)
    risk = f.predict(np.arange(GRID.size), 700.0, 7.0)
    _, cells, x = f.rows(700.0, 7.0)
    per_row = f.served_model().forecast(x)
    assert risk.sum() == pytest.approx(per_row.sum())
    for c in np.unique(cells):
        assert risk[c] == pytest.approx(per_row[cells == c].sum())
    f.learn(ev.between(700.0, 710.0))
    with pytest.raises(LookAheadError):
        f.predict(np.arange(GRID.size), 705.0, 7.0)


def test_cell_rate_model_is_exp_raw_times_exposure() -> None:
    th = [np.array([1.5, 10.0]), np.array([])]
    m = CellRateModel(th, 0, 0.5, lambda b: b[:, 0] * 0.1, "test")
    x = np.array([[0.0, 7.0], [2.0, 7.0], [20.0, 1.0]], dtype=np.float32)
    # bins of column 0: 0 -> 0, 2 -> 1, 20 -> 2; raw = bin / 10
    assert m.forecast(x).tolist() == pytest.approx(
        [math.exp(0.0) * 0.5, math.exp(0.1) * 2.5, math.exp(0.2) * 20.5]
    )
    with pytest.raises(ValueError, match="expected 2 feature columns, got 3"):
        m.forecast(np.zeros((1, 3), np.float32))


def test_served_method_is_registered_as_ours() -> None:
    (f,) = make_forecasters(["ours-served"])
    assert isinstance(f, DistrictBoosted) and f.kind == "ours" and not f.baseline
