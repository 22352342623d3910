"""The arrest scoring agent: every valid incident scored with onnxruntime, to ``patrol.scores.v1``.

Topology (added to the app of :mod:`streams.app` by :func:`attach_scoring`)::

    patrol.incidents.valid.v1 ──► learn ──► score ──► patrol.scores.v1 (key: incident id)
                                                │
                                    ├── table "arrest-pending"      id -> first report's score
                                    └── table "arrest-calibration"  partition -> calibrator

Each message on ``patrol.scores.v1`` is JSON ``{id, district, occurred_at, score,
calibrated_score, model_version}``: ``score`` is the model's probability, ``calibrated_score``
the same after online recalibration from late arrest labels, ``model_version`` the card version
of the one model that scored the micro-batch (see :mod:`models.arrest.service`).

* Fed by the ``learn`` agent of :mod:`streams.app` (not a second consumer of the valid
  topic): it scores exactly the messages ``learn`` admits, in offset order per partition,
  including those Faust's consumer skipped around a recovery and ``learn`` read directly
  (:mod:`streams.offsets`), and before ``learn``'s batch is acknowledged. A second agent on
  the same topic missed such messages after a restart. Chunks of up to ``score_batch``
  incidents, one onnxruntime call per chunk, one intra-op thread.
* State: one calibrator per partition of the valid topic (key ``"<partition>"``) and the
  pending first reports (key: incident id), both in tables whose changelog goes to the
  partition the incidents came from, so they move with the partition on a rebalance and a
  restarted worker continues from them. The valid topic is keyed by district, so an incident's
  revisions reach the partition of its first report.
* Hot reload: every ``arrest_reload_s`` seconds the model path is polled (mtime and size of the
  model and its card; the sha256 check at load); :meth:`StreamScorer.reload_model` does the
  same on demand (the admin API). The new model is built off the event loop and swapped in
  atomically; a failed reload keeps the current model.
* A missing or corrupt model raises :class:`~models.arrest.runtime.ModelError` when the app is
  built, i.e. at worker start-up (``streams.worker`` prints it and exits with status 2).
* Delivery: at least once. An incident redelivered after a crash may be scored again (same
  content: consumers key scores by id); it is never learned twice (a label needs a newer
  ``updated_at``).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import faust

from models.arrest.calibration import OnlineCalibrator
from models.arrest.service import ScoringService
from patrol.incidents.parse import parse_event
from streams.messages import table_partition_of

if TYPE_CHECKING:
    from streams.app import PatrolStreamApp

log = logging.getLogger("patrolstream.scoring")

PENDING_TABLE = "arrest-pending"
CALIBRATION_TABLE = "arrest-calibration"
DISABLED = ("", "none", "off")
"""Values of ``arrest_model`` that turn scoring off."""


class StreamScorer:
    """The scoring agent, its tables and its model watcher, on a :class:`PatrolStreamApp`.

    Parameters
    ----------
    patrol
        The worker's app (its settings, topics, Faust app and profile).
    """

    def __init__(self, patrol: PatrolStreamApp) -> None:
        settings = patrol.settings
        self.patrol = patrol
        self.service = ScoringService(settings.arrest_model)  # ModelError: fail at start-up
        app = patrol.app
        self.topic = app.topic(
            patrol.topics.scores,
            key_type=bytes,
            value_type=bytes,
            partitions=settings.partitions,
        )
        self.pending = app.Table(PENDING_TABLE, key_type=str, partitions=settings.partitions)
        self.calibration = app.Table(
            CALIBRATION_TABLE, key_type=str, partitions=settings.partitions
        )
        self._calibrators: dict[int, OnlineCalibrator] = {}
        self.errors = 0
        self._tables_ready = False
        self.batch = max(1, settings.score_batch)
        self._register(app, settings.arrest_reload_s)
        log.info(
            "arrest scoring on",
            extra={"model": str(self.service.path), "version": self.service.version},
        )

    def _register(self, app: faust.App, reload_s: float) -> None:
        async def forget(sender: Any, *args: Any, **kwargs: Any) -> None:
            self._calibrators.clear()  # re-read from the table: partitions may have moved

        app.on_partitions_revoked.connect(forget)  # type: ignore[arg-type]
        app.on_partitions_assigned.connect(forget)  # type: ignore[arg-type]

        if reload_s > 0:

            async def watch_model() -> None:
                loop = asyncio.get_running_loop()
                await loop.run_in_executor(None, self.service.poll)

            app.timer(reload_s)(watch_model)

        if self.patrol.settings.stats_interval_s > 0:

            async def log_stats() -> None:
                log.info("scoring stats", extra={"scoring": self.stats()})

            app.timer(self.patrol.settings.stats_interval_s)(log_stats)

    def stats(self) -> dict[str, Any]:
        """The service's counters, the model in service and this agent's errors."""
        return {
            **self.service.stats.to_dict(),
            "version": self.service.version,
            "errors": self.errors,
        }

    def reload_model(self, path: str | Path | None = None) -> dict[str, Any]:
        """Load ``path`` (default: the watched path) and swap it in; for the admin API.

        Returns ``{ok, version, previous, path, error}``; never raises.
        """
        return self.service.reload_model(path)

    async def _wait_for_changelogs(self, timeout_s: float = 30.0) -> None:
        """Wait until the consumer's metadata shows the tables' changelog partitions.

        Faust creates the changelog topics while the worker joins its group; until the next
        metadata refresh the group's snapshot may list a new changelog with 0 partitions, and
        a table write would fail Faust's co-partitioning check.
        """
        consumer = self.patrol.app.consumer
        source = self.patrol.valid_topic.get_topic_name()
        deadline = asyncio.get_running_loop().time() + timeout_s
        for table in (self.pending, self.calibration):
            while asyncio.get_running_loop().time() < deadline:
                n, want = (
                    consumer.topic_partitions(table.changelog_topic.get_topic_name()),
                    (consumer.topic_partitions(source)),
                )
                if n is None or want is None or n == want:
                    break
                await asyncio.sleep(0.25)
        self._tables_ready = True

    def _calibrator(self, partition: int) -> OnlineCalibrator:
        cal = self._calibrators.get(partition)
        if cal is None:
            state = self.calibration.get(str(partition))
            cal = (
                OnlineCalibrator.from_dict(state)
                if state is not None
                else self.service.new_calibrator()
            )
            self._calibrators[partition] = cal
        return cal

    async def handle_messages(self, messages: Sequence[Any]) -> None:
        """Score valid messages (in offset order per partition) in chunks of ``score_batch``."""
        for start in range(0, len(messages), self.batch):
            await self.handle_batch(messages[start : start + self.batch])

    async def handle_batch(self, messages: Sequence[Any]) -> None:
        """Score a micro-batch, partition by partition, and send the scores."""
        if not self._tables_ready:
            await self._wait_for_changelogs()
        by_partition: dict[int, list[Any]] = {}
        for msg in messages:
            by_partition.setdefault(msg.partition, []).append(msg)
        for partition, msgs in by_partition.items():
            parsed = []
            for msg in msgs:
                try:
                    parsed.append((msg, parse_event(json.loads(msg.value), self.patrol.profile)))
                except Exception as exc:  # validated upstream: should not happen
                    self.errors += 1
                    log.warning(
                        "cannot score a valid incident",
                        extra={"partition": partition, "offset": msg.offset,
                               "error": f"{type(exc).__name__}: {exc}"},
                    )  # fmt: skip
            if not parsed:
                continue
            incidents = [inc for _, inc in parsed]
            districts = [msg.key.decode() if msg.key else None for msg, _ in parsed]
            cal = self._calibrator(partition)
            labels_before = self.service.stats.labels
            try:
                with table_partition_of(parsed[-1][0]):
                    records = self.service.score_batch(incidents, districts, self.pending, cal)
                    if self.service.stats.labels != labels_before:
                        self.calibration[str(partition)] = cal.to_dict()
            except Exception:  # never let a batch stop the worker
                self.errors += len(parsed)
                self._calibrators.pop(partition, None)  # re-read from the table
                log.exception("arrest scoring failed", extra={"partition": partition})
                continue
            api = getattr(self.patrol, "api", None)
            if api is not None:
                api.observe_scores(records)
            for rec in records:
                await self.topic.send(
                    key=str(rec["id"]).encode(),
                    value=json.dumps(rec, separators=(",", ":")).encode(),
                    force=True,
                )


def attach_scoring(patrol: PatrolStreamApp) -> StreamScorer | None:
    """Add the scoring agent to ``patrol`` unless ``arrest_model`` is off (``none``)."""
    if patrol.settings.arrest_model.strip().lower() in DISABLED:
        log.info("arrest scoring off (arrest_model=none)")
        return None
    return StreamScorer(patrol)
