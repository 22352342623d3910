"""``patrolstream replay``: reading, selection, arguments and summary without a broker; then
through the real local broker (``kafka`` marker: FAILS, never skips, when it is missing):
what lands on the topic, pacing, ``--send-invalid`` and Ctrl-C."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import gzip
import io
import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest

from patrol.incidents.parse import parse_event, read_csv
from patrol.incidents.profile import CityProfile
from patrol.incidents.report import RejectionReport
from patrol.incidents.schema import Incident
from simulators import kafka_io as kio
from simulators.replay import (
    ReplayOptions,
    ReplaySummary,
    _select,
    add_replay_arguments,
    load,
    replay,
    replay_main,
)
from streams import kafka_local as kl

ROOT = Path(__file__).resolve().parents[2]


# --------------------------------------------------------------------------------------
# data: real sample rows of two districts, plus rows broken or placed on purpose
# --------------------------------------------------------------------------------------


def _with_extra_rows(text: str) -> str:
    """Append a row without a district (placed by polygon), one outside the bbox, one with an
    unreadable date and one with a missing id; the bad ones keep their quoted Location."""
    rows = list(csv.reader(io.StringIO(text)))
    header, first = rows[0], rows[1]
    col = {name: i for i, name in enumerate(header)}

    def variant(**values: str) -> list[str]:
        row = list(first)
        for name, value in values.items():
            row[col[name]] = value
        return row

    extra = [
        variant(**{"ID": "placed-1", "District": "", "Date": "09/02/2016 03:00:00 PM"}),
        variant(**{"ID": "bad-bbox", "Latitude": "36.6", "Date": "09/02/2016 04:00:00 PM"}),
        variant(**{"ID": "bad-date", "Date": "not a date"}),
        variant(**{"ID": ""}),
    ]
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(extra)
    return text + out.getvalue()


@pytest.fixture(scope="module")
def slice_csv(tmp_path_factory: pytest.TempPathFactory, slicer: Callable[..., str]) -> Path:
    """Real rows of districts 8 and 11, 1-3 Sept 2016, plus four extra rows (gzip)."""
    path = tmp_path_factory.mktemp("replay") / "slice.csv.gz"
    path.write_bytes(gzip.compress(_with_extra_rows(slicer({"008", "011"}, 3)).encode()))
    return path


def _expected(path: Path, chicago: CityProfile) -> tuple[list[Incident], Counter[str], int]:
    """Independently: the valid incidents, the bad rows by (our) reason, the row count."""
    with gzip.open(path, "rt", newline="") as fh:
        rows = list(csv.DictReader(fh))
    bad: Counter[str] = Counter()
    for r in rows:
        if not r["ID"]:
            bad["id: missing"] += 1
        elif r["Date"] == "not a date":
            bad["occurred_at"] += 1
        elif not r["Latitude"]:
            bad["latitude: missing"] += 1
        elif not 41.6 < float(r["Latitude"]) < 42.1:
            bad["latitude: outside"] += 1
    incidents = read_csv(path, chicago).incidents
    return sorted(incidents, key=lambda i: i.occurred_at), bad, len(rows)


def _coarse(report: RejectionReport) -> Counter[str]:
    """Report reasons mapped onto :func:`_expected`'s keys."""
    out: Counter[str] = Counter()
    for key, n in report.by_reason().items():
        short = "occurred_at" if key.startswith("occurred_at") else key
        out["latitude: outside" if "bbox" in key else short] += n
    return out


# --------------------------------------------------------------------------------------
# no broker
# --------------------------------------------------------------------------------------


def test_encoded_events_round_trip(
    district8_september: list[Incident], chicago: CityProfile
) -> None:
    for inc in district8_september:
        event = inc.to_event()
        assert parse_event(json.loads(kio.encode_event(event)), chicago) == inc


