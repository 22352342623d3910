"""The scoring service: scores equal the offline scorer's, late labels, hot reload, start-up
errors, the embedded mode's scores.jsonl."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from models.arrest import DEFAULT_MODEL
from models.arrest.runtime import ArrestScorer, ModelError
from models.arrest.service import ScoringService, score_incidents
from patrol.incidents.schema import Incident
from simulators.embedded import RunReport, write_scores


def _scored(rows: list[Incident]) -> list[Incident]:
    """Rows the model scores (not the excluded types), first reports without a label."""
    fixed = ArrestScorer().card["excluded_types"]
    return [replace(i, arrest=None) for i in rows if (i.primary_type or "") not in fixed]


def test_scores_equal_the_offline_scorer(rows_incidents: list[Incident]) -> None:
    svc = ScoringService()
    pending: dict[str, Any] = {}
    cal = svc.new_calibrator()
    recs = svc.score_batch(rows_incidents, [i.district for i in rows_incidents], pending, cal)
    offline = ArrestScorer().score_many(rows_incidents)
    assert [r["id"] for r in recs] == [i.id for i in rows_incidents]
    assert [r["district"] for r in recs] == [i.district for i in rows_incidents]
    assert [r["score"] for r in recs] == offline.tolist()
    assert {r["model_version"] for r in recs} == {ArrestScorer().version}
    # no label yet: the calibrated score is the model's
    assert [r["calibrated_score"] for r in recs] == offline.tolist()
    fixed = svc.scorer.card["excluded_types"]
    assert set(pending) == {i.id for i in rows_incidents if i.primary_type not in fixed}
    assert svc.stats.scored == len(rows_incidents) and svc.stats.labels == 0


def test_a_newer_revision_with_the_flag_is_a_label_a_duplicate_is_not(
    rows_incidents: list[Incident],
) -> None:
    svc = ScoringService(min_group_labels=1)
    first = _scored(rows_incidents)[0]
    assert first.updated_at is not None
    pending: dict[str, Any] = {}
    cal = svc.new_calibrator()
    [served] = svc.score_batch([first], ["x"], pending, cal)
    assert pending[first.id]["s"] == served["score"]
    # a redelivered first report, even with a flag: not a label
    svc.score_batch([replace(first, arrest=True)], ["x"], pending, cal)
    assert svc.stats.labels == 0 and svc.stats.duplicates == 1 and first.id in pending
    # a revision without the flag: still waiting
    later = first.updated_at + timedelta(days=2)
    svc.score_batch([replace(first, updated_at=later)], ["x"], pending, cal)
    assert svc.stats.labels == 0 and first.id in pending
    before = cal.to_dict()["levels"]["*"]
    svc.score_batch([replace(first, updated_at=later, arrest=False)], ["x"], pending, cal)
    assert svc.stats.labels == 1 and first.id not in pending
    after = cal.to_dict()["levels"]["*"]
    assert after["n"] == before["n"] + 1 and after["b"] < before["b"]  # "no arrest" pulls down
    # once labelled, the id is a new first report if it comes again
    svc.score_batch([replace(first, updated_at=later, arrest=True)], ["x"], pending, cal)
    assert svc.stats.labels == 1 and first.id in pending


def test_the_arrest_flag_of_a_first_report_is_never_learned(
    rows_incidents: list[Incident],
) -> None:
    svc = ScoringService()
    labelled = [replace(i, arrest=True) for i in _scored(rows_incidents)]
    cal = svc.new_calibrator()
    recs = svc.score_batch(labelled, [None] * len(labelled), {}, cal)
    assert svc.stats.labels == 0
    assert all(r["calibrated_score"] == r["score"] for r in recs)
    assert cal.to_dict()["levels"]["*"]["n"] == 0


def test_late_labels_recalibrate_later_scores(rows_incidents: list[Incident]) -> None:
    """Every revision says "no arrest": the served probabilities of the group fall."""
    svc = ScoringService(calibration_lr=0.05, min_group_labels=10)
    incidents = [i for i in _scored(rows_incidents) if i.updated_at is not None]
    pending: dict[str, Any] = {}
    cal = svc.new_calibrator()
    first = svc.score_batch(incidents, [None] * len(incidents), pending, cal)
    for _ in range(20):  # the same incidents under new ids, then their revisions
        for k, inc in enumerate(incidents):
            fresh = replace(inc, id=f"{inc.id}-{_}-{k}")
            svc.score_batch([fresh], [None], pending, cal)
            revision = replace(fresh, updated_at=inc.updated_at + timedelta(days=7), arrest=False)
            svc.score_batch([revision], [None], pending, cal)
    assert svc.stats.labels == 20 * len(incidents)
    again = svc.score_batch(incidents, [None] * len(incidents), {}, cal)
    raw = np.array([r["score"] for r in first])
    cal_scores = np.array([r["calibrated_score"] for r in again])
    assert [r["score"] for r in again] == raw.tolist()  # the model itself is unchanged
    assert (cal_scores < raw).all() and cal_scores.mean() < 0.5 * raw.mean()


def test_excluded_types_are_served_as_is_and_never_pending(
    rows_incidents: list[Incident],
) -> None:
    svc = ScoringService()
    narcotics = [i for i in rows_incidents if i.primary_type == "NARCOTICS"]
    assert narcotics
    pending: dict[str, Any] = {}
    recs = svc.score_batch(narcotics, [None] * len(narcotics), pending, svc.new_calibrator())
    rate = svc.scorer.card["excluded_types"]["NARCOTICS"]
    assert {r["score"] for r in recs} == {rate} == {r["calibrated_score"] for r in recs}
    assert pending == {}


def test_missing_or_corrupt_model_fails_at_construction(model_copy: Path, tmp_path: Path) -> None:
    missing = tmp_path / "nope.onnx"
    with pytest.raises(ModelError, match=f"not found: {missing}"):
        ScoringService(missing)
    model_copy.write_bytes(model_copy.read_bytes()[:1000])  # truncated
    with pytest.raises(ModelError, match="corrupt") as err:
        ScoringService(model_copy)
    assert str(model_copy) in str(err.value)


def test_reload_swaps_the_version_and_a_bad_reload_keeps_the_model(
    model_copy: Path,
    new_model_version: Callable[[Path, str], None],
    rows_incidents: list[Incident],
    tmp_path: Path,
) -> None:
    svc = ScoringService(model_copy)
    v1 = svc.version
    new_model_version(model_copy, "test-v2")
    answer = svc.reload_model()
    assert answer == {
        "ok": True,
        "version": "test-v2",
        "previous": v1,
        "path": str(model_copy),
        "error": None,
    }
    recs = svc.score_batch(rows_incidents[:5], [None] * 5, {}, svc.new_calibrator())
    assert {r["model_version"] for r in recs} == {"test-v2"}
    bad = svc.reload_model(tmp_path / "missing.onnx")
    assert bad["ok"] is False and "not found" in bad["error"] and bad["version"] == "test-v2"
    assert svc.version == "test-v2" and svc.path == model_copy
    assert svc.stats.reloads == 1 and svc.stats.reload_errors == 1


def test_poll_reloads_a_changed_model_once_and_retries_a_failed_one(
    model_copy: Path, new_model_version: Callable[[Path, str], None]
) -> None:
    svc = ScoringService(model_copy)
    assert svc.poll() is None  # nothing changed
    new_model_version(model_copy, "test-v2")
    got = svc.poll()
    assert got is not None and got["ok"] and svc.version == "test-v2"
    assert svc.poll() is None
    good = model_copy.read_bytes()
    model_copy.write_bytes(good[:-10])  # a half-written model: sha256 differs from the card
    failed = svc.poll()
    assert failed is not None and not failed["ok"] and "corrupt" in failed["error"]
    assert svc.poll() is None and svc.version == "test-v2"  # not retried until it changes
    model_copy.write_bytes(good)
    new_model_version(model_copy, "test-v3")
    assert svc.poll() == {**got, "version": "test-v3", "previous": "test-v2"}


def test_embedded_scores_jsonl_equal_the_offline_scorer(
    rows_incidents: list[Incident], tmp_path: Path
) -> None:
    report = RunReport()
    path = write_scores(rows_incidents, DEFAULT_MODEL, tmp_path, report)
    assert path == tmp_path / "scores.jsonl"
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    assert [x["id"] for x in lines] == [i.id for i in rows_incidents]
    assert [x["score"] for x in lines] == ArrestScorer().score_many(rows_incidents).tolist()
    assert report.scores == len(rows_incidents) and report.model_version == ArrestScorer().version
    assert write_scores(rows_incidents, "none", tmp_path / "off", RunReport()) is None
    assert lines == score_incidents(rows_incidents, ScoringService())
