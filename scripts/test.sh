#!/usr/bin/env bash
# The test suite, as the README states it: install the project with its test extras, start the
# local Kafka broker (integration tests talk to it and fail without it), then lint, type-check
# and run every test. Extra arguments go to pytest.
#   PATROLSTREAM_KAFKA_PORT   broker port for this run (default 9092; the controller uses +1)
set -euo pipefail
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS=1
port="${PATROLSTREAM_KAFKA_PORT:-9092}"
export PATROLSTREAM_KAFKA_BOOTSTRAP="localhost:${port}"
python -m pip install -q -e '.[stream,dev,train,optimize]'
python -m streams.kafka_local start --port "$port" --controller-port "$((port + 1))"
trap 'python -m streams.kafka_local stop --port "$port" >/dev/null 2>&1 || true' EXIT
ruff check .
mypy
python -m pytest "$@"
