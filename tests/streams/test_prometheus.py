"""The real Prometheus server (Debian's ``prometheus`` package) scrapes a worker running on the
broker and answers queries for the ``patrolstream_`` series and every dashboard query.

Needs the broker (``kafka`` marker) and ``/usr/bin/prometheus``; fails, never skips, without
either (CI: ``apt-get install -y --no-install-recommends prometheus``).
"""

from __future__ import annotations

import asyncio
import io
import json
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from patrol.incidents.parse import read_csv
from patrol.incidents.profile import CityProfile

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "dashboards" / "patrolstream.json"
SETTINGS = {"min_incidents": 50, "replan_every": 25, "material_m": 50.0}
INVALID = [b"{not json", json.dumps({"id": "x1"}).encode(), b'{"id": "x2", "date": 5}']


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Prometheus:
    """A Prometheus server process and its HTTP API."""

    url: str
    proc: subprocess.Popen[bytes]
    log_path: Path

    async def api(self, path: str, **params: str) -> Any:
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"{self.url}/api/v1/{path}", params=params) as resp,
        ):
            body = await resp.json()
        assert body["status"] == "success", (path, params, body)
        return body["data"]

    async def query(self, expr: str) -> list[dict[str, Any]]:
        data = await self.api("query", query=expr)
        assert data["resultType"] == "vector", (expr, data)
        return list(data["result"])

    async def value(self, expr: str) -> float | None:
        result = await self.query(expr)
        return float(result[0]["value"][1]) if result else None

    def tail(self) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-20:])


@pytest.fixture
def prometheus(tmp_path: Path) -> Iterator[Callable[[list[str]], Prometheus]]:
    """``prometheus(targets)``: a Prometheus scraping ``targets`` every second as the
    ``patrolstream-worker`` job (the job name of deploy/prometheus.yml)."""
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.fail(
            "`prometheus` not found; install: apt-get install -y --no-install-recommends "
            "prometheus",
            pytrace=False,
        )
    started: list[subprocess.Popen[bytes]] = []

    def start(targets: list[str]) -> Prometheus:
        config = {
            "global": {"scrape_interval": "1s", "scrape_timeout": "1s"},
            "scrape_configs": [
                {
                    "job_name": "patrolstream-worker",
                    "metrics_path": "/metrics",
                    "static_configs": [{"targets": targets}],
                }
            ],
        }
        path = tmp_path / "prometheus.yml"
        path.write_text(yaml.safe_dump(config), encoding="utf-8")
        check = subprocess.run(
            [str(Path(binary).with_name("promtool")), "check", "config", str(path)],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert check.returncode == 0, check.stdout + check.stderr
        port = free_port()
        log_path = tmp_path / "prometheus.log"
        with open(log_path, "wb") as out:
            proc = subprocess.Popen(
                [
                    binary,
                    f"--config.file={path}",
                    f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                    f"--web.listen-address=127.0.0.1:{port}",
                    "--log.level=warn",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        started.append(proc)
        return Prometheus(f"http://127.0.0.1:{port}", proc, log_path)

    yield start
    for proc in started:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def _eventually(
    probe: Callable[[], Any], what: str, timeout_s: float = 45.0, tail: Callable[[], str] = str
) -> Any:
    """Await ``probe()`` until it returns something truthy; fail with ``what`` otherwise."""
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        try:
            got = await probe()
        except (aiohttp.ClientError, OSError) as exc:
            last = exc
        else:
            if got:
                return got
            last = got
        await asyncio.sleep(0.5)
    pytest.fail(f"{what}: not within {timeout_s} s (last: {last!r})\n{tail()}")


def _dashboard_queries() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]


@pytest.mark.kafka
@pytest.mark.slow
async def test_prometheus_scrapes_the_worker_and_answers_patrolstream_queries(
    require_broker: Callable[[], str],
    worker_factory: Callable[..., Any],
    produce: Callable[..., Any],
    prometheus: Callable[[list[str]], Prometheus],
    slicer: Callable[[set[str], int], str],
    chicago: CityProfile,
) -> None:
    bootstrap = require_broker()
    incidents = sorted(
        read_csv(io.StringIO(slicer({"008"}, 4)), chicago).incidents,
        key=lambda i: i.occurred_at,
    )
    assert len(incidents) > 150
    web_port = free_port()
    worker = await worker_factory(bootstrap, web_port=web_port, **SETTINGS).start()
    target = f"127.0.0.1:{web_port}"

    async def metrics_page() -> str | None:
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"http://{target}/metrics") as resp,
        ):
            return (await resp.text()) if resp.status == 200 else None

    await _eventually(metrics_page, "the worker's /metrics", 60.0, worker.tail)

    messages = [(b"8", json.dumps(inc.to_event()).encode()) for inc in incidents] + [
        (b"8", bad) for bad in INVALID
    ]
    await produce(bootstrap, worker.topics.incidents, messages)
    stats = worker.wait_for_stats(
        lambda s: s["received"] == len(messages) and sum(s["outcomes"].values()) == len(incidents),
        timeout_s=90.0,
    )
    assert sum(stats["dead_letters"].values()) == len(INVALID)
    assert stats["routes"] > 0

    prom = prometheus([target])

    async def scraped_everything() -> float | None:
        v = await prom.value("patrolstream_incidents_consumed_total")
        return v if v == len(messages) else None

    await _eventually(scraped_everything, "consumed_total == produced", 45.0, prom.tail)
    assert await prom.value('up{job="patrolstream-worker"}') == 1.0

    names = set(await prom.api("label/__name__/values"))
    ours = {n for n in names if n.startswith("patrolstream_")}
    must = {
        "patrolstream_incidents_consumed_total",
        "patrolstream_incidents_rejected_total",
        "patrolstream_processing_latency_seconds_bucket",
        "patrolstream_learner_update_seconds_bucket",
        "patrolstream_routes_emitted_total",
        "patrolstream_replans_total",
        "patrolstream_route_age_seconds",
        "patrolstream_consumer_lag",
        "patrolstream_arrest_score_bucket",
        "patrolstream_arrest_model_info",
    }
    assert must <= ours, f"missing: {sorted(must - ours)}; scraped: {sorted(ours)}"

    # the values are the worker's own counts
    assert await prom.value("sum(patrolstream_incidents_rejected_total)") == len(INVALID)
    assert await prom.value("sum(patrolstream_routes_emitted_total)") == stats["routes"]
    by_district = await prom.query("sum by (district) (patrolstream_routes_emitted_total)")
    assert {r["metric"]["district"] for r in by_district} == {"8"}
    assert await prom.value("patrolstream_processing_latency_seconds_count") == len(incidents)
    scored = await prom.value("sum(patrolstream_arrest_score_count)")
    assert scored is not None and 0 < scored <= len(incidents)
    lag = await prom.query("patrolstream_consumer_lag")
    assert lag and {r["metric"]["topic"] for r in lag} >= {worker.topics.incidents}
    # no high-cardinality label on any of our series
    series = await prom.api("series", **{"match[]": '{__name__=~"patrolstream_.+"}'})
    labels = {k for s in series for k in s} - {"__name__", "instance", "job"}
    assert labels <= {"reason", "district", "topic", "partition", "le", "name", "version"}, labels

    # every dashboard query is valid PromQL that this Prometheus evaluates
    for expr in _dashboard_queries():
        await prom.query(expr)
    assert worker.alive(), worker.tail()
