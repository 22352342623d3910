"""The served hotspot forecaster (``ours-served``): training, ONNX export and runtime.

* :mod:`models.forecast.train`: fit :class:`patrol.forecast.served.DistrictBoosted` on weekly
  origins before a date, from the city's incident exports.
* :mod:`models.forecast.export`: the boosted trees to ONNX (skl2onnx), the parity check and
  the model card (binning, exposure, features, training window, sha256).
* :mod:`models.forecast.runtime`: :func:`~models.forecast.runtime.load_forecast_model`, a
  :class:`patrol.forecast.served.CellRateModel` on onnxruntime (what workers and the embedded
  mode give the engine).
* :mod:`models.forecast.cli`: ``patrolstream train-forecaster``.

Serving needs onnxruntime only (never skl2onnx).
"""

from __future__ import annotations

from pathlib import Path

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
"""Folder of the committed model and its card (a fresh clone forecasts out of the box)."""

DEFAULT_MODEL = ARTIFACTS / "ours_served.onnx"
"""The committed model: trained on Chicago's weekly origins of 2015 (features from 2013 on)."""
