"""``patrolstream``: the one command-line entry point.

Sub-commands: ``run`` (the embedded mode), ``worker`` (a Faust worker), ``replay`` (incidents
into Kafka), ``routes`` (print live routes), ``train-arrest`` (the arrest models),
``train-forecaster`` (the served hotspot forecaster), ``backtest hotspots|routes`` (forecast
and route evaluation), ``audit`` (fairness audit), ``report`` (one HTML page of every result),
``serve`` (the dispatch API without a worker) and ``kafka`` (the local broker).
Settings come from flags or ``PATROLSTREAM_*`` environment variables (:mod:`simulators.settings`).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
from collections.abc import Callable, Sequence
from datetime import date, timedelta
from pathlib import Path

from patrol.config import PLANNERS
from simulators.settings import SAMPLE, Settings

DESCRIPTION = """\
patrolstream plans police patrol routes from a stream of crime incidents
(CPSPA: clusters, KDE hotspots, predicted points, a day x hour x cluster probability table
and a fuzzy decision system that orders the way-points of each 8-hour shift)."""


def _dates(text: str) -> set[date] | None:
    """``YYYY-MM-DD``, ``FROM..TO`` (inclusive) or ``all``."""
    if text == "all":
        return None
    try:
        if ".." in text:
            a, b = (date.fromisoformat(p) for p in text.split("..", 1))
            if b < a:
                raise ValueError("end before start")
            return {a + timedelta(days=i) for i in range((b - a).days + 1)}
        return {date.fromisoformat(text)}
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"--date: {text!r}: {exc}") from None


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (every option documented, shown by ``--help``)."""
    env = Settings()
    p = argparse.ArgumentParser(prog="patrolstream", description=DESCRIPTION)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser(
        "run",
        help="embedded mode: replay a file through the engine in one process and write routes",
        description="Replay incidents in event-time order through the engine in one process "
        "(no Kafka) and write the planned routes as GeoJSON files plus one summary line per "
        "route on stdout. Each shift is planned from the incidents before it starts.",
    )
    run.add_argument(
        "--data",
        type=Path,
        action="append",
        metavar="FILE",
        help="incident CSV (plain or .gz) in the city's export format; repeat for several "
        f"files (default: the bundled sample, {SAMPLE.name})",
    )
    run.add_argument(
        "--city",
        metavar="NAME|PATH",
        help=f"city profile: a bundled name or a .toml path (env PATROLSTREAM_CITY; "
        f"default {env.city})",
    )
    run.add_argument(
        "--district",
        action="append",
        metavar="ID",
        help="plan only this district (repeatable; default: every district)",
    )
    run.add_argument(
        "--date",
        type=_dates,
        metavar="DATE",
        default=argparse.SUPPRESS,
        help="plan shifts of this local date: YYYY-MM-DD, FROM..TO, or 'all' for every day "
        "(default: the last date in the data); dates after the data are forecasts",
    )
    run.add_argument(
        "--shift",
        action="append",
        choices=["00-08", "08-16", "16-24"],
        help="plan only this shift (repeatable; default: all three)",
    )
    run.add_argument(
        "--out",
        type=Path,
        default=Path("routes-out"),
        metavar="DIR",
        help="folder for the GeoJSON routes and run_report.json (default: ./routes-out)",
    )
    run.add_argument(
        "--planner",
        choices=sorted(PLANNERS),
        help="route planner: the paper's fuzzy Algorithm 2 (cpspa), a nearest-neighbour or "
        "random order of its way-points, or optimizer (chooses where as well as in what order "
        "and fills the shift; needs the 'optimize' extra) "
        f"(env PATROLSTREAM_PLANNER; default {env.planner})",
    )
    run.add_argument(
        "--units",
        type=int,
        metavar="N",
        help="patrol units per district and shift, one route each; more than one needs "
        f"--planner optimizer (env PATROLSTREAM_UNITS; default {env.units})",
    )
    run.add_argument(
        "--travel",
        choices=["street-grid", "osm-road"],
        help="travel-time provider (env PATROLSTREAM_TRAVEL; default street-grid)",
    )
    run.add_argument(
        "--osm",
        dest="osm_path",
        metavar="FILE",
        help="OpenStreetMap XML file for --travel osm-road (env PATROLSTREAM_OSM_PATH)",
    )
    run.add_argument(
        "--half-life-days",
        type=float,
        help=f"decay of old incidents (env PATROLSTREAM_HALF_LIFE_DAYS; default "
        f"{env.half_life_days})",
    )
    run.add_argument(
        "--min-incidents",
        type=int,
        help="do not plan a district before it has this many incidents (env "
        f"PATROLSTREAM_MIN_INCIDENTS; default {env.min_incidents})",
    )
    run.add_argument(
        "--plot",
        action="store_true",
        help="also draw one PNG map per date and shift (all districts' routes on the district "
        "boundaries) into --out",
    )
    run.add_argument(
        "--arrest-model",
        metavar="FILE|none",
        help="ONNX arrest model scored on every incident into --out/scores.jsonl (its "
        ".card.json beside it; 'none' = no scoring; env PATROLSTREAM_ARREST_MODEL; default: the "
        "committed model). Skipped with a warning when onnxruntime is not installed",
    )
    run.add_argument(
        "--forecaster",
        choices=["served", "counts"],
        help="per-cell hotspot forecaster ranking the optimiser's sites: served (ours-served, "
        "the hotspot backtest's best) or counts (decayed counts) (env PATROLSTREAM_FORECASTER; "
        f"default {env.forecaster})",
    )
    run.add_argument(
        "--forecast-model",
        metavar="FILE",
        help="ONNX model of the served forecaster, its .card.json beside it (env "
        "PATROLSTREAM_FORECAST_MODEL; default: the committed model)",
    )
    run.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    run.add_argument(
        "--log-level", help=f"log level of the JSON logs on stderr (default {env.log_level})"
    )

    from simulators import follow, replay
    from streams import worker

    wk = sub.add_parser(
        "worker",
        help="a Faust worker: incidents topic in, district state in tables, routes topic out",
        description=worker.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    worker.add_worker_arguments(wk)

    rp = sub.add_parser(
        "replay",
        help="produce incidents to Kafka in event-time order, paced (the simulator)",
        description=replay.DESCRIPTION,
        epilog=replay.EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    replay.add_replay_arguments(rp)
    ro = sub.add_parser(
        "routes",
        help="print route updates from the routes topic (a dispatch consumer)",
        description=follow.DESCRIPTION,
        epilog=follow.EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    follow.add_routes_arguments(ro)

    from models.arrest import cli as arrest_cli
    from simulators import backtest, route_backtest

    ta = sub.add_parser(
        "train-arrest",
        help="train the arrest models (scikit-learn; PyTorch when installed), export to ONNX",
        description=arrest_cli.DESCRIPTION,
        epilog=arrest_cli.EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    arrest_cli.add_train_arguments(ta)

    from models.forecast import cli as forecast_cli

    tf = sub.add_parser(
        "train-forecaster",
        help="train the served hotspot forecaster (ours-served) and export it to ONNX",
        description=forecast_cli.DESCRIPTION,
        epilog=forecast_cli.EPILOG,
    )
    forecast_cli.add_train_arguments(tf)

    bsub = backtest.add_backtest_arguments(sub)
    br = bsub.add_parser(
        "routes",
        help="route coverage of every planner on real days (paper, baselines, optimiser, oracle)",
        description=route_backtest.DESCRIPTION,
        epilog=route_backtest.EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    route_backtest.add_route_backtest_arguments(br)

    from simulators import audit, report

    audit.add_audit_arguments(sub)
    report.add_report_arguments(sub)

    sv = sub.add_parser(
        "serve",
        help="the dispatch API and map page without a worker (routes from the routes topic)",
        description="Serve /v1/routes, the WebSocket /v1/stream, the map page and /metrics from "
        "the routes topic alone (no district state: hotspots are empty and probabilities "
        "answer 404; ask a worker, whose web server runs the same API, for those). "
        "See docs/api.md.",
    )
    try:
        from streams.api import serve
    except ImportError as exc:  # the 'stream' extra is not installed
        sv.set_defaults(missing_extra=f"{exc}; install the 'stream' extra")
    else:
        serve.add_serve_arguments(sv)

    kafka = sub.add_parser(
        "kafka",
        help="start, stop or check the local Kafka broker (KRaft) used for development/tests",
        add_help=False,
    )
    kafka.add_argument("args", nargs=argparse.REMAINDER, help="see 'patrolstream kafka --help'")
    return p


def _installed(module: str) -> bool:
    """Whether ``module`` can be imported (without importing it)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _run(ns: argparse.Namespace) -> int:
    from patrol.engine import Engine
    from patrol.incidents.profile import load_profile
    from patrol.planning import SHIFTS
    from patrol.travel import make_provider
    from simulators.embedded import run
    from simulators.logs import setup_logging

    s = Settings.from_env().override(
        city=ns.city,
        travel=ns.travel,
        osm_path=ns.osm_path,
        planner=ns.planner,
        half_life_days=ns.half_life_days,
        min_incidents=ns.min_incidents,
        log_level=ns.log_level,
        arrest_model=ns.arrest_model,
        units=ns.units,
        forecaster=ns.forecaster,
        forecast_model=ns.forecast_model,
    )
    setup_logging(s.log_level)
    if s.planner == "optimizer" and importlib.util.find_spec("ortools") is None:
        print(
            "error: --planner optimizer needs OR-Tools: install the 'optimize' extra",
            file=sys.stderr,
        )
        return 2
    if s.travel == "osm-road" and not s.osm_path:
        print("error: --travel osm-road needs --osm FILE", file=sys.stderr)
        return 2
    options = {"osm_path": s.osm_path} if s.travel == "osm-road" else {}
    try:
        config = s.engine_config()
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    from models.forecast.runtime import ForecastModelError

    if s.forecaster == "served" and not _installed("onnxruntime"):
        print("warning: onnxruntime is not installed: --forecaster counts", file=sys.stderr)
        s = s.override(forecaster="counts")  # routes of the default planner do not use it
        config = s.engine_config()
    try:
        forecast_model = s.load_forecast_model()
    except ForecastModelError as exc:
        print(f"error: --forecast-model: {exc}", file=sys.stderr)
        return 2
    engine = Engine(
        load_profile(s.city), config, make_provider(s.travel, **options), forecast_model
    )
    paths = ns.data or [SAMPLE]
    for path in paths:
        if not path.exists():
            print(f"error: --data {path}: no such file", file=sys.stderr)
            return 2
    shifts = [sh for sh in SHIFTS if not ns.shift or sh.label in ns.shift]
    dates = getattr(ns, "date", "last")
    from models.arrest.runtime import ModelError

    try:
        report = run(
            paths,
            engine,
            ns.out,
            dates=None if dates in ("last", None) else dates,
            every_date=dates is None,
            shifts=shifts,
            districts=set(ns.district) if ns.district else None,
            progress=not ns.no_progress,
            arrest_model=s.arrest_model,
        )
    except ModelError as exc:
        print(f"error: --arrest-model: {exc}", file=sys.stderr)
        return 2
    if ns.plot:
        from simulators.plot import plot_run

        for png in plot_run(ns.out, engine.profile):
            print(f"map: {png}")
    rej = report.rejections
    print(
        f"{report.routes} routes written to {ns.out}/ from {report.rows} rows "
        f"({rej.total} rejected{': ' + str(rej.by_reason()) if rej.total else ''})"
    )
    if report.scores:
        print(
            f"{report.scores} arrest scores written to {ns.out}/scores.jsonl "
            f"(model {report.model_version})"
        )
    return 0


HANDLERS = {
    "worker": "streams.worker:worker_main",
    "replay": "simulators.replay:replay_main",
    "routes": "simulators.follow:routes_main",
    "serve": "streams.api.serve:serve_main",
    "train-arrest": "models.arrest.cli:train_main",
    "train-forecaster": "models.forecast.cli:train_main",
    "audit": "simulators.audit:audit_main",
    "report": "simulators.report:report_main",
    "backtest hotspots": "simulators.backtest:backtest_main",
    "backtest routes": "simulators.route_backtest:route_backtest_main",
}
"""Sub-command -> ``module:function`` run with the parsed arguments (imported on use, so a
command's optional dependencies are needed only when it runs)."""


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``patrolstream`` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["kafka"]:
        from streams.kafka_local import main as kafka_main

        return kafka_main(argv[1:], prog="patrolstream kafka")
    ns = build_parser().parse_args(argv)
    if ns.command == "run":
        return _run(ns)
    if getattr(ns, "missing_extra", None):
        print(f"error: {ns.command}: {ns.missing_extra}", file=sys.stderr)
        return 2
    name = ns.command
    if name == "backtest":
        name = f"backtest {ns.backtest_command}"
    module, function = HANDLERS[name].split(":")
    handler: Callable[[argparse.Namespace], int] = getattr(
        importlib.import_module(module), function
    )
    return handler(ns)


if __name__ == "__main__":
    raise SystemExit(main())
