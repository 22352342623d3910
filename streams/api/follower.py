"""Feed the API's route store from ``patrol.routes.v1``: the routes of *every* worker.

A worker publishes its own routes to its store and WebSocket subscribers the moment Kafka
acknowledges them (:meth:`ApiRuntime.route_emitted <streams.api.server.ApiRuntime>`). With
several workers each owns only some districts, so every worker also reads the routes topic
(all partitions, outside any consumer group, committing nothing) and publishes what it did
not emit itself: any worker's API, and its WebSocket, then serves every district. A route
already stored (same or newer version) is not pushed again.

At start the follower goes back :data:`LOOKBACK_S` on every partition (by timestamp), so a
restarted worker serves the current routes at once instead of an empty list.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger("patrolstream.api")

LOOKBACK_S = 48 * 3600.0
"""How far back the store is primed at start (two days: yesterday's and today's shifts)."""


class RoutesFollower:
    """Reads the routes topic into ``on_route`` until cancelled.

    Parameters
    ----------
    servers
        Bootstrap ``host:port`` list.
    topic
        The routes topic (with the deployment's prefix).
    on_route
        Called with each route document (a dict) in offset order per partition.
    settings
        For the Kafka security settings (:func:`simulators.kafka_io.client_security`).
    """

    def __init__(
        self,
        servers: list[str],
        topic: str,
        on_route: Callable[[dict[str, Any]], object],
        settings: Any = None,
        lookback_s: float = LOOKBACK_S,
    ) -> None:
        self.servers = servers
        self.topic = topic
        self.on_route = on_route
        self.settings = settings
        self.lookback_s = lookback_s
        self.seen = 0
        self.bad = 0
        self.caught_up = asyncio.Event()
        """Set once the follower has read up to the end offsets it found at start."""

    async def run(self) -> None:
        """Follow the topic; retries every few seconds while the broker is unreachable."""
        while True:
            try:
                await self._follow()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("routes follower restarts", extra={"error": repr(exc)})
                await asyncio.sleep(5.0)

    async def _follow(self) -> None:
        from aiokafka import TopicPartition

        from simulators.kafka_io import make_consumer, start_client, topic_partitions

        consumer = make_consumer(
            self.servers, self.settings, client_id="patrolstream-api", fetch_max_wait_ms=100
        )
        await start_client(consumer, self.servers)
        try:
            parts = await topic_partitions(consumer, self.topic)
            while not parts:
                await asyncio.sleep(2.0)
                parts = await topic_partitions(consumer, self.topic)
            tps = [TopicPartition(self.topic, p) for p in parts]
            consumer.assign(tps)
            since = int((time.time() - self.lookback_s) * 1000)
            found = await consumer.offsets_for_times(dict.fromkeys(tps, since))
            for tp in tps:
                hit = found.get(tp)
                if hit is None:
                    await consumer.seek_to_end(tp)
                else:
                    consumer.seek(tp, hit.offset)
            ends = await consumer.end_offsets(tps)
            while True:
                batch = await consumer.getmany(timeout_ms=500)
                for records in batch.values():
                    for rec in records:
                        self._handle(rec.value)
                if not self.caught_up.is_set() and all(
                    [await consumer.position(tp) >= ends[tp] for tp in tps]
                ):
                    self.caught_up.set()
        finally:
            await consumer.stop()

    def _handle(self, value: bytes | None) -> None:
        try:
            doc = json.loads(value or b"")
            if not isinstance(doc, dict) or "district" not in doc or "version" not in doc:
                raise ValueError("not a route document")
        except ValueError:
            self.bad += 1
            return
        self.seen += 1
        self.on_route(doc)
