"""The Faust application, thin over the engine: built by :func:`create_app`, never global.

Topology (topic names in :mod:`streams.topics`)::

    patrol.incidents.v1 ──► decode ──► patrol.incidents.dlq.v1   (bad input, with the reason)
                              │
                              └──► patrol.incidents.valid.v1 (key: placed district)
                                        ──► learn ──► patrol.routes.v1 (key: district/shift)
                                              │
                                              └── table "district-history" (changelog-backed)

``decode`` validates every message (size, JSON, fields, coordinates, dates, known district;
no district: placed by point-in-polygon) and never crashes on bad input. It always re-keys
the valid incident by its district, so the state agent sees each district's incidents on one
partition, in order, whatever key the producer used.

``learn`` runs :class:`patrol.policy.EmissionPolicy` over the engine. The source of truth is
the ``district-history`` table (:mod:`streams.history`): per district, chunks of history
entries (one entry per incident that changed the district: the event, the cluster refits and
emissions it caused), keyed ``<district>|<seq of the chunk's first entry>``, one chunk per
district per micro-batch; every ``snapshot_every`` entries (``PATROLSTREAM_SNAPSHOT_EVERY``) a
zlib-compressed snapshot of the district's state in chunks plus a manifest written last, after
which the entries it covers are deleted (tombstones in the compacted changelog): restore time
and changelog size stay bounded. Its changelog goes to the partition of the event being
processed, i.e. the district's partition. After every rebalance each district is rebuilt
lazily, on its first incident, from its snapshot and the entries after it
(:meth:`EmissionPolicy.restore <patrol.policy.EmissionPolicy.restore>`): the rebuilt state is
bit-identical to a replay of every entry, so a restarted worker continues exactly where the
changelog says.

Delivery: at least once. A redelivered incident is a ``duplicate`` to the rebuilt revision log
and changes nothing. Routes are sent and acknowledged *before* the history chunk that records
them is written, so a route can be re-emitted after a crash, with the same version and
content, but never lost; consumers key routes by ``route_id`` + ``version``.

Micro-batches: both agents take up to :data:`BATCH_MAX` messages at a time (waiting at most
:data:`BATCH_WITHIN_S` for a batch to fill). ``learn`` still runs the policy one incident at a
time, in offset order, so batch boundaries change no route and no entry (only how entries are
grouped in chunks); it sends the batch's routes together, waits for their acknowledgements
once, then writes the history chunks and the snapshots due, and only after that does Faust
acknowledge the batch's messages. A route message
carries the id of the incident that triggered it (header :data:`TRIGGER_ID_HEADER`) and that
incident's produce timestamp (:data:`PRODUCED_MS_HEADER`), for end-to-end latency.

Both agents process each source partition in offset order, once per consumer generation,
reading directly from Kafka what Faust's consumer skipped around a recovery
(:mod:`streams.offsets`).
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import faust
from faust.types import TP

from patrol.engine import Engine
from patrol.incidents.parse import parse_event
from patrol.incidents.profile import load_profile
from patrol.policy import EmissionPolicy, Step
from patrol.travel import make_provider
from simulators.kafka_io import faust_credentials
from simulators.settings import Settings
from streams import codec
from streams.api.server import ApiRuntime, attach_api, web_options
from streams.history import HistoryStore
from streams.history import history_key as history_key  # re-exported (tests, tools)
from streams.history import parse_history_key as parse_history_key
from streams.messages import header_of, produced_ms, table_partition_of
from streams.offsets import Admit, GapReader, OffsetTracker, faust_message
from streams.scoring import StreamScorer, attach_scoring
from streams.topics import TopicNames, bootstrap_servers

log = logging.getLogger("patrolstream.worker")

HISTORY_TABLE = "district-history"
"""Name of the table (its changelog topic is ``<app_id>-district-history-changelog``)."""

METADATA_MAX_AGE_MS = 5000
"""Consumer metadata refresh: a topic created after the worker joined is seen within this."""

IDLE_CHECK_S = 5.0
"""An agent idle this long while its partitions' highwater is ahead gets its messages again."""

BATCH_MAX = 256
"""Largest micro-batch an agent takes from its stream (Faust ``take_events``)."""

