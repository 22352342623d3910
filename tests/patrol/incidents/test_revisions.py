"""Revisions and redeliveries: one record per id, the later updated_at wins."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from patrol.incidents import Incident, RevisionKind, RevisionLog

TZ = timezone(timedelta(hours=-6))
T0 = datetime(2016, 1, 10, 12, 0, tzinfo=TZ)
DAY = timedelta(days=1)


def inc(rid: str, *, day: float = 0, updated: float | None = 0, arrest: bool = False,
        source: str | None = "chicago") -> Incident:  # fmt: skip
    occurred = T0 + day * DAY
    upd = None if updated is None else occurred + timedelta(hours=1 + updated)
    return Incident(rid, occurred, 41.88, -87.63, updated_at=upd, arrest=arrest, source=source)


def test_new_duplicate_revision_stale() -> None:
    log = RevisionLog()
    first = inc("a", updated=0)
    assert log.classify(first).kind == RevisionKind.NEW
    assert log.classify(first).kind == "duplicate"
    assert log.classify(replace(first, source="api")).kind == "duplicate"  # source ignored
    arrested = inc("a", updated=5, arrest=True)
    r = log.classify(arrested)
    assert (r.kind, r.previous, r.incident) == ("revision", first, arrested)
    assert log.get("a") == arrested
    old = log.classify(inc("a", updated=0, arrest=False))  # out-of-order older version
    assert (old.kind, old.previous) == ("stale", arrested)
    assert log.get("a") == arrested and len(log) == 1


def test_newer_updated_at_with_same_content_is_a_duplicate_that_refreshes() -> None:
    log = RevisionLog()
    log.classify(inc("a", updated=0))
    again = log.classify(inc("a", updated=3))
    assert again.kind == "duplicate"
    kept = log.get("a")
    assert kept is not None and kept.updated_at == inc("a", updated=3).updated_at
    # an older different version is now stale against the refreshed updated_at
    assert log.classify(inc("a", updated=2, arrest=True)).kind == "stale"


@pytest.mark.parametrize(("u1", "u2"), [(4, 4), (None, 4), (4, None), (None, None)])
def test_ties_and_missing_updated_at_later_arrival_wins(u1: float | None, u2: float | None) -> None:
    log = RevisionLog()
    log.classify(inc("a", updated=u1, arrest=False))
    r = log.classify(inc("a", updated=u2, arrest=True))
    assert r.kind == "revision"
    kept = log.get("a")
    assert kept is not None and kept.arrest is True


def test_retention_forgets_old_records_and_flags_late_arrivals() -> None:
    log = RevisionLog(retention_days=30)
    log.classify(inc("old", day=0))
    log.classify(inc("mid", day=20))
    assert len(log) == 2
    log.classify(inc("new", day=45))  # watermark day 45: horizon day 15
    assert "old" not in log and "mid" in log and len(log) == 2
    late = log.classify(inc("old", day=0, updated=9, arrest=True))
    assert late.kind == "late" and "old" not in log
    assert log.classify(inc("other", day=16)).kind == "new"


def test_explicit_watermark() -> None:
    log = RevisionLog(retention_days=10)
    log.classify(inc("a", day=0))
    assert log.classify(inc("b", day=1), now=T0 + 30 * DAY).kind == "late"
    assert len(log) == 0 and log.watermark == (T0 + 30 * DAY).timestamp()
    assert log.advance((T0 + 5 * DAY).timestamp()) == 0  # never moves back
    assert log.watermark == (T0 + 30 * DAY).timestamp()


def test_revision_changing_occurred_at_expires_by_the_new_time() -> None:
    log = RevisionLog(retention_days=30)
    log.classify(inc("a", day=0, updated=0))
    log.classify(inc("a", day=25, updated=800))  # the time was corrected later
    log.classify(inc("z", day=50))  # horizon day 20
    assert "a" in log


def test_to_dict_round_trip_is_json() -> None:
    log = RevisionLog(retention_days=60)
    for r in (inc("a", arrest=True), inc("b", day=3, updated=None), inc("c", day=9)):
        log.classify(r)
    state = json.loads(json.dumps(log.to_dict()))
    back = RevisionLog.from_dict(state)
    assert sorted(back.records(), key=lambda i: i.id) == sorted(log.records(), key=lambda i: i.id)
    assert back.watermark == log.watermark and back.retention_s == log.retention_s
    assert back.classify(inc("a", arrest=True)).kind == "duplicate"
    assert back.classify(inc("a", updated=7)).kind == "revision"


def test_bad_retention() -> None:
    with pytest.raises(ValueError, match="retention_days"):
        RevisionLog(retention_days=0)


N_IDS, N_VERSIONS = 4, 4


def version(i: int, v: int) -> Incident:
    """Version v of record i: updated v hours after the first, content differs per version."""
    return Incident(f"id{i}", T0 + i * DAY, 41.88, -87.63,
                    updated_at=T0 + i * DAY + timedelta(hours=1 + v),
                    description=f"v{v}", arrest=v % 2 == 1)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, N_IDS - 1), st.integers(0, N_VERSIONS - 1)),
                min_size=1, max_size=60))  # fmt: skip
def test_redeliveries_leave_one_record_per_id_latest_update_wins(
    arrivals: list[tuple[int, int]],
) -> None:
    log = RevisionLog()
    learned: Counter[Incident] = Counter()  # what a learner that follows the log has counted
    for i, v in arrivals:
        r = log.classify(version(i, v))
        if r.kind == "new":
            learned[r.incident] += 1
        elif r.kind == "revision":
            assert r.previous is not None
            learned[r.previous] -= 1
            learned[r.incident] += 1
        else:
            assert r.kind in ("duplicate", "stale")
    latest = {i: max(v for j, v in arrivals if j == i) for i, _ in arrivals}
    want = {version(i, v) for i, v in latest.items()}
    assert len(log) == len(latest)
    assert set(log.records()) == want
    counted = {k: c for k, c in learned.items() if c != 0}
    assert counted == dict.fromkeys(want, 1)  # every record counted exactly once
