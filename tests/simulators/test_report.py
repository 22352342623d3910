"""``patrolstream report`` builds one self-contained HTML page from hand-made result fixtures."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from simulators.cli import main as cli_main
from simulators.report import SECTIONS, build_report, interval, num


def _png(path: Path) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(1.0, 1.0), dpi=20)
    FigureCanvasAgg(fig)
    fig.subplots().plot([0, 1], [0, 1])
    fig.savefig(path)


def _method(hit: float, pai: float, kind: str = "baseline") -> dict[str, object]:
    return {
        "kind": kind,
        "hit_rate": {"0.01": hit, "0.05": 0.3, "0.1": 0.4},
        "pai": {"0.01": pai, "0.05": 6.0, "0.1": 4.0},
        "pai_1pct_ci95": [pai - 0.25, pai + 0.25],
    }


def _share(v: float) -> dict[str, float]:
    return {"value": v, "low": v - 0.01, "high": v + 0.01}


FIXTURES: dict[str, dict[str, object]] = {
    "backtest_hotspots.json": {
        "from": "2016-01-01", "to": "2016-12-31", "periods": 52, "shares": [0.01, 0.05, 0.1],
        "strongest_baseline": "last-365-days", "evaluated_incidents": 1234,
        "methods": {
            "last-365-days": _method(0.0979, 9.79),
            "ours-<b>boosted</b>": {
                **_method(0.1001, 10.01, "ours"),
                "vs_strongest_baseline": {"diff": 0.22, "low": 0.16, "high": 0.29},
            },
        },
    },
    "route_backtest.json": {
        "sample": {"from": "2016-01-01", "to": "2016-12-31"},
        "summary": {
            "days": 56, "district_shifts": 3696, "reference": "cpspa",
            "planners": {
                "cpspa": {"in_time": _share(0.099), "spatial": _share(0.105), "mean_km": 11.6,
                          "mean_minutes": 33.5, "mean_waypoints": 3.9},
                "optimizer": {"in_time": _share(0.289), "spatial": _share(0.475), "mean_km": 34.9,
                              "mean_minutes": 480.0, "mean_waypoints": 24.7},
            },
            "ratios": {"optimizer": {"value": 2.92, "low": 2.81, "high": 3.03}},
        },
        "goal": {"target": 2.0, "ratio": 2.92, "low": 2.81, "high": 3.03, "met": True},
    },
    "arrest_train.json": {
        "test_year": 2016,
        "seed": {"hgb": {"accuracy": 0.8895, "majority_accuracy": 0.7375, "roc_auc": 0.9147,
                         "pr_auc": 0.86, "brier": 0.0853, "ece": 0.0053}},
        "forward": {
            "all_types": {"hgb": {"accuracy": 0.897, "majority_accuracy": 0.803,
                                  "roc_auc": 0.908, "pr_auc": 0.8, "brier": 0.08, "ece": 0.023}},
            "without_arrest_only": {"hgb": {"accuracy": 0.891, "majority_accuracy": 0.852,
                                            "roc_auc": 0.8704, "pr_auc": 0.63, "brier": 0.085,
                                            "ece": 0.027}},
        },
    },
    "arrest.json": {"model": "hgb-test", "latency": {"score_one": {"p50_us": 34.0,
                                                                   "p99_us": 112.8}}},
    "audit.json": {
        "sample": {"districts": ["8", "11"], "weeks": 26, "from": "2016-01-04"},
        "discovery": {"base": 0.2, "lift_per_min": 0.02, "radius_m": 250.0},
        "audit": {"open": {
            "summary": {"tv_patrol_incidents": 0.4321, "areas_unpatrolled": 3, "areas": 15},
            "rows": [{"area": "66", "name": "Chicago Lawn", "incidents": 492,
                      "incident_share": 0.179, "patrol_minutes": 872.0, "patrol_share": 0.125,
                      "patrol_over_incident_share": 0.7, "population": None,
                      "population_share": None}],
        }},
        "feedback": {"summary": {
            "drift": {v: {"first": 0.4, "last": 0.5, "change": 0.1, "slope_per_week": 0.004}
                      for v in ("open", "closed", "victim_only", "reweight")},
            "mean_drift": {"open": 0.41, "closed": 0.4567, "victim_only": 0.42,
                           "reweight": 0.43},
            "mean_drift_vs_open": {"closed": 0.05, "victim_only": 0.06, "reweight": 0.04},
            "recording_rate_discoverable": {"open": 1.0, "closed": 0.23, "victim_only": 0.22,
                                            "reweight": 0.23},
        }},
    },
}  # fmt: skip

IMAGES = [
    "backtest_hitrate_curves.png",
    "routes_backtest_2016.png",
    "arrest_calibration.png",
    "audit_shares.png",
    "audit_drift.png",
]


@pytest.fixture()
def folders(tmp_path: Path) -> tuple[Path, Path]:
    results, images = tmp_path / "results", tmp_path / "img"
    results.mkdir()
    images.mkdir()
    for name, payload in FIXTURES.items():
        (results / name).write_text(json.dumps(payload))
    for name in IMAGES:
        _png(images / name)
    return results, images


def _section(page: str, sid: str) -> str:
    m = re.search(f'<section id="{sid}">(.*?)</section>', page, re.S)
    assert m, f"section {sid} missing"
    return m.group(1)


def test_report_has_every_section_with_its_numbers(folders: tuple[Path, Path]) -> None:
    page = build_report(*folders)
    assert [sid for sid, _, _ in SECTIONS] == ["hotspots", "routes", "arrest", "fairness"]
    hot = _section(page, "hotspots")
    assert "10.01" in hot and "[9.76, 10.26]" in hot and "0.22 [0.16, 0.29]" in hot
    assert "&lt;b&gt;boosted&lt;/b&gt;" in hot and "<b>boosted</b>" not in hot  # escaped
    routes = _section(page, "routes")
    assert "28.9 [27.9, 29.9]" in routes and "2.92 [2.81, 3.03]" in routes and "met" in routes
    arrest = _section(page, "arrest")
    assert "0.915" in arrest and "0.870" in arrest and "without the arrest-only types" in arrest
    assert "34 µs" in arrest
    fair = _section(page, "fairness")
    assert "0.432" in fair and "Chicago Lawn" in fair and "0.457" in fair and "23%" in fair
    for sid in ("hotspots", "routes", "arrest", "fairness"):
        assert 'class="explain"' in _section(page, sid)


def test_report_is_self_contained(folders: tuple[Path, Path]) -> None:
    page = build_report(*folders)
    assert page.count('src="data:image/png;base64,') == len(IMAGES)
    srcs = re.findall(r'(?:src|href)="([^"#][^"]*)"', page)
    assert all(s.startswith("data:") for s in srcs), srcs
    assert "<script" not in page and "<link" not in page


def test_report_without_results_says_what_is_missing(tmp_path: Path) -> None:
    page = build_report(tmp_path / "none", tmp_path / "none")
    for sid in ("hotspots", "routes", "arrest", "fairness"):
        assert "results found" in _section(page, sid)


def test_report_survives_a_malformed_result(folders: tuple[Path, Path]) -> None:
    results, images = folders
    (results / "route_backtest.json").write_text(json.dumps({"summary": {"planners": 3}}))
    (results / "audit.json").write_text("{not json")
    page = build_report(results, images)
    assert "could not read the Patrol routes results" in _section(page, "routes")
    assert "No fairness audit results found" in _section(page, "fairness")
    assert "10.01" in _section(page, "hotspots")


def test_report_command_writes_the_file(folders: tuple[Path, Path], tmp_path: Path) -> None:
    results, images = folders
    out = tmp_path / "r" / "report.html"
    argv = ["report", "--results", str(results), "--images", str(images), "--out", str(out)]
    assert cli_main(argv) == 0
    assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def test_number_formatting() -> None:
    assert interval({"value": 0.5, "low": 0.25, "high": 0.75}, 1, pct=True) == "50.0 [25.0, 75.0]"
    assert interval({"value": 2.0, "low": float("nan"), "high": float("nan")}, 2) == "2.00"
    assert num(True) == "True" and num(3, 1) == "3.0"


def test_report_compares_the_other_audit_runs(folders: tuple[Path, Path]) -> None:
    results, images = folders
    other = json.loads(json.dumps(FIXTURES["audit.json"]))
    other["sample"]["weeks"] = 8
    other["feedback"]["summary"]["mean_drift"]["closed"] = 0.1234
    (results / "audit_optimizer.json").write_text(json.dumps(other))
    _png(images / "audit_drift_optimizer.png")
    fair = _section(build_report(results, images), "fairness")
    assert "Other patrol assumptions" in fair
    row = re.search(r"<tr><td>optimising planner</td>(.*?)</tr>", fair)
    assert row and "<td>8</td>" in row.group(1) and "<td>0.123</td>" in row.group(1)
    assert fair.count('src="data:image/png;base64,') == 3
