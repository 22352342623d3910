"""``patrolstream backtest routes`` end to end on real sample rows (district 8, Sept 2016)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest

from simulators.route_backtest import (
    DESCRIPTION,
    add_route_backtest_arguments,
    forecaster_effect,
    main,
    route_backtest_main,
    sample_days,
)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="patrolstream backtest routes", description=DESCRIPTION)
    add_route_backtest_arguments(p)
    return p


def test_every_option_has_a_help(capsys: pytest.CaptureFixture[str]) -> None:
    p = _parser()
    for action in p._actions:
        assert action.help, f"{action.option_strings} has no help"
    with pytest.raises(SystemExit) as exc:
        p.parse_args(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for flag in (
        "--data",
        "--from",
        "--to",
        "--districts",
        "--units",
        "--planners",
        "--out",
        "--sample-weeks",
        "--dwell-min",
        "--risk",
        "--retrain-days",
        "--no-progress",
    ):
        assert flag in out


def test_sample_days() -> None:
    every = sample_days(date(2016, 1, 1), date(2016, 1, 10), 0)
    assert len(every) == 10 and every[-1] == date(2016, 1, 10)
    # two weeks spread over 2016: the first and the last week of the year
    two = sample_days(date(2016, 1, 1), date(2016, 12, 31), 2)
    assert two[0] == date(2016, 1, 1) and two[7] == date(2016, 12, 25) and len(two) == 14
    assert sample_days(date(2016, 1, 1), date(2016, 1, 5), 3) == every[:5]
    with pytest.raises(ValueError):
        sample_days(date(2016, 1, 2), date(2016, 1, 1), 1)


def test_end_to_end(
    tmp_path: Path, slicer: Callable[[set[str], int], str], capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "d8.csv"
    data.write_text(slicer({"008"}, 30))
    out = tmp_path / "out"
    code = main(
        [
            "--data",
            str(data),
            "--from",
            "2016-09-27",
            "--to",
            "2016-09-27",
            "--shifts",
            "16-24",
            "--districts",
            "008",
            "--bootstrap",
            "50",
            "--no-progress",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    result = json.loads((out / "route_backtest.json").read_text())
    assert result["sample"]["districts"] == ["8"] and result["sample"]["days"] == ["2016-09-27"]
    planners = ["cpspa", "nearest", "random", "optimizer", "oracle"]
    assert [r["planner"] for r in result["rows"]] == planners
    assert list(result["summary"]["planners"]) == planners
    assert result["summary"]["district_shifts"] == 1
    assert set(result["goal"]) >= {"target", "ratio", "met"}
    md = (out / "route_backtest.md").read_text()
    assert "| planner |" in md and "Goal (issue 6)" in md
    assert (out / "route_backtest.png").stat().st_size > 10_000
    assert result["config"]["risk"] == "boosted"
    assert result["config"]["forecaster"] == "ours-boosted"
    assert result["forecaster_vs_counts"] is None  # optimizer-counts was not run
    printed = capsys.readouterr().out
    assert "covered in time" in printed and "optimizer" in printed


def test_forecaster_effect_pairs_the_two_optimisers() -> None:
    rows = [
        {"date": d, "district": "1", "shift": "s", "planner": p, "incidents": 10, "in_time": k,
         "in_presence": 0, "spatial": k, "distance_m": 1000.0, "time_s": 60.0, "waypoints": 1}
        for d in ("a", "b")
        for p, k in (("optimizer-counts", 2), ("optimizer", 3))
    ]  # fmt: skip
    got = forecaster_effect(rows, ["optimizer", "optimizer-counts"], 20, 0)
    assert got is not None and got["value"] == pytest.approx(1.5)
    assert forecaster_effect(rows, ["optimizer"], 20, 0) is None


def test_missing_file_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ns = _parser().parse_args(
        ["--data", str(tmp_path / "nope.csv"), "--from", "2016-01-01", "--to", "2016-01-02"]
    )
    assert route_backtest_main(ns) == 2
    assert "no such file" in capsys.readouterr().err
