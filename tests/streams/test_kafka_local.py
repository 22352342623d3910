"""Tests of streams.kafka_local: configuration and state files (no broker needed), the
readiness probe against a fake broker, and a round trip through the real local broker.

The broker tests are marked ``kafka``; they talk to ``$PATROLSTREAM_KAFKA_BOOTSTRAP``
(default ``localhost:9092``), started with ``patrolstream kafka start``, and FAIL (never skip)
when nothing answers there.
"""

from __future__ import annotations

import asyncio
import base64
import os
import shutil
import socket
import struct
import subprocess
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from streams import kafka_local as kl

# --------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------


def _parse_props(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            out[key] = value
    return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def run_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An isolated run folder for state files and logs."""
    run = tmp_path / "run"
    monkeypatch.setenv(kl.ENV_RUN, str(run))
    return run


# --------------------------------------------------------------------------------------
# unit tests: no broker
# --------------------------------------------------------------------------------------


def test_server_properties_are_single_node_kraft(tmp_path: Path) -> None:
    props = _parse_props(
        kl.render_server_properties(port=19092, controller_port=19093, log_dir=tmp_path / "logs")
    )
    assert props["process.roles"] == "broker,controller"
    assert props["node.id"] == "1"
    assert props["controller.quorum.voters"] == "1@localhost:19093"
    assert props["listeners"] == "PLAINTEXT://localhost:19092,CONTROLLER://localhost:19093"
    assert props["advertised.listeners"] == "PLAINTEXT://localhost:19092"
    assert props["controller.listener.names"] == "CONTROLLER"
    assert props["listener.security.protocol.map"] == "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT"
    assert props["log.dirs"] == (tmp_path / "logs").as_posix()
    assert props["offsets.topic.replication.factor"] == "1"
    assert props["transaction.state.log.replication.factor"] == "1"
    assert props["transaction.state.log.min.isr"] == "1"
    assert props["auto.create.topics.enable"] == "true"
    assert props["num.partitions"] == "4"
    assert props["group.initial.rebalance.delay.ms"] == "0"
    assert "zookeeper.connect" not in props


def test_server_properties_reject_equal_ports(tmp_path: Path) -> None:
    with pytest.raises(kl.KafkaLocalError, match="must differ"):
        kl.render_server_properties(port=9092, controller_port=9092, log_dir=tmp_path)


def test_log4j_properties_log_to_stdout() -> None:
    text = kl.render_log4j_properties()
    assert "log4j.rootLogger=INFO, stdout" in text
    assert "org.apache.log4j.ConsoleAppender" in text


def test_cluster_id_is_a_kafka_uuid() -> None:
    ids = {kl.generate_cluster_id() for _ in range(200)}
    assert len(ids) == 200
    for cid in ids:
        assert len(cid) == 22 and not cid.startswith("-")
        assert len(base64.urlsafe_b64decode(cid + "==")) == 16


def test_parse_bootstrap_and_heap() -> None:
    assert kl.parse_bootstrap("localhost:9092") == ("localhost", 9092)
    assert kl.parse_bootstrap("kafka://127.0.0.1:19092,other:1") == ("127.0.0.1", 19092)
    assert kl.parse_bootstrap("[::1]:9092") == ("::1", 9092)
    with pytest.raises(kl.KafkaLocalError):
        kl.parse_bootstrap("localhost")
    assert kl.min_heap("512m") == "128m"
    assert kl.min_heap("1g") == "256m"
    assert kl.min_heap("128m") == "64m"
    with pytest.raises(kl.KafkaLocalError):
        kl.min_heap("lots")


def test_state_file_round_trip(run_dir: Path) -> None:
    info = kl.BrokerInfo(
        bootstrap="localhost:19092", port=19092, controller_port=19093, pid=12345,
        data_dir="/tmp/x", owned_data_dir=True, log_path=str(run_dir / "kafka-19092.log"),
        cluster_id=kl.generate_cluster_id(), command=["java", "kafka.Kafka"],
    )  # fmt: skip
    path = kl.write_state(info)
    assert path == run_dir / "kafka-19092.json"
    assert kl.read_state(19092) == info
    assert kl.recorded_ports() == [19092]
    assert kl.read_state(19093) is None
    path.write_text("{not json", encoding="utf-8")
    assert kl.read_state(19092) is None


def test_stale_state_is_reported_and_cleaned(run_dir: Path, tmp_path: Path) -> None:
    port = _free_port()
    data = tmp_path / "data"
    data.mkdir()
    # A pid that surely is not a kafka.Kafka JVM: a finished child of ours.
    child = subprocess.Popen(["true"])
    child.wait()
    dead_pid = child.pid
    stale = kl.BrokerInfo(
        bootstrap=f"localhost:{port}", port=port, controller_port=port + 1, pid=dead_pid,
        data_dir=str(data), owned_data_dir=True,
    )  # fmt: skip
    kl.write_state(stale)
    st = kl.status(port)
    assert st["managed"] is True
    assert st["running"] is False and st["reachable"] is False and st["pid"] is None
    assert kl.stop(port=port, echo=None) is False
    assert not data.exists()
    assert kl.read_state(port) is None


def test_ensure_jars_is_idempotent_without_maven(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    libs = tmp_path / "libs"
    libs.mkdir()
    (libs / "kafka_2.13-3.9.2.jar").write_bytes(b"")
    (libs / ".patrolstream-complete").write_text("3.9.2\n1 jars\n")
    monkeypatch.setattr(shutil, "which", lambda _name: None)  # no mvn: must not be needed
    assert kl.ensure_jars("3.9.2", tmp_path) == libs
    with pytest.raises(kl.KafkaLocalError, match=r"Maven \(`mvn`\) not found"):
        kl.ensure_jars("3.9.1", tmp_path)  # another version: would need Maven


def test_default_locations_follow_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(kl.ENV_HOME, raising=False)
    assert kl.default_cache_dir("3.9.2").name == "kafka-3.9.2"
    monkeypatch.setenv(kl.ENV_HOME, str(tmp_path / "k"))
    assert kl.default_cache_dir("3.9.2") == tmp_path / "k"
    monkeypatch.setenv(kl.ENV_BOOTSTRAP, "localhost:19092")
    assert kl.default_bootstrap() == "localhost:19092"


def test_pom_pins_kafka_and_dependency_plugin() -> None:
    pom = kl.POM_PATH.read_text(encoding="utf-8")
    assert f"<kafka.version>{kl.DEFAULT_VERSION}</kafka.version>" in pom
    assert "<artifactId>kafka_2.13</artifactId>" in pom
    assert "<artifactId>maven-dependency-plugin</artifactId>" in pom


@pytest.mark.parametrize("command", [[], ["start"], ["stop"], ["status"], ["jars"]])
def test_cli_help(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        kl.main([*command, "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for option in {"start": ["--port", "--controller-port", "--data-dir", "--version", "--wait"],
                   "stop": ["--port", "--timeout"], "status": ["--port", "--json"]}.get(
        command[0] if command else "", []
    ):  # fmt: skip
        assert option in out


def test_cli_status_exit_code(run_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    port = _free_port()
    assert kl.main(["status", "--port", str(port)]) == 1
    assert "does not answer" in capsys.readouterr().out


class _FakeBroker:
    """Answers one ApiVersions v0 and one Metadata v1 request like a one-node cluster."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.sock.getsockname()[1])
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @staticmethod
    def _read(conn: socket.socket) -> tuple[int, int, int]:
        (size,) = struct.unpack(">i", conn.recv(4, socket.MSG_WAITALL))
        req = conn.recv(size, socket.MSG_WAITALL)
        return struct.unpack_from(">hhi", req, 0)

    def _serve(self) -> None:
        conn, _ = self.sock.accept()
        with conn:
            key, _, corr = self._read(conn)
            assert key == 18
            body = struct.pack(">ihi", corr, 0, 1) + struct.pack(">hhh", 3, 0, 12)
            conn.sendall(struct.pack(">i", len(body)) + body)
            key, version, corr = self._read(conn)
            assert (key, version) == (3, 1)
            host = b"localhost"
            body = (
                struct.pack(">ii", corr, 1)
                + struct.pack(">ih", 7, len(host)) + host + struct.pack(">ih", self.port, -1)
                + struct.pack(">ii", 7, 0)
            )  # fmt: skip
            conn.sendall(struct.pack(">i", len(body)) + body)

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def fake_broker() -> Iterator[_FakeBroker]:
    broker = _FakeBroker()
    yield broker
    broker.close()


def test_probe_speaks_kafka(fake_broker: _FakeBroker) -> None:
    found = kl.probe("127.0.0.1", fake_broker.port, timeout=5)
    assert found.brokers == ((7, "localhost", fake_broker.port),)
    assert found.controller_id == 7 and found.api_keys == 1


def test_probe_rejects_silent_listener() -> None:
    with socket.create_server(("127.0.0.1", 0)) as srv:
        port = int(srv.getsockname()[1])
        assert kl.is_reachable(f"127.0.0.1:{port}", timeout=0.5) is False
    assert kl.is_reachable(f"127.0.0.1:{port}", timeout=0.5) is False  # closed: refused


# --------------------------------------------------------------------------------------
# integration: the running local broker
# --------------------------------------------------------------------------------------


def require_broker() -> str:
    """Bootstrap of the running broker; FAILS the calling test (never skips) when nothing
    answers there. Called in the test body, not a fixture, so pytest reports a failure."""
    bootstrap = kl.default_bootstrap()
    if not kl.is_reachable(bootstrap, timeout=5.0):
        pytest.fail(
            f"no Kafka broker answers at {bootstrap} (${kl.ENV_BOOTSTRAP}). Start one with "
            "`patrolstream kafka start` (or `python -m streams.kafka_local start`) and rerun; "
            "`patrolstream kafka status` tells what is running.",
            pytrace=False,
        )
    return bootstrap


@pytest.mark.kafka
def test_probe_and_idempotent_start_on_running_broker() -> None:
    kafka_bootstrap = require_broker()
    host, port = kl.parse_bootstrap(kafka_bootstrap)
    found = kl.probe(host, port)
    assert found.brokers and found.api_keys > 40
    info = kl.start(port=port, echo=None)  # already running: must start nothing
    assert info.already_running is True
    assert info.bootstrap.endswith(f":{port}")


@pytest.mark.kafka
async def test_keyed_round_trip_through_four_partitions() -> None:
    kafka_bootstrap = require_broker()
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic
    from aiokafka.partitioner import DefaultPartitioner

    topic = f"patrolstream-test-{uuid.uuid4().hex[:10]}"
    keys = [f"cell-{i:02d}".encode() for i in range(24)]
    sent = [(k, f"incident-{n}-{k.decode()}".encode()) for n in range(3) for k in keys]

    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap, request_timeout_ms=15000)
    await admin.start()
    try:
        async with asyncio.timeout(60):
            await admin.create_topics([NewTopic(topic, num_partitions=4, replication_factor=1)])
            (described,) = await admin.describe_topics([topic])
            assert sorted(p["partition"] for p in described["partitions"]) == [0, 1, 2, 3]

            producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
            await producer.start()
            placed: dict[bytes, set[int]] = {}
            try:
                for key, value in sent:
                    meta = await producer.send_and_wait(topic, value=value, key=key)
                    placed.setdefault(key, set()).add(meta.partition)
            finally:
                await producer.stop()

            # Same key, same partition; and it is Kafka's murmur2 choice (what Java clients pick).
            partitioner = DefaultPartitioner()
            for key, parts in placed.items():
                assert parts == {partitioner(key, [0, 1, 2, 3], [0, 1, 2, 3])}, key
            assert set().union(*placed.values()) == {0, 1, 2, 3}

            consumer = AIOKafkaConsumer(
                topic,
                bootstrap_servers=kafka_bootstrap,
                group_id=f"patrolstream-test-{uuid.uuid4().hex[:8]}",
                auto_offset_reset="earliest",
                enable_auto_commit=False,
            )
            await consumer.start()
            got: list[tuple[bytes, bytes, int, int]] = []
            try:
                while len(got) < len(sent):
                    batches = await consumer.getmany(timeout_ms=1000)
                    for tp, records in batches.items():
                        got += [(r.key, r.value, tp.partition, r.offset) for r in records]
                await consumer.commit()
            finally:
                await consumer.stop()
    finally:
        try:
            await admin.delete_topics([topic])
        finally:
            await admin.close()

    assert sorted((k, v) for k, v, _, _ in got) == sorted(sent)
    for key, _value, partition, _offset in got:
        assert {partition} == placed[key]
    for partition in range(4):
        offsets = [o for _, _, p, o in got if p == partition]
        assert offsets == list(range(len(offsets)))  # each partition in order, from 0
    # Per key, values arrive in the order they were produced.
    for key in keys:
        values = [v for k, v, _, _ in got if k == key]
        assert values == [v for k, v in sent if k == key]


