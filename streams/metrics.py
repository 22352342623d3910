"""Prometheus metrics of one worker, in their own registry (never the global one).

Names follow Prometheus conventions: ``patrolstream_`` prefix, base units (seconds), ``_total``
on counters, only low-cardinality labels (``district``, ``reason``, ``topic``/``partition``).
The dashboard (``deploy/grafana/dashboards/patrolstream.json``) and ``deploy/README.md`` are
written against these names; renaming one means changing both.

* ``patrolstream_incidents_consumed_total`` (counter): events read from ``patrol.incidents.v1``
* ``patrolstream_incidents_rejected_total{reason}`` (counter): sent to the dead-letter topic
* ``patrolstream_processing_latency_seconds`` (histogram): validated -> learned, routes acked
* ``patrolstream_learner_update_seconds`` (histogram): one incident through policy and learners
* ``patrolstream_replans_total{district}`` (counter): debounced re-plans of the next shift
* ``patrolstream_routes_emitted_total{district}`` (counter): routes on ``patrol.routes.v1``
* ``patrolstream_route_age_seconds{district}`` (gauge): wall time since the last route
* ``patrolstream_arrest_score`` (histogram): arrest probabilities scored, 0..1
* ``patrolstream_arrest_model_info{name,version}`` (info): the arrest model in use
* ``patrolstream_consumer_lag{topic,partition}`` (gauge): messages behind the highwater
* ``patrolstream_processing_errors_total`` (counter): incidents whose processing raised

Examples
--------
>>> m = PatrolMetrics(process=False)
>>> m.incident_consumed(); m.incident_rejected("json: invalid")
>>> m.route_emitted("8", now=100.0); m.observe_arrest_score(0.3)
>>> text = m.render()[0].decode()
>>> 'patrolstream_incidents_rejected_total{reason="json: invalid"} 1.0' in text
True
>>> m.route_ages(now=130.0)
{'8': 30.0}
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    Info,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
"""Seconds: from a millisecond (a learn without planning) to a minute (a large backlog)."""

SCORE_BUCKETS = tuple(round(0.05 * i, 2) for i in range(1, 21))
"""Probability buckets of the arrest score: 0.05 wide, up to 1."""

LagSource = Callable[[], Iterable[tuple[str, int, int]]]
"""Returns ``(topic, partition, lag)`` for every partition the worker is assigned."""


class _Live(Collector):
    """Gauges computed when Prometheus scrapes: consumer lag and route age."""

    def __init__(self, metrics: PatrolMetrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[Metric]:
        lag = GaugeMetricFamily(
            "patrolstream_consumer_lag",
            "Messages of an assigned source partition not yet consumed (highwater - committed)",
            labels=["topic", "partition"],
        )
        source = self.metrics.lag_source
        if source is not None:
            try:
                rows = list(source())
            except Exception:  # a scrape must never fail on a consumer in transition
                rows = []
            for topic, partition, value in rows:
                lag.add_metric([topic, str(partition)], float(value))
        yield lag
        age = GaugeMetricFamily(
            "patrolstream_route_age_seconds",
            "Seconds since this worker last emitted a route for the district",
            labels=["district"],
        )
        for district, seconds in sorted(self.metrics.route_ages().items()):
            age.add_metric([district], seconds)
        yield age

    def describe(self) -> Iterator[Metric]:
        return iter(())


class PatrolMetrics:
    """The worker's metrics and the calls that update them.

    Parameters
    ----------
    registry
        Where to register; a new :class:`~prometheus_client.CollectorRegistry` by default.
    process
        Also export the process collector (``process_cpu_seconds_total``, memory, fds).
    """

    def __init__(self, registry: CollectorRegistry | None = None, *, process: bool = True) -> None:
        self.registry = reg = registry if registry is not None else CollectorRegistry()
        self.incidents_consumed = Counter(
            "patrolstream_incidents_consumed",
            "Incident events read from patrol.incidents.v1",
            registry=reg,
        )
        self.incidents_rejected = Counter(
            "patrolstream_incidents_rejected",
            "Incident events sent to the dead-letter topic, by rejection reason",
            ["reason"],
            registry=reg,
        )
        self.processing_latency = Histogram(
            "patrolstream_processing_latency_seconds",
            "From a validated incident being produced by the decode agent to its district "
            "state being updated and its routes acknowledged",
            buckets=LATENCY_BUCKETS,
            registry=reg,
        )
        self.learner_update = Histogram(
            "patrolstream_learner_update_seconds",
            "Time of one incident through the emission policy: learners, and planning when due",
            buckets=LATENCY_BUCKETS,
            registry=reg,
        )
        self.replans = Counter(
            "patrolstream_replans", "Debounced re-plans of a district's next shift", ["district"],
            registry=reg,
        )  # fmt: skip
        self.routes_emitted = Counter(
            "patrolstream_routes_emitted", "Routes published on patrol.routes.v1", ["district"],
            registry=reg,
        )  # fmt: skip
        self.processing_errors = Counter(
            "patrolstream_processing_errors",
            "Validated incidents whose processing raised (dead-lettered)",
            registry=reg,
        )
        self.arrest_score = Histogram(
            "patrolstream_arrest_score",
            "Arrest probabilities scored by the arrest model",
            buckets=SCORE_BUCKETS,
            registry=reg,
        )
        self.arrest_model = Info(
            "patrolstream_arrest_model", "The arrest model in use", registry=reg
        )
        self.arrest_model_labels: dict[str, str] = {}
        self.lag_source: LagSource | None = None
        self._last_route: dict[str, float] = {}
        reg.register(_Live(self))
        if process:
            from prometheus_client import ProcessCollector

            ProcessCollector(registry=reg)

    # -- updates ---------------------------------------------------------------------------
    def incident_consumed(self) -> None:
        """One event read from the incidents topic."""
        self.incidents_consumed.inc()

    def incident_rejected(self, reason: str) -> None:
        """One event dead-lettered for ``reason`` (a short fixed phrase, never user data)."""
        self.incidents_rejected.labels(reason=reason).inc()

    def incident_processed(self, latency_s: float, update_s: float) -> None:
        """A validated incident done: end-to-end latency and the policy's own time."""
        self.processing_latency.observe(max(0.0, latency_s))
        self.learner_update.observe(max(0.0, update_s))

    def replanned(self, district: str) -> None:
        """A debounced re-plan of ``district``'s next shift ran (emitted or not)."""
        self.replans.labels(district=district).inc()

    def route_emitted(self, district: str, now: float | None = None) -> None:
        """A route of ``district`` was published (``now``: wall time, seconds)."""
        self.routes_emitted.labels(district=district).inc()
        self._last_route[district] = time.time() if now is None else now

    def route_ages(self, now: float | None = None) -> dict[str, float]:
        """Seconds since each district's last emitted route."""
        t = time.time() if now is None else now
        return {d: max(0.0, t - at) for d, at in self._last_route.items()}

    def observe_arrest_score(self, probability: float) -> None:
        """One arrest probability scored (the arrest scorer calls this)."""
        self.arrest_score.observe(min(1.0, max(0.0, float(probability))))

    def set_arrest_model(self, name: str, version: str, **extra: str) -> None:
        """Record the arrest model in use (after a load or reload)."""
        self.arrest_model_labels = {"name": name, "version": version, **extra}
        self.arrest_model.info(self.arrest_model_labels)

    # -- exposition ------------------------------------------------------------------------
    def render(self) -> tuple[bytes, str]:
        """The Prometheus text exposition and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST

    def sample(self, name: str, labels: dict[str, str] | None = None) -> float | None:
        """The current value of one sample (for tests and the stats page)."""
        value: Any = self.registry.get_sample_value(name, labels or {})
        return None if value is None else float(value)
