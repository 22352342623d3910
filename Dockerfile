# patrolstream: one image for every command (`run`, `worker`, `replay`, `routes`, ...).
#
#   docker build -t patrolstream .
#   docker run --rm patrolstream                 # embedded mode on the bundled sample (CMD run)
#   docker run --rm patrolstream worker --help   # any sub-command: the entry point is patrolstream
#
# docker-compose.yml runs the streaming stack (Kafka, workers, replay, Prometheus, Grafana)
# from this image; see deploy/README.md.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    OMP_NUM_THREADS=1

WORKDIR /app

# The project's packages (the bundled sample is simulators/sample/, so it is at
# /app/simulators/sample/ too, where the compose `replay` service reads it).
COPY pyproject.toml README.md ./
COPY patrol/ patrol/
COPY models/ models/
COPY streams/ streams/
COPY simulators/ simulators/

# The project with its `stream` extra (Faust, aiokafka, aiohttp, prometheus-client,
# onnxruntime), plus rocksdict: the RocksDB binding that Faust's `rocksdb://` table store
# (PATROLSTREAM_STORE in docker-compose.yml) needs. Every dependency ships manylinux wheels
# for CPython 3.11, so no compiler is installed.
RUN pip install ".[stream,rocksdb]" \
    && rm -rf build ./*.egg-info \
    && patrolstream --help >/dev/null

# Unprivileged user; /data is its writable working directory (routes-out/, Faust table data).
RUN useradd --create-home --uid 10001 --user-group patrolstream \
    && mkdir -p /data \
    && chown patrolstream:patrolstream /data
USER patrolstream
WORKDIR /data

# Faust web server of `patrolstream worker` (Prometheus metrics on /metrics).
EXPOSE 6066

ENTRYPOINT ["patrolstream"]
CMD ["run"]
