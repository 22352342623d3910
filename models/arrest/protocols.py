"""The two evaluation protocols and the calibration plot.

* :func:`seed_protocol`: the seed paper's: a random 80/20 split of every row, its features
  (Primary Type, Description, Location Description, Domestic, coordinates), accuracy.
* :func:`forward_protocol`: the honest one: train on the years before ``test_year``, test on
  ``test_year``, with the report-time features and historical arrest-rate tables fitted on the
  training years only; optionally without the offence types recorded only on arrest.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from models.arrest.features import (
    HONEST_CATEGORICAL,
    HONEST_NUMERIC,
    HONEST_TARGETS,
    SEED_CATEGORICAL,
    SEED_NUMERIC,
    FeatureEncoder,
    arrest_only_types,
    fit_encoder,
)
from models.arrest.metrics import reliability, summary
from models.arrest.train import Fitted, fit_model

Log = Callable[[str], None]


def _labelled(raw: pd.DataFrame) -> pd.DataFrame:
    return raw[raw["arrest"].notna()]


def seed_protocol(
    raw: pd.DataFrame,
    kinds: Sequence[str],
    *,
    seed: int = 0,
    test_size: float = 0.2,
    epochs: int = 3,
    nn_rows: int | None = None,
    progress: bool = True,
    log: Log = print,
) -> dict[str, dict[str, Any]]:
    """Random split of every labelled row, the paper's features; metrics per model kind."""
    data = _labelled(raw)
    perm = np.random.default_rng(seed).permutation(len(data))
    n_test = round(len(data) * test_size)
    test, train = data.iloc[perm[:n_test]], data.iloc[perm[n_test:]]
    y_tr = train["arrest"].to_numpy(dtype=np.int64)
    y_te = test["arrest"].to_numpy(dtype=np.int64)
    enc, X_tr = fit_encoder(train, y_tr, categorical=SEED_CATEGORICAL, numeric=SEED_NUMERIC)
    X_te = enc.transform_frame(test)
    out: dict[str, dict[str, Any]] = {}
    for kind in kinds:
        fitted = fit_model(
            kind, enc, X_tr, y_tr, seed=seed, epochs=epochs, progress=progress, nn_rows=nn_rows
        )
        m = summary(y_te, fitted.predict(X_te), float(y_tr.mean()))
        m.update(train_rows=fitted.rows, train_seconds=round(fitted.seconds, 1))
        out[kind] = m
        log(
            f"seed protocol  {kind:6s} accuracy {m['accuracy']:.4f} "
            f"(majority {m['majority_accuracy']:.4f}) in {fitted.seconds:.0f} s"
        )
    return out


@dataclass
class ForwardRun:
    """One forward-split run: data, encoder, fitted models and their test predictions."""

    variant: str
    train_years: list[int]
    test_year: int
    excluded: dict[str, float]
    encoder: FeatureEncoder
    X_test: np.ndarray
    y_test: np.ndarray
    test: pd.DataFrame
    train_period: tuple[str, str]
    train_rows: int
    train_rate: float
    fitted: dict[str, Fitted] = field(default_factory=dict)
    predictions: dict[str, np.ndarray] = field(default_factory=dict)
    metrics: dict[str, dict[str, Any]] = field(default_factory=dict)


def years_of(raw: pd.DataFrame) -> pd.Series:
    """Local (America/Chicago) calendar year of each row, from ``occurred_utc``."""
    local = raw["occurred_utc"].dt.tz_convert("America/Chicago")
    return local.dt.year


def forward_protocol(
    raw: pd.DataFrame,
    kinds: Sequence[str],
    *,
    test_year: int,
    without_arrest_only: bool,
    seed: int = 0,
    epochs: int = 3,
    nn_rows: int | None = None,
    progress: bool = True,
    log: Log = print,
) -> ForwardRun:
    """Train on the years before ``test_year``, test on ``test_year``."""
    data = _labelled(raw)
    years = years_of(data)
    train, test = data[years < test_year], data[years == test_year]
    if train.empty or test.empty:
        raise ValueError(f"forward split needs rows before and in {test_year}")
    y_all = train["arrest"].to_numpy(dtype=np.int64)
    excluded = arrest_only_types(train["primary_type"], y_all)
    variant = "without_arrest_only" if without_arrest_only else "all_types"
    if without_arrest_only:
        train = train[~train["primary_type"].isin(list(excluded))]
        test = test[~test["primary_type"].isin(list(excluded))]
    y_tr = train["arrest"].to_numpy(dtype=np.int64)
    y_te = test["arrest"].to_numpy(dtype=np.int64)
    folds = years_of(train).to_numpy()
    enc, X_tr = fit_encoder(
        train,
        y_tr,
        categorical=HONEST_CATEGORICAL,
        numeric=HONEST_NUMERIC,
        targets=HONEST_TARGETS,
        folds=folds,
    )
    t = train["occurred_utc"]
    run = ForwardRun(
        variant=variant,
        train_years=sorted({int(v) for v in np.unique(folds)}),
        test_year=test_year,
        excluded=excluded if without_arrest_only else {},
        encoder=enc,
        X_test=enc.transform_frame(test),
        y_test=y_te,
        test=test,
        train_period=(t.min().isoformat(), t.max().isoformat()),
        train_rows=len(train),
        train_rate=float(y_tr.mean()),
    )
    for kind in kinds:
        fitted = fit_model(
            kind, enc, X_tr, y_tr, seed=seed, epochs=epochs, progress=progress, nn_rows=nn_rows
        )
        p = fitted.predict(run.X_test)
        m = summary(y_te, p, run.train_rate)
        m.update(train_rows=fitted.rows, train_seconds=round(fitted.seconds, 1))
        run.fitted[kind], run.predictions[kind], run.metrics[kind] = fitted, p, m
        log(
            f"forward {variant:19s} {kind:6s} ROC-AUC {m['roc_auc']:.4f} "
            f"ECE {m['ece']:.4f} in {fitted.seconds:.0f} s"
        )
    return run


def plot_calibration(curves: dict[str, tuple[np.ndarray, np.ndarray]], path: Path) -> Path:
    """Reliability diagram (10 equal-width bins) of several ``label -> (y, p)``, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, hx) = plt.subplots(2, 1, figsize=(6.5, 7.5), height_ratios=[3, 1], sharex=True)
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", label="perfectly calibrated")
    for label, (y, p) in curves.items():
        mp, rate, n = reliability(y, p)
        used = n > 0
        ax.plot(mp[used], rate[used], marker="o", label=label)
        hx.hist(p, bins=20, range=(0, 1), histtype="step", label=label)
    ax.set_ylabel("observed arrest rate")
    ax.set_title("Arrest model calibration on the test year (forward split)")
    ax.legend(fontsize=8, loc="upper left")
    ax.grid(alpha=0.3)
    hx.set_xlabel("predicted arrest probability")
    hx.set_ylabel("incidents")
    hx.set_yscale("log")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
