"""Arrest scoring in a worker on the real broker: the scores topic, late labels, hot reload,
start-up failure on a missing or corrupt model."""

from __future__ import annotations

import io
import json
import os
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from models.arrest.runtime import ArrestScorer
from patrol.incidents.parse import read_csv
from patrol.incidents.profile import CityProfile
from patrol.incidents.schema import Incident
from streams.scoring import CALIBRATION_TABLE


def _incidents(slicer: Callable[[set[str], int], str], chicago: CityProfile, days: int) -> list:
    rows = read_csv(io.StringIO(slicer({"008", "011"}, days)), chicago).incidents
    return sorted(rows, key=lambda i: i.occurred_at)


def _message(inc: Incident) -> tuple[bytes | None, bytes]:
    return (inc.district.encode() if inc.district else None, json.dumps(inc.to_event()).encode())


def _revisions(incidents: list[Incident]) -> list[Incident]:
    """Revisions a week later that carry the arrest flag, of the types the model scores."""
    excluded = ArrestScorer().card["excluded_types"]
    return [
        replace(i, updated_at=i.updated_at + timedelta(days=7))
        for i in incidents
        if i.updated_at is not None and i.arrest is not None and i.primary_type not in excluded
    ]


async def _calibrators(helpers: Any, bootstrap: str, worker: Any) -> tuple[dict[str, Any], int]:
    """The calibrators' table (by partition) read from its changelog, and the labels learned."""
    changelog = f"{worker.env['PATROLSTREAM_APP_ID']}-{CALIBRATION_TABLE}-changelog"
    table: dict[str, Any] = await helpers.read_changelog(bootstrap, changelog)
    return table, sum(state["levels"]["*"]["n"] for state in table.values())


