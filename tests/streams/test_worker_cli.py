"""``python -m streams.worker`` / ``patrolstream worker``: options, settings, help (no broker)."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from simulators.settings import Settings
from streams.worker import add_worker_arguments, build_parser, settings_from_args

ROOT = Path(__file__).resolve().parents[2]
STREAM_FIELDS = (
    "broker", "app_id", "topic_prefix", "partitions", "replication_factor", "store", "city",
    "replan_every", "material_m", "max_message_bytes", "web_port", "data_dir",
    "stats_interval_s", "planner", "units", "travel", "osm_path", "half_life_days", "min_incidents",
    "log_level", "arrest_model", "arrest_reload_s", "score_batch", "api_tokens_file",
    "api_max_body_bytes", "kafka_security_protocol", "kafka_sasl_mechanism",
    "kafka_sasl_username", "kafka_ssl_cafile", "kafka_ssl_certfile", "kafka_ssl_keyfile",
    "forecaster", "forecast_model", "snapshot_every", "producer_linger_s",
)  # fmt: skip


def test_every_setting_has_a_documented_flag() -> None:
    parser = build_parser()
    dests = {a.dest for a in parser._actions if a.dest != "help"}
    assert dests == set(STREAM_FIELDS)
    assert set(STREAM_FIELDS) <= set(Settings.__dataclass_fields__)
    for action in parser._actions:
        assert action.help, action.option_strings
        if action.dest != "help":
            assert f"PATROLSTREAM_{action.dest.upper()}" in action.help


def test_flags_override_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATROLSTREAM_PARTITIONS", "8")
    monkeypatch.setenv("PATROLSTREAM_REPLAN_EVERY", "40")
    monkeypatch.setenv("PATROLSTREAM_STORE", "rocksdb://")
    s = settings_from_args(build_parser().parse_args(["--partitions", "2", "--city", "x.toml"]))
    assert (s.partitions, s.replan_every, s.store, s.city) == (2, 40, "rocksdb://", "x.toml")
    assert s.policy_config().replan_every == 40
    assert s.store_url() == "rocksdb://"
    with pytest.raises(ValueError, match="PATROLSTREAM_MATERIAL_M"):
        Settings.from_env({"PATROLSTREAM_MATERIAL_M": "far"})


def test_the_parser_can_be_embedded_in_another_cli() -> None:
    parser = argparse.ArgumentParser(prog="patrolstream")
    sub = parser.add_subparsers(dest="command")
    add_worker_arguments(sub.add_parser("worker"))
    ns = parser.parse_args(["worker", "--app-id", "x", "--web-port", "6067"])
    s = settings_from_args(ns)
    assert (s.app_id, s.web_port, s.partitions) == ("x", 6067, Settings().partitions)


def test_store_auto_resolves_to_an_available_store(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "rocksdict", None)  # import fails
    assert Settings().store_url() == "memory://"
    assert Settings(store="memory://").store_url() == "memory://"


def test_module_help_runs_without_a_broker() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "streams.worker", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    for flag in (
        "--broker",
        "--app-id",
        "--partitions",
        "--store",
        "--replan-every",
        "--material-m",
        "--max-message-bytes",
        "--web-port",
        "--data-dir",
        "--city",
    ):
        assert flag in out  # fmt: skip


def test_importing_the_worker_module_loads_no_runtime() -> None:
    code = (
        "import sys, streams.worker\n"
        "print(sorted(m for m in ('faust', 'aiokafka', 'numpy', 'sklearn') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"
