"""Metrics of a probabilistic arrest classifier (design.md "Arrest model").

ECE is the expected calibration error over ``bins`` equal-width probability bins:
``sum_b (n_b / n) * |mean(p in b) - mean(y in b)|``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score

ECE_BINS = 10
"""Number of equal-width bins of the ECE and of the reliability diagram."""


def reliability(
    y: np.ndarray, p: np.ndarray, bins: int = ECE_BINS
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per equal-width bin: mean predicted probability, observed rate, row count.

    Empty bins have NaN means and count 0.

    Examples
    --------
    >>> mp, rate, n = reliability(np.array([0, 1, 1, 1]), np.array([0.05, 0.15, 0.95, 0.85]), 2)
    >>> mp.round(2).tolist(), rate.round(2).tolist(), n.tolist()
    ([0.1, 0.9], [0.5, 1.0], [2, 2])
    """
    y = np.asarray(y, dtype=np.float64)
    p = np.asarray(p, dtype=np.float64)
    idx = np.clip((p * bins).astype(np.int64), 0, bins - 1)
    n = np.bincount(idx, minlength=bins)
    sp = np.bincount(idx, weights=p, minlength=bins)
    sy = np.bincount(idx, weights=y, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        return sp / n, sy / n, n


def ece(y: np.ndarray, p: np.ndarray, bins: int = ECE_BINS) -> float:
    """Expected calibration error (equal-width bins).

    Examples
    --------
    >>> round(ece(np.array([0, 1, 1, 1]), np.array([0.05, 0.15, 0.95, 0.85]), 2), 3)
    0.25
    """
    mp, rate, n = reliability(y, p, bins)
    used = n > 0
    return float(np.sum(n[used] * np.abs(mp[used] - rate[used])) / max(int(n.sum()), 1))


def brier(y: np.ndarray, p: np.ndarray) -> float:
    """Mean squared error of the probabilities.

    Examples
    --------
    >>> brier(np.array([0, 1]), np.array([0.5, 1.0]))
    0.125
    """
    y = np.asarray(y, dtype=np.float64)
    return float(np.mean((np.asarray(p, dtype=np.float64) - y) ** 2))


def summary(y: np.ndarray, p: np.ndarray, train_rate: float) -> dict[str, Any]:
    """Every reported metric of one test set.

    ``majority_accuracy`` predicts the training majority class for every row; ``accuracy``
    thresholds ``p`` at 0.5.
    """
    y = np.asarray(y, dtype=np.int64)
    p = np.asarray(p, dtype=np.float64)
    majority = 1 if train_rate > 0.5 else 0
    both = 0 < y.sum() < len(y)
    return {
        "rows": len(y),
        "arrest_rate": float(y.mean()) if len(y) else float("nan"),
        "accuracy": float(np.mean((p >= 0.5) == (y == 1))),
        "majority_accuracy": float(np.mean(y == majority)),
        "roc_auc": float(roc_auc_score(y, p)) if both else None,
        "pr_auc": float(average_precision_score(y, p)) if both else None,
        "brier": brier(y, p),
        "ece": ece(y, p),
        "mean_score": float(p.mean()) if len(p) else float("nan"),
    }
