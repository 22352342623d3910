"""Serving: :class:`ArrestScorer` scores incidents with an ONNX model and its card.

Needs only onnxruntime (never torch or skl2onnx). One intra-op and one inter-op thread per
session (a worker process scores on one core). The model file's sha256 is checked against
its card at load, so a missing, truncated or replaced model is a clear :class:`ModelError`
at start-up rather than a crash later. :meth:`ArrestScorer.reload` builds the new session
completely before swapping it in with one assignment, so concurrent scoring sees either the
old model or the new one, never a mix.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from models.arrest import DEFAULT_MODEL
from models.arrest.export import CARD_FORMAT
from models.arrest.features import FeatureEncoder, raw_incident
from models.cards import card_path, open_session, read_checked_card
from patrol.incidents.schema import Incident


class ModelError(RuntimeError):
    """An arrest model that cannot be served (missing, corrupt, or with a bad card)."""


@dataclass(frozen=True)
class _Loaded:
    path: Path
    card: dict[str, Any]
    encoder: FeatureEncoder
    session: Any
    input_name: str
    output_name: str
    column: int
    fixed: dict[str, float]


def _load(path: Path) -> _Loaded:

    path = Path(path)
    card = read_checked_card(path, CARD_FORMAT, ModelError, "arrest model")
    cpath = card_path(path)
    try:
        encoder = FeatureEncoder.from_dict(card["features"])
        output, column = str(card["output_name"]), int(card["output_column"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelError(f"model card {cpath}: missing or bad field {exc}") from None
    sess = open_session(path, ModelError)
    inputs = sess.get_inputs()
    if len(inputs) != 1 or inputs[0].shape[-1] not in (len(encoder.columns), None, "None"):
        raise ModelError(
            f"{path}: input does not match the card's {len(encoder.columns)} feature columns"
        )
    fixed = {str(k): float(v) for k, v in card.get("excluded_types", {}).items()}
    return _Loaded(path, card, encoder, sess, inputs[0].name, output, column, fixed)


class ArrestScorer:
    """Arrest probability of incidents, from an ONNX model and its card.

    Offence types the model was trained without (recorded only on arrest, listed in the
    card's ``excluded_types``) get their training arrest rate instead of a model score.

    Parameters
    ----------
    path : Path
        The ``.onnx`` file; its card is ``<stem>.card.json`` beside it. Defaults to the
        committed model.
    """

    def __init__(self, path: Path | str = DEFAULT_MODEL) -> None:
        self._m = _load(Path(path))

    @property
    def version(self) -> str:
        """The card's version string (goes with every score)."""
        return str(self._m.card["version"])

    @property
    def card(self) -> dict[str, Any]:
        """The model card."""
        return self._m.card

    @property
    def path(self) -> Path:
        """The loaded model file."""
        return self._m.path

    def reload(self, path: Path | str) -> str:
        """Load another model and swap it in atomically; returns the new version.

        On any error the current model stays in service and :class:`ModelError` is raised.
        """
        self._m = _load(Path(path))
        return self.version

    def score_matrix(self, X: np.ndarray) -> np.ndarray:
        """Model probabilities of encoded rows (float64, shape ``(n,)``)."""
        return self._run(self._m, X)

    @staticmethod
    def _run(m: _Loaded, X: np.ndarray) -> np.ndarray:
        if len(X) == 0:
            return np.empty(0, dtype=np.float64)
        got = m.session.run([m.output_name], {m.input_name: np.ascontiguousarray(X, np.float32)})
        return np.asarray(got[0], dtype=np.float64)[:, m.column]

    def score_versioned(self, incidents: Sequence[Incident]) -> tuple[np.ndarray, str]:
        """Scores of a micro-batch and the version of the one model that produced them
        (even if :meth:`reload` runs meanwhile)."""
        m = self._m
        return self._score(m, incidents), str(m.card["version"])

    def score_many(self, incidents: Sequence[Incident]) -> np.ndarray:
        """Arrest probabilities of a micro-batch of incidents (one ONNX call)."""
        return self._score(self._m, incidents)

    def score_one(self, incident: Incident) -> float:
        """Arrest probability of one incident."""
        return float(self._score(self._m, [incident])[0])

    def _score(self, m: _Loaded, incidents: Sequence[Incident]) -> np.ndarray:
        raws = [raw_incident(inc) for inc in incidents]
        if not raws:
            return np.empty(0, dtype=np.float64)
        out = self._run(m, np.stack([m.encoder.transform_raw(r) for r in raws]))
        if m.fixed:
            for i, r in enumerate(raws):
                rate = m.fixed.get(r["primary_type"] or "")
                if rate is not None:
                    out[i] = rate
        return out
