"""Serving with onnxruntime only: the committed model, load errors, hot reload."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from models.arrest import DEFAULT_MODEL
from models.arrest.export import card_path
from models.arrest.runtime import ArrestScorer, ModelError
from patrol.incidents.schema import Incident


def test_committed_model_loads_and_scores_the_fixture_rows(
    rows_incidents: list[Incident],
) -> None:
    scorer = ArrestScorer()
    card = json.loads(card_path(DEFAULT_MODEL).read_text())
    assert scorer.version == card["version"] and scorer.path == DEFAULT_MODEL
    scores = scorer.score_many(rows_incidents)
    assert scores.shape == (len(rows_incidents),)
    assert np.isfinite(scores).all() and ((scores >= 0) & (scores <= 1)).all()
    assert scores.std() > 0.01  # not a constant
    assert scorer.score_one(rows_incidents[3]) == pytest.approx(scores[3], abs=1e-7)
    batch, version = scorer.score_versioned(rows_incidents[:8])
    np.testing.assert_allclose(batch, scores[:8], atol=1e-7)
    assert version == scorer.version and scorer.score_many([]).shape == (0,)


def test_excluded_types_get_their_training_rate(rows_incidents: list[Incident]) -> None:
    scorer = ArrestScorer()
    excluded = scorer.card["excluded_types"]
    assert "NARCOTICS" in excluded and "PROSTITUTION" in excluded
    narcotics = [i for i in rows_incidents if i.primary_type == "NARCOTICS"]
    assert narcotics
    assert scorer.score_many(narcotics).tolist() == [excluded["NARCOTICS"]] * len(narcotics)


def test_committed_model_is_small_and_its_card_matches() -> None:
    card = json.loads(card_path(DEFAULT_MODEL).read_text())
    assert DEFAULT_MODEL.stat().st_size + card_path(DEFAULT_MODEL).stat().st_size < 5_000_000
    assert card["kind"] == "hgb" and card["training"]["years"][-1] < card["test_year"]
    assert card["parity"]["max_abs_diff"] <= 1e-5
    assert set(card["metrics"]["forward"]) == {"all_types", "without_arrest_only"}


def test_missing_model_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"arrest model not found: .*nope\.onnx"):
        ArrestScorer(tmp_path / "nope.onnx")


def test_missing_card_is_a_clear_error(model_copy: Path) -> None:
    card_path(model_copy).unlink()
    with pytest.raises(ModelError, match="model card not found"):
        ArrestScorer(model_copy)


def test_corrupt_model_is_caught_by_the_sha256(model_copy: Path) -> None:
    data = bytearray(model_copy.read_bytes())
    data[len(data) // 2] ^= 0xFF
    model_copy.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="corrupt or was replaced"):
        ArrestScorer(model_copy)


def test_truncated_model_is_caught(model_copy: Path) -> None:
    model_copy.write_bytes(model_copy.read_bytes()[:1000])
    with pytest.raises(ModelError, match="corrupt"):
        ArrestScorer(model_copy)


def test_garbage_with_a_matching_card_is_an_onnxruntime_error(model_copy: Path) -> None:
    import hashlib

    model_copy.write_bytes(b"not an onnx model")
    card = json.loads(card_path(model_copy).read_text())
    card["sha256"] = hashlib.sha256(b"not an onnx model").hexdigest()
    card_path(model_copy).write_text(json.dumps(card))
    with pytest.raises(ModelError, match="onnxruntime cannot load"):
        ArrestScorer(model_copy)


def test_bad_card_json_is_a_clear_error(model_copy: Path) -> None:
    card_path(model_copy).write_text("{not json")
    with pytest.raises(ModelError, match="not valid JSON"):
        ArrestScorer(model_copy)


def test_reload_swaps_the_version_and_keeps_the_old_model_on_error(
    model_copy: Path,
    new_model_version: Callable[[Path, str], None],
    rows_incidents: list[Incident],
    tmp_path: Path,
) -> None:
    scorer = ArrestScorer()
    before = scorer.score_many(rows_incidents)
    new_model_version(model_copy, "hgb-test-reloaded")
    assert scorer.reload(model_copy) == "hgb-test-reloaded"
    assert scorer.version == "hgb-test-reloaded" and scorer.path == model_copy
    np.testing.assert_array_equal(scorer.score_many(rows_incidents), before)
    with pytest.raises(ModelError):
        scorer.reload(tmp_path / "missing.onnx")
    assert scorer.version == "hgb-test-reloaded"  # the old model stays in service
    assert scorer.score_one(rows_incidents[0]) == pytest.approx(before[0], abs=1e-7)


def test_runtime_needs_neither_torch_nor_skl2onnx() -> None:
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from models.arrest.runtime import ArrestScorer\n"
        "ArrestScorer()\n"
        "print(sorted(m for m in ('torch', 'skl2onnx', 'onnx') if m in sys.modules))\n"
    )
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"
