"""``patrolstream worker`` / ``python -m streams.worker``: run one Faust worker.

Sets ``OMP_NUM_THREADS=1`` before numpy and scikit-learn load (k-means refits on a few
thousand cells gain nothing from threads, and workers share cores), creates the topics that
are missing, and runs the worker until SIGINT/SIGTERM. Every option falls back to its
``PATROLSTREAM_*`` environment variable (:class:`simulators.settings.Settings`).

This module imports nothing heavy at import time, so the command-line parser can use
:func:`add_worker_arguments` cheaply.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Sequence

from patrol.config import PLANNERS
from simulators.settings import Settings

log = logging.getLogger("patrolstream.worker")

THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def add_worker_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the worker's options (each documented, with its environment variable)."""
    d = Settings()

    def opt(flag: str, help_: str, **kw: object) -> None:
        name = flag[2:].replace("-", "_")
        dest = str(kw.pop("dest", name))
        env = f"PATROLSTREAM_{dest.upper()}"
        default = getattr(d, dest)
        shown = "" if default in ("", None) else f"; default {default}"
        parser.add_argument(flag, dest=dest, help=f"{help_} (env {env}{shown})", **kw)  # type: ignore[arg-type]

    opt("--broker", "Kafka broker URL, e.g. kafka://localhost:9092", metavar="URL")
    opt("--app-id", "Faust application id: consumer group and changelog prefix", metavar="ID")
    opt("--topic-prefix", "prefix for every topic name (isolates tests)", metavar="PREFIX")
    opt(
        "--partitions",
        "partitions of the topics and tables the worker creates",
        type=int,
        metavar="N",
    )
    opt(
        "--replication-factor", "replication factor of the topics it creates", type=int, metavar="N"
    )
    opt("--store", "table store: memory://, rocksdb:// or auto", metavar="URL")
    opt("--city", "city profile: a bundled name or a .toml path", metavar="NAME|PATH")
    opt(
        "--replan-every",
        "re-plan a district's next shift after N learned incidents",
        type=int,
        metavar="N",
    )
    opt(
        "--material-m",
        "emit a re-planned route if a way-point moved more (metres)",
        type=float,
        metavar="M",
    )
    opt(
        "--max-message-bytes",
        "larger incident messages are dead letters",
        type=int,
        metavar="BYTES",
    )
    opt(
        "--web-port",
        "port of the worker's web server (dispatch API, /metrics); 0 = none",
        type=int,
        metavar="PORT",
    )
    opt("--data-dir", "worker data folder (default ./<app-id>-data)", metavar="DIR")
    opt(
        "--producer-linger-s",
        "seconds the producer waits to batch messages; 0 = send at once",
        type=float,
        metavar="S",
    )
    opt(
        "--snapshot-every",
        "snapshot a district's history after N entries and delete what it covers; 0 = never",
        type=int,
        metavar="N",
    )
    opt(
        "--stats-interval-s",
        "seconds between 'stats' log lines; 0 = never",
        type=float,
        metavar="S",
    )
    opt(
        "--planner",
        "route planner: cpspa (the paper), nearest, random, or optimizer (needs the "
        "'optimize' extra)",
        choices=sorted(PLANNERS),
    )
    opt(
        "--units",
        "patrol units per district and shift (more than one needs --planner optimizer)",
        type=int,
        metavar="N",
    )
    opt("--travel", "travel-time provider", choices=["street-grid", "osm-road"])
    opt("--osm", "OpenStreetMap XML file for --travel osm-road", dest="osm_path", metavar="FILE")
    opt("--half-life-days", "decay of old incidents", type=float, metavar="DAYS")
    opt(
        "--min-incidents",
        "do not plan a district before it has this many incidents",
        type=int,
        metavar="N",
    )
    opt("--log-level", "level of the JSON logs on stderr", metavar="LEVEL")
    opt("--arrest-model", "ONNX arrest model to score incidents with; none = off", metavar="FILE")
    opt(
        "--arrest-reload-s", "seconds between model file checks; 0 = never", type=float, metavar="S"
    )
    opt("--score-batch", "largest micro-batch per onnxruntime call", type=int, metavar="N")
    opt(
        "--forecaster",
        "per-cell hotspot forecaster: served (ours-served, the backtest's best) or counts",
        choices=["served", "counts"],
    )
    opt("--forecast-model", "ONNX model of the served forecaster", metavar="FILE")
    # dispatch API and Kafka security (docs/api.md); secrets only from the environment:
    # PATROLSTREAM_API_TOKENS, PATROLSTREAM_KAFKA_SASL_PASSWORD
    opt("--api-tokens-file", "JSON/TOML file of API token -> role", metavar="FILE")
    opt("--api-max-body-bytes", "largest API request body", type=int, metavar="BYTES")
    opt(
        "--kafka-security-protocol",
        "Kafka client security",
        choices=["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"],
    )
    opt(
        "--kafka-sasl-mechanism",
        "SASL mechanism",
        choices=["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"],
    )
    opt("--kafka-sasl-username", "SASL user name", metavar="USER")
    opt("--kafka-ssl-cafile", "CA bundle (PEM) of the brokers' certificates", metavar="FILE")
    opt("--kafka-ssl-certfile", "client certificate (PEM) for mutual TLS", metavar="FILE")
    opt("--kafka-ssl-keyfile", "client certificate's private key (PEM)", metavar="FILE")


