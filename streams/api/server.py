"""The dispatch API and the metrics inside a Faust worker: :func:`attach_api`.

Why inside the worker: hotspots, probability tables and readiness read the district state,
which lives in the worker that owns the district's partition. The API therefore runs on
Faust's own web server (its aiohttp driver: ``app.web.web_app`` is an
:class:`aiohttp.web.Application` served on ``PATROLSTREAM_WEB_PORT`` on the worker's event
loop), so handlers read the state between two messages, never while one is half processed.

:func:`web_options` are the Faust settings of that server (the ``faust.App`` call passes them):
the request body limit, and Faust's own pages that are switched off because they are not
authenticated and ``/table`` would show the district history (incident events). Faust's
production index at ``/`` is removed too: ``/`` is the map page (:mod:`streams.web.map`).

The app calls the :class:`ApiRuntime` hooks: :meth:`~ApiRuntime.consumed`,
:meth:`~ApiRuntime.rejected`, :meth:`~ApiRuntime.processed`,
:meth:`~ApiRuntime.processing_failed` and :meth:`~ApiRuntime.route_emitted` (the route goes
to the route store and to every WebSocket subscriber of its district).
"""

from __future__ import annotations

import importlib.util
import logging
import time
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from patrol.routes import Route
from simulators.kafka_io import bootstrap_servers
from simulators.settings import Settings
from streams.api.auth import TokenStore, load_tokens
from streams.api.districts import DistrictView, boundaries
from streams.api.follower import RoutesFollower
from streams.api.store import RouteStore, StreamHub
from streams.api.views import ApiContext, setup_api
from streams.metrics import PatrolMetrics

if TYPE_CHECKING:
    from aiohttp import web

    from streams.app import PatrolStreamApp

log = logging.getLogger("patrolstream.api")

FAUST_PAGES_OFF = {
    "web_router_enabled": False,  # /router: which worker holds a key
    "web_tables_enabled": False,  # /table: table contents (the district history)
    "web_stats_enabled": False,  # /: Faust's monitor
    "web_graph_enabled": False,  # /graph: the service graph
    "web_metrics_enabled": False,  # /performance
}


def web_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments of ``faust.App`` for the worker's web server.

    Examples
    --------
    >>> web_options(Settings(api_max_body_bytes=1024))["web_application_options"]
    {'client_max_size': 1024}
    """
    return {
        **FAUST_PAGES_OFF,
        "web_application_options": {"client_max_size": settings.api_max_body_bytes},
    }


def _drop_faust_index(web_driver: Any) -> None:
    """Remove Faust's built-in blueprints that are always on (``/`` production index)."""
    manager = getattr(web_driver, "blueprints", None)
    enabled = getattr(manager, "_enabled", None)
    if isinstance(enabled, list) and not getattr(manager, "applied", False):
        enabled[:] = [
            (prefix, bp)
            for prefix, bp in enabled
            if not (isinstance(bp, str) and bp.startswith("faust.web.apps."))
        ]


def add_map(app: web.Application) -> bool:
    """Add the map page (``streams.web.map.add_map_routes``) when that module exists."""
    if importlib.util.find_spec("streams.web.map") is None:
        return False
    from streams.web.map import add_map_routes

    add_map_routes(app)
    return True