_FAUST_APP = '''
"""Faust smoke app written by test_kafka_local.py: one agent, one table, memory store."""
import json
import os
import sys

import faust

TAG = os.environ["SMOKE_TAG"]
N = int(os.environ["SMOKE_N"])
DONE = os.environ["SMOKE_DONE"]
app = faust.App(
    f"ps-smoke-{TAG}",
    broker="kafka://" + os.environ["SMOKE_BOOTSTRAP"],
    store="memory://",
    topic_partitions=4,
    web_enabled=False,
    datadir=os.environ["SMOKE_DATADIR"],
    consumer_metadata_max_age_ms=5000,
)
# The source topic is created by the test before the worker starts: a source topic missing
# when the worker joins its group is only picked up at the next consumer metadata refresh
# (aiokafka's default metadata_max_age_ms is 5 minutes; consumer_metadata_max_age_ms above
# shortens that, as a safety net).
topic = app.topic(f"ps-smoke-in-{TAG}", key_type=str, value_type=str, partitions=4)
counts = app.Table(f"ps-smoke-counts-{TAG}", default=int, partitions=4)
seen = []


@app.agent(topic)
async def consume(stream):
    async for key, value in stream.items():
        counts[key] += 1
        seen.append(value)
        if len(seen) == N:
            with open(DONE, "w") as fh:
                json.dump({"values": seen, "counts": {k: counts[k] for k in ("a", "b", "c")}}, fh)


@app.task
async def produce():
    for i in range(N):
        await topic.send(key="abc"[i % 3], value=f"incident-{i}")


if __name__ == "__main__":
    sys.argv[1:] = ["worker", "-l", "warn"]
    app.main()
'''


