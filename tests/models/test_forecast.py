"""The served forecaster's model: training CLI, ONNX export/parity, card checks, runtime."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from models.forecast import DEFAULT_MODEL
from models.forecast.export import card_path
from models.forecast.runtime import ForecastModelError, load_forecast_model, read_card
from patrol.forecast.features import feature_names
from simulators.cli import main
from simulators.settings import SAMPLE


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model trained by the CLI on the bundled sample (two weekly origins)."""
    pytest.importorskip("skl2onnx")
    out = tmp_path_factory.mktemp("forecast") / "small.onnx"
    code = main(["train-forecaster", "--data", str(SAMPLE), "--until", "2016-10-25",
                 "--origins", "2", "--out", str(out), "--no-progress"])  # fmt: skip
    assert code == 0
    return out


def test_cli_writes_a_model_whose_card_describes_it(trained: Path) -> None:
    card = read_card(trained)
    assert card["training"]["until"] == "2016-10-25"
    assert card["training"]["origins"] == 2
    assert card["feature_names"] == feature_names()
    assert card["version"].startswith("ours-served-2016-10-25-")
    assert card["parity"]["max_abs_diff"] <= card["parity"]["tolerance"]


def test_onnx_runtime_matches_scikit_learn(trained: Path) -> None:
    """Retrain the same model in-process (deterministic) and compare forecasts row by row."""
    from datetime import date

    from models.forecast.train import train
    from patrol.incidents.profile import load_profile

    fitted = train([SAMPLE], load_profile("chicago"), date(2016, 10, 25), origins=2)
    served = load_forecast_model(trained)
    x = fitted.rows
    np.testing.assert_allclose(served.forecast(x), fitted.model.served_model().forecast(x),
                               rtol=1e-4)  # fmt: skip
    assert served.version == read_card(trained)["version"]


def test_replaced_or_broken_models_are_refused(trained: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.onnx"
    data = bytearray(trained.read_bytes())
    data[len(data) // 2] ^= 0xFF
    bad.write_bytes(bytes(data))
    card_path(bad).write_text(card_path(trained).read_text())
    with pytest.raises(ForecastModelError, match="sha256"):
        load_forecast_model(bad)
    with pytest.raises(ForecastModelError, match="not found"):
        load_forecast_model(tmp_path / "missing.onnx")
    lonely = tmp_path / "lonely.onnx"
    lonely.write_bytes(trained.read_bytes())
    with pytest.raises(ForecastModelError, match="card not found"):
        load_forecast_model(lonely)
    renamed = tmp_path / "renamed.onnx"
    renamed.write_bytes(trained.read_bytes())
    card = json.loads(card_path(trained).read_text())
    card["feature_names"] = card["feature_names"][::-1]
    card_path(renamed).write_text(json.dumps(card))
    with pytest.raises(ForecastModelError, match="features differ"):
        load_forecast_model(renamed)


def test_run_refuses_a_broken_model_with_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["run", "--forecast-model", str(tmp_path / "nope.onnx"), "--out",
                 str(tmp_path / "out"), "--no-progress", "--arrest-model", "none"])  # fmt: skip
    assert code == 2
    assert "--forecast-model" in capsys.readouterr().err


def test_the_committed_model_loads_and_forecasts(district8_september: list) -> None:
    card = read_card(DEFAULT_MODEL)
    assert card["training"]["until"] == "2016-01-01" and card["training"]["origins"] == 52
    model = load_forecast_model(DEFAULT_MODEL)
    from patrol.config import EngineConfig
    from patrol.engine import Engine
    from patrol.incidents.profile import load_profile

    engine = Engine(load_profile("chicago"), EngineConfig(forecaster="served"),
                    forecast_model=model)  # fmt: skip
    for inc in district8_september:
        engine.ingest(inc)
    last = max(i.occurred_at for i in district8_september).timestamp() / 86_400.0
    cells, expected = engine.forecast("8", last + 1.0)
    assert cells.size > 50
    assert np.all(np.isfinite(expected)) and np.all(expected > 0)
