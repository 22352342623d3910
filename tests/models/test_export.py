"""ONNX export: parity with the framework, the model card (skl2onnx needed; torch not)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from models.arrest.export import (
    CARD_FORMAT,
    PARITY_TOLERANCE,
    ParityError,
    card_path,
    check_parity,
    onnx_predict,
    to_onnx,
    write_card,
)
from models.arrest.features import FeatureEncoder
from models.arrest.train import Fitted, fit_model

pytest.importorskip("skl2onnx", reason="the 'train' extra (skl2onnx, onnx) is not installed")

FAST = {"max_iter": 40}
"""Fewer boosting rounds: the export path is the same, the test is quicker."""

Small = tuple[FeatureEncoder, np.ndarray, np.ndarray, np.ndarray, np.ndarray]


@pytest.fixture(scope="module", params=["logreg", "hgb"])
def exported(
    request: pytest.FixtureRequest, small_training: Small, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Fitted, Path, str, int]:
    enc, X_tr, y_tr, _, _ = small_training
    fitted = fit_model(request.param, enc, X_tr, y_tr, seed=1, progress=False, hgb_params=FAST)
    path = tmp_path_factory.mktemp("onnx") / f"arrest_{request.param}.onnx"
    output, column = to_onnx(fitted, X_tr.shape[1], path)
    return fitted, path, output, column


def test_onnx_matches_the_framework_on_held_out_rows(
    exported: tuple[Fitted, Path, str, int], small_training: Small
) -> None:
    fitted, path, output, column = exported
    X_te = small_training[3]
    got = onnx_predict(path, X_te, output, column)
    want = fitted.predict(X_te)
    assert np.max(np.abs(got - want)) <= PARITY_TOLERANCE
    report = check_parity(fitted, path, X_te, output, column)
    assert report["rows"] == len(X_te) and report["max_abs_diff"] <= PARITY_TOLERANCE
    assert 0 < want.mean() < 1 and want.std() > 0.01  # a model that learned something


def test_parity_check_catches_a_different_model(
    exported: tuple[Fitted, Path, str, int], small_training: Small
) -> None:
    fitted, path, output, column = exported
    enc, X_tr, y_tr, X_te, _ = small_training
    other = fit_model(
        fitted.kind, enc, X_tr[:2000], 1 - y_tr[:2000], seed=2, progress=False, hgb_params=FAST
    )
    with pytest.raises(ParityError, match="differs"):
        check_parity(other, path, X_te, output, column)


def test_card_has_every_field_and_the_file_sha256(
    exported: tuple[Fitted, Path, str, int], small_training: Small
) -> None:
    fitted, path, output, column = exported
    enc = small_training[0]
    out = write_card(
        path,
        {
            "kind": fitted.kind,
            "framework": fitted.framework,
            "output_name": output,
            "output_column": column,
            "features": enc.to_dict(),
            "excluded_types": {},
            "training": {"years": [2016], "period": ["2016-09-01", "2016-10-31"], "rows": 6000},
            "metrics": {"forward": {}},
        },
    )
    assert out == card_path(path) and out.name == f"arrest_{fitted.kind}.card.json"
    card = json.loads(out.read_text())
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert card["sha256"] == digest
    assert card["format"] == CARD_FORMAT and card["model_file"] == path.name
    assert card["version"] == f"{fitted.kind}-2016-2016-{digest[:8]}"
    assert card["created_at"] and card["input_name"] == "X"
    feats = card["features"]
    assert feats["columns"] == enc.columns and feats["unknown_index"] == 0
    assert feats["vocabularies"]["primary_type"][:1] == ["THEFT"]  # most frequent first
    assert {"metrics", "training", "features", "output_name", "output_column"} <= set(card)


@pytest.mark.parametrize("kind", ["mlp", "cnn", "lstm"])
def test_torch_models_export_with_a_dynamic_batch(
    kind: str, small_training: Small, tmp_path: Path
) -> None:
    from models.arrest.train import torch_available

    if not torch_available():
        pytest.skip("torch (the optional 'torch' extra) does not import")
    enc, X_tr, y_tr, X_te, _ = small_training
    fitted = fit_model(kind, enc, X_tr, y_tr, seed=1, epochs=1, progress=False, nn_rows=3000)
    assert fitted.framework == "torch" and fitted.rows == 3000
    path = tmp_path / f"arrest_{kind}.onnx"
    output, column = to_onnx(fitted, X_tr.shape[1], path)
    for rows in (X_te[:1], X_te[:7], X_te):  # any batch size
        report = check_parity(fitted, path, rows, output, column)
        assert report["max_abs_diff"] <= PARITY_TOLERANCE
