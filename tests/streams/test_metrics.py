"""The worker's Prometheus metrics: the dashboard contract, naming conventions, own registry."""

from __future__ import annotations

import json
import re
from pathlib import Path

from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from streams.metrics import PatrolMetrics

ROOT = Path(__file__).resolve().parents[2]
ALLOWED_LABELS = {"district", "reason", "topic", "partition", "name", "version", "le"}


def exercised() -> PatrolMetrics:
    m = PatrolMetrics()
    m.incident_consumed()
    m.incident_rejected("malformed json")
    m.incident_processed(latency_s=0.02, update_s=0.004)
    m.replanned("8")
    m.route_emitted("8", now=1000.0)
    m.observe_arrest_score(0.42)
    m.set_arrest_model("arrest_hgb.onnx", "2026-11-20")
    m.lag_source = lambda: [("patrol.incidents.v1", 0, 7)]
    return m


def families(m: PatrolMetrics) -> dict[str, object]:
    text = m.render()[0].decode()
    return {f.name: f for f in text_string_to_metric_families(text)}


def test_the_dashboard_and_deploy_readme_names_are_exported() -> None:
    text = exercised().render()[0].decode()
    exported = {line.split("{")[0].split(" ")[0] for line in text.splitlines() if line[:1] != "#"}
    readme = (ROOT / "deploy" / "README.md").read_text()
    contract = set(re.findall(r"^\| `(patrolstream_\w+)` \|", readme, flags=re.M))
    assert contract, "deploy/README.md lists the metrics contract"
    dashboard = json.loads((ROOT / "deploy/grafana/dashboards/patrolstream.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    queried = {n for e in exprs for n in re.findall(r"patrolstream_\w+", e)}
    for name in contract | queried:
        assert name in exported or name.removesuffix("_bucket") + "_bucket" in exported, name


def test_values_and_labels() -> None:
    m = exercised()
    assert m.sample("patrolstream_incidents_consumed_total") == 1
    assert m.sample("patrolstream_incidents_rejected_total", {"reason": "malformed json"}) == 1
    assert m.sample("patrolstream_replans_total", {"district": "8"}) == 1
    assert m.sample("patrolstream_routes_emitted_total", {"district": "8"}) == 1
    lag = {"topic": "patrol.incidents.v1", "partition": "0"}
    assert m.sample("patrolstream_consumer_lag", lag) == 7
    assert m.sample("patrolstream_arrest_score_bucket", {"le": "0.45"}) == 1
    assert m.sample("patrolstream_arrest_score_bucket", {"le": "0.4"}) == 0
    assert m.sample("patrolstream_processing_latency_seconds_sum") == 0.02
    info = {"name": "arrest_hgb.onnx", "version": "2026-11-20"}
    assert m.sample("patrolstream_arrest_model_info", info) == 1
    assert m.route_ages(now=1012.5) == {"8": 12.5}


def test_conventions_prefix_base_units_total_and_low_cardinality() -> None:
    for name, fam in families(exercised()).items():
        if name.startswith(("process_", "python_")):
            continue
        assert name.startswith("patrolstream_"), name
        assert not re.search(r"_(ms|milliseconds|minutes|hours)\b", name), name
        if fam.type == "counter":  # the parser strips _total from counter family names
            assert any(s.name.endswith("_total") for s in fam.samples), name
        for sample in fam.samples:
            assert set(sample.labels) <= ALLOWED_LABELS, (name, sample.labels)


def test_each_instance_has_its_own_registry() -> None:
    a, b = PatrolMetrics(process=False), PatrolMetrics(process=False)  # no duplicate error
    a.incident_consumed()
    assert b.sample("patrolstream_incidents_consumed_total") == 0
    assert REGISTRY.get_sample_value("patrolstream_incidents_consumed_total") is None


def test_a_failing_lag_source_does_not_break_the_scrape() -> None:
    m = PatrolMetrics(process=False)

    def broken() -> list[tuple[str, int, int]]:
        raise RuntimeError("consumer not started")

    m.lag_source = broken
    assert b"patrolstream_consumer_lag" in m.render()[0]
