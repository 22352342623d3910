"""ONNX export, the framework-vs-ONNX parity check and the model card.

A model ``arrest_<kind>.onnx`` gets a card ``arrest_<kind>.card.json`` beside it
(:func:`card_path`): format, name, version, created_at, the model file's sha256, framework,
input/output names, the feature list and encoding (vocabularies, arrest-rate tables), the
training data period, the offence types excluded (recorded only on arrest), the metrics of
both protocols and the parity check. ``created_at`` is wall-clock metadata, never read by
domain logic.
"""

from __future__ import annotations

import json
import warnings
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from models.arrest.train import Fitted
from models.cards import card_path, open_session, sha256_of

__all__ = ["CARD_FORMAT", "ParityError", "card_path", "check_parity", "sha256_of", "to_onnx",
           "write_card"]  # fmt: skip

CARD_FORMAT = "patrolstream.arrest-card/1"
"""Format tag of the card JSON."""

PARITY_TOLERANCE = 1e-5
"""Largest accepted |ONNX - framework| probability difference on held-out rows."""


class ParityError(AssertionError):
    """The exported model disagrees with the framework's predictions."""


def to_onnx(fitted: Fitted, n_features: int, path: Path) -> tuple[str, int]:
    """Write the model as ONNX; returns ``(output name, probability column)``.

    scikit-learn models go through skl2onnx (no ZipMap: a plain ``probabilities`` tensor
    whose column 1 is the arrest probability); torch models through ``torch.onnx.export``
    with a dynamic batch axis (``probability``, one column).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    if fitted.framework == "torch":
        from models.arrest.nets import export_net

        export_net(fitted.model, n_features, str(path))
        return "probability", 0
    from skl2onnx import to_onnx as skl_to_onnx

    est = fitted.model
    final = est.steps[-1][1] if hasattr(est, "steps") else est
    with warnings.catch_warnings():  # onnx.helper deprecation noise from skl2onnx
        warnings.simplefilter("ignore", DeprecationWarning)
        onx = skl_to_onnx(
            est,
            np.zeros((1, n_features), dtype=np.float32),
            target_opset=17,
            options={id(final): {"zipmap": False}},
        )
    path.write_bytes(onx.SerializeToString())
    return "probabilities", 1


def onnx_predict(path: Path, X: np.ndarray, output: str, column: int) -> np.ndarray:
    """Probabilities of ``X`` from an ONNX file (one intra-op thread)."""
    sess = open_session(path)
    name = sess.get_inputs()[0].name
    got = sess.run([output], {name: np.ascontiguousarray(X, dtype=np.float32)})[0]
    return np.asarray(got, dtype=np.float64)[:, column]


def check_parity(
    fitted: Fitted, path: Path, X: np.ndarray, output: str, column: int
) -> dict[str, Any]:
    """Compare ONNX and framework probabilities on ``X``; raise :class:`ParityError` beyond
    :data:`PARITY_TOLERANCE`. Returns ``{"rows", "max_abs_diff", "tolerance"}``."""
    X = np.ascontiguousarray(X, dtype=np.float32)
    diff = np.abs(onnx_predict(path, X, output, column) - fitted.predict(X))
    worst = float(diff.max()) if len(diff) else 0.0
    if not worst <= PARITY_TOLERANCE:
        raise ParityError(
            f"{path.name}: ONNX differs from {fitted.framework} by {worst:.3g} "
            f"(> {PARITY_TOLERANCE}) on {len(X)} held-out rows"
        )
    return {"rows": len(X), "max_abs_diff": worst, "tolerance": PARITY_TOLERANCE}


def write_card(model_path: Path, fields: dict[str, Any]) -> Path:
    """Write the card of ``model_path`` (sha256, version, created_at added); return its path.

    ``fields`` carries the rest (``kind``, ``features``, ``training``, ``metrics`` ...).
    The version is ``<kind>-<first year>-<last year>-<sha256[:8]>``.
    """
    digest = sha256_of(model_path)
    years = fields.get("training", {}).get("years") or ["?"]
    card = {
        "format": CARD_FORMAT,
        "name": model_path.stem,
        "version": f"{fields.get('kind', 'model')}-{years[0]}-{years[-1]}-{digest[:8]}",
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "model_file": model_path.name,
        "sha256": digest,
        "input_name": "X",
        **fields,
    }
    out = card_path(model_path)
    out.write_text(json.dumps(card, indent=1, sort_keys=False, allow_nan=False) + "\n")
    return out
