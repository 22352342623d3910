"""A real local Apache Kafka broker for development and CI.

Kafka runs in KRaft mode as a single node that is both broker and controller (no
ZooKeeper), straight from its Maven Central artifacts:

* :func:`ensure_jars` resolves ``org.apache.kafka:kafka_2.13`` and its runtime dependencies
  with Maven (``streams/kafka/pom.xml``) into a cache folder, once;
* :func:`start` writes a ``server.properties``, formats the storage with
  ``kafka.tools.StorageTool`` (random cluster id), launches ``java -cp <libs>/* kafka.Kafka``
  detached, and waits until the broker answers real Kafka API requests (ApiVersions +
  Metadata over the wire);
* :func:`stop` shuts it down (SIGTERM, then SIGKILL after a timeout) and removes its
  temporary data folder;
* :func:`status` tells whether it runs and answers.

Command line (wired as ``patrolstream kafka ...``; also ``python -m streams.kafka_local``)::

    python -m streams.kafka_local start [--port 9092] [--controller-port 9093] [--wait 90]
    python -m streams.kafka_local status [--json]
    python -m streams.kafka_local stop

Environment:

``PATROLSTREAM_KAFKA_HOME``
    folder of the resolved jars (default ``~/.cache/patrolstream/kafka-<version>``).
``PATROLSTREAM_KAFKA_RUN``
    folder of the state file and broker log (default ``~/.cache/patrolstream/run``).
``PATROLSTREAM_KAFKA_BOOTSTRAP``
    ``host:port`` the tests and ``status`` talk to (default ``localhost:9092``).

Needs Java 11+ (17 recommended) on ``PATH`` or in ``JAVA_HOME``, and Maven (``mvn``) the
first time only, to download the jars.  Only the readiness check speaks Kafka, with the
standard library, so this package imports nothing outside it.

Layout: :mod:`.config` (defaults, environment, paths, config files), :mod:`.state` (state
files), :mod:`.jars` (Java and the Maven-resolved jars), :mod:`.protocol` (the readiness
probe), :mod:`.process` (pids, ports, signals), :mod:`.broker` (start/stop/status) and
:mod:`.cli` (the command line).  Every public name is importable from ``streams.kafka_local``.
"""

from __future__ import annotations

from .broker import start, status, stop
from .cli import build_parser as build_parser
from .cli import main
from .config import (
    DEFAULT_CONTROLLER_PORT,
    DEFAULT_PORT,
    DEFAULT_VERSION,
    KafkaLocalError,
    default_bootstrap,
    default_cache_dir,
    generate_cluster_id,
    render_log4j_properties,
    render_server_properties,
    run_dir,
)
from .config import DEFAULT_HEAP as DEFAULT_HEAP
from .config import DEFAULT_HOST as DEFAULT_HOST
from .config import DEFAULT_PARTITIONS as DEFAULT_PARTITIONS
from .config import DEFAULT_WAIT_S as DEFAULT_WAIT_S
from .config import ENV_BOOTSTRAP as ENV_BOOTSTRAP
from .config import ENV_HOME as ENV_HOME
from .config import ENV_RUN as ENV_RUN
from .config import MAIN_CLASS as MAIN_CLASS
from .config import STORAGE_TOOL_CLASS as STORAGE_TOOL_CLASS
from .config import Echo as Echo
from .config import log_path as log_path
from .config import min_heap as min_heap
from .config import parse_bootstrap as parse_bootstrap
from .config import state_path as state_path
from .jars import MIN_JAVA as MIN_JAVA
from .jars import POM_PATH as POM_PATH
from .jars import ensure_jars
from .jars import find_java as find_java
from .jars import java_major_version as java_major_version
from .process import tail as tail
from .protocol import ClusterProbe, is_reachable, probe, wait_until_ready
from .state import BrokerInfo
from .state import read_state as read_state
from .state import recorded_ports as recorded_ports
from .state import write_state as write_state

__all__ = [
    "DEFAULT_CONTROLLER_PORT",
    "DEFAULT_PORT",
    "DEFAULT_VERSION",
    "BrokerInfo",
    "ClusterProbe",
    "KafkaLocalError",
    "default_bootstrap",
    "default_cache_dir",
    "ensure_jars",
    "generate_cluster_id",
    "is_reachable",
    "main",
    "probe",
    "render_log4j_properties",
    "render_server_properties",
    "run_dir",
    "start",
    "status",
    "stop",
    "wait_until_ready",
]
