"""``train-arrest`` end to end on the 200 committed rows (five years, real values)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from models.arrest.cli import DESCRIPTION, add_train_arguments, main
from models.arrest.runtime import ArrestScorer
from patrol.incidents.schema import Incident

ROWS = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "chicago_rows.csv"


def test_help_documents_every_option(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    for opt in (
        "--data",
        "--out",
        "--models",
        "--seed",
        "--sample",
        "--no-progress",
        "--test-year",
        "--label-delay-days",
        "--epochs",
        "--protocols",
    ):
        assert opt in text
    assert "random 80/20" in DESCRIPTION


def test_parser_requires_data_and_out() -> None:
    p = argparse.ArgumentParser()
    add_train_arguments(p)
    with pytest.raises(SystemExit):
        p.parse_args([])


def test_unknown_model_is_a_usage_error(tmp_path: Path) -> None:
    assert main(["--data", str(ROWS), "--out", str(tmp_path), "--models", "xgb"]) == 2


def test_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    assert main(["--data", str(tmp_path / "none.csv"), "--out", str(tmp_path)]) == 2


def test_trains_evaluates_and_exports_on_the_fixture(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], rows_incidents: list[Incident]
) -> None:
    pytest.importorskip("skl2onnx", reason="the 'train' extra is not installed")
    code = main(
        [
            "--data",
            str(ROWS),
            "--out",
            str(tmp_path),
            "--models",
            "logreg,hgb",
            "--no-progress",
            "--test-year",
            "2016",
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "Seed protocol" in out and "Forward split, without_arrest_only" in out
    assert "Online recalibration" in out
    results = json.loads((tmp_path / "arrest_results.json").read_text())
    assert set(results["seed"]) == {"logreg", "hgb"} and results["test_year"] == 2016
    assert set(results["forward"]) == {"all_types", "without_arrest_only"}
    assert "NARCOTICS" in results["excluded_types"]
    assert (tmp_path / "arrest_calibration.png").stat().st_size > 1000
    for kind in ("logreg", "hgb"):
        card = json.loads((tmp_path / f"arrest_{kind}.card.json").read_text())
        assert card["training"]["years"] == [2012, 2013, 2014, 2015]
        assert card["metrics"]["seed_protocol"]["rows"] > 0
        scorer = ArrestScorer(tmp_path / f"arrest_{kind}.onnx")
        assert scorer.version == card["version"]
        assert len(scorer.score_many(rows_incidents)) == len(rows_incidents)