class ApiRuntime:
    """The API's state in one worker and the hooks the app calls.

    Parameters
    ----------
    patrol
        The worker's app. Its web server gets the API when ``settings.web_port > 0``.
    tokens
        Accepted tokens (default: from ``api_tokens_file`` and ``api_tokens``).
    """

    def __init__(self, patrol: PatrolStreamApp, tokens: TokenStore | None = None) -> None:
        settings = patrol.settings
        self.patrol = patrol
        self.metrics = PatrolMetrics()
        self.metrics.lag_source = self._lag
        profile = patrol.profile
        geo = boundaries(profile)
        self.context = ApiContext(
            tokens=tokens
            if tokens is not None
            else load_tokens(settings.api_tokens_file, settings.api_tokens),
            store=RouteStore(),
            hub=StreamHub(),
            metrics=self.metrics,
            view=DistrictView(patrol.policy),
            boundaries=lambda: geo,
            known_districts=frozenset(f["properties"]["district"] for f in geo["features"]),
            readiness=self.readiness,
            scorer=getattr(patrol, "scoring", None),
        )
        self._source_topics = (patrol.topics.incidents, patrol.topics.valid)
        scorer = self.context.scorer
        service = getattr(scorer, "service", None)
        if service is not None:
            self.metrics.set_arrest_model(
                str(getattr(getattr(service, "path", None), "name", "arrest")),
                str(getattr(service, "version", "")),
            )
        self.web_app: web.Application | None = None
        self.follower: RoutesFollower | None = None
        if settings.web_port > 0:
            web_driver = patrol.app.web
            _drop_faust_index(web_driver)
            self.web_app = web_driver.web_app  # type: ignore[attr-defined]  # aiohttp driver
            setup_api(self.web_app, self.context)
            has_map = add_map(self.web_app)
            log.info(
                "dispatch API on the worker's web server",
                extra={"port": settings.web_port, "tokens": len(self.context.tokens),
                       "map": has_map},
            )  # fmt: skip
            if not len(self.context.tokens):
                log.warning("no API tokens configured: every /v1 request is refused (401)")
            self.follower = RoutesFollower(
                bootstrap_servers(settings.broker),
                patrol.topics.routes,
                self.route_seen,
                settings,
            )
            patrol.app.task(self.follower.run)

    # -- readiness and lag -----------------------------------------------------------------
    def readiness(self) -> Mapping[str, bool]:
        """``assigned``: the worker has partitions; ``recovered``: its tables caught up with
        their changelogs; ``stable``: no rebalance in progress."""
        app = self.patrol.app
        try:
            assigned = bool(app.consumer.assignment())
        except Exception:
            assigned = False
        recovery = getattr(getattr(app, "tables", None), "recovery", None)
        completed = getattr(recovery, "completed", None)
        recovered = bool(completed is not None and completed.is_set())
        return {
            "assigned": assigned,
            "recovered": recovered,
            "stable": not bool(getattr(app, "rebalancing", False)),
        }

    def _lag(self) -> Iterable[tuple[str, int, int]]:
        consumer = self.patrol.app.consumer
        committed = getattr(consumer, "_committed_offset", {})
        for tp in sorted(consumer.assignment()):
            if tp.topic not in self._source_topics:
                continue
            high = consumer.highwater(tp)
            if high is None:
                continue
            done = committed.get(tp) or 0
            yield tp.topic, tp.partition, max(0, int(high) - int(done))

    # -- hooks the app calls -----------------------------------------------------------------
    def consumed(self) -> None:
        """An incident event was read from the incidents topic."""
        self.metrics.incident_consumed()

    def rejected(self, reason: str) -> None:
        """An event went to the dead-letter topic."""
        self.metrics.incident_rejected(reason)

    def processed(self, msg: Any, step: Any, update_s: float) -> None:
        """A validated incident was learned and its routes acknowledged.

        Latency: from the valid-topic record's timestamp (set when the decode agent produced
        it) to now; ``update_s``: the policy's own time.
        """
        produced = getattr(msg, "timestamp", None)
        latency = time.time() - produced if isinstance(produced, int | float) else update_s
        self.metrics.incident_processed(latency, update_s)

    def learned(self, step: Any) -> None:
        """Right after the policy processed an incident: count a debounced re-plan (the
        policy resets the district's ``since_replan`` to 0 when it re-plans)."""
        if step.outcome.learned:
            cur = self.patrol.policy.cursors.get(step.district)
            if cur is not None and cur.since_replan == 0:
                self.metrics.replanned(step.district)

    def processing_failed(self) -> None:
        """Processing a validated incident raised (it was dead-lettered)."""
        self.metrics.processing_errors.inc()

    def route_emitted(self, route: Route | Mapping[str, Any]) -> None:
        """A route was acknowledged on the routes topic: store it, push it, count it."""
        doc = route.to_geojson() if isinstance(route, Route) else dict(route)
        self.metrics.route_emitted(str(doc["district"]))
        if self.context.store.put(doc):
            self.context.hub.publish_route(doc)

    def route_seen(self, doc: dict[str, Any]) -> None:
        """A route read from the routes topic (any worker's): store and push it if new."""
        if self.context.store.put(doc):
            self.context.hub.publish_route(doc)

    def observe_scores(self, records: Iterable[Mapping[str, Any]]) -> None:
        """Arrest scores sent by the scorer (``{score, model_version, ...}`` records)."""
        version = None
        for rec in records:
            score = rec.get("score")
            if isinstance(score, int | float):
                self.metrics.observe_arrest_score(float(score))
            version = rec.get("model_version", version)
        labels = self.metrics.arrest_model_labels
        if version is not None and str(version) != labels.get("version"):
            self.metrics.set_arrest_model(labels.get("name", "arrest"), str(version))


def attach_api(patrol: PatrolStreamApp) -> ApiRuntime:
    """The API runtime of ``patrol`` (its routes on the Faust web server when enabled)."""
    return ApiRuntime(patrol)