def _replace_bytes(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(".tmp-model")
    tmp.write_bytes(data)
    os.replace(tmp, path)


async def _send(produce: Callable[..., Any], bootstrap: str, worker: Any, batch: list[Any]) -> None:
    """Produce ``batch`` (incidents) to the worker's incidents topic, in order."""
    await produce(bootstrap, worker.topics.incidents, [_message(i) for i in batch])


async def _scores(
    consume: Callable[..., Any], bootstrap: str, worker: Any, n: int, **kw: Any
) -> list[Any]:
    """The worker's scores topic, read until it holds ``n`` records (``kw``: of ``consume``)."""
    records: list[Any] = await consume(
        bootstrap, worker.topics.scores, until=lambda recs: len(recs) >= n, alive=worker.alive, **kw
    )
    return records


def _docs(records: list[Any]) -> list[dict[str, Any]]:
    docs = [json.loads(r.value) for r in records]
    for rec, doc in zip(records, docs, strict=True):
        assert rec.key.decode() == doc["id"]
    return docs


@pytest.mark.kafka
async def test_scores_topic_equals_the_offline_scorer_and_learns_late_labels(
    require_broker: Callable[[], str],
    worker_factory: Callable[..., Any],
    produce: Callable[..., Any],
    consume: Callable[..., Any],
    helpers: Any,
    slicer: Callable[[set[str], int], str],
    chicago: CityProfile,
) -> None:
    bootstrap = require_broker()
    incidents = _incidents(slicer, chicago, 3)
    assert len(incidents) > 200
    first = [replace(i, arrest=None) for i in incidents]  # first reports carry no label
    scorer = ArrestScorer()
    revisions = _revisions(incidents)
    assert len(revisions) > 100 and any(r.arrest for r in revisions)

    worker = await worker_factory(bootstrap, score_batch=16).start()
    await _send(produce, bootstrap, worker, first)
    await _send(produce, bootstrap, worker, revisions)
    total = len(first) + len(revisions)
    records = await _scores(consume, bootstrap, worker, total, timeout_s=60.0)
    assert worker.alive(), worker.tail()
    docs = _docs(records)
    assert total <= len(docs) <= total + total // 20, worker.tail()  # at least once

    firsts: dict[str, dict[str, Any]] = {}
    for d in docs:
        firsts.setdefault(d["id"], d)  # the first score of each id is its first report's
    assert sorted(firsts) == sorted(i.id for i in incidents)
    want = dict(zip((i.id for i in first), scorer.score_many(first).tolist(), strict=True))
    for inc in first:
        got = firsts[inc.id]
        assert got["score"] == want[inc.id], inc.id
        assert got["district"] == inc.district and got["model_version"] == scorer.version
        assert got["occurred_at"] == inc.occurred_at.isoformat()

    # every revision was learned once, by the calibrator of its partition (changelog)
    table, learned = await _calibrators(helpers, bootstrap, worker)
    assert learned == len(revisions)
    assert set(table) <= {"0", "1", "2", "3"}
    # scores of revisions served after labels came in may differ from the model's score
    assert all(0.0 <= d["calibrated_score"] <= 1.0 for d in docs)
    assert not [r for r in worker.logs() if r.get("msg") == "arrest scoring failed"]


@pytest.mark.kafka
async def test_pending_reports_and_calibrators_survive_a_restart(
    require_broker: Callable[[], str],
    worker_factory: Callable[..., Any],
    produce: Callable[..., Any],
    consume: Callable[..., Any],
    helpers: Any,
    slicer: Callable[[set[str], int], str],
    chicago: CityProfile,
) -> None:
    """Labels of reports scored before a restart are learned after it, on top of the
    calibrators learned before it (both restored from the changelogs)."""
    bootstrap = require_broker()
    incidents = _incidents(slicer, chicago, 2)
    first = [replace(i, arrest=None) for i in incidents]
    revisions = _revisions(incidents)
    half = len(revisions) // 2
    assert half > 50
    worker = await worker_factory(bootstrap, score_batch=16).start()
    await _send(produce, bootstrap, worker, first)
    await _send(produce, bootstrap, worker, revisions[:half])
    await _scores(consume, bootstrap, worker, len(first) + half)
    assert worker.stop() == 0, worker.tail()
    again = await worker.respawn().start()  # same topics
    await _send(produce, bootstrap, again, revisions[half:])
    records = await _scores(consume, bootstrap, again, len(first) + len(revisions))
    assert again.alive(), again.tail()
    assert {d["id"] for d in _docs(records)} == {i.id for i in incidents}
    _, learned = await _calibrators(helpers, bootstrap, worker)
    assert learned == len(revisions)
    assert not [r for r in again.logs() if r.get("msg") == "arrest scoring failed"]
    # the restarted worker learned the second half only, from reports it never scored itself;
    # it may score a few first-half messages again (at-least-once redelivery of offsets the
    # stopped worker had not committed) but never learns their labels twice
    deadline = time.monotonic() + 10
    while True:
        stats = [r["scoring"] for r in again.logs() if r.get("msg") == "scoring stats"]
        if (stats and stats[-1]["labels"] >= len(revisions) - half) or time.monotonic() > deadline:
            break
        time.sleep(0.25)
    assert stats[-1]["labels"] == len(revisions) - half
    assert stats[-1]["scored"] >= stats[-1]["labels"]


@pytest.mark.kafka
async def test_hot_reload_in_a_running_worker_loses_no_score(
    require_broker: Callable[[], str],
    worker_factory: Callable[..., Any],
    produce: Callable[..., Any],
    consume: Callable[..., Any],
    slicer: Callable[[set[str], int], str],
    chicago: CityProfile,
    model_copy: Path,
    new_model_version: Callable[[Path, str], None],
) -> None:
    bootstrap = require_broker()
    incidents = _incidents(slicer, chicago, 6)
    n = len(incidents)
    assert n > 600
    q = n // 4
    a, b, c, d = incidents[:q], incidents[q : 2 * q], incidents[2 * q : 3 * q], incidents[3 * q :]
    model = model_copy
    good = model.read_bytes()
    v1 = ArrestScorer(model).version
    worker = await worker_factory(
        bootstrap, arrest_model=str(model), arrest_reload_s=0.5, score_batch=32
    ).start()

    def wait_log(msg: str) -> None:
        deadline = time.monotonic() + 30
        while not any(r.get("msg") == msg for r in worker.logs()):
            assert time.monotonic() < deadline and worker.alive(), worker.tail()
            time.sleep(0.2)

    async def send_and_wait(batch: list[Incident], total: int) -> None:
        await _send(produce, bootstrap, worker, batch)
        await _scores(consume, bootstrap, worker, total, quiet_s=0.5)

    await send_and_wait(a, len(a))
    _replace_bytes(model, good[:-100])  # a truncated model: the running worker keeps v1
    wait_log("arrest model reload failed")
    await send_and_wait(b, len(a) + len(b))
    new_model_version(model, "hot-v2")  # card first (still a mismatch), then the model
    _replace_bytes(model, good)
    await _send(produce, bootstrap, worker, c)  # during it
    wait_log("arrest model reloaded")
    await _send(produce, bootstrap, worker, d)
    records = await _scores(consume, bootstrap, worker, n, timeout_s=60.0)
    assert worker.alive(), worker.tail()
    docs = _docs(records)
    assert {d["id"] for d in docs} == {i.id for i in incidents}  # none lost
    # at least once: a redelivery (e.g. the app's idle-partition repair) may score an incident
    # twice, with the same content; normally none is
    assert len(docs) - n <= n // 20, f"{len(docs) - n} duplicate scores"
    version: dict[str, str] = {}
    for doc in docs:
        version.setdefault(doc["id"], doc["model_version"])  # the first score of each id
    assert {version[i.id] for i in a + b} == {v1}
    assert {version[i.id] for i in d} == {"hot-v2"}
    assert {version[i.id] for i in c} <= {v1, "hot-v2"}
    # per partition of the scores topic, once a score says hot-v2 none says v1 again
    for p in {r.partition for r in records}:
        seq = [json.loads(r.value)["model_version"] for r in records if r.partition == p]
        assert seq == sorted(seq, key=lambda v: v == "hot-v2"), p
    reloaded = [r for r in worker.logs() if r.get("msg") == "arrest model reloaded"]
    assert [(r["previous"], r["version"]) for r in reloaded] == [(v1, "hot-v2")]
    failed = [r for r in worker.logs() if r.get("msg") == "arrest model reload failed"]
    assert failed and all("corrupt" in r["error"] and r["version"] == v1 for r in failed)
    assert not [r for r in worker.logs() if r.get("msg") == "arrest scoring failed"]


@pytest.mark.kafka
@pytest.mark.parametrize("damage", ["missing", "corrupt"])
async def test_a_missing_or_corrupt_model_stops_the_worker_at_start_up(
    damage: str,
    require_broker: Callable[[], str],
    worker_factory: Callable[..., Any],
    model_copy: Path,
) -> None:
    bootstrap = require_broker()
    model = model_copy
    if damage == "missing":
        model.unlink()
    else:
        model.write_bytes(model.read_bytes()[:5000])
    worker = await worker_factory(bootstrap, arrest_model=str(model)).start()
    assert worker.proc is not None
    assert worker.proc.wait(60) == 2
    log = worker.log_path.read_text()
    assert f"error: arrest model {'not found' if damage == 'missing' else model}" in log
    assert str(model) in log and ("corrupt" in log if damage == "corrupt" else True)
    errors = [r for r in worker.logs() if r.get("msg") == "cannot load the arrest model"]
    assert len(errors) == 1 and str(model) in errors[0]["error"]
