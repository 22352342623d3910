"""What every served model shares: its card, checked at load, and its onnxruntime session.

A model ``name.onnx`` has its card ``name.card.json`` beside it; the card names its format
and the sha256 of the model file, so a missing, truncated or replaced model is refused at load
with the path and the reason. Sessions run on one thread (a worker scores on one core).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any


def card_path(model_path: Path) -> Path:
    """``arrest_hgb.onnx`` -> ``arrest_hgb.card.json`` (same folder).

    Examples
    --------
    >>> card_path(Path("m/arrest_hgb.onnx")).as_posix()
    'm/arrest_hgb.card.json'
    """
    return model_path.with_name(model_path.stem + ".card.json")


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file."""
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def open_session(path: Path, error: type[Exception] = RuntimeError) -> Any:
    """A one-thread CPU onnxruntime session of the model at ``path``; ``error`` naming the
    path and onnxruntime's reason when it cannot be loaded."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    try:
        return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types
        raise error(f"onnxruntime cannot load {path}: {exc}") from None


def read_checked_card(
    path: Path, card_format: str, error: type[Exception], what: str
) -> dict[str, Any]:
    """The card of the model at ``path``: it exists, is JSON of ``card_format`` and its sha256
    is the model file's; otherwise ``error`` naming the path and the reason (``what`` names
    the model, e.g. ``"arrest model"``)."""
    path = Path(path)
    if not path.is_file():
        raise error(f"{what} not found: {path}")
    cpath = card_path(path)
    if not cpath.is_file():
        raise error(f"model card not found next to the model: {cpath}")
    try:
        card = json.loads(cpath.read_text())
    except (OSError, ValueError) as exc:
        raise error(f"model card {cpath} is not valid JSON: {exc}") from None
    if not isinstance(card, dict) or card.get("format") != card_format:
        raise error(f"model card {cpath}: format is not {card_format!r}")
    digest = sha256_of(path)
    if digest != card.get("sha256"):
        raise error(
            f"{what} {path} is corrupt or was replaced: sha256 {digest[:12]}... "
            f"does not match its card ({str(card.get('sha256'))[:12]}...)"
        )
    return card
