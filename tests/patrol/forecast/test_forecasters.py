"""Each forecaster on a tiny synthetic case with a known ranking, plus the shared base rules."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from patrol.config import EngineConfig
from patrol.evaluation.events import Events
from patrol.evaluation.grid import Grid
from patrol.forecast import (
    METHODS,
    AllHistory,
    BoostedCells,
    EngineForecaster,
    GridSEPP,
    PreviousPeriods,
    ProspectiveHotspot,
    RetrospectiveKDE,
    WindowCounts,
    make_forecasters,
)
from patrol.forecast.base import period_slots

ROW = Grid(100.0, 0.0, 0.0, 6, 1)  # six 100 m cells in a row
ALL = np.arange(6)


def _at(cells_times: list[tuple[int, float]], grid: Grid = ROW) -> Events:
    x, y = grid.centres([c for c, _ in cells_times])
    return Events.from_arrays(t=[t for _, t in cells_times], x=x, y=y)


def _rank(risk: np.ndarray) -> list[int]:
    return [int(i) for i in np.argsort(-risk, kind="stable")]


def test_count_baselines_known_values() -> None:
    # cell 0: one incident a week for 8 weeks (days 0..49); cell 3: five in the last week;
    # cell 5: ten long ago (day 1).
    ev = _at([(0, 7.0 * w) for w in range(8)] + [(3, 50.0 + k) for k in range(5)]
             + [(5, 1.0)] * 10)  # fmt: skip
    start = 56.0
    assert PreviousPeriods(1).fit(ev, ROW).predict(ALL, start, 7.0).tolist() == [1, 0, 0, 5, 0, 0]
    assert PreviousPeriods(4).fit(ev, ROW).predict(ALL, start, 7.0).tolist() == [4, 0, 0, 5, 0, 0]
    assert WindowCounts(60.0).fit(ev, ROW).predict(ALL, start, 7.0).tolist() == [8, 0, 0, 5, 0, 10]
    assert AllHistory().fit(ev, ROW).predict(ALL, start, 7.0).tolist() == [8, 0, 0, 5, 0, 10]
    # a daily forecast: the previous period is the previous day
    assert PreviousPeriods(1).fit(ev, ROW).predict(ALL, 55.0, 1.0).tolist() == [0, 0, 0, 1, 0, 0]


def test_learning_must_follow_time_and_learn_one_is_buffered() -> None:
    f = AllHistory().fit(_at([(1, 5.0)]), ROW)
    with pytest.raises(ValueError, match="time order"):
        f.learn(_at([(1, 4.0)]))
    x, y = ROW.centres([4])
    f.learn_one(float(x[0]), float(y[0]), 6.0)
    f.learn_one(float(x[0]), float(y[0]), 6.5)
    assert f.predict(ALL, 7.0).tolist() == [0, 1, 0, 0, 2, 0]
    with pytest.raises(RuntimeError, match="fit"):
        AllHistory().predict(ALL, 1.0)


def test_retrospective_kde_is_a_smoothed_mass() -> None:
    grid = Grid(100.0, 0.0, 0.0, 21, 21)
    centre = int(grid.cell_of([1050.0], [1050.0])[0])
    # four incidents placed symmetrically around the centre cell's centre (1050, 1050)
    ev = Events.from_arrays(
        [1.0] * 4, [1025.0, 1075.0, 1025.0, 1075.0], [1025.0, 1025.0, 1075.0, 1075.0]
    )
    f = RetrospectiveKDE(bandwidth_m=100.0).fit(ev, grid)
    r = f.predict(np.arange(grid.size), 2.0)
    assert int(np.argmax(r)) == centre
    assert r.sum() == pytest.approx(4.0, rel=1e-6)  # all the mass stays inside the grid
    east, west = grid.cell_of([1150.0, 950.0], [1050.0, 1050.0])
    assert r[east] == pytest.approx(r[west]) and 0 < r[east] < r[centre]
    # incidents older than the window are ignored
    assert RetrospectiveKDE(window_days=0.5).fit(ev, grid).predict([centre], 2.0).tolist() == [0]


def test_prospective_hotspot_weights_by_hand() -> None:
    grid = Grid(50.0, 0.0, 0.0, 12, 1)  # the paper's 50 m cells
    ev = _at([(0, 0.5), (0, 60.0), (2, 62.0), (3, 69.0)], grid)
    r = ProspectiveHotspot().fit(ev, grid).predict(np.arange(12), 70.0)
    # at day 70: cell 0's incidents are 9 weeks old (ignored) and 1 week old (1/2); cell 2's
    # 1 week old (1/2); cell 3's 0 weeks old (1). Space weight 1/(1 + d) for d < 8 cells.
    expected = [0.5 / (1 + abs(c)) * (abs(c) < 8) + 0.5 / (1 + abs(c - 2)) * (abs(c - 2) < 8)
                + 1.0 / (1 + abs(c - 3)) * (abs(c - 3) < 8) for c in range(12)]  # fmt: skip
    assert r.tolist() == pytest.approx(expected)
    assert _rank(r)[0] == 3 and r[11] == 0.0  # 8 cells = 400 m from cell 3: nothing


def test_prospective_hotspot_sums_fine_cells_into_coarse_ones() -> None:
    coarse = Grid(150.0, 0.0, 0.0, 3, 1)
    ev = _at([(0, 1.0)], Grid(50.0, 0.0, 0.0, 9, 1))  # one incident in the first 50 m cell
    r = ProspectiveHotspot().fit(ev, coarse).predict([0, 1, 2], 2.0)
    # A 150 m cell holds 3 x 3 of the paper's 50 m cells; the incident is in the corner one
    # (dx = dy = 0), and a 50 m cell at (dx, dy) weighs 1 / (1 + max(dx, dy)) below 8.
    weight = {d: 1.0 / (1 + d) if d < 8 else 0.0 for d in range(9)}
    expected = [sum(weight[max(dx, dy)] for dx in range(3 * c, 3 * c + 3) for dy in range(3))
                for c in range(3)]  # fmt: skip
    assert expected[0] == pytest.approx(1 + 3 / 2 + 5 / 3)
    assert r.tolist() == pytest.approx(expected)


def _simulate_hawkes(mu: np.ndarray, theta: float, omega: float, span: float, seed: int):
    """Per cell: background Poisson(mu) plus, recursively, Poisson(theta) offspring each at
    an exponential(omega) delay (the branching form of the grid Hawkes process)."""
    rng = np.random.default_rng(seed)
    out = []
    for cell, m in enumerate(mu):
        gen = list(rng.uniform(0.0, span, rng.poisson(m * span)))
        while gen:
            out += [(cell, t) for t in gen]
            kids = []
            for t in gen:
                kids += list(t + rng.exponential(1.0 / omega, rng.poisson(theta)))
            gen = [t for t in kids if t < span]
    return out


def test_sepp_recovers_known_parameters() -> None:
    grid = Grid(100.0, 0.0, 0.0, 40, 1)
    mu = np.linspace(0.05, 0.5, 40)
    ev = _at(_simulate_hawkes(mu, theta=0.4, omega=0.5, span=730.0, seed=3), grid)
    f = GridSEPP(window_days=730.0).fit(ev, grid)
    f.predict(np.arange(40), 730.0, 7.0)
    p = f.params
    assert p is not None
    assert p.theta == pytest.approx(0.4, abs=0.06)
    assert p.omega == pytest.approx(0.5, rel=0.3)
    assert np.corrcoef(p.mu[:40], mu)[0, 1] > 0.95


def test_sepp_ranks_fresh_bursts_above_equal_old_ones() -> None:
    events = [(c, float(d)) for c in (1, 4) for d in range(0, 700, 5)]
    events += [(1, 698.0 + k / 10) for k in range(5)] + [(4, 300.0 + k / 10) for k in range(5)]
    f = GridSEPP().fit(_at(events), ROW)
    r = f.predict(ALL, 700.0, 1.0)
    assert _rank(r)[:2] == [1, 4] and r[0] == 0.0


def test_engine_forecaster_follows_the_space_time_table() -> None:
    # Two equal clusters 3 km apart: A only on Mondays at 20:00, B only on Tuesdays at 20:00.
    tz = ZoneInfo("America/Chicago")
    grid = Grid(150.0, 0.0, 0.0, 30, 4)
    monday = datetime(2016, 2, 1, tzinfo=tz).timestamp() / 86400
    rows = []
    for w in range(8):
        for k in range(5):
            rows.append((monday + 7 * w + 20 / 24 + k / 1e4, 300.0 + 10 * k, 0))
            rows.append((monday + 7 * w + 1 + 20 / 24 + k / 1e4, 3300.0 + 10 * k, 1))
    t, x, dow = zip(*sorted(rows), strict=True)
    ev = Events.from_arrays(t=t, x=x, y=[300.0] * len(t), hour=[20] * len(t), dow=dow)
    f = EngineForecaster(EngineConfig(min_incidents=10), tz=tz).fit(ev, grid)
    a, b = grid.cell_of([300.0, 3300.0], [300.0, 300.0])
    mon = f.predict(np.array([a, b]), monday + 56, 1.0)
    tue = f.predict(np.array([a, b]), monday + 57, 1.0)
    assert mon[0] > 0 and mon[1] == 0  # Monday: only cluster A's hours
    assert tue[1] > 0 and tue[0] == 0
    week = f.predict(np.array([a, b]), monday + 56, 7.0)
    assert week[0] == pytest.approx(week[1], rel=0.05)  # a whole week: both alike


def test_boosted_learns_a_combination_no_single_window_has() -> None:
    # Cell 0: steady, 1 a week for 2 years. Cell 2: 30 a week for 10 weeks, 1.5 years ago,
    # (more in the last two years than cell 0, none lately). Cell 4: nothing. The all-history
    # baseline ranks the old burst first; the learned model sees it is gone.
    steady = [(0, 7.0 * w + 3) for w in range(104)]
    burst = [(2, 100.0 + w * 7 + k / 10) for w in range(10) for k in range(30)]
    ev = _at(steady + burst)
    f = BoostedCells(n_origins=30, min_samples_leaf=2).fit(ev, ROW)
    r = f.predict(ALL, 728.0, 7.0)
    assert _rank(r)[0] == 0
    assert _rank(AllHistory().fit(ev, ROW).predict(ALL, 728.0, 7.0))[0] == 2
    assert f.model is not None and f.n_train_rows == 30 * 6
    assert len(f.feature_names) == f.features(ALL, 728.0, 7.0).shape[1]


def test_boosted_retrains_on_schedule_without_look_ahead() -> None:
    ev = _at([(c, float(d)) for d in range(0, 200) for c in (1, 3) if (d + c) % 3 == 0])
    f = BoostedCells(n_origins=5, retrain_every=2, min_samples_leaf=2).fit(ev.before(150.0), ROW)
    trained = []
    for s in (150.0, 157.0, 164.0, 171.0):
        f.learn(ev.between(f.events.t_max + 1e-9, s))
        f.predict(ALL, s, 7.0)
        trained.append(f.trained_at)
    assert trained == [150.0, 150.0, 164.0, 164.0]


def test_registry_builds_every_method() -> None:
    fs = make_forecasters(tz=ZoneInfo("UTC"))
    assert [f.name for f in fs] == list(METHODS)
    assert [f.name for f in fs if not f.baseline] == [
        "engine-kde-table",
        "ours-boosted",
        "ours-served",
    ]
    assert [f.kind for f in fs if not f.baseline] == ["engine", "ours", "ours"]
    assert make_forecasters(["ours-boosted"], period_days=1.0)[0].n_origins == 56  # type: ignore[attr-defined]


def test_period_slots_cover_the_local_hours() -> None:
    tz = ZoneInfo("America/Chicago")
    tuesday = datetime(2016, 7, 5, tzinfo=tz).timestamp() / 86400
    assert period_slots(tuesday, 1.0, tz).tolist() == list(range(24, 48))
    assert sorted(period_slots(tuesday, 7.0, tz).tolist()) == list(range(168))
