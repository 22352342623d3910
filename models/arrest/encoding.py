"""Historical arrest-rate tables (target encoding) computed on training rows only.

A table maps a key (e.g. ``beat x primary_type``) to the smoothed arrest rate of the training
rows with that key, ``(arrests + alpha * prior) / (rows + alpha)``, for keys seen at least
``min_count`` times; any other key reads the prior. Rates are rounded to 6 decimals when the
table is fitted, so the stored card and the in-memory table are the same numbers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

SEP = "\x1f"
"""Separator of the parts of a key (a missing part is the empty string)."""


def key_series(raw: pd.DataFrame, keys: Sequence[str]) -> pd.Series:
    """The key of every row of a raw frame.

    Examples
    --------
    >>> raw = pd.DataFrame({"a": ["x", None], "b": ["1", "2"]})
    >>> key_series(raw, ("a", "b")).tolist() == ["x\\x1f1", "\\x1f2"]
    True
    """
    out = raw[keys[0]].fillna("").astype(str)
    for k in keys[1:]:
        out = out + SEP + raw[k].fillna("").astype(str)
    return out


def key_value(raw: Mapping[str, Any], keys: Sequence[str]) -> str:
    """The key of one incident's raw fields (same text as :func:`key_series`).

    Examples
    --------
    >>> key_value({"a": "x", "b": None}, ("a", "b")) == "x\\x1f"
    True
    """
    return SEP.join("" if raw[k] is None else str(raw[k]) for k in keys)


@dataclass
class TargetTable:
    """Smoothed historical arrest rate per key."""

    keys: tuple[str, ...]
    prior: float
    alpha: float
    min_count: int
    rates: dict[str, float]

    @property
    def name(self) -> str:
        """Column name, e.g. ``rate:beat*primary_type``."""
        return "rate:" + "*".join(self.keys)

    def lookup(self, key: str) -> float:
        """The rate of one key (the prior for an unseen or rare key)."""
        return self.rates.get(key, self.prior)

    def lookup_frame(self, keys: pd.Series) -> np.ndarray:
        """The rates of a series of keys."""
        return keys.map(self.rates).fillna(self.prior).to_numpy(dtype=np.float64)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (in the model card)."""
        return {
            "keys": list(self.keys),
            "prior": self.prior,
            "alpha": self.alpha,
            "min_count": self.min_count,
            "rates": self.rates,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TargetTable:
        """The inverse of :meth:`to_dict`."""
        return cls(
            tuple(d["keys"]),
            float(d["prior"]),
            float(d["alpha"]),
            int(d["min_count"]),
            {str(k): float(v) for k, v in d["rates"].items()},
        )


def _rates(keys: pd.Series, y: np.ndarray, prior: float, alpha: float, min_count: int) -> dict:
    g = pd.Series(y, index=keys.index).groupby(keys.to_numpy()).agg(["sum", "count"])
    g = g[g["count"] >= min_count]
    r = ((g["sum"] + alpha * prior) / (g["count"] + alpha)).round(6)
    return {str(k): float(v) for k, v in r.items()}


def fit_target_tables(
    raw: pd.DataFrame,
    y: np.ndarray,
    targets: Sequence[tuple[str, ...]],
    folds: np.ndarray | None,
    *,
    min_count: int = 20,
    alpha: float = 20.0,
    seed: int = 0,
) -> tuple[list[TargetTable], np.ndarray]:
    """Fit one table per key on all rows, and the out-of-fold rates of the rows themselves.

    ``folds`` gives a fold id per row (e.g. the year); ``None`` draws 5 random folds. A row's
    out-of-fold rate comes from a table fitted on the other folds (its own label never enters
    its feature). Returns ``(tables, oof)`` with ``oof`` of shape ``(n, len(targets))``.

    Examples
    --------
    >>> raw = pd.DataFrame({"k": ["a"] * 4 + ["b"] * 4})
    >>> y = np.array([1, 1, 1, 0, 0, 0, 0, 1])
    >>> tables, oof = fit_target_tables(raw, y, [("k",)], np.array([0, 1] * 4),
    ...                                 min_count=1, alpha=0.0)
    >>> tables[0].rates, oof[:, 0].tolist()
    ({'a': 0.75, 'b': 0.25}, [0.5, 1.0, 0.5, 1.0, 0.5, 0.0, 0.5, 0.0])
    """
    y = np.asarray(y, dtype=np.float64)
    n = len(y)
    if folds is None:
        folds = np.random.default_rng(seed).permutation(n) % 5
    folds = np.asarray(folds)
    prior = round(float(y.mean()), 6) if n else 0.0
    tables: list[TargetTable] = []
    oof = np.empty((n, len(targets)), dtype=np.float64)
    for j, keys in enumerate(targets):
        k = key_series(raw, keys)
        tables.append(
            TargetTable(tuple(keys), prior, alpha, min_count, _rates(k, y, prior, alpha, min_count))
        )
        for f in np.unique(folds):
            inside = folds == f
            rest = ~inside
            p = float(y[rest].mean()) if rest.any() else prior
            table = _rates(k[rest], y[rest], p, alpha, min_count)
            oof[inside, j] = k[inside].map(table).fillna(p).to_numpy(dtype=np.float64)
    return tables, oof
