"""The container stack, checked without a Docker engine.

``docker compose config`` (Compose v2) and/or ``docker-compose config`` (v1, Debian's package)
validate docker-compose.yml; ``promtool`` validates the Prometheus configurations and every
dashboard query; the rest checks the wiring: services, commands, ports, Grafana provisioning,
the dashboard's metric names (the contract in deploy/README.md) and the Dockerfile.

The tools are required, never skipped: CI installs them with
``apt-get install -y --no-install-recommends docker-compose prometheus``.
"""

from __future__ import annotations

import fnmatch
import json
import re
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
DEPLOY = ROOT / "deploy"
PROMETHEUS_CONFIGS = [DEPLOY / "prometheus.yml", DEPLOY / "prometheus-local.yml"]
PROVISIONING = DEPLOY / "grafana" / "provisioning"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "patrolstream.json"

APT_HINT = (
    "apt-get update && apt-get install -y --no-install-recommends docker-compose prometheus "
    "(Debian/Ubuntu: Compose v1 and promtool; Docker's compose plugin works too)"
)
SERVICES = {"kafka", "worker", "replay", "prometheus", "grafana"}
WEB_PORT = "6066"
BROKER = "kafka://kafka:9092"

# The metric names that the metrics issue implements (deploy/README.md, "Metrics: the contract").
EXPECTED_QUERIES = {
    "rate(patrolstream_incidents_consumed_total[1m])",
    "sum by (reason) (rate(patrolstream_incidents_rejected_total[1m]))",
    "histogram_quantile(0.5, sum by (le) "
    "(rate(patrolstream_processing_latency_seconds_bucket[1m])))",
    "histogram_quantile(0.99, sum by (le) "
    "(rate(patrolstream_processing_latency_seconds_bucket[1m])))",
    "sum by (district) (rate(patrolstream_routes_emitted_total[5m]))",
    "patrolstream_consumer_lag",
    "histogram_quantile(0.99, sum by (le) (rate(patrolstream_learner_update_seconds_bucket[1m])))",
    "sum(rate(patrolstream_incidents_rejected_total[1m])) "
    "/ sum(rate(patrolstream_incidents_consumed_total[1m]))",
    "sum by (district) (rate(patrolstream_replans_total[5m]))",
    "min by (district) (patrolstream_route_age_seconds)",
    "sum by (le) (increase(patrolstream_arrest_score_bucket[1m]))",
    "count by (name, version) (patrolstream_arrest_model_info)",
}


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"`{name}` not found on PATH; install it: {APT_HINT}", pytrace=False)
    return path


def _run(cmd: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cmd, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False, **kwargs
    )


def _compose_clis() -> list[list[str]]:
    """Every Compose CLI on this machine: the v2 plugin (`docker compose`) and `docker-compose`."""
    clis = []
    docker = shutil.which("docker")
    if docker and _run([docker, "compose", "version"]).returncode == 0:
        clis.append([docker, "compose"])
    standalone = shutil.which("docker-compose")
    if standalone:
        clis.append([standalone])
    return clis


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text(encoding="utf-8"))


def _env(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: str(v) for k, v in env.items()}


def _mounts(service: dict[str, Any]) -> dict[str, str]:
    """Container path -> host path of the service's short-syntax volume mounts."""
    out = {}
    for spec in service.get("volumes", []):
        parts = spec.split(":")
        out[parts[1]] = parts[0]
    return out


def _exprs(dashboard: dict[str, Any]) -> list[str]:
    return [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]


def _squash(expr: str) -> str:
    return re.sub(r"\s+", " ", expr).strip()


# --------------------------------------------------------------------------------------
# validators
# --------------------------------------------------------------------------------------


def test_compose_file_is_valid_for_every_compose_cli() -> None:
    clis = _compose_clis()
    if not clis:
        pytest.fail(
            f"neither `docker compose` (v2 plugin) nor `docker-compose` found; install: {APT_HINT}",
            pytrace=False,
        )
    for cli in clis:
        out = _run([*cli, "-f", str(COMPOSE), "config", "-q"])
        assert out.returncode == 0, f"{' '.join(cli)} config: {out.stderr or out.stdout}"


@pytest.mark.parametrize("config", PROMETHEUS_CONFIGS, ids=lambda p: p.name)
def test_promtool_accepts_prometheus_config(config: Path) -> None:
    out = _run([_tool("promtool"), "check", "config", str(config)])
    assert out.returncode == 0, out.stdout + out.stderr


def test_dashboard_queries_are_valid_promql(tmp_path: Path, dashboard: dict[str, Any]) -> None:
    rules = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [
                    {"record": f"patrolstream:dashboard_query_{i}", "expr": expr}
                    for i, expr in enumerate(_exprs(dashboard))
                ],
            }
        ]
    }
    path = tmp_path / "dashboard_rules.yml"
    path.write_text(yaml.safe_dump(rules), encoding="utf-8")
    out = _run([_tool("promtool"), "check", "rules", str(path)])
    assert out.returncode == 0, out.stdout + out.stderr


