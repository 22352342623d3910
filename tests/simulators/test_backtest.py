"""``patrolstream backtest hotspots`` on the bundled sample (real rows, Sept-Oct 2016)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from simulators.backtest import add_backtest_arguments, backtest_main
from simulators.settings import SAMPLE


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="patrolstream")
    sub = p.add_subparsers(dest="command", required=True)
    add_backtest_arguments(sub)
    return p


def _run(argv: list[str]) -> int:
    return backtest_main(_parser().parse_args(argv))


def test_help_explains_every_option(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        _parser().parse_args(["backtest", "hotspots", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for opt in ("--data", "--from", "--to", "--period", "--grid-m", "--city", "--district",
                "--methods", "--out", "--bootstrap", "--block", "--seed", "--no-plots",
                "--no-progress"):  # fmt: skip
        assert opt in out
    assert "PAI" in out and "ours-boosted" in out and "two years" in out


def test_daily_backtest_of_one_district_on_the_sample(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["backtest", "hotspots", "--data", str(SAMPLE), "--from", "2016-10-17", "--to",
            "2016-10-30", "--period", "day", "--district", "011", "--out", str(tmp_path),
            "--bootstrap", "300", "--no-progress"]  # fmt: skip
    assert _run(argv) == 0
    out = capsys.readouterr().out
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["periods"] == 14 and report["period"] == "day"
    assert report["district"] == "011" and report["city_cells"] > 100
    assert report["city_area_from"] == "2014-10-17"
    names = set(report["methods"])
    assert names == {"prev-period", "prev-4-periods", "last-182-days", "last-365-days",
                     "all-history", "retrospective-kde", "prospective-hotspot", "sepp",
                     "engine-kde-table", "ours-boosted", "ours-served", "maximum"}  # fmt: skip
    strongest = report["strongest_baseline"]
    assert report["methods"][strongest]["kind"] == "baseline"
    best = max(
        (m["pai"]["0.01"] for m in report["methods"].values() if m["kind"] == "baseline"),
    )
    assert report["methods"][strongest]["pai"]["0.01"] == best
    for name, m in report["methods"].items():
        assert len(m["pai_1pct_per_period"]) == 14
        lo, hi = m["pai_1pct_ci95"]
        assert lo <= m["pai"]["0.01"] <= hi
        hits = [m["hit_rate"][k] for k in ("0.01", "0.05", "0.1")]
        assert hits == sorted(hits)  # a larger area never finds fewer incidents
        maximum = report["methods"]["maximum"]["hit_rate"]
        assert all(h <= maximum[k] + 1e-9 for h, k in zip(hits, maximum, strict=True))
        if name not in (strongest, "maximum"):
            assert m["vs_strongest_baseline"]["baseline"] == strongest
    assert (tmp_path / "backtest_hitrate_curves.png").stat().st_size > 10_000
    assert (tmp_path / "backtest_pai_over_time.png").stat().st_size > 10_000
    md = (tmp_path / "report.md").read_text()
    assert "| ours-boosted |" in md and "backtest_hitrate_curves.png" in md
    assert "PAI@1%" in out and "strongest baseline" in out


def test_weekly_city_wide_counts_only(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["backtest", "hotspots", "--data", str(SAMPLE), "--from", "2016-10-03", "--to",
            "2016-10-30", "--methods", "prev-period,all-history", "--out", str(tmp_path),
            "--no-plots", "--no-progress", "--bootstrap", "200"]  # fmt: skip
    assert _run(argv) == 0
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["period_starts"] == ["2016-10-03", "2016-10-10", "2016-10-17", "2016-10-24"]
    assert report["rows_read"] >= 47_028  # the sample's valid rows, plus any rejected
    assert report["evaluated_incidents"] > 15_000
    assert not (tmp_path / "backtest_pai_over_time.png").exists()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--data", "/nonexistent.csv"], "no such file"),
        (["--data", str(SAMPLE), "--grid-m", "0"], "--grid-m"),
        (["--data", str(SAMPLE), "--from", "2016-10-20", "--to", "2016-10-01"], "before"),
        (["--data", str(SAMPLE), "--from", "2016-10-30", "--to", "2016-11-01"], "no whole"),
        (["--data", str(SAMPLE), "--from", "2012-01-01", "--to", "2012-01-31"], "no incident"),
    ],
)
def test_bad_input_exits_2(
    extra: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["backtest", "hotspots", "--from", "2016-10-17", "--to", "2016-10-30", *extra,
            "--out", str(tmp_path), "--no-progress", "--methods", "prev-period"]  # fmt: skip
    assert _run(argv) == 2
    assert message in capsys.readouterr().err


def test_unknown_method_is_an_argument_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        _parser().parse_args(["backtest", "hotspots", "--data", "x", "--from", "2016-01-01",
                              "--to", "2016-01-31", "--methods", "tea-leaves"])  # fmt: skip
    assert "tea-leaves" in capsys.readouterr().err


def test_district_prefilter_loads_the_same_incidents() -> None:
    from patrol.incidents.profile import load_profile
    from simulators.backtest import load_events

    chicago = load_profile("chicago")
    whole = load_events([SAMPLE], chicago, float("inf"))
    one = load_events([SAMPLE], chicago, float("inf"), district="11")
    ours = whole.events.in_area("11")
    assert len(one.events) == len(ours) > 2000
    assert one.events.t.tolist() == ours.t.tolist()
    assert one.events.x.tolist() == ours.x.tolist()
