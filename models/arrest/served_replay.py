"""Replay a test year through the *served* scoring path, with late labels as revisions.

What :func:`models.arrest.calibration.replay` measures offline, but through the code the
stream runs (:class:`~models.arrest.service.ScoringService`): every incident is first reported
without its arrest flag, and a revision of the same id carrying the flag arrives ``delay``
later (its ``updated_at`` is the first report's plus ``delay``). Both kinds of event are fed in
event-time order (a revision at the same instant as a report comes first, as in the offline
replay) in micro-batches; with ``partitions`` > 1 each district's events go to the calibrator
of the Kafka partition its district key hashes to (aiokafka's default partitioner), as in a
worker, instead of one global calibrator as in the embedded mode.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

import numpy as np

from models.arrest.calibration import OnlineCalibrator
from models.arrest.service import ScoringService
from patrol.incidents.schema import Incident


def kafka_partition(key: str | None, partitions: int) -> int:
    """The partition aiokafka's default partitioner gives a key (murmur2, as Java's).

    Examples
    --------
    >>> kafka_partition("8", 4) == kafka_partition("8", 4), kafka_partition(None, 4)
    (True, 0)
    """
    if partitions <= 1 or key is None:
        return 0
    from aiokafka.partitioner import murmur2

    return int(murmur2(key.encode()) & 0x7FFFFFFF) % partitions


@dataclass
class ServedReplay:
    """Scores of the first reports (input order) and their labels."""

    ids: list[str]
    groups: np.ndarray
    labels: np.ndarray
    scores: np.ndarray
    calibrated: np.ndarray
    learned: int


def served_replay(
    incidents: Sequence[Incident],
    service: ScoringService,
    *,
    delay: timedelta,
    partitions: int = 1,
    batch: int = 64,
    progress: bool = False,
) -> ServedReplay:
    """Serve ``incidents`` (labelled) with revisions ``delay`` late; see the module doc."""
    from tqdm import tqdm

    labelled = [i for i in incidents if i.arrest is not None]
    events: list[tuple[Any, int, int]] = []  # (time, kind: 0 revision / 1 report, index)
    for k, inc in enumerate(labelled):
        events.append((inc.occurred_at, 1, k))
        events.append((inc.occurred_at + delay, 0, k))
    events.sort(key=lambda e: (e[0], e[1], e[2]))
    scores = np.full(len(labelled), np.nan)
    calibrated = np.full(len(labelled), np.nan)
    pending: dict[int, dict[str, Any]] = {}
    calibrators: dict[int, OnlineCalibrator] = {}
    labels_before = service.stats.labels
    for start in tqdm(range(0, len(events), batch), disable=not progress, desc="replay"):
        chunk: dict[int, list[tuple[int, Incident]]] = {}
        for _, kind, k in events[start : start + batch]:
            inc = labelled[k]
            if kind == 1:
                event = replace(inc, arrest=None, updated_at=inc.occurred_at)
            else:
                event = replace(inc, updated_at=inc.occurred_at + delay)
            chunk.setdefault(kafka_partition(inc.district, partitions), []).append((k, event))
        for p, part in chunk.items():
            evs = [e for _, e in part]
            cal = calibrators.setdefault(p, service.new_calibrator())
            state = pending.setdefault(p, {})
            recs = service.score_batch(evs, [e.district for e in evs], state, cal)
            for (k, ev), rec in zip(part, recs, strict=True):
                if ev.arrest is None:  # a first report: what was served
                    scores[k], calibrated[k] = rec["score"], rec["calibrated_score"]
    return ServedReplay(
        ids=[i.id for i in labelled],
        groups=np.array([i.primary_type or "" for i in labelled], dtype=object),
        labels=np.array([bool(i.arrest) for i in labelled]),
        scores=scores,
        calibrated=calibrated,
        learned=service.stats.labels - labels_before,
    )
