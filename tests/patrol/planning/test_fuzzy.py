"""The FDSS of paper section 5.5: fast path vs scikit-fuzzy, rule base, guaranteed properties."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from patrol.planning.fuzzy import (
    DEFAULT_RULES,
    OUTPUT_WIDTH,
    FuzzyPointSelector,
    FuzzyRule,
    centroid_score,
)

# Set corners of section 5.5 plus the peaks and the two points where the sets cross.
BOUNDARIES = (0.0, 0.1, 0.25, 0.4, 0.5, 0.6, 0.75, 0.9, 1.0)
CORNERS = (0.0, 0.1, 0.4, 0.6, 0.9, 1.0)
# Both paths compute the exact centroid of the same piecewise-linear output from bit-identical
# rule strengths; they differ only in float summation order (observed <= 4e-16).
TOL = 1e-12
# A single output term at full strength: centroid of a right triangle of half-width w sits
# w/3 from its peak, w = 1/16 -> 1/48 and 47/48.
LOW, HIGH = 1.0 / 48.0, 47.0 / 48.0

unit = st.one_of(st.sampled_from(BOUNDARIES), st.floats(0.0, 1.0, allow_nan=False))


@pytest.fixture(scope="module")
def fdss() -> FuzzyPointSelector:
    return FuzzyPointSelector()


def test_output_width_is_the_documented_one() -> None:
    assert OUTPUT_WIDTH == 1.0 / 16.0


def test_default_rule_base_is_the_documented_table() -> None:
    selected = {(r.probability, r.distance, r.time) for r in DEFAULT_RULES if r.selected}
    assert selected == {
        ("medium", "near", "near"),
        ("high", "near", "near"),
        ("high", "near", "middle"),
        ("high", "middle", "near"),
    }
    assert len(DEFAULT_RULES) == 27
    combos = {(r.probability, r.distance, r.time) for r in DEFAULT_RULES}
    assert len(combos) == 27


def test_paper_example_rule_is_deliberately_reversed() -> None:
    (rule,) = [
        r
        for r in DEFAULT_RULES
        if (r.probability, r.distance, r.time) == ("high", "middle", "near")
    ]
    assert rule.selected


def test_rule_base_must_be_complete_and_unique() -> None:
    with pytest.raises(ValueError, match="27"):
        FuzzyPointSelector(DEFAULT_RULES[:-1])
    with pytest.raises(ValueError, match="duplicate"):
        FuzzyPointSelector((*DEFAULT_RULES, FuzzyRule("low", "near", "near", selected=True)))


@pytest.mark.parametrize(
    ("p", "d", "t"),
    list(
        itertools.product(
            ("low", "medium", "high"), ("near", "middle", "far"), ("near", "middle", "far")
        )
    ),
)
def test_score_at_label_peaks_is_the_rule_verdict(
    fdss: FuzzyPointSelector, p: str, d: str, t: str
) -> None:
    peak = {"low": 0.0, "medium": 0.5, "high": 1.0, "near": 0.0, "middle": 0.5, "far": 1.0}
    level = {"low": 0, "medium": 1, "high": 2, "near": 0, "middle": 1, "far": 2}
    expected = HIGH if level[p] > level[d] + level[t] else LOW
    assert float(fdss.score(peak[d], peak[t], peak[p])) == pytest.approx(expected, abs=1e-15)
    assert float(fdss.score_reference(peak[d], peak[t], peak[p])) == pytest.approx(
        expected, abs=TOL
    )


@pytest.mark.slow
def test_fast_path_matches_skfuzzy_on_the_corner_grid(fdss: FuzzyPointSelector) -> None:
    grid = np.array(list(itertools.product(CORNERS, repeat=3)))
    fast = fdss.score(grid[:, 0], grid[:, 1], grid[:, 2])
    ref = np.array([fdss.score_reference(d, t, p) for d, t, p in grid])
    np.testing.assert_allclose(fast, ref, rtol=0, atol=TOL)


@settings(max_examples=80, deadline=None)
@given(d=unit, t=unit, p=unit)
def test_fast_path_matches_skfuzzy(d: float, t: float, p: float) -> None:
    fdss = _shared()
    assert float(fdss.score(d, t, p)) == pytest.approx(fdss.score_reference(d, t, p), abs=TOL)


def test_fast_path_matches_skfuzzy_for_a_custom_rule_base() -> None:
    # Paper-compatible table: selected iff P is high and Rd is near.
    rules = [
        FuzzyRule(p, d, t, selected=(p, d) == ("high", "near"))
        for p in ("low", "medium", "high")
        for d in ("near", "middle", "far")
        for t in ("near", "middle", "far")
    ]
    custom = FuzzyPointSelector(rules)
    rng = np.random.default_rng(5)
    x = rng.random((25, 3))
    fast = custom.score(x[:, 0], x[:, 1], x[:, 2])
    ref = [custom.score_reference(*row) for row in x]
    np.testing.assert_allclose(fast, ref, rtol=0, atol=TOL)


def test_out_of_range_inputs_are_clipped_like_skfuzzy(fdss: FuzzyPointSelector) -> None:
    assert float(fdss.score(-0.5, 1.7, 2.0)) == pytest.approx(
        fdss.score_reference(-0.5, 1.7, 2.0), abs=TOL
    )
    assert float(fdss.score(-0.5, 1.7, 2.0)) == float(fdss.score(0.0, 1.0, 1.0))


def test_non_finite_inputs_are_rejected(fdss: FuzzyPointSelector) -> None:
    with pytest.raises(ValueError, match="finite"):
        fdss.score([0.1, np.nan], 0.2, 0.3)
    with pytest.raises(ValueError, match="finite"):
        fdss.score_reference(0.1, np.inf, 0.3)


def test_centroid_closed_form_by_hand() -> None:
    w = 1.0 / 16.0
    # a = 0.5, s = 1: areas w*0.375 and w*0.5; moments w^2*(1-0.125)/6 and w^2/6 about the
    # peaks; score = (w^2*0.875/6 + w*0.5 - w^2/6) / (w*0.875).
    expected = (w * w * 0.875 / 6 + w * 0.5 - w * w / 6) / (w * 0.875)
    got = centroid_score([1.0, 0.0, 0.3, 0.5], [0.0, 1.0, 0.3, 1.0])
    np.testing.assert_allclose(got, [LOW, HIGH, 0.5, expected], rtol=0, atol=1e-15)


@given(a=st.floats(0.0, 1.0), s=st.floats(0.0, 1.0))
def test_centroid_matches_numerical_integration(a: float, s: float) -> None:
    if max(a, s) < 1e-3:
        return  # the FDSS never produces this (max activation >= 0.375)
    x = np.linspace(0.0, 1.0, 200_001)
    w = 1.0 / 16.0
    mf = np.maximum(
        np.minimum(a, np.clip(1 - x / w, 0, 1)), np.minimum(s, np.clip(1 - (1 - x) / w, 0, 1))
    )
    numeric = float(np.trapezoid(x * mf, x) / np.trapezoid(mf, x))
    assert float(centroid_score(a, s)) == pytest.approx(numeric, abs=1e-6)


@settings(max_examples=300)
@given(d=unit, t=unit, p=unit)
def test_decision_is_selected_activation_at_least_unselected(d: float, t: float, p: float) -> None:
    fdss = _shared()
    a, s = fdss.activations(d, t, p)
    assert max(float(a), float(s)) >= 0.375 - 1e-12  # never an empty output
    if abs(float(s) - float(a)) > 1e-12:  # at exact ties the centroid is 0.5 +- rounding
        assert bool(fdss.selected(d, t, p)) == (float(s) > float(a))
    else:
        assert float(fdss.score(d, t, p)) == pytest.approx(0.5, abs=1e-12)
    assert LOW - 1e-15 <= float(fdss.score(d, t, p)) <= HIGH + 1e-15


@settings(max_examples=400)
@given(d=unit, t=unit, p=unit, step=st.floats(0.0, 1.0))
def test_decision_monotone(d: float, t: float, p: float, step: float) -> None:
    fdss = _shared()
    here = bool(fdss.selected(d, t, p))
    more_p = bool(fdss.selected(d, t, min(p + step, 1.0)))
    less_d = bool(fdss.selected(max(d - step, 0.0), t, p))
    less_t = bool(fdss.selected(d, max(t - step, 0.0), p))
    if here:
        assert more_p and less_d and less_t


def test_decision_monotone_on_a_dense_grid(fdss: FuzzyPointSelector) -> None:
    g = np.linspace(0.0, 1.0, 61)
    d, t, p = np.meshgrid(g, g, g, indexing="ij")
    sel = fdss.selected(d, t, p).astype(int)
    assert (np.diff(sel, axis=0) <= 0).all()
    assert (np.diff(sel, axis=1) <= 0).all()
    assert (np.diff(sel, axis=2) >= 0).all()
    assert 0 < sel.sum() < sel.size


def test_score_is_not_monotone_between_peaks(fdss: FuzzyPointSelector) -> None:
    """Documented sag: Rd = Rt = 0, P = 0.75 has medium = high = 0.375 and low = 0."""
    w = 1.0 / 16.0
    h = 0.375
    area = w * h * (1 - h / 2)
    moment = w * w * (1 - (1 - h) ** 3) / 6
    expected = 1.0 - moment / area  # only "selected" active, clipped at 0.375
    assert float(fdss.score(0.0, 0.0, 0.75)) == pytest.approx(expected, abs=1e-15)
    assert float(fdss.score(0.0, 0.0, 0.75)) < float(fdss.score(0.0, 0.0, 0.5)) == HIGH


def test_selected_examples(fdss: FuzzyPointSelector) -> None:
    # near leg: medium or high probability selected, low not
    assert fdss.selected(0.05, 0.05, [0.05, 0.5, 1.0]).tolist() == [False, True, True]
    # middle distance and middle time: never (level 2 is not > 1 + 1)
    assert fdss.selected(0.5, 0.5, [0.0, 0.5, 1.0]).tolist() == [False, False, False]
    # high probability, near time, middle distance: selected (the paper's example reversed)
    assert bool(fdss.selected(0.5, 0.0, 1.0))


def test_broadcast_shapes(fdss: FuzzyPointSelector) -> None:
    out = fdss.score(np.zeros((2, 1)), np.zeros((1, 3)), 1.0)
    assert out.shape == (2, 3)
    assert np.all(out == HIGH)


_SHARED: list[FuzzyPointSelector] = []


def _shared() -> FuzzyPointSelector:
    """One selector for hypothesis tests (function-scoped fixtures do not mix with @given)."""
    if not _SHARED:
        _SHARED.append(FuzzyPointSelector())
    return _SHARED[0]