def settings_from_args(ns: argparse.Namespace) -> Settings:
    """Environment settings overridden by the flags that were given."""
    flags = {f: getattr(ns, f, None) for f in Settings.__dataclass_fields__}
    return Settings.from_env().override(**flags)


def limit_threads() -> None:
    """One OpenMP/BLAS thread (effective when numpy/scikit-learn are not loaded yet)."""
    for name in THREAD_VARIABLES:
        os.environ[name] = "1"


def run_worker(settings: Settings) -> int:
    """Create missing topics and run a worker until it is stopped; returns the exit code."""
    limit_threads()
    from simulators.logs import setup_logging

    setup_logging(settings.log_level)
    level = logging.getLogger().level
    if level > logging.DEBUG:  # their INFO is a line per service start: keep it for DEBUG
        for noisy in ("faust", "aiokafka", "mode"):
            logging.getLogger(noisy).setLevel(max(level, logging.WARNING))
    if settings.travel == "osm-road" and not settings.osm_path:
        print("error: --travel osm-road needs --osm FILE", file=sys.stderr)
        return 2
    import faust
    from threadpoolctl import threadpool_limits

    from streams.app import create_app
    from streams.topics import bootstrap_servers, ensure_topics

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    from models.arrest.runtime import ModelError
    from models.forecast.runtime import ForecastModelError

    try:
        patrol = create_app(settings)
    except ModelError as exc:  # missing or corrupt arrest model: fail now, not at a score
        log.error("cannot load the arrest model", extra={"error": str(exc)})
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except ForecastModelError as exc:  # the same for the served forecaster's model
        log.error("cannot load the forecast model", extra={"error": str(exc)})
        print(f"error: PATROLSTREAM_FORECAST_MODEL: {exc}", file=sys.stderr)
        return 2
    except ValueError as exc:  # API token file, Kafka security settings, city profile
        log.error("bad configuration", extra={"error": str(exc)})
        print(f"error: {exc}", file=sys.stderr)
        return 2
    bootstrap = bootstrap_servers(settings.broker)
    try:
        created = loop.run_until_complete(
            ensure_topics(
                bootstrap, patrol.topics.all(), settings.partitions, settings.replication_factor
            )
        )
    except Exception as exc:
        log.error("cannot reach the broker", extra={"broker": bootstrap, "error": repr(exc)})
        print(f"error: cannot create topics on {bootstrap}: {exc!r}", file=sys.stderr)
        return 1
    log.info(
        "worker starting",
        extra={
            "app_id": settings.app_id,
            "topics": list(patrol.topics.all()),
            "created_topics": created,
            "store": settings.store_url(),
            "partitions": settings.partitions,
        },
    )
    worker = faust.Worker(
        patrol.app,
        loop=loop,
        loglevel=settings.log_level,
        override_logging=False,
        redirect_stdouts=False,
        quiet=True,
    )
    with threadpool_limits(limits=1):
        try:
            worker.execute_from_commandline()
        except SystemExit as exc:
            return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return 0  # pragma: no cover - execute_from_commandline always exits


def worker_main(ns: argparse.Namespace) -> int:
    """Entry for ``patrolstream worker``: settings from the environment and ``ns``."""
    return run_worker(settings_from_args(ns))


def build_parser(prog: str = "python -m streams.worker") -> argparse.ArgumentParser:
    """The stand-alone parser of ``python -m streams.worker``."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Run a Faust worker: validate incidents from patrol.incidents.v1 (bad ones "
        "to patrol.incidents.dlq.v1), learn each district's state in changelog-backed tables "
        "and emit GeoJSON routes to patrol.routes.v1 at shift starts and when a district's "
        "next shift changes materially.",
    )
    add_worker_arguments(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m streams.worker [options]``."""
    limit_threads()
    return worker_main(build_parser().parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