# --------------------------------------------------------------------------------------
# compose wiring
# --------------------------------------------------------------------------------------


def test_stack_has_the_five_services(services: dict[str, dict[str, Any]]) -> None:
    assert set(services) == SERVICES


def test_kafka_is_a_single_kraft_node_with_healthcheck_and_volume(
    compose: dict[str, Any], services: dict[str, dict[str, Any]]
) -> None:
    kafka = services["kafka"]
    env = _env(kafka)
    assert kafka["image"] == "apache/kafka:3.9.2"
    assert env["KAFKA_NODE_ID"] == "1"
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == "1@kafka:9093"
    advertised = env["KAFKA_ADVERTISED_LISTENERS"].split(",")
    assert "PLAINTEXT://kafka:9092" in advertised
    assert any(a.endswith("://localhost:29092") for a in advertised)
    listener_names = {x.split("://")[0] for x in env["KAFKA_LISTENERS"].split(",")}
    protocols = env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(",")
    protocol_map = dict(x.split(":") for x in protocols)
    assert listener_names == set(protocol_map)
    assert env["KAFKA_CONTROLLER_LISTENER_NAMES"] in listener_names
    for key in (
        "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR",
        "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR",
        "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR",
        "KAFKA_DEFAULT_REPLICATION_FACTOR",
    ):
        assert env[key] == "1", key
    assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "true"
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", env["CLUSTER_ID"])
    assert "kafka-broker-api-versions.sh" in " ".join(kafka["healthcheck"]["test"])
    volume, target = kafka["volumes"][0].split(":")[:2]
    assert volume in compose["volumes"]
    assert target == env["KAFKA_LOG_DIRS"]
    assert any(str(p).endswith("29092:29092") for p in kafka["ports"])


def test_workers_scale_without_host_port_clashes(services: dict[str, dict[str, Any]]) -> None:
    worker = services["worker"]
    env = _env(worker)
    assert worker["command"] == ["worker"]
    assert "build" in worker
    assert env["PATROLSTREAM_BROKER"] == BROKER
    assert env["PATROLSTREAM_WEB_PORT"] == WEB_PORT
    assert env["PATROLSTREAM_STORE"] == "rocksdb://"
    assert worker["depends_on"]["kafka"]["condition"] == "service_healthy"
    assert worker["deploy"]["replicas"] >= 2
    assert "container_name" not in worker
    # A fixed host port would make the second replica fail: container ports only.
    for port in worker.get("ports", []):
        assert ":" not in str(port), f"worker publishes a fixed host port: {port}"


def test_replay_publishes_the_bundled_sample_once(services: dict[str, dict[str, Any]]) -> None:
    replay = services["replay"]
    cmd = replay["command"]
    assert cmd[0] == "replay"
    sample = cmd[1]
    assert sample.startswith("/app/")
    assert (ROOT / sample.removeprefix("/app/")).is_file(), f"{sample} not in the image"
    assert cmd[cmd.index("--broker") + 1] == BROKER
    assert float(cmd[cmd.index("--speed") + 1]) == 3600
    assert replay["restart"] == "no"
    assert replay["depends_on"]["worker"]["condition"] == "service_started"
    assert replay.get("image") == services["worker"].get("image")


def test_prometheus_scrapes_every_worker_replica(services: dict[str, dict[str, Any]]) -> None:
    mounts = _mounts(services["prometheus"])
    host = mounts["/etc/prometheus/prometheus.yml"]
    assert (ROOT / host).resolve() == DEPLOY / "prometheus.yml"
    assert any(str(p).endswith("9090:9090") for p in services["prometheus"]["ports"])
    config = yaml.safe_load((DEPLOY / "prometheus.yml").read_text(encoding="utf-8"))
    assert config["global"]["scrape_interval"] == "5s"
    (job,) = [j for j in config["scrape_configs"] if j["job_name"] == "patrolstream-worker"]
    assert job.get("metrics_path", "/metrics") == "/metrics"
    (sd,) = job["dns_sd_configs"]
    assert sd["names"] == ["worker"]
    assert sd["type"] == "A"
    assert str(sd["port"]) == _env(services["worker"])["PATROLSTREAM_WEB_PORT"]