def test_load_sorts_counts_and_keeps_raw_lines(slice_csv: Path, chicago: CityProfile) -> None:
    incidents, raw, report, rows = load([slice_csv], chicago, keep_raw=True)
    want, bad, n_rows = _expected(slice_csv, chicago)
    assert rows == n_rows and report.total == sum(bad.values()) == len(raw) >= 5
    assert _coarse(report) == bad
    assert [i.id for i in incidents] == [i.id for i in want]  # stable sort by event time
    assert incidents == want
    assert {i.district for i in incidents} == {"8", "11"}  # "placed-1" found its district
    original = gzip.decompress(slice_csv.read_bytes()).split(b"\r\n")
    for row in raw:
        assert row.line in original and b"\n" not in row.line
        assert row.id is None or row.line.startswith(row.id.encode() + b",")
    assert {r.reason for r in raw} == set(report.by_reason())
    assert load([slice_csv], chicago)[1] == []  # raw lines only on request


def test_load_merges_files_by_event_time(
    tmp_path: Path, slicer: Callable[..., str], chicago: CityProfile
) -> None:
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    a.write_text(slicer({"008"}, 2))
    b.write_text(slicer({"011"}, 2))
    incidents, _, report, rows = load([a, b], chicago)
    assert rows == len(incidents) + report.total
    assert {i.district for i in incidents} == {"8", "11"}
    times = [i.occurred_at for i in incidents]
    assert times == sorted(times)


def test_select_by_district_window_and_limit(district8_september: list[Incident]) -> None:
    incs, zone = district8_september, district8_september[0].occurred_at.tzinfo
    assert zone is not None
    opts = ReplayOptions(start=date(2016, 9, 10), end=date(2016, 9, 11))
    days = {i.occurred_at.date() for i in _select(incs, opts, zone)}
    assert days == {date(2016, 9, 10), date(2016, 9, 11)}  # --to DATE includes that day
    cut = datetime(2016, 9, 10, 12, 0)
    got = _select(incs, ReplayOptions(end=cut), zone)
    assert got and max(i.occurred_at for i in got) < cut.replace(tzinfo=zone)
    assert _select(incs, ReplayOptions(districts=frozenset({"008"})), zone) == incs
    assert _select(incs, ReplayOptions(districts=frozenset({"11"})), zone) == []
    assert _select(incs, ReplayOptions(limit=5), zone) == incs[:5]


def _parse(*argv: str) -> argparse.Namespace:
    return add_replay_arguments(argparse.ArgumentParser()).parse_args(list(argv))


def test_arguments() -> None:
    ns = _parse("a.csv", "b.csv.gz", "--speed", "3600", "--district", "8", "--district", "011",
                "--from", "2016-09-01", "--to", "2016-09-02T06:00", "--limit", "10",
                "--send-invalid", "--no-progress", "--broker", "k:1", "--topic", "t")  # fmt: skip
    assert ns.files == [Path("a.csv"), Path("b.csv.gz")] and ns.speed == 3600.0
    assert ns.district == ["8", "011"] and ns.limit == 10 and ns.send_invalid and ns.no_progress
    assert ns.start == date(2016, 9, 1) and ns.end == datetime(2016, 9, 2, 6)
    assert (ns.broker, ns.topic) == ("k:1", "t")
    d = _parse()
    assert (d.files, d.speed, d.rate, d.topic, d.broker) == ([], 0.0, 0.0, None, None)
    for bad in (["--speed", "-1"], ["--rate", "0"], ["--speed", "1", "--rate", "2"],
                ["--limit", "x"], ["--from", "9/1/2016"], ["--speed", "inf"]):  # fmt: skip
        with pytest.raises(SystemExit):
            _parse(*bad)


@pytest.mark.parametrize(
    ("broker", "servers"),
    [("kafka://localhost:9092", ["localhost:9092"]), ("h:1,kafka://g:2", ["h:1", "g:2"])],
)
def test_broker_urls(broker: str, servers: list[str]) -> None:
    assert kio.bootstrap_servers(broker) == servers
    with pytest.raises(ValueError, match="host:port"):
        kio.bootstrap_servers("kafka://nohost")


def test_summary_format() -> None:
    report = RejectionReport()
    report.counts.update({"latitude: missing": 3, "id: missing": 1})
    s = ReplaySummary("patrol.incidents.v1", rows=20, selected=16, sent=16, invalid_sent=4,
                      rejections=report, elapsed_s=2.0, load_s=0.5)  # fmt: skip
    text = s.format()
    assert "sent: 16 of 16 incidents to patrol.incidents.v1" in text
    assert "rejected: 4 of 20 rows\n  latitude: missing: 3\n  id: missing: 1" in text
    assert "rejected rows sent raw: 4" in text and "(8 incidents/s)" in text
    assert "interrupted" not in text and "failed" not in text
    s.failed["KafkaTimeoutError"] += 2
    s.interrupted = True
    assert "failed: 2 (KafkaTimeoutError x2)" in s.format() and "interrupted" in s.format()


