"""Command line: ``start|stop|status|jars`` (``patrolstream kafka ...``, ``python -m``)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from .broker import start, status, stop
from .config import (
    DEFAULT_CONTROLLER_PORT,
    DEFAULT_HEAP,
    DEFAULT_PORT,
    DEFAULT_VERSION,
    DEFAULT_WAIT_S,
    ENV_BOOTSTRAP,
    ENV_HOME,
    ENV_RUN,
    KafkaLocalError,
    echo_stderr,
)
from .jars import ensure_jars


def build_parser(prog: str = "patrolstream kafka") -> argparse.ArgumentParser:
    """The ``start|stop|status|jars`` command-line parser."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description=(
            "Run a real local Apache Kafka broker (KRaft mode, single node acting as broker "
            "and controller, no ZooKeeper) for development and tests. The jars come from "
            "Maven Central (org.apache.kafka:kafka_2.13) through Maven, once; the broker "
            "runs on this machine's Java (11+, 17 recommended)."
        ),
        epilog=(
            f"Environment: {ENV_HOME} (jar cache, default ~/.cache/patrolstream/kafka-<version>), "
            f"{ENV_RUN} (state files and logs, default ~/.cache/patrolstream/run), "
            f"{ENV_BOOTSTRAP} (what tests and `status` talk to, default localhost:9092)."
        ),
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="{start,stop,status,jars}")

    def add_port(p: argparse.ArgumentParser, default: int | None, extra: str = "") -> None:
        p.add_argument(
            "--port", type=int, default=default, metavar="PORT",
            help=f"client (PLAINTEXT) port on localhost{extra}",
        )  # fmt: skip

    def add_version(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--version", dest="kafka_version", default=DEFAULT_VERSION, metavar="X.Y.Z",
            help=(
                "Kafka release to run, as published on Maven Central as "
                "org.apache.kafka:kafka_2.13 (default: %(default)s; 3.9.x is tested)"
            ),
        )  # fmt: skip

    p_start = sub.add_parser(
        "start",
        help="start the broker in the background and wait until it answers",
        description=(
            "Resolve the Kafka jars if needed, format a KRaft storage folder with a random "
            "cluster id, start `java kafka.Kafka` detached and wait until it answers Kafka "
            "metadata requests. Does nothing if a broker already answers on the port."
        ),
    )
    add_port(p_start, DEFAULT_PORT, " (default: %(default)s)")
    p_start.add_argument(
        "--controller-port", type=int, default=DEFAULT_CONTROLLER_PORT, metavar="PORT",
        help="KRaft controller port on localhost (default: %(default)s)",
    )  # fmt: skip
    p_start.add_argument(
        "--data-dir", default=None, metavar="DIR",
        help=(
            "folder for the configuration and the partition/metadata logs; kept by `stop` "
            "and reused by the next `start` (default: a new temporary folder, removed by `stop`)"
        ),
    )  # fmt: skip
    add_version(p_start)
    p_start.add_argument(
        "--wait", type=float, default=DEFAULT_WAIT_S, metavar="SECONDS",
        help="how long to wait for the broker to be ready before giving up (default: %(default)s)",
    )  # fmt: skip
    p_start.add_argument(
        "--heap", default=DEFAULT_HEAP, metavar="SIZE",
        help="maximum JVM heap, as for java -Xmx (default: %(default)s)",
    )  # fmt: skip

    p_stop = sub.add_parser(
        "stop",
        help="stop the broker and remove its temporary data",
        description=(
            "Stop the broker(s) started by `start`: SIGTERM for a clean shutdown, SIGKILL after "
            "--timeout. Removes the temporary data folder (not a --data-dir); keeps the log."
        ),
    )
    add_port(p_stop, None, " of the broker to stop (default: every broker started by `start`)")
    p_stop.add_argument(
        "--timeout", type=float, default=30.0, metavar="SECONDS",
        help="how long to wait for a clean shutdown before SIGKILL (default: %(default)s)",
    )  # fmt: skip

    p_status = sub.add_parser(
        "status",
        help="tell whether the broker runs and answers (exit 0 if it answers, else 1)",
        description=(
            "Show the recorded broker (pid, ports, data folder, log) and whether it answers "
            "Kafka metadata requests. Exit status 0 when it answers, 1 otherwise."
        ),
    )
    add_port(
        p_status, None,
        f" (default: the recorded broker, else the port of ${ENV_BOOTSTRAP} or {DEFAULT_PORT})",
    )  # fmt: skip
    p_status.add_argument("--json", action="store_true", help="print the status as JSON")

    p_jars = sub.add_parser(
        "jars",
        help="only resolve the Kafka jars into the cache (e.g. a CI warm-up step)",
        description="Resolve the Kafka jars with Maven into the cache folder and print it.",
    )
    add_version(p_jars)
    p_jars.add_argument("--offline", action="store_true", help="run Maven offline (-o)")
    return parser


def main(argv: Sequence[str] | None = None, prog: str = "patrolstream kafka") -> int:
    """Command-line entry point; returns the exit status."""
    args = build_parser(prog).parse_args(argv)
    try:
        if args.command == "start":
            info = start(
                port=args.port, controller_port=args.controller_port, data_dir=args.data_dir,
                wait_s=args.wait, version=args.kafka_version, heap=args.heap,
            )  # fmt: skip
            print(info.bootstrap)
            return 0
        if args.command == "stop":
            stop(timeout_s=args.timeout, port=args.port)
            return 0
        if args.command == "status":
            st = status(args.port)
            if args.json:
                print(json.dumps(st, indent=2))
            else:
                state = "answers" if st["reachable"] else "does not answer"
                if st["running"]:
                    who = f"pid {st['pid']}"
                elif st["managed"]:
                    who = "its process is not running"
                elif st["reachable"]:
                    who = "not started by patrolstream"
                else:
                    who = "no broker recorded: `start` one"
                print(f"Kafka on {st['bootstrap']} {state} ({who})")
                for key in ("version", "data_dir", "log_path", "started_at", "cluster_id"):
                    if st[key]:
                        print(f"  {key}: {st[key]}")
            return 0 if st["reachable"] else 1
        if args.command == "jars":
            print(ensure_jars(args.kafka_version, offline=args.offline, echo=echo_stderr))
            return 0
    except KafkaLocalError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 2  # pragma: no cover - argparse enforces a command