def test_grafana_provisions_prometheus_and_the_dashboard(
    services: dict[str, dict[str, Any]], dashboard: dict[str, Any]
) -> None:
    grafana = services["grafana"]
    env = _env(grafana)
    assert env["GF_AUTH_ANONYMOUS_ENABLED"] == "true"
    assert env["GF_AUTH_ANONYMOUS_ORG_ROLE"] == "Viewer"
    assert any(str(p).endswith("3000:3000") for p in grafana["ports"])
    mounts = _mounts(grafana)
    assert (ROOT / mounts["/etc/grafana/provisioning"]).resolve() == PROVISIONING

    (ds_file,) = (PROVISIONING / "datasources").glob("*.yml")
    (datasource,) = yaml.safe_load(ds_file.read_text(encoding="utf-8"))["datasources"]
    assert datasource["type"] == "prometheus"
    assert datasource["url"] == "http://prometheus:9090"

    (provider_file,) = (PROVISIONING / "dashboards").glob("*.yml")
    (provider,) = yaml.safe_load(provider_file.read_text(encoding="utf-8"))["providers"]
    folder = provider["options"]["path"]
    assert folder == "/var/lib/grafana/dashboards"
    assert (ROOT / mounts[folder]).resolve() == DASHBOARD.parent

    home = env["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home == f"{folder}/{DASHBOARD.name}"
    uids = {p["datasource"]["uid"] for p in dashboard["panels"]}
    uids |= {t["datasource"]["uid"] for p in dashboard["panels"] for t in p["targets"]}
    assert uids == {datasource["uid"]}


def test_dashboard_queries_follow_the_metrics_contract(dashboard: dict[str, Any]) -> None:
    exprs = {_squash(e) for e in _exprs(dashboard)}
    assert {_squash(e) for e in EXPECTED_QUERIES} <= exprs
    assert dashboard["uid"] == "patrolstream"
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        assert panel["title"] and panel["targets"], panel
        refs = [t["refId"] for t in panel["targets"]]
        assert len(refs) == len(set(refs)), panel["title"]
    text = DASHBOARD.read_text(encoding="utf-8").lower()
    assert not re.search(r"todo|placeholder|fixme|xxx", text)
    readme = (DEPLOY / "README.md").read_text(encoding="utf-8")
    for name in sorted({m for e in EXPECTED_QUERIES for m in re.findall(r"patrolstream_\w+", e)}):
        assert name.removesuffix("_bucket") in readme, f"{name} missing from deploy/README.md"


def _exposed_series() -> set[str]:
    """Every series name the worker's metrics registry can expose (streams/metrics.py)."""
    from streams.metrics import PatrolMetrics

    suffixes = {
        "counter": ["_total"],
        "histogram": ["_bucket", "_sum", "_count"],
        "info": ["_info"],
        "gauge": [""],
    }
    registry = PatrolMetrics(process=False).registry
    return {
        family.name + suffix
        for family in registry.collect()
        for suffix in suffixes.get(family.type, [""])
    }


def test_every_dashboard_metric_is_exposed_by_the_worker(dashboard: dict[str, Any]) -> None:
    exposed = _exposed_series()
    used = {m for e in _exprs(dashboard) for m in re.findall(r"\bpatrolstream_\w+", e)}
    assert used, "the dashboard queries no patrolstream_ metric"
    assert used <= exposed, f"not exposed by streams.metrics: {sorted(used - exposed)}"
    readme = (DEPLOY / "README.md").read_text(encoding="utf-8")
    for name in sorted(used):
        base = re.sub(r"_(bucket|total|info)$", "", name)
        assert base in readme, f"{base} missing from deploy/README.md's metric contract"


# --------------------------------------------------------------------------------------
# image
# --------------------------------------------------------------------------------------


def test_dockerfile_builds_the_cli_image_from_existing_files() -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    assert re.search(r"^FROM python:3\.11-slim\s*$", text, re.M)
    assert re.search(r"OMP_NUM_THREADS=1", text)
    assert re.search(r'pip install "?\.\[stream,rocksdb\]"?', text)
    assert re.search(r'^ENTRYPOINT \["patrolstream"\]\s*$', text, re.M)
    assert re.search(r'^CMD \["run"\]\s*$', text, re.M)
    users = re.findall(r"^USER (\S+)", text, re.M)
    assert users and users[-1] not in {"root", "0"}

    copied = [
        src
        for line in re.findall(r"^COPY (.+)$", text, re.M)
        for src in line.split()[:-1]
        if not src.startswith("--")
    ]
    for src in copied:
        assert (ROOT / src).exists(), f"Dockerfile copies {src}, which does not exist"
    # Every package that setuptools installs is copied into the build.
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = {p.removesuffix("*") for p in patterns}
    assert packages <= {src.strip("/") for src in copied}
    assert pyproject["project"]["readme"] in copied

    # ... and none of them is left out of the build context by .dockerignore.
    lines = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    ignored = [ln.strip() for ln in lines if ln.strip() and not ln.startswith("#")]
    for src in copied:
        hits = [pat for pat in ignored if fnmatch.fnmatch(src.strip("/"), pat.strip("/"))]
        assert not hits, f".dockerignore {hits} excludes {src}, which the Dockerfile copies"