def test_help_explains_every_option() -> None:
    out = subprocess.run([sys.executable, "-m", "simulators.replay", "--help"], cwd=ROOT,
                         capture_output=True, text=True, timeout=60, check=True).stdout  # fmt: skip
    for option in ("FILE", "--broker", "--topic", "--city", "--speed", "--rate", "--limit",
                   "--district", "--from", "--to", "--send-invalid", "--no-progress"):  # fmt: skip
        assert option in out
    assert "130" in out and "idempotency" in out


def test_unreachable_broker_is_a_clear_error(
    slice_csv: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert replay_main(_parse(str(slice_csv), "--broker", "kafka://127.0.0.1:1")) == 1
    err = capsys.readouterr().err
    assert "cannot reach the Kafka broker at 127.0.0.1:1" in err and "kafka start" in err
    assert replay_main(_parse(str(slice_csv), "--broker", "nohost")) == 2
    assert replay_main(_parse("missing.csv")) == 2


# --------------------------------------------------------------------------------------
# the real local broker
# --------------------------------------------------------------------------------------


def require_broker() -> str:
    """Bootstrap of the running broker; FAILS the test (never skips) when nothing answers."""
    bootstrap = kl.default_bootstrap()
    if not kl.is_reachable(bootstrap, timeout=5.0):
        pytest.fail(
            f"no Kafka broker answers at {bootstrap} (${kl.ENV_BOOTSTRAP}). Start one with "
            "`patrolstream kafka start` (or `python -m streams.kafka_local start`) and rerun.",
            pytrace=False,
        )
    return bootstrap


@contextlib.asynccontextmanager
async def kafka_topic(partitions: int = 4) -> AsyncIterator[tuple[str, str]]:
    """``(bootstrap, topic)``: a new uniquely named topic, deleted afterwards."""
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    bootstrap = require_broker()
    topic = f"test-replay-{uuid.uuid4().hex[:10]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=15000)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, partitions, replication_factor=1)])
        yield bootstrap, topic
    finally:
        try:
            await admin.delete_topics([topic])
        finally:
            await admin.close()


async def read_topic(bootstrap: str, topic: str) -> list[Any]:
    """Every record on the topic now, partition by partition, in offset order."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in await kio.topic_partitions(consumer, topic)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends, got = await consumer.end_offsets(tps), []
        async with asyncio.timeout(30):
            while [tp for tp in tps if await consumer.position(tp) < ends[tp]]:
                for records in (await consumer.getmany(*tps, timeout_ms=500)).values():
                    got += records
        return sorted(got, key=lambda r: (r.partition, r.offset))
    finally:
        await consumer.stop()


@pytest.mark.kafka
async def test_replay_sends_exactly_the_valid_incidents(
    slice_csv: Path, chicago: CityProfile
) -> None:
    want, bad, _ = _expected(slice_csv, chicago)
    async with kafka_topic() as (bootstrap, topic):
        t0 = time.time()
        summary = await replay([slice_csv], ReplayOptions(broker=bootstrap, topic=topic))
        records = await read_topic(bootstrap, topic)
    assert summary.sent == summary.selected == len(want) == len(records)
    assert not summary.failed and not summary.interrupted and summary.invalid_sent == 0
    assert _coarse(summary.rejections) == bad
    assert f"rejected: {sum(bad.values())} of" in summary.format()
    by_id = {i.id: i for i in want}
    assert len(by_id) == len(want)
    partitions: dict[str, set[int]] = {}
    for rec in records:
        inc = parse_event(json.loads(rec.value), chicago)
        assert inc == by_id.pop(inc.id)
        assert rec.key == inc.district.encode() and dict(rec.headers)["id"] == inc.id.encode()
        assert rec.timestamp / 1000 >= t0 - 5  # the produce time, not the event time
        partitions.setdefault(inc.district, set()).add(rec.partition)
    assert not by_id and all(len(p) == 1 for p in partitions.values())
    for p in {r.partition for r in records}:
        times = [json.loads(r.value)["occurred_at"] for r in records if r.partition == p]
        assert [datetime.fromisoformat(t) for t in times] == sorted(
            datetime.fromisoformat(t) for t in times
        )


@pytest.mark.kafka
async def test_send_invalid_sends_the_rejected_rows_raw(
    slice_csv: Path, chicago: CityProfile
) -> None:
    want, bad, _ = _expected(slice_csv, chicago)
    original = set(gzip.decompress(slice_csv.read_bytes()).split(b"\r\n"))
    async with kafka_topic() as (bootstrap, topic):
        opts = ReplayOptions(broker=bootstrap, topic=topic, send_invalid=True)
        summary = await replay([slice_csv], opts)
        records = await read_topic(bootstrap, topic)
    raw = [r for r in records if dict(r.headers)["content-type"] == b"text/csv"]
    assert summary.invalid_sent == len(raw) == sum(bad.values())
    assert summary.sent == len(records) - len(raw) == len(want)
    assert all(r.value in original and r.key is None for r in raw)
    assert {dict(r.headers).get("id") for r in raw} >= {b"bad-bbox", b"bad-date"}
    assert "rejected rows sent raw" in summary.format()


@pytest.mark.kafka
async def test_speed_and_rate_pace_the_replay(
    tmp_path: Path, slicer: Callable[..., str], chicago: CityProfile
) -> None:
    path = tmp_path / "two-days.csv"
    path.write_text(slicer({f"{d:03d}" for d in range(1, 26)}, 2))
    lo, hi = datetime(2016, 9, 2, 14, 0), datetime(2016, 9, 2, 14, 5)
    zone = chicago.zone
    times = sorted(
        i.occurred_at for i in read_csv(path, chicago).incidents
        if lo.replace(tzinfo=zone) <= i.occurred_at < hi.replace(tzinfo=zone)
    )  # fmt: skip
    history = (times[-1] - times[0]).total_seconds()
    assert len(times) >= 5 and 120 <= history < 300  # a few minutes of real history
    async with kafka_topic() as (bootstrap, topic):
        speed = history / 1.5  # ~1.5 s of wall time
        opts = ReplayOptions(broker=bootstrap, topic=topic, speed=speed, start=lo, end=hi)
        paced = await replay([path], opts)
        opts = ReplayOptions(broker=bootstrap, topic=topic, rate=20, limit=21)
        rated = await replay([path], opts)
    assert paced.sent == len(times) and rated.sent == 21
    assert 1.4 <= paced.elapsed_s <= 3.5, paced.elapsed_s
    assert 0.95 <= rated.elapsed_s <= 3.0, rated.elapsed_s  # 20 intervals at 20/s: 1 s


@pytest.mark.kafka
async def test_sigint_stops_promptly_and_reports_what_is_on_the_topic(slice_csv: Path) -> None:
    async with kafka_topic() as (bootstrap, topic):
        proc = subprocess.Popen(
            [sys.executable, "-m", "simulators.replay", str(slice_csv), "--broker", bootstrap,
             "--topic", topic, "--rate", "40", "--no-progress"],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )  # fmt: skip
        try:
            await asyncio.sleep(3.0)  # start-up, reading, then ~40 incidents/s
            assert proc.poll() is None, proc.communicate()
            t = time.monotonic()
            proc.send_signal(signal.SIGINT)
            out, err = await asyncio.to_thread(proc.communicate, timeout=20)
            stopped_in = time.monotonic() - t
        finally:
            if proc.poll() is None:
                proc.kill()
        records = await read_topic(bootstrap, topic)
    assert proc.returncode == 130, err
    assert stopped_in < 5.0, stopped_in
    m = re.search(r"^sent: (\d+) of (\d+) incidents", out, re.M)
    assert m, out
    sent, selected = int(m.group(1)), int(m.group(2))
    assert 0 < sent < selected and "interrupted" in out and "rejected:" in out
    assert len(records) == sent


def test_doctests_of_the_kafka_helpers() -> None:
    import doctest

    assert doctest.testmod(kio, optionflags=doctest.ELLIPSIS).failed == 0