BATCH_WITHIN_S = 0.005
"""How long an agent waits for a micro-batch to fill before handling what it has: the most a
micro-batch adds to an incident's latency."""

TRIGGER_ID_HEADER = "patrol-trigger-id"
"""Header of a route message: id of the incident whose processing emitted the route."""

PRODUCED_MS_HEADER = "patrol-produced-ms"
"""Header of valid-incident and route messages: the Kafka timestamp (ms) of the incident as
produced to the incidents topic, so consumers can measure produce-to-route latency."""


@dataclass
class WorkerStats:
    """Counters of one worker since it started (``stats`` log lines, ``/patrol/stats``)."""

    received: int = 0
    valid: int = 0
    dead_letters: Counter[str] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)
    routes: int = 0
    history_entries: int = 0
    history_chunks: int = 0
    snapshots: int = 0
    restored_districts: int = 0
    restored_entries: int = 0
    restored_snapshots: int = 0
    processing_errors: int = 0
    rebalances: int = 0
    redelivered: int = 0
    repaired: int = 0
    nudges: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready counters."""
        return {k: dict(v) if isinstance(v, Counter) else v for k, v in vars(self).items()}


class PatrolStreamApp:
    """The Faust app with its topics, table and agents, over one engine.

    Parameters
    ----------
    settings
        Broker, app id, partitions, store, city, policy and engine parameters.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.topics = TopicNames.with_prefix(settings.topic_prefix)
        self.profile = load_profile(settings.city)
        options = {"osm_path": settings.osm_path} if settings.travel == "osm-road" else {}
        self.engine = Engine(
            self.profile,
            settings.engine_config(),
            make_provider(settings.travel, **options),
            settings.load_forecast_model(),  # ours-served (ForecastModelError: exit 2)
        )
        self.policy = EmissionPolicy(self.engine, settings.policy_config())
        self.stats = WorkerStats()
        self.gaps = GapReader(bootstrap_servers(settings.broker))
        self._decoded = OffsetTracker()
        self._learned = OffsetTracker()
        self._generation = 0
        self._seen_generation = 0
        self._restored: set[str] = set()
        self._pending: list[tuple[Any, Step, float]] = []
        self._to_score: list[Any] = []  # admitted valid messages, scored at the next flush
        self.app = faust.App(
            settings.app_id,
            broker=settings.broker,
            store=settings.store_url(),
            topic_partitions=settings.partitions,
            topic_replication_factor=settings.replication_factor,
            web_enabled=settings.web_port > 0,
            web_port=settings.web_port or 6066,
            broker_credentials=faust_credentials(settings),  # Kafka TLS/SASL (docs/api.md)
            **web_options(settings),  # API body limit, Faust's unauthenticated pages off
            datadir=settings.data_dir or f"{settings.app_id}-data",
            consumer_metadata_max_age_ms=METADATA_MAX_AGE_MS,
            producer_linger=settings.producer_linger_s,  # batches sends: less CPU per message
            key_serializer="raw",
            value_serializer="raw",
            processing_guarantee="at_least_once",
            autodiscover=False,
        )
        raw: dict[str, Any] = {"key_type": bytes, "value_type": bytes}
        raw["partitions"] = settings.partitions
        self.incidents_topic = self.app.topic(self.topics.incidents, **raw)
        self.valid_topic = self.app.topic(self.topics.valid, **raw)
        self.dlq_topic = self.app.topic(self.topics.dlq, **raw)
        self.routes_topic = self.app.topic(self.topics.routes, **raw)
        table = self.app.Table(HISTORY_TABLE, key_type=str, partitions=settings.partitions)
        self.store = HistoryStore(table, settings.snapshot_every)  # chunks, snapshots, restore
        self._register()
        # Extensions: other agents, pages and hooks attach here, after the core wiring; each
        # ``attach_*(self)`` registers its own agents/timers on ``self.app``.
        self.scoring: StreamScorer | None = attach_scoring(self)  # arrest scores (issue 4)
        self.api: ApiRuntime = attach_api(self)  # dispatch API + metrics (issue 5)

    # -- wiring ----------------------------------------------------------------------------
    def _register(self) -> None:
        app = self.app

        async def decode(stream: faust.StreamT[bytes]) -> None:
            async for events in stream.take_events(BATCH_MAX, within=BATCH_WITHIN_S):  # type: ignore[attr-defined]
                for event in events:
                    await self._in_order(self._decoded, event.message, self.handle_raw)

        async def learn(stream: faust.StreamT[bytes]) -> None:
            async for events in stream.take_events(BATCH_MAX, within=BATCH_WITHIN_S):  # type: ignore[attr-defined]
                await self.learn_batch([event.message for event in events])

        app.agent(self.incidents_topic, name="decode")(decode)
        app.agent(self.valid_topic, name="learn")(learn)

        async def on_rebalance(sender: Any, *args: Any, **kwargs: Any) -> None:
            self._generation += 1

        async def on_assigned(sender: Any, assigned: Any = (), **kwargs: Any) -> None:
            parts = sorted(f"{tp.topic}:{tp.partition}" for tp in assigned)
            log.info("partitions assigned", extra={"partitions": parts})

        async def on_shutdown(sender: Any, **kwargs: Any) -> None:
            await self.gaps.close()
            log.info("stats", extra={"stats": self.stats.to_dict()})

        app.on_partitions_revoked.connect(on_rebalance)
        app.on_partitions_assigned.connect(on_rebalance)
        app.on_partitions_assigned.connect(on_assigned)
        app.on_before_shutdown.connect(on_shutdown)

        if self.settings.stats_interval_s > 0:

            async def log_stats() -> None:
                log.info("stats", extra={"stats": self.stats.to_dict()})

            app.timer(self.settings.stats_interval_s)(log_stats)

        async def watch_idle() -> None:
            await self._nudge_idle()

        app.timer(IDLE_CHECK_S / 2)(watch_idle)

        async def stats_page(web: Any, request: Any) -> Any:
            return web.json(self.stats.to_dict())

        app.page("/patrol/stats")(stats_page)

    async def _in_order(
        self, tracker: OffsetTracker, msg: Any, handler: Callable[[Any], Awaitable[None]]
    ) -> None:
        """Run ``handler`` on ``msg`` in offset order (see :mod:`streams.offsets`)."""
        tp = TP(msg.topic, msg.partition)
        committed = getattr(self.app.consumer, "_committed_offset", {}).get(tp)
        verdict, missing = tracker.admit(
            self._generation, msg.topic, msg.partition, msg.offset, committed
        )
        if verdict is Admit.SKIP:
            self.stats.redelivered += 1
            return
        tracker.busy = True
        try:
            await self._handle_in_order(tracker, msg, tp, missing, handler)
        finally:
            tracker.busy = False

    async def _handle_in_order(
        self,
        tracker: OffsetTracker,
        msg: Any,
        tp: TP,
        missing: int | None,
        handler: Callable[[Any], Awaitable[None]],
    ) -> None:
        if missing is not None:
            records = await self.gaps.read(msg.topic, msg.partition, missing, msg.offset)
            log.warning(
                "messages skipped by the consumer: read them directly",
                extra={**dict(zip(("topic", "partition"), tp, strict=True)),
                       "first": missing, "next": msg.offset, "found": len(records)},
            )  # fmt: skip
            for rec in records:
                skipped = faust_message(rec, tp, self.app.consumer_generation_id)
                await handler(skipped)
                await self._flush()  # its routes and history written before Faust may commit it
                self.app.consumer.ack(skipped)  # lets Faust commit past it
                tracker.processed(msg.topic, msg.partition, rec.offset)
                self.stats.repaired += 1
        await handler(msg)
        tracker.processed(msg.topic, msg.partition, msg.offset)

    async def _nudge_idle(self) -> None:
        """Seek idle agents' partitions back to messages Faust never delivered."""
        if not self.app.tables.recovery.completed.is_set():
            return  # Faust positions the partitions itself at the end of a recovery
        consumer = self.app.consumer
        committed_of = getattr(consumer, "_committed_offset", {})
        for tracker, topic in (
            (self._decoded, self.topics.incidents),
            (self._learned, self.topics.valid),
        ):
            if not tracker.idle(IDLE_CHECK_S):
                continue
            parts = {
                (tp.topic, tp.partition): (committed_of.get(tp), consumer.highwater(tp))
                for tp in consumer.assignment()
                if tp.topic == topic
            }
            for t, partition, offset in tracker.behind(self._generation, parts):
                log.warning(
                    "idle agent behind its partition: seek back",
                    extra={"topic": t, "partition": partition, "offset": offset},
                )
                self.stats.nudges += 1
                await consumer.seek_wait({TP(t, partition): offset})
                tracker.last_seen = time.monotonic()

    # -- decode + validate -----------------------------------------------------------------
    async def handle_raw(self, msg: Any) -> None:
        """Validate one message of the incidents topic; forward it or dead-letter it."""
        self.stats.received += 1
        self.api.consumed()
        now = datetime.now(UTC)
        result = codec.decode_incident(
            msg.value,
            self.profile,
            self.engine.locator,
            now=now,
            max_bytes=self.settings.max_message_bytes,
        )
        if isinstance(result, codec.Rejection):
            await self._dead_letter(result, msg, now)
            return
        self.stats.valid += 1
        assert result.district is not None
        await self.valid_topic.send(
            key=result.district.encode(),
            value=codec.incident_value(result),
            headers={PRODUCED_MS_HEADER: produced_ms(msg)},
            force=True,
        )

    async def _dead_letter(self, rejection: codec.Rejection, msg: Any, now: datetime) -> None:
        self.stats.dead_letters[rejection.reason] += 1
        self.api.rejected(rejection.reason)
        where = {"topic": msg.topic, "partition": msg.partition, "offset": msg.offset}
        log.info(
            "dead letter", extra={"reason": rejection.reason, "field": rejection.field, **where}
        )
        value = codec.dead_letter(rejection, msg.value, key=msg.key, received_at=now, **where)
        await self.dlq_topic.send(key=msg.key, value=value, force=True)

    # -- district state --------------------------------------------------------------------
    async def learn_batch(self, messages: list[Any]) -> None:
        """Learn a micro-batch of validated incidents, in offset order per partition.

        The policy steps run one incident at a time (the same steps as one by one); their
        routes are then sent together and acknowledged, and only then their history entries
        written (:meth:`_flush`). The batch's messages are acknowledged to Faust after this
        returns, so a crash anywhere in it redelivers them (at least once; the rebuilt revision
        log makes a redelivery a ``duplicate``).
        """
        for msg in messages:
            if self._generation != self._seen_generation:
                await self._flush()  # steps learned before the rebalance
                self._reset()
            await self._in_order(self._learned, msg, self._learn)
        await self._flush()

    async def handle_valid(self, msg: Any) -> None:
        """Learn one validated incident, emit the routes it makes due, record its history."""
        await self._learn(msg)
        await self._flush()

    async def _learn(self, msg: Any) -> None:
        """Run the policy on one incident; its routes, history and score wait for
        :meth:`_flush`."""
        if self.scoring is not None:
            self._to_score.append(msg)
        with table_partition_of(msg):  # a history gap is deleted on the district's partition
            await self._learn_in_context(msg)

    async def _learn_in_context(self, msg: Any) -> None:
        district = msg.key.decode() if msg.key else "?"
        try:
            incident = parse_event(json.loads(msg.value), self.profile)
            district = self.engine.district_of(incident)
            self._ensure_restored(district)
            started = time.perf_counter()
            step = self.policy.process(incident)
            update_s = time.perf_counter() - started
            self.api.learned(step)  # re-plan counter (reads the district's cursor now)
        except Exception as exc:  # never let one message stop the worker
            self.stats.processing_errors += 1
            self.api.processing_failed()
            log.exception(
                "processing failed",
                extra={"district": district, "partition": msg.partition, "offset": msg.offset},
            )
            self._restored.discard(district)  # rebuilt from its history on the next incident
            await self._flush()  # the batch's earlier steps (not snapshot: state half-updated)
            self.store.forget(district)  # ... its keys found by a new scan
            rejection = codec.Rejection("processing failed", None, f"{type(exc).__name__}: {exc}")
            await self._dead_letter(rejection, msg, datetime.now(UTC))
            return
        self._pending.append((msg, step, update_s))

    async def _flush(self) -> None:
        """Send the pending steps' routes, wait for their acknowledgements, then write the
        history entries that record them (a route is never recorded before it is on Kafka):
        one chunk per district, then the snapshots that are due."""
        pending, self._pending = self._pending, []
        sent = []
        for msg, step, _ in pending:
            headers = {TRIGGER_ID_HEADER: step.incident_id.encode()} if step.incident_id else {}
            headers[PRODUCED_MS_HEADER] = header_of(msg, PRODUCED_MS_HEADER) or produced_ms(msg)
            for route in step.routes:
                future = await self.routes_topic.send(
                    key=codec.route_message_key(route),
                    value=codec.route_value(route),
                    headers=headers,
                    force=True,
                )
                sent.append((route, future))
        for route, future in sent:
            await future  # acknowledged before the history entry that records the emission
            self.stats.routes += 1
            self.api.route_emitted(route)  # route store, WebSocket subscribers, metrics
            extra = {"district": route.district, "date": route.date, "shift": route.shift}
            log.info("route emitted", extra={**extra, "version": route.version})
        chunks: dict[str, tuple[Any, list[tuple[int, dict[str, Any]]]]] = {}
        for msg, step, _ in pending:
            if step.entry is not None and step.seq is not None:
                chunks.setdefault(step.district, (msg, []))[1].append((step.seq, step.entry))
        for district, (msg, steps) in chunks.items():
            with table_partition_of(msg):  # the district's changelog partition
                self.stats.history_chunks += self.store.append(district, steps)
                self.stats.history_entries += len(steps)
                if district in self._restored and self.store.snapshot_due(district, steps[-1][0]):
                    self._snapshot(district)
        for msg, step, update_s in pending:
            self.stats.outcomes[step.outcome.value] += 1  # counted once all of it is written
            self.api.processed(msg, step, update_s)
        if self._to_score and self.scoring is not None:
            messages, self._to_score = self._to_score, []
            await self.scoring.handle_messages(messages)  # scored before Faust may commit them

    def _reset(self) -> None:
        """After a rebalance: forget every district; each is rebuilt on its next incident."""
        for district in list(self.policy.cursors):
            self.policy.forget(district)
        self.engine.districts.clear()
        self._restored.clear()
        self.store.reset()
        self._seen_generation = self._generation
        self.stats.rebalances += 1

    history = property(lambda s: s.store.table, lambda s, t: setattr(s.store, "table", t))
    """The ``district-history`` table (:mod:`streams.history` describes its keys)."""

    def _snapshot(self, district: str) -> None:
        """Snapshot the district's state after its last entry (see :mod:`streams.history`)."""
        seq = self.policy.cursors[district].entries
        self.store.write_snapshot(district, seq, self.policy.snapshot(district))
        self.stats.snapshots += 1

    def _ensure_restored(self, district: str) -> None:
        if district in self._restored:
            return
        started = time.perf_counter()

        def rebuild(snapshot: Any, entries: list[Any], base: int) -> None:
            self.policy.restore(district, entries, snapshot)
            self.policy.cursors[district].entries = base + len(entries)
            state = self.engine.districts.get(district)
            if snapshot and state is not None and state.model.config != self.engine.config:
                log.warning("snapshot learned with another engine config: kept",
                            extra={"district": district, "seq": base})  # fmt: skip

        done = self.store.load(district, rebuild)
        self._restored.add(district)
        if done.lossy and district in self.engine.districts:
            self._snapshot(district)  # a complete state again (what remained)
        if done.entries or done.snapshot_seq:
            self.stats.restored_districts += 1
            self.stats.restored_entries += done.entries
            self.stats.restored_snapshots += done.snapshot_seq > 0
            seconds = round(time.perf_counter() - started, 3)
            log.info(
                "district restored",
                extra={"district": district, "entries": done.entries,
                       "snapshot_seq": done.snapshot_seq, "seq": done.seq, "seconds": seconds},
            )  # fmt: skip


def create_app(settings: Settings) -> PatrolStreamApp:
    """Build the worker's Faust application from ``settings``."""
    return PatrolStreamApp(settings)
