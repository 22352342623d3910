"""ONNX export of the served forecaster, its parity check and its model card.

``ours_served.onnx`` holds the boosted trees on *binned* features and outputs their raw score
(the log rate per unit of exposure: skl2onnx leaves the Poisson link out); the card
``ours_served.card.json`` carries what turns features into a forecast around it (bin edges,
exposure feature and prior, :class:`patrol.forecast.served.CellRateModel`), the feature names,
the training window, the parity check and the sha256 of the model file. ``created_at`` is
wall-clock metadata, never read by domain logic.
"""

from __future__ import annotations

import json
import re
import warnings
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from models.cards import card_path, open_session, sha256_of
from patrol.forecast.served import DistrictBoosted

__all__ = ["CARD_FORMAT", "ParityError", "card_path", "export", "sha256_of"]

CARD_FORMAT = "patrolstream.forecast-card/1"
"""Format tag of the card JSON."""

PARITY_TOLERANCE = 1e-4
"""Largest accepted |ONNX - scikit-learn| raw score (log rate) on training rows."""


class ParityError(AssertionError):
    """The exported model disagrees with scikit-learn."""


def export(
    model: DistrictBoosted, path: Path, rows: np.ndarray, fields: dict[str, Any]
) -> dict[str, Any]:
    """Write ``model``'s trees as ONNX to ``path`` and its card beside it; return the card.

    ``rows`` (raw features) are used for the parity check; ``fields`` are added to the card
    (``training``, ``data`` ...). The version is ``ours-served-<trained until>-<sha256[:8]>``.
    """
    from skl2onnx import to_onnx

    if model.model is None:
        raise ValueError("the forecaster is not trained")
    served = model.served_model()
    binned = served.binned(np.ascontiguousarray(rows, dtype=np.float32))
    with warnings.catch_warnings():  # onnx.helper deprecation noise from skl2onnx
        warnings.simplefilter("ignore", DeprecationWarning)
        onx = to_onnx(model.model, binned[:1], target_opset={"": 17, "ai.onnx.ml": 3})
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(onx.SerializeToString())
    parity = check_parity(path, binned, np.asarray(served.raw(binned), dtype=np.float64))
    digest = sha256_of(path)
    until = str(fields.get("training", {}).get("until", "?"))
    card = {
        "format": CARD_FORMAT,
        "name": path.stem,
        "method": "ours-served",
        "version": f"ours-served-{until}-{digest[:8]}",
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "model_file": path.name,
        "sha256": digest,
        "output": "raw score = log(expected count / exposure); forecast = exp(raw) * exposure",
        "feature_names": model.feature_names,
        "thresholds": [t.tolist() for t in served.thresholds],
        "exposure": model.exposure,
        "exposure_prior": model.exposure_prior,
        "period_days": 7.0,
        "regressor": {k: v for k, v in model.params.items()},
        "parity": parity,
        **fields,
    }
    card_path(path).write_text(dumps_card(card))
    return card


def dumps_card(card: dict[str, Any]) -> str:
    """The card as JSON, one line per key and each list of numbers on one line.

    Examples
    --------
    >>> print(dumps_card({"a": 1, "b": [[0.5, 1.5], []]}), end="")
    {
     "a": 1,
     "b": [
      [0.5, 1.5],
      []
     ]
    }
    """
    text = json.dumps(card, indent=1, allow_nan=False)
    return (
        re.sub(
            r"\[\s*([-+0-9.eE]+(?:,\s*[-+0-9.eE]+)*)\s*\]",
            lambda m: "[" + ", ".join(v.strip() for v in m.group(1).split(",")) + "]",
            text,
        )
        + "\n"
    )


def check_parity(path: Path, binned: np.ndarray, expected: np.ndarray) -> dict[str, Any]:
    """Compare the ONNX raw score with scikit-learn's on ``binned`` rows."""
    sess = open_session(path)
    got = sess.run(None, {sess.get_inputs()[0].name: binned})[0].reshape(-1)
    worst = float(np.abs(got.astype(np.float64) - expected).max()) if len(expected) else 0.0
    if not worst <= PARITY_TOLERANCE:
        raise ParityError(f"{path.name}: ONNX differs by {worst:.3g} (> {PARITY_TOLERANCE})")
    return {"rows": len(binned), "max_abs_diff": worst, "tolerance": PARITY_TOLERANCE}
