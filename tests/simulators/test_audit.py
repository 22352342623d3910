"""``patrolstream audit`` end to end on real rows of district 8 (bundled sample, Sept 2016)."""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from simulators.cli import main as cli_main


@pytest.fixture(scope="module")
def audited(
    tmp_path_factory: pytest.TempPathFactory, slicer: Callable[[set[str], int], str]
) -> tuple[Path, str]:
    """One week (24-30 Sept) after 23 days of history, with a hand-made population table."""
    tmp = tmp_path_factory.mktemp("audit")
    text = slicer({"008"}, 30)
    (tmp / "rows.csv").write_text(text)
    # a hand-made table (not real census figures): only the shares matter to the test
    (tmp / "pop.csv").write_text(
        "community_area,population\n56,1000\n62,1000\n63,1000\n64,1000\n65,2000\n66,4000\n"
        "67,1000\n70,1000\n57,1000\n58,1000\n"
    )
    code = cli_main(
        [
            "audit", "--data", str(tmp / "rows.csv"), "--from", "2016-09-24", "--weeks", "1",
            "--history-days", "23", "--districts", "008", "--population", str(tmp / "pop.csv"),
            "--out", str(tmp / "out"), "--no-progress",
        ]
    )  # fmt: skip
    assert code == 0
    return tmp / "out", text


def _expected_counts(text: str) -> Counter[str]:
    """Incidents of 24-30 Sept per recorded Community Area, read straight from the CSV."""
    rows = list(csv.DictReader(io.StringIO(text)))
    return Counter(
        r["Community Area"]
        for r in rows
        if r["Latitude"] and 24 <= int(r["Date"][3:5]) <= 30 and r["Community Area"]
    )


def test_audit_writes_json_markdown_and_plots(audited: tuple[Path, str]) -> None:
    out, _ = audited
    for name in ("audit.json", "audit.md", "audit_shares.png", "audit_drift.png"):
        assert (out / name).stat().st_size > 0, name
    md = (out / "audit.md").read_text()
    assert "## Fairness audit" in md and "### Feedback loop" in md and "Chicago Lawn" in md


def test_audit_table_counts_the_real_incidents_per_area(audited: tuple[Path, str]) -> None:
    out, text = audited
    result = json.loads((out / "audit.json").read_text())
    rows = result["audit"]["open"]["rows"]
    got = {r["area"]: r["incidents"] for r in rows if r["incidents"]}
    assert got == dict(_expected_counts(text))
    assert sum(r["incident_share"] for r in rows) == pytest.approx(1.0, abs=1e-5)
    assert sum(r["patrol_share"] for r in rows) == pytest.approx(1.0, abs=1e-5)
    # the population shares are over the table's areas that the population file lists
    pops = {r["area"]: r["population_share"] for r in rows if r["population_share"] is not None}
    listed = {"56": 1, "62": 1, "63": 1, "64": 1, "65": 2, "66": 4, "67": 1, "70": 1, "57": 1,
              "58": 1}  # fmt: skip
    total = sum(v for a, v in listed.items() if a in pops)
    assert pops == pytest.approx({a: listed[a] / total for a in pops}, abs=1e-6)
    assert "tv_patrol_population" in result["audit"]["open"]["summary"]


def test_audit_replays_every_variant_for_every_shift(audited: tuple[Path, str]) -> None:
    out, text = audited
    fb = json.loads((out / "audit.json").read_text())["feedback"]
    assert fb["weeks"] == ["2016-09-24"]
    discoverable = {"NARCOTICS", "WEAPONS VIOLATION", "CRIMINAL TRESPASS", "PROSTITUTION",
                    "GAMBLING", "LIQUOR LAW VIOLATION", "PUBLIC PEACE VIOLATION",
                    "INTERFERENCE WITH PUBLIC OFFICER", "CONCEALED CARRY LICENSE VIOLATION",
                    "OTHER NARCOTIC VIOLATION", "PUBLIC INDECENCY", "OBSCENITY"}  # fmt: skip
    n_disc = sum(
        1
        for r in csv.DictReader(io.StringIO(text))
        if r["Latitude"] and 24 <= int(r["Date"][3:5]) <= 30 and r["Primary Type"] in discoverable
    )
    assert n_disc > 10
    for name, trace in fb["variants"].items():
        assert trace["plans"] == 21, name  # 7 days x 3 shifts
        assert trace["true_discoverable"] == [n_disc], name
        assert 0 <= trace["recorded_discoverable"][0] <= n_disc
    assert fb["summary"]["recording_rate_discoverable"]["open"] == 1.0
    assert set(fb["drift"]) == {"open", "closed", "victim_only", "reweight"}


def test_audit_refuses_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["audit", "--data", str(tmp_path / "nope.csv"), "--from", "2016-09-01"]) == 2
    assert "no such file" in capsys.readouterr().err
    data = tmp_path / "rows.csv"
    data.write_text("ID\n")
    bad = tmp_path / "pop.csv"
    bad.write_text("community_area,population\n8,lots\n")
    argv = ["audit", "--data", str(data), "--from", "2016-09-01", "--population", str(bad)]
    assert cli_main(argv) == 2
    assert "row 2: population: 'lots' is not a number" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli_main(["audit", "--data", str(data), "--from", "2016-13-01"])
