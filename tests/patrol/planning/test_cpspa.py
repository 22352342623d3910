"""Algorithm 2 (greedy FDSS reading), the shared walk and the baselines, on hand-built cases.

Expected orders are derived by hand from the documented rule base (SELECTED iff
level(P) > level(Rd) + level(Rt)) and the documented normalisation; the derivation is in
each test's comment.  The 14-way-point test replays the greedy with scikit-fuzzy as oracle.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
import pytest

from patrol.planning import (
    FuzzyPointSelector,
    PlanOrder,
    order_cpspa,
    order_nearest,
    order_random,
    walk_route,
)

Matrix = npt.NDArray[np.float64]


def line(xs_m: list[float], speed_mps: float = 10.0) -> tuple[Matrix, Matrix]:
    """Nodes on one straight street: distances |xi - xj|, times at constant speed."""
    x = np.asarray(xs_m, dtype=np.float64)
    d = np.abs(x[:, None] - x[None, :])
    return d, d / speed_mps


def clique_with_outlier(leg: float, far: float, n_near: int) -> Matrix:
    """Nodes 0..n_near pairwise ``leg`` apart, node n_near + 1 ``far`` from all of them."""
    n = n_near + 2
    m = np.full((n, n), leg)
    m[-1, :] = far
    m[:, -1] = far
    np.fill_diagonal(m, 0.0)
    return m


def check_bookkeeping(
    plan: PlanOrder,
    d: Matrix,
    t: Matrix,
    *,
    start: int = 0,
    service_s: float = 0.0,
    budget_s: float = 8 * 3600.0,
) -> None:
    n = d.shape[0]
    waypoints = set(range(n)) - {start}
    assert len(set(plan.order)) == len(plan.order), "a way-point visited twice"
    assert start not in plan.order
    assert set(plan.order) | set(plan.skipped) == waypoints
    assert not set(plan.order) & set(plan.skipped)
    assert list(plan.skipped) == sorted(plan.skipped)
    k = len(plan.order)
    assert len(plan.arrival_s) == len(plan.leg_time_s) == len(plan.leg_distance_m) == k
    assert len(plan.scores) == k
    prev, clock = start, 0.0
    for node, arrival, leg_d, leg_t in zip(
        plan.order, plan.arrival_s, plan.leg_distance_m, plan.leg_time_s, strict=True
    ):
        assert leg_d == d[prev, node]
        assert leg_t == t[prev, node]
        assert arrival == pytest.approx(clock + leg_t, abs=1e-9)
        clock = arrival + service_s
        prev = node
    assert plan.total_time_s == pytest.approx(clock + plan.return_time_s, abs=1e-9)
    assert plan.total_distance_m == pytest.approx(
        sum(plan.leg_distance_m) + plan.return_distance_m, abs=1e-9
    )
    assert clock + plan.return_time_s <= budget_s


# ---------------------------------------------------------------- known answers


def test_equal_probabilities_go_nearest_first() -> None:
    # Station at 0 m, way-points at 4, 2, 1, 3 km; Dmax = 4 km.  All P equal -> all P = 1.
    # A 1 km leg is Rd = Rt = 0.25: near = middle = 0.375 -> selected (H,N,N)/(H,N,M)/(H,M,N)
    # and unselected (H,M,M) tie at 0.375 -> score 0.5; a 2 km leg (0.5) only fires (H,M,M)
    # -> 1/48; longer legs are lower still.  So every step takes the 1 km neighbour.
    d, t = line([0.0, 4000.0, 2000.0, 1000.0, 3000.0])
    plan = order_cpspa(d, t, np.full(5, 0.2))
    assert plan.order == (3, 2, 4, 1)
    assert plan.arrival_s == (100.0, 200.0, 300.0, 400.0)
    assert plan.scores == pytest.approx([0.5] * 4, abs=1e-12)
    assert plan.skipped == ()
    check_bookkeeping(plan, d, t)


def test_exact_ties_go_to_the_lower_index() -> None:
    # Mirror images 1 km either side of the station, equal probabilities: identical scores.
    d, t = line([0.0, 1000.0, -1000.0, 1000.0])
    plan = order_cpspa(d, t, np.ones(4))
    assert plan.order[0] == 1
    assert plan.scores[0] == order_cpspa(d, t, [0.0, 1.0, 1.0, 0.0]).scores[0]
    assert order_nearest(d, t).order[0] == 1
    # node 3 sits on node 1: a zero leg (Rd = Rt = 0) is the best possible next step
    assert plan.order[:2] == (1, 3)


def test_zero_probabilities_behave_like_equal_ones() -> None:
    d, t = line([0.0, 4000.0, 2000.0, 1000.0, 3000.0])
    assert order_cpspa(d, t, np.zeros(5)).order == (3, 2, 4, 1)


def test_equal_distances_go_to_highest_probability_first() -> None:
    # Nodes 0..3 pairwise 300 m / 600 s apart; node 4 is 3 km / 6000 s from everyone, so
    # the equal legs are Rd = Rt = 0.1 (near = 0.75).  Each step the most probable remaining
    # point has P = 1 -> selected at 0.75, nothing unselected; every other near point has
    # P <= 1/3 (each probability is >= 3x the next), so "low" > 0 fires (L,N,N) -> lower.
    # Node 4 (Rd = Rt = 1, far) is never selected and comes last.
    d = clique_with_outlier(300.0, 3000.0, 3)
    t = 2.0 * d
    plan = order_cpspa(d, t, [0.0, 0.3, 0.9, 0.1, 0.01])
    assert plan.order == (2, 1, 3, 4)
    # three near legs selected, the far one not
    assert [s >= 0.5 for s in plan.scores] == [True, True, True, False]
    check_bookkeeping(plan, d, t)


def test_all_legs_maximal_selects_nothing() -> None:
    # Documented limitation: with every leg equal, Rd = Rt = 1 (far) for all candidates and
    # no rule with far distance and far time selects, whatever P.
    d = np.full((5, 5), 300.0)
    np.fill_diagonal(d, 0.0)
    plan = order_cpspa(d, d, [0.0, 0.3, 0.9, 0.1, 0.6])
    assert sorted(plan.order) == [1, 2, 3, 4]
    assert all(s < 0.5 for s in plan.scores)


def _hourly_instance() -> tuple[Matrix, Matrix]:
    # Near nodes 1..4 pairwise 300 m and 4000 s apart; node 5 3 km / 40000 s from all:
    # every near leg is Rd = Rt = 0.1, as in the equal-distance test.
    d = clique_with_outlier(300.0, 3000.0, 4)
    t = clique_with_outlier(4000.0, 40000.0, 4)
    return d, t


def test_hour_offset_changes_the_preferred_point() -> None:
    d, t = _hourly_instance()
    row0 = [0.0, 0.9, 0.3, 0.1, 0.03, 0.001]  # prefers 1 > 2 > 3 > 4
    row1 = [0.0, 0.9, 0.03, 0.1, 0.3, 0.001]  # prefers 1 > 4 > 3 > 2
    # Static: decreasing probability.  Hourly: leave at 0 s (row 0) -> 1; leave at 4000 s
    # (row 1) -> 4; leave at 8000 s (hour 2: clamped to the last row) -> 3; then 2; then 5.
    static = order_cpspa(d, t, [row0], budget_s=1e6)
    hourly = order_cpspa(d, t, [row0, row1], budget_s=1e6)
    assert static.order == (1, 2, 3, 4, 5)
    assert hourly.order == (1, 4, 3, 2, 5)
    check_bookkeeping(hourly, d, t, budget_s=1e6)


def test_service_time_advances_the_hour() -> None:
    d, _ = _hourly_instance()
    t = clique_with_outlier(2000.0, 40000.0, 4)
    rows = [[0.0, 0.9, 0.3, 0.1, 0.03, 0.001], [0.0, 0.9, 0.03, 0.1, 0.3, 0.001]]
    # After the first 2000 s leg plus service the unit leaves at 2000 + s: hour 1 iff
    # s >= 1600.
    assert order_cpspa(d, t, rows, budget_s=1e6, service_s=1599.0).order[:2] == (1, 2)
    assert order_cpspa(d, t, rows, budget_s=1e6, service_s=1600.0).order[:2] == (1, 4)
    # slot_s rescales the rows: 30-minute slots put the second departure in row 1 already.
    assert order_cpspa(d, t, rows, budget_s=1e6, slot_s=1800.0).order[:2] == (1, 4)


def test_budget_cut_skips_the_rest() -> None:
    d, t = line([0.0, 4000.0, 2000.0, 1000.0, 3000.0])  # legs of 100 s, order 3, 2, 4, 1
    plan = order_cpspa(d, t, np.ones(5), budget_s=250.0)
    assert plan.order == (3, 2)
    assert plan.skipped == (1, 4)
    assert plan.total_time_s == 200.0
    assert plan.total_distance_m == 2000.0
    # finishing exactly at the budget is allowed
    assert order_cpspa(d, t, np.ones(5), budget_s=200.0).order == (3, 2)
    # service time counts: 3 done at 130 s, 2 would be done at 260 s > 250 s
    served = order_cpspa(d, t, np.ones(5), budget_s=250.0, service_s=30.0)
    assert served.order == (3,)
    assert served.skipped == (1, 2, 4)
    assert served.total_time_s == 130.0
    check_bookkeeping(served, d, t, service_s=30.0, budget_s=250.0)
    assert order_cpspa(d, t, np.ones(5), budget_s=50.0).order == ()


def test_return_to_start_reserves_and_drives_the_way_back() -> None:
    d, t = line([0.0, 4000.0, 2000.0, 1000.0, 3000.0])
    # 3 done at 100 s + 100 s back = 200 <= 300; 2 done at 200 s + 200 s back = 400 > 300.
    plan = order_cpspa(d, t, np.ones(5), budget_s=300.0, return_to_start=True)
    assert plan.order == (3,)
    assert (plan.return_distance_m, plan.return_time_s) == (1000.0, 100.0)
    assert (plan.total_distance_m, plan.total_time_s) == (2000.0, 200.0)
    full = order_cpspa(d, t, np.ones(5), return_to_start=True)
    assert full.order == (3, 2, 4, 1)
    assert (full.total_distance_m, full.total_time_s) == (8000.0, 800.0)
    check_bookkeeping(full, d, t)
    no_return = order_cpspa(d, t, np.ones(5))
    assert (no_return.return_distance_m, no_return.total_distance_m) == (0.0, 4000.0)


def test_station_column_is_ignored_and_start_can_be_any_node() -> None:
    d, t = line([4000.0, 2000.0, 0.0, 1000.0, 3000.0])  # station is node 2 at 0 m
    p = np.array([0.5, 0.5, 0.0, 0.5, 0.5])
    plan = order_cpspa(d, t, p, start=2)
    # same geometry as the nearest-first test, relabelled: 1 km, 2 km, 3 km, 4 km
    assert plan.order == (3, 1, 4, 0)
    loud_station = p.copy()
    loud_station[2] = 100.0
    again = order_cpspa(d, t, loud_station, start=2)
    assert again.order == plan.order
    assert again.scores == plan.scores
    check_bookkeeping(plan, d, t, start=2)


def test_unreachable_points_wait_or_are_skipped() -> None:
    d, t = line([0.0, 1000.0, 2000.0, 3000.0])
    d[0, 2] = t[0, 2] = math.inf  # 2 not reachable from the station, reachable from 1
    d[:, 3] = t[:, 3] = math.inf  # 3 not reachable from anywhere
    plan = order_cpspa(d, t, [0.0, 0.1, 1.0, 0.5])
    assert plan.order[-1] == 2 and set(plan.order) == {1, 2}
    assert plan.skipped == (3,)
    nearest = order_nearest(d, t)
    assert nearest.order == (1, 2) and nearest.skipped == (3,)


# ---------------------------------------------------------------- 14 way-points


def _instance(seed: int) -> tuple[Matrix, Matrix, Matrix]:
    rng = np.random.default_rng(seed)
    xy = rng.random((15, 2)) * 6000.0
    d = np.linalg.norm(xy[:, None] - xy[None, :], axis=-1) * rng.uniform(1.2, 1.5, (15, 15))
    t = d / rng.uniform(6.0, 12.0, (15, 15))  # asymmetric traffic
    np.fill_diagonal(d, 0.0)
    np.fill_diagonal(t, 0.0)
    p = rng.gamma(0.7, size=(8, 15))
    return d, t, p


def _oracle_check(plan: PlanOrder, d: Matrix, t: Matrix, p: Matrix, service_s: float) -> None:
    """Replay each greedy step with scikit-fuzzy and the documented normalisation."""
    ref = FuzzyPointSelector()
    dmax, tmax = d[np.isfinite(d)].max(), t[np.isfinite(t)].max()
    current, clock, remaining = 0, 0.0, list(range(1, d.shape[0]))
    for node, score in zip(plan.order, plan.scores, strict=True):
        row = p[min(int(clock // 3600.0), p.shape[0] - 1)]
        top = max(row[j] for j in remaining)
        ref_scores = {
            j: ref.score_reference(d[current, j] / dmax, t[current, j] / tmax, row[j] / top)
            for j in remaining
        }
        best = max(ref_scores.values())
        assert ref_scores[node] >= best - 1e-12, "not the best-scored candidate"
        assert min(j for j, s in ref_scores.items() if s >= best - 1e-12) == node, "tie-break"
        assert score == pytest.approx(ref_scores[node], abs=1e-12)
        clock += t[current, node] + service_s
        current = node
        remaining.remove(node)


def test_fourteen_waypoints_against_skfuzzy_oracle() -> None:
    d, t, p = _instance(14)
    plan = order_cpspa(d, t, p, service_s=600.0)
    assert len(plan.order) == 14 and plan.skipped == ()
    check_bookkeeping(plan, d, t, service_s=600.0)
    _oracle_check(plan, d, t, p, 600.0)
    assert plan.order != order_nearest(d, t, service_s=600.0).order


def test_fourteen_waypoints_budget_prefix() -> None:
    d, t, p = _instance(3)
    full = order_cpspa(d, t, p, service_s=900.0)
    cut = order_cpspa(d, t, p, service_s=900.0, budget_s=5000.0)
    assert 0 < len(cut.order) < 14
    assert cut.order == full.order[: len(cut.order)]
    # the next point of the full route did not fit
    nxt = full.order[len(cut.order)]
    end = cut.total_time_s
    prev = cut.order[-1]
    assert end + t[prev, nxt] + 900.0 > 5000.0
    check_bookkeeping(cut, d, t, service_s=900.0, budget_s=5000.0)


# ---------------------------------------------------------------- baselines and the walk


def test_nearest_is_by_time_not_distance() -> None:
    d = np.array([[0, 1000, 2000], [1000, 0, 1000], [2000, 1000, 0]], dtype=float)
    t = np.array([[0, 300, 120], [300, 0, 100], [120, 100, 0]], dtype=float)
    plan = order_nearest(d, t)
    assert plan.order == (2, 1)
    assert plan.arrival_s == (120.0, 220.0)
    assert all(math.isnan(s) for s in plan.scores)


def test_random_is_a_seeded_permutation_with_the_same_budget_rule() -> None:
    d, t, _ = _instance(7)
    plans = [order_random(d, t, seed=s, budget_s=1e7) for s in range(5)]
    for plan in plans:
        assert sorted(plan.order) == list(range(1, 15))
        check_bookkeeping(plan, d, t, budget_s=1e7)
    assert len({plan.order for plan in plans}) > 1
    assert order_random(d, t, seed=3, budget_s=1e7).order == plans[3].order
    cut = order_random(d, t, seed=3, budget_s=4000.0)
    assert cut.order == plans[3].order[: len(cut.order)]
    assert len(cut.order) < 14
    check_bookkeeping(cut, d, t, budget_s=4000.0)


def test_walk_route_rejects_revisits() -> None:
    d, t = line([0.0, 100.0, 200.0])
    with pytest.raises(ValueError, match="not an unvisited"):
        walk_route(d, t, lambda cur, clock, rem: (1, 0.0))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"probability": np.ones(4)}, "probability"),
        ({"probability": -np.ones(5)}, "non-negative"),
        ({"probability": np.full(5, np.nan)}, "finite"),
        ({"start": 5}, "start"),
        ({"slot_s": 0.0}, "slot_s"),
        ({"budget_s": -1.0}, "budget_s"),
        ({"distance_m": np.zeros((5, 4))}, "square"),
        ({"time_s": np.full((5, 5), np.nan)}, "NaN"),
    ],
)
def test_invalid_inputs(kwargs: dict[str, object], match: str) -> None:
    d, t = line([0.0, 4000.0, 2000.0, 1000.0, 3000.0])
    args: dict[str, object] = {"distance_m": d, "time_s": t, "probability": np.ones(5)}
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        order_cpspa(**args)  # type: ignore[arg-type]


def test_all_planners_share_one_call_signature() -> None:
    d, t, p = _instance(21)
    for planner in (order_cpspa, order_nearest, order_random):
        plan = planner(d, t, p, start=0, budget_s=7 * 3600.0, return_to_start=True)
        check_bookkeeping(plan, d, t, budget_s=7 * 3600.0)
    # the baselines ignore the probabilities
    assert order_nearest(d, t, p).order == order_nearest(d, t, 1.0 - p / p.max()).order
    assert order_random(d, t, p).order == order_random(d, t).order
