"""``patrolstream run``: the embedded mode end to end, as a user calls it."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from patrol.routes import validate_route_geojson
from simulators.cli import build_parser, main
from simulators.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def two_districts_csv(
    tmp_path_factory: pytest.TempPathFactory, slicer: Callable[[set[str], int], str]
) -> Path:
    """Real rows of districts 8 and 11, 1-20 Sept 2016, plus two rows broken on purpose."""
    text = slicer({"008", "011"}, 20)
    header = text.splitlines()[0].split(",")
    bad = ["" for _ in header]
    bad[header.index("ID")] = "bad-1"
    bad[header.index("Date")] = "09/10/2016 10:00:00 AM"
    bad2 = list(bad)
    bad2[header.index("ID")] = "bad-2"
    bad2[header.index("Latitude")] = "95.0"
    bad2[header.index("Longitude")] = "-87.6"
    path = tmp_path_factory.mktemp("data") / "slice.csv"
    path.write_text(text + ",".join(bad) + "\n" + ",".join(bad2) + "\n")
    return path


def test_run_writes_valid_routes_for_the_last_day(
    two_districts_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        main(["run", "--data", str(two_districts_csv), "--out", str(tmp_path), "--no-progress"])
        == 0
    )
    out = capsys.readouterr().out.splitlines()
    files = sorted(p.name for p in tmp_path.glob("*.geojson"))
    assert files == [
        f"2016-09-20_{s}_district-{d}.geojson"
        for s in ("00-08", "08-16", "16-24")
        for d in ("11", "8")
    ]
    for f in tmp_path.glob("*.geojson"):
        doc = json.loads(f.read_text())
        assert validate_route_geojson(doc) == []
        assert doc["date"] == "2016-09-20"
    assert sum(line.startswith("district=") for line in out) == 6
    report = json.loads((tmp_path / "run_report.json").read_text())
    assert report["rejected"]["by_reason"] == {
        "latitude: missing": report["rejected"]["by_reason"]["latitude: missing"],
        "latitude: out of range": 1,
    }
    assert report["rejected"]["by_reason"]["latitude: missing"] >= 1
    assert report["accepted"] == report["ingest"]["new"]
    assert out[-2].startswith("6 routes written")
    scores = (tmp_path / "scores.jsonl").read_text().splitlines()
    assert len(scores) == report["accepted"] == report["arrest_scores"]
    assert out[-1].startswith(f"{len(scores)} arrest scores written")
    assert {json.loads(line)["model_version"] for line in scores} == {report["model_version"]}


def test_filters_and_forecast_beyond_the_data(two_districts_csv: Path, tmp_path: Path) -> None:
    code = main(
        [
            "run",
            "--data",
            str(two_districts_csv),
            "--out",
            str(tmp_path),
            "--no-progress",
            "--district",
            "8",
            "--shift",
            "08-16",
            "--date",
            "2016-09-19..2016-09-21",
        ]
    )
    assert code == 0
    assert sorted(p.name for p in tmp_path.glob("*.geojson")) == [
        "2016-09-19_08-16_district-8.geojson",
        "2016-09-20_08-16_district-8.geojson",
        "2016-09-21_08-16_district-8.geojson",  # after the last incident: a forecast
    ]


def test_planned_from_data_before_the_shift_only(two_districts_csv: Path, tmp_path: Path) -> None:
    """A route planned during the replay equals one planned from the data cut at its start."""
    main(
        [
            "run",
            "--data",
            str(two_districts_csv),
            "--out",
            str(tmp_path / "a"),
            "--no-progress",
            "--district",
            "8",
            "--shift",
            "08-16",
            "--date",
            "2016-09-15",
        ]
    )
    lines = two_districts_csv.read_text().splitlines()
    cut = [ln for ln in lines[1:] if not _after(ln, "09/15/2016 08:00:00 AM")]
    short = tmp_path / "cut.csv"
    short.write_text("\n".join([lines[0], *cut]) + "\n")
    main(
        [
            "run",
            "--data",
            str(short),
            "--out",
            str(tmp_path / "b"),
            "--no-progress",
            "--district",
            "8",
            "--shift",
            "08-16",
            "--date",
            "2016-09-15",
        ]
    )
    name = "2016-09-15_08-16_district-8.geojson"
    a = json.loads((tmp_path / "a" / name).read_text())
    b = json.loads((tmp_path / "b" / name).read_text())
    assert a["features"] == b["features"]


def _after(line: str, stamp: str) -> bool:
    from datetime import datetime

    fmt = "%m/%d/%Y %I:%M:%S %p"
    date = line.split(",")[2]
    return datetime.strptime(date, fmt) >= datetime.strptime(stamp, fmt)


def test_bad_arguments_give_clear_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    assert main(["run", "--data", str(tmp_path / "nope.csv"), "--no-progress"]) == 2
    assert "no such file" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["run", "--date", "2016-13-01"])
    assert "--date" in capsys.readouterr().err
    assert main(["run", "--travel", "osm-road", "--no-progress"]) == 2


def test_help_explains_every_option() -> None:
    run = build_parser()._subparsers._group_actions[0].choices["run"]  # type: ignore[union-attr]
    for action in run._actions:
        assert action.help, f"{action.option_strings} has no help text"


def test_settings_come_from_the_environment_and_flags_override() -> None:
    s = Settings.from_env({"PATROLSTREAM_PLANNER": "nearest", "PATROLSTREAM_HALF_LIFE_DAYS": "30"})
    assert (s.planner, s.half_life_days) == ("nearest", 30.0)
    assert s.override(planner="random", city=None).planner == "random"
    assert s.engine_config().half_life_days == 30.0
    with pytest.raises(ValueError, match="PATROLSTREAM_MIN_INCIDENTS"):
        Settings.from_env({"PATROLSTREAM_MIN_INCIDENTS": "many"})


def test_console_script_runs_on_the_bundled_sample(tmp_path: Path) -> None:
    """The README's first command, in a subprocess, as a newcomer runs it."""
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "simulators.cli",
            "run",
            "--out",
            str(tmp_path),
            "--no-progress",
            "--district",
            "1",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert len(list(tmp_path.glob("2016-10-31_*_district-1.geojson"))) == 3


def test_optimizer_with_two_units_writes_one_valid_route_per_unit(
    two_districts_csv: Path, tmp_path: Path
) -> None:
    argv = ["run", "--data", str(two_districts_csv), "--out", str(tmp_path), "--no-progress"]
    assert main([*argv, "--district", "8", "--shift", "08-16", "--arrest-model", "none",
                 "--planner", "optimizer", "--units", "2"]) == 0  # fmt: skip
    docs = [json.loads(p.read_text()) for p in sorted(tmp_path.glob("*.geojson"))]
    assert sorted(d["unit"] for d in docs) == [1, 2]
    for doc in docs:
        assert validate_route_geojson(doc) == []
        assert doc["planner"] == "optimizer"
    sites = [
        {tuple(f["geometry"]["coordinates"]) for f in d["features"]
         if f["geometry"]["type"] == "Point"}
        for d in docs
    ]  # fmt: skip
    assert sites[0] and sites[1] and not sites[0] & sites[1]  # the units are kept apart


def test_more_units_than_one_need_the_optimizer(two_districts_csv: Path, tmp_path: Path) -> None:
    argv = ["run", "--data", str(two_districts_csv), "--out", str(tmp_path), "--no-progress"]
    assert main([*argv, "--units", "2"]) == 2
    assert not list(tmp_path.glob("*.geojson"))
