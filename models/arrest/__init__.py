"""Arrest scoring: features known at report time, training, ONNX export, serving, recalibration.

Modules by responsibility:

* :mod:`models.arrest.features`: raw fields from a CSV frame or from ``Incident`` objects and
  their encoding (explicit vocabularies, historical arrest-rate tables) into one float matrix.
* :mod:`models.arrest.metrics`: accuracy, ROC-AUC, PR-AUC, Brier score, ECE, reliability bins.
* :mod:`models.arrest.train`: scikit-learn models and (when ``torch`` imports) the seed
  paper's MLP, 1-D CNN and LSTM; the two evaluation protocols.
* :mod:`models.arrest.export`: ONNX export, parity check and the model card.
* :mod:`models.arrest.runtime`: :class:`~models.arrest.runtime.ArrestScorer` on onnxruntime.
* :mod:`models.arrest.calibration`: online recalibration from late arrest labels.
* :mod:`models.arrest.service`: :class:`~models.arrest.service.ScoringService`, what the
  stream agent and the embedded mode run: micro-batch scores with the model version, late
  labels from revisions, recalibration, hot reload.
* :mod:`models.arrest.served_replay`: a test year replayed through that service (benchmark).
* :mod:`models.arrest.cli`: ``patrolstream train-arrest``.

Only :mod:`~models.arrest.runtime`, :mod:`~models.arrest.calibration` and
:mod:`~models.arrest.service` are needed to serve;
they need ``onnxruntime`` and ``river``, never ``torch`` or ``skl2onnx``.
"""

from __future__ import annotations

from pathlib import Path

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
"""Folder of the committed model and its card (a fresh clone scores out of the box)."""

DEFAULT_MODEL = ARTIFACTS / "arrest_hgb.onnx"
"""The committed model: HistGradientBoosting, trained 2012-2015 without arrest-only types."""
