"""Metrics against values worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from models.arrest.metrics import brier, ece, reliability, summary


def test_ece_of_a_calibrated_and_an_over_predicting_model() -> None:
    y = np.array([0, 0, 0, 1] * 25)
    assert ece(y, np.full(100, 0.25)) == pytest.approx(0.0)
    assert ece(y, np.full(100, 0.35)) == pytest.approx(0.10)


def test_reliability_bins_and_brier() -> None:
    mp, rate, n = reliability(np.array([1, 0, 1]), np.array([0.0, 0.55, 1.0]), bins=2)
    assert n.tolist() == [1, 2] and mp.tolist() == [0.0, pytest.approx(0.775)]
    assert rate.tolist() == [1.0, 0.5]
    assert brier(np.array([1, 0]), np.array([0.8, 0.4])) == pytest.approx((0.04 + 0.16) / 2)


def test_summary_majority_and_accuracy() -> None:
    y = np.array([0, 0, 0, 1])
    m = summary(y, np.array([0.1, 0.6, 0.2, 0.9]), train_rate=0.3)
    assert m["majority_accuracy"] == 0.75 and m["accuracy"] == 0.75
    assert m["roc_auc"] == 1.0 and m["rows"] == 4 and m["arrest_rate"] == 0.25
