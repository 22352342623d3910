#!/usr/bin/env bash
# Local Kafka broker (KRaft, single node) for dev/CI: scripts/kafka.sh start|stop|status|jars [--help]
PYTHONPATH="$(cd "$(dirname "$0")/.." && pwd)${PYTHONPATH:+:$PYTHONPATH}" exec "${PYTHON:-python3}" -m streams.kafka_local "$@"
