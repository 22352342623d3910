"""``python -m streams.kafka_local start|stop|status|jars``."""

from __future__ import annotations

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main(prog="python -m streams.kafka_local"))