async def _create_topic(bootstrap: str, name: str, partitions: int) -> None:
    """Create ``name`` and wait until the broker's metadata lists all its partitions."""
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=15000)
    await admin.start()
    try:
        async with asyncio.timeout(30):
            await admin.create_topics([NewTopic(name, partitions, replication_factor=1)])
            while True:
                (described,) = await admin.describe_topics([name])
                if described["error_code"] == 0 and len(described["partitions"]) == partitions:
                    return
                await asyncio.sleep(0.1)
    finally:
        await admin.close()


@pytest.mark.kafka
def test_faust_agent_and_table_on_local_broker(tmp_path: Path) -> None:
    """Faust (memory store) consumes from the local broker and keeps a table (~5 s)."""
    import json
    import signal
    import sys
    import time

    bootstrap = require_broker()
    tag = uuid.uuid4().hex[:8]
    asyncio.run(_create_topic(bootstrap, f"ps-smoke-in-{tag}", partitions=4))
    app = tmp_path / "smoke_app.py"
    app.write_text(_FAUST_APP, encoding="utf-8")
    done = tmp_path / "done.json"
    n = 30
    env = {
        **os.environ,
        "SMOKE_TAG": tag,
        "SMOKE_N": str(n),
        "SMOKE_DONE": str(done),
        "SMOKE_BOOTSTRAP": bootstrap,
        "SMOKE_DATADIR": str(tmp_path / "faust-data"),
    }
    log = tmp_path / "worker.log"
    with open(log, "wb") as out:
        worker = subprocess.Popen(
            [sys.executable, str(app)], cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + 45
        while not done.exists() and worker.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        if not done.exists():
            pytest.fail(
                f"the Faust worker did not consume {n} messages (exit {worker.poll()}):\n"
                + kl.tail(log, 40)
            )
        time.sleep(0.2)  # let the writer finish the file
        result = json.loads(done.read_text(encoding="utf-8"))
    finally:
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(20)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()
    assert sorted(result["values"]) == sorted(f"incident-{i}" for i in range(n))
    assert result["counts"] == {"a": 10, "b": 10, "c": 10}
