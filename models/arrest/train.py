"""Model fitting: logistic regression and HistGradientBoosting (scikit-learn), and the seed
paper's MLP, 1-D CNN and LSTM (PyTorch, only when ``torch`` imports).

Every model takes the encoder's float32 matrix (:class:`~models.arrest.features.FeatureEncoder`)
and predicts the arrest probability.
"""

from __future__ import annotations

import importlib.util
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from models.arrest.features import FeatureEncoder

SKLEARN_KINDS = ("logreg", "hgb")
NEURAL_KINDS = ("mlp", "cnn", "lstm")
ALL_KINDS = (*SKLEARN_KINDS, *NEURAL_KINDS)
"""Model kinds of ``--models`` (the neural ones need torch)."""

ONE_HOT_NUMERIC = {"hour": range(24), "day_of_week": range(7), "month": range(1, 13)}
"""Numeric columns the logistic regression one-hot encodes (cyclic, not linear)."""

HGB_PARAMS: dict[str, Any] = {
    "max_iter": 300,
    "learning_rate": 0.1,
    "max_leaf_nodes": 31,
    "min_samples_leaf": 50,
    "early_stopping": False,
}
"""HistGradientBoosting settings (fixed a priori, not tuned on the test year)."""


def torch_available() -> bool:
    """Whether ``import torch`` can work (torch is an optional training extra)."""
    try:
        if importlib.util.find_spec("torch") is None:
            return False
        import torch  # noqa: F401
    except (ImportError, OSError, ValueError):  # e.g. a CUDA build without its libraries
        return False
    return True


@dataclass
class Fitted:
    """A fitted model of one kind and its training time."""

    kind: str
    model: Any
    seconds: float
    rows: int

    @property
    def framework(self) -> str:
        """``"sklearn"`` or ``"torch"``."""
        return "sklearn" if self.kind in SKLEARN_KINDS else "torch"

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Arrest probabilities (float64, shape ``(n,)``)."""
        if self.framework == "sklearn":
            return np.asarray(self.model.predict_proba(X)[:, 1], dtype=np.float64)
        from models.arrest.nets import predict_net

        return predict_net(self.model, X)


def make_logreg(encoder: FeatureEncoder, seed: int = 0) -> Pipeline:
    """One-hot categorical and cyclic time columns, standardised rest, logistic regression."""
    cols = encoder.columns
    onehot_idx, categories = [], []
    for j, name in enumerate(cols):
        if name in encoder.categorical:
            onehot_idx.append(j)
            categories.append(np.arange(encoder.cardinalities[j], dtype=np.float64))
        elif name in ONE_HOT_NUMERIC:
            onehot_idx.append(j)
            categories.append(np.asarray(list(ONE_HOT_NUMERIC[name]), dtype=np.float64))
    scaled = [j for j in range(len(cols)) if j not in onehot_idx]
    parts: list[tuple[str, Any, list[int]]] = [
        ("onehot", OneHotEncoder(categories=categories, handle_unknown="ignore"), onehot_idx)
    ]
    if scaled:
        parts.append(("scaled", StandardScaler(), scaled))
    return Pipeline(
        [
            ("columns", ColumnTransformer(parts)),
            ("lr", LogisticRegression(C=1.0, max_iter=300, random_state=seed)),
        ]
    )


def make_hgb(seed: int = 0, **overrides: Any) -> HistGradientBoostingClassifier:
    """HistGradientBoosting with :data:`HGB_PARAMS` (``overrides`` replace some)."""
    return HistGradientBoostingClassifier(random_state=seed, **{**HGB_PARAMS, **overrides})


def fit_model(
    kind: str,
    encoder: FeatureEncoder,
    X: np.ndarray,
    y: np.ndarray,
    *,
    seed: int = 0,
    epochs: int = 3,
    progress: bool = True,
    hgb_params: dict[str, Any] | None = None,
    nn_rows: int | None = None,
) -> Fitted:
    """Fit one model kind on ``(X, y)`` and time it.

    ``hgb_params`` override :data:`HGB_PARAMS` (e.g. fewer iterations in tests); the neural
    models train on at most ``nn_rows`` random rows (a CPU budget; ``None``: every row).
    """
    if kind not in ALL_KINDS:
        raise ValueError(f"unknown model {kind!r}; expected one of {', '.join(ALL_KINDS)}")
    y = np.asarray(y, dtype=np.int64)
    start = time.perf_counter()
    if kind in NEURAL_KINDS:
        if not torch_available():
            raise RuntimeError(
                f"model {kind!r} needs PyTorch: install the 'torch' extra (docs/arrest.md)"
            )
        from models.arrest.nets import fit_net

        if nn_rows is not None and nn_rows < len(X):
            keep = np.sort(np.random.default_rng(seed).choice(len(X), nn_rows, replace=False))
            X, y = X[keep], y[keep]
        model: Any = fit_net(
            kind, X, y, encoder.cardinalities, epochs=epochs, seed=seed, progress=progress
        )
    else:
        model = (
            make_logreg(encoder, seed) if kind == "logreg" else make_hgb(seed, **(hgb_params or {}))
        )
        model.fit(X, y)
    return Fitted(kind, model, time.perf_counter() - start, len(X))
