"""Hit rate and PAI on hand-built cases whose answers are worked out by hand in each test."""

from __future__ import annotations

import math

import numpy as np
import pytest

from patrol.evaluation.measures import SHARES, hit_rates, max_hit_rates, pai


def test_no_ties_whole_cells() -> None:
    # 100 cells; risk decreasing with the index. Incidents: 10 in cell 0, 5 in cell 1,
    # 1 in each of cells 2..9 (8), 2 in cell 50, 25 in cell 99: total 50.
    risk = np.arange(100, 0, -1, dtype=float)
    counts = np.zeros(100)
    counts[0], counts[1], counts[2:10], counts[50], counts[99] = 10, 5, 1, 2, 25
    h = hit_rates(risk, counts, [0.01, 0.05, 0.10])
    # top 1 cell: 10; top 5 cells: 10 + 5 + 3 = 18; top 10 cells: 10 + 5 + 8 = 23.
    assert h.tolist() == pytest.approx([10 / 50, 18 / 50, 23 / 50])
    assert pai(h, [0.01, 0.05, 0.10]).tolist() == pytest.approx([20.0, 7.2, 4.6])


def test_ties_at_the_cut_are_split_proportionally() -> None:
    # 20 cells. Cell 0 has the top risk, cells 1..4 tie on the second risk, the rest tie low.
    # Top 10% = 2 cells: cell 0 plus 1 of the 4 tied cells' worth = a quarter of their 12.
    risk = np.array([9.0] + [5.0] * 4 + [1.0] * 15)
    counts = np.array([6.0, 4.0, 0.0, 8.0, 0.0] + [0.0] * 14 + [2.0])  # total 20
    assert hit_rates(risk, counts, [0.10]).tolist() == pytest.approx([(6 + 12 / 4) / 20])
    # Top 25% = 5 cells: cell 0 and the whole tied group (12), nothing of the low group.
    assert hit_rates(risk, counts, [0.25]).tolist() == pytest.approx([18 / 20])
    # Top 50% = 10 cells: 18 plus 5 of the 15 low cells' worth = a third of their 2.
    assert hit_rates(risk, counts, [0.50]).tolist() == pytest.approx([(18 + 2 / 3) / 20])


def test_tie_split_does_not_depend_on_the_order_of_the_tied_cells() -> None:
    risk = np.array([3.0, 3.0, 3.0, 3.0])
    a = hit_rates(risk, [4.0, 0.0, 0.0, 0.0], [0.25])
    b = hit_rates(risk, [0.0, 0.0, 0.0, 4.0], [0.25])
    assert a.tolist() == b.tolist() == [0.25]  # a quarter of the tied group's 4 incidents


def test_fractional_cut_counts_part_of_a_cell() -> None:
    # 8 cells, 1% of 8 = 0.08 cells: 8% of the top cell's incidents.
    risk = np.arange(8, 0, -1, dtype=float)
    counts = np.array([5.0, 5.0, 0, 0, 0, 0, 0, 0])
    assert hit_rates(risk, counts, [0.01]).tolist() == pytest.approx([0.08 * 5 / 10])


def test_incidents_outside_the_city_count_in_the_denominator() -> None:
    h = hit_rates([2.0, 1.0], [3.0, 1.0], [0.5], outside=4.0)
    assert h.tolist() == [3 / 8]


def test_nan_risk_ranks_last_and_empty_period_is_nan() -> None:
    h = hit_rates([np.nan, 1.0, 0.5, 0.0], [10.0, 2.0, 0.0, 0.0], [0.25, 0.75])
    assert h.tolist() == pytest.approx([2 / 12, 2 / 12])
    assert np.isnan(hit_rates([1.0, 2.0], [0.0, 0.0], [0.5])).all()


def test_maximum_possible_and_full_area() -> None:
    counts = np.array([0.0, 7.0, 1.0, 2.0])
    assert max_hit_rates(counts, [0.25, 0.5, 1.0]).tolist() == pytest.approx([0.7, 0.9, 1.0])
    # any forecast finds everything at 100% of the area
    assert hit_rates([0.0, 0.0, 5.0, 1.0], counts, [1.0]).tolist() == [1.0]


def test_defaults_and_validation() -> None:
    assert SHARES == (0.01, 0.05, 0.10)
    with pytest.raises(ValueError, match="shares"):
        hit_rates([1.0], [1.0], [1.5])
    with pytest.raises(ValueError, match="cells"):
        hit_rates([1.0, 2.0], [1.0], [0.5])
    with pytest.raises(ValueError, match=">= 0"):
        hit_rates([1.0], [-1.0], [0.5])
    assert math.isclose(float(pai([0.2], [0.01])[0]), 20.0)
