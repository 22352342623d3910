"""Serving: :func:`load_forecast_model` builds the engine's served forecaster from ONNX.

The model file's sha256 is checked against its card, so a missing, truncated or replaced model
is a clear :class:`ForecastModelError` at start-up. One intra-op and one inter-op thread.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from models.cards import open_session, read_checked_card
from models.forecast.export import CARD_FORMAT
from patrol.forecast.features import feature_names
from patrol.forecast.served import CellRateModel


class ForecastModelError(RuntimeError):
    """A forecast model that cannot be served (missing, corrupt, or with a bad card)."""


def read_card(path: Path) -> dict[str, Any]:
    """The card of the model at ``path``, checked (format, sha256 of the model file)."""
    return read_checked_card(path, CARD_FORMAT, ForecastModelError, "forecast model")


def load_forecast_model(path: Path | str) -> CellRateModel:
    """The model at ``path`` (its ``.card.json`` beside it) as a :class:`CellRateModel`."""

    path = Path(path)
    card = read_card(path)
    try:
        names = list(card["feature_names"])
        thresholds = [np.asarray(t, dtype=np.float64) for t in card["thresholds"]]
        exposure = card["exposure"]
        prior = float(card["exposure_prior"])
        version = str(card["version"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ForecastModelError(f"model card of {path}: missing or bad field {exc}") from None
    if names != feature_names():
        raise ForecastModelError(
            f"{path}: the card's features differ from this version's "
            f"(patrol.forecast.features.feature_names); retrain with train-forecaster"
        )
    if len(thresholds) != len(names):
        raise ForecastModelError(f"{path}: {len(thresholds)} bin lists for {len(names)} features")
    sess = open_session(path, ForecastModelError)
    name = sess.get_inputs()[0].name

    def raw(binned: np.ndarray) -> np.ndarray:
        got = sess.run(None, {name: np.ascontiguousarray(binned, dtype=np.float32)})[0]
        return np.asarray(got, dtype=np.float64).reshape(-1)

    return CellRateModel(
        thresholds=thresholds,
        exposure_index=None if exposure is None else names.index(exposure),
        exposure_prior=prior,
        raw=raw,
        version=version,
    )
