"""``python -m streams.api.serve``: the dispatch API and map without a worker.

Serves the routes of ``patrol.routes.v1`` (read by :class:`~streams.api.follower.
RoutesFollower`, all partitions, from two days back) with the same endpoints, tokens, errors,
WebSocket and metrics as a worker's API. It has no district state, so ``/v1/hotspots`` is
empty and ``/v1/districts/{d}/probabilities`` answers 404: ask a worker for those.
``/readyz`` is 200 once the follower has read what the topic held when it started.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from typing import Any

from aiohttp import web

from simulators.kafka_io import ROUTES_TOPIC, bootstrap_servers, topic_name
from simulators.settings import Settings
from streams.api.auth import TokenStore, load_tokens
from streams.api.districts import boundaries
from streams.api.follower import RoutesFollower
from streams.api.server import add_map
from streams.api.views import ApiContext, setup_api
from streams.metrics import PatrolMetrics

log = logging.getLogger("patrolstream.api")

DEFAULT_PORT = 8080


def build_app(
    settings: Settings, tokens: TokenStore | None = None, topic: str | None = None
) -> web.Application:
    """The stand-alone API application (the follower starts and stops with it)."""
    from patrol.incidents.profile import load_profile

    geo = boundaries(load_profile(settings.city))
    metrics = PatrolMetrics()
    ctx = ApiContext(
        tokens=tokens if tokens is not None else load_tokens(
            settings.api_tokens_file, settings.api_tokens),
        metrics=metrics,
        boundaries=lambda: geo,
        known_districts=frozenset(f["properties"]["district"] for f in geo["features"]),
    )  # fmt: skip

    def on_route(doc: dict[str, Any]) -> None:
        if ctx.store.put(doc):
            ctx.hub.publish_route(doc)

    follower = RoutesFollower(
        bootstrap_servers(settings.broker),
        topic or topic_name(None, ROUTES_TOPIC, settings),
        on_route,
        settings,
    )
    ctx.readiness = lambda: {"routes_read": follower.caught_up.is_set()}
    app = web.Application(client_max_size=settings.api_max_body_bytes)
    setup_api(app, ctx)
    add_map(app)

    async def follow(app: web.Application) -> AsyncIterator[None]:
        task = asyncio.create_task(follower.run())
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    app.cleanup_ctx.append(follow)
    return app


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``patrolstream serve`` (each falls back to its environment variable)."""
    parser.add_argument(
        "--broker", metavar="URL", help="Kafka broker URL (env PATROLSTREAM_BROKER)"
    )
    parser.add_argument(
        "--port", type=int, metavar="PORT",
        help=f"HTTP port (env PATROLSTREAM_WEB_PORT when > 0; default {DEFAULT_PORT})",
    )  # fmt: skip
    parser.add_argument("--host", default="0.0.0.0", help="interface to listen on")
    parser.add_argument(
        "--api-tokens-file",
        metavar="FILE",
        help="JSON/TOML file of API token -> role (env PATROLSTREAM_API_TOKENS_FILE; more "
        "tokens in PATROLSTREAM_API_TOKENS)",
    )


def serve_main(ns: argparse.Namespace) -> int:
    """Run the stand-alone API until SIGINT/SIGTERM."""
    from simulators.logs import setup_logging

    settings = Settings.from_env().override(
        broker=ns.broker, api_tokens_file=getattr(ns, "api_tokens_file", None)
    )
    setup_logging(settings.log_level)
    port = ns.port or (settings.web_port if settings.web_port > 0 else DEFAULT_PORT)
    web.run_app(build_app(settings), host=ns.host, port=port, access_log=None, print=None)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m streams.api.serve [options]``."""
    parser = argparse.ArgumentParser(
        prog="python -m streams.api.serve",
        description="Serve the dispatch API and map from the routes topic, without a worker.",
    )
    add_serve_arguments(parser)
    return serve_main(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
