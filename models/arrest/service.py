"""The arrest scoring service: scores, late labels, recalibration and hot reload, no Kafka.

:class:`ScoringService` is what a stream worker (:mod:`streams.scoring`) and the embedded mode
(:mod:`simulators.embedded`) both run. It owns one :class:`~models.arrest.runtime.ArrestScorer`
and knows how to:

* score a micro-batch of incidents with one onnxruntime call, every score carrying the
  version of the one model that produced the whole batch;
* learn from **late labels**: the first event of an incident id is scored and remembered in a
  ``pending`` mapping (``id -> {s: raw score, g: group, v: model version, u: updated_at}``);
  a later event of the same id with a **newer** ``updated_at`` (a revision, not a redelivered
  duplicate) and an ``arrest`` flag is a label: the calibrator learns from the score served
  at the first report and the id leaves ``pending`` (one label per id). The arrest flag of a
  first report is never learned (replayed history carries the final flag there: learning it
  would be a label with no delay);
* recalibrate: an :class:`~models.arrest.calibration.OnlineCalibrator` (global then per
  primary type) maps the raw score to ``calibrated_score``. Offence types the model was
  trained without (the card's ``excluded_types``) are served their training rate as is and
  never learned from;
* reload the model without a restart (:meth:`ScoringService.reload_model`, or
  :meth:`ScoringService.poll` for a watched path). A failed reload leaves the current model
  in service.

State (``pending`` and the calibrator) is passed in by the caller, so a stream worker keeps it
in changelog-backed tables and the embedded mode in plain dicts. Nothing reads the wall clock.
"""

from __future__ import annotations

import logging
from collections.abc import MutableMapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from models.arrest import DEFAULT_MODEL
from models.arrest.calibration import OnlineCalibrator
from models.arrest.export import card_path
from models.arrest.runtime import ArrestScorer, ModelError
from patrol.incidents.schema import Incident

log = logging.getLogger("patrolstream.scoring")

DEFAULT_LR = 0.002
"""Calibration step when the card does not give one (the card's ``calibration.lr`` wins)."""

Signature = tuple[tuple[int, int] | None, tuple[int, int] | None]
"""``(mtime_ns, size)`` of the model file and of its card (``None``: missing)."""


def file_signature(path: Path) -> Signature:
    """What :meth:`ScoringService.poll` compares to notice a changed model or card."""

    def stat(p: Path) -> tuple[int, int] | None:
        try:
            st = p.stat()
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size)

    return stat(path), stat(card_path(path))


@dataclass
class ScoringStats:
    """Counters of one service since it started."""

    scored: int = 0
    labels: int = 0
    duplicates: int = 0
    reloads: int = 0
    reload_errors: int = 0
    versions: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready counters."""
        return {**vars(self), "versions": dict(self.versions)}


class ScoringService:
    """Arrest scores of incidents, recalibrated from late labels, with hot model reload.

    Parameters
    ----------
    path : Path | str
        The ``.onnx`` model (its card beside it); the committed model by default. A missing
        or corrupt model raises :class:`~models.arrest.runtime.ModelError` here, naming the
        path and the reason.
    calibration_lr : float | None
        SGD step of the online calibrator; ``None`` = the card's ``calibration.lr``.
    min_group_labels : int
        Labels a primary type needs before its own calibration level applies.

    Examples
    --------
    >>> from datetime import datetime, timedelta, timezone
    >>> svc = ScoringService()
    >>> t = datetime(2016, 9, 1, 14, 30, tzinfo=timezone(timedelta(hours=-5)))
    >>> inc = Incident("1", t, 41.88, -87.63, primary_type="THEFT", district="1",
    ...                updated_at=t)
    >>> pending, cal = {}, svc.new_calibrator()
    >>> [rec] = svc.score_batch([inc], ["1"], pending, cal)
    >>> rec["model_version"] == svc.version, 0 < rec["score"] < 1, list(pending)
    (True, True, ['1'])
    >>> rec["calibrated_score"] == rec["score"]  # no label learned yet: the identity
    True
    """

    def __init__(
        self,
        path: Path | str = DEFAULT_MODEL,
        *,
        calibration_lr: float | None = None,
        min_group_labels: int = 50,
    ) -> None:
        self.path = Path(path)
        self.scorer = ArrestScorer(self.path)
        self._signature = file_signature(self.path)
        self._failed: Signature | None = None
        card_lr = self.scorer.card.get("calibration", {}).get("lr", DEFAULT_LR)
        self.calibration_lr = float(card_lr if calibration_lr is None else calibration_lr)
        self.min_group_labels = min_group_labels
        self.stats = ScoringStats()

    @property
    def version(self) -> str:
        """Version of the model in service."""
        return self.scorer.version

    def new_calibrator(self) -> OnlineCalibrator:
        """A calibrator at the identity, with this service's parameters."""
        return OnlineCalibrator(lr=self.calibration_lr, min_group_labels=self.min_group_labels)

    # -- hot reload ----------------------------------------------------------------------------
    def reload_model(self, path: Path | str | None = None) -> dict[str, Any]:
        """Load ``path`` (default: the watched path) and swap it in; never raises.

        On success ``path`` becomes the watched path. On failure the current model stays in
        service and the answer says why. Returns ``{ok, version, previous, path, error}``.
        """
        target = self.path if path is None else Path(path)
        previous = self.version
        signature = file_signature(target)
        try:
            self.scorer.reload(target)
        except ModelError as exc:
            self.stats.reload_errors += 1
            if target == self.path:
                self._failed = signature
            log.warning(
                "arrest model reload failed",
                extra={"path": str(target), "error": str(exc), "version": previous, "kept": True},
            )
            return {
                "ok": False,
                "version": previous,
                "previous": previous,
                "path": str(target),
                "error": str(exc),
            }
        self.path, self._signature, self._failed = target, signature, None
        self.stats.reloads += 1
        log.info(
            "arrest model reloaded",
            extra={"path": str(target), "version": self.version, "previous": previous},
        )
        return {
            "ok": True,
            "version": self.version,
            "previous": previous,
            "path": str(target),
            "error": None,
        }

    def poll(self) -> dict[str, Any] | None:
        """Reload if the watched model or its card changed on disk (mtime or size) since the
        last load or failed attempt; ``None`` when nothing changed.

        Replace the model and the card by renaming complete files over them: a poll that sees
        only one of the two fails the sha256 check, keeps the old model, and retries once the
        other one changes.
        """
        signature = file_signature(self.path)
        if signature == self._signature or signature == self._failed:
            return None
        return self.reload_model()

    # -- scoring -------------------------------------------------------------------------------
    def score_batch(
        self,
        incidents: Sequence[Incident],
        districts: Sequence[str | None],
        pending: MutableMapping[str, Any],
        calibrator: OnlineCalibrator,
    ) -> list[dict[str, Any]]:
        """Score a micro-batch (in arrival order) and learn the late labels it carries.

        Each incident is served with the calibrator as it stands before its own event is
        learned. Returns one score record per incident:
        ``{id, district, occurred_at, score, calibrated_score, model_version}``.
        """
        if not incidents:
            return []
        raw, version = self.scorer.score_versioned(incidents)
        fixed = self.scorer.card.get("excluded_types", {})
        out = []
        for inc, district, s in zip(incidents, districts, raw.tolist(), strict=True):
            group = inc.primary_type or ""
            excluded = group in fixed
            calibrated = s if excluded else calibrator.predict_one(s, group)
            if not excluded:
                self._remember_or_learn(inc, s, version, group, pending, calibrator)
            out.append(
                {
                    "id": inc.id,
                    "district": district if district is not None else inc.district,
                    "occurred_at": inc.occurred_at.isoformat(),
                    "score": s,
                    "calibrated_score": calibrated,
                    "model_version": version,
                }
            )
        self.stats.scored += len(out)
        self.stats.versions[version] = self.stats.versions.get(version, 0) + len(out)
        return out

    def _remember_or_learn(
        self,
        inc: Incident,
        score: float,
        version: str,
        group: str,
        pending: MutableMapping[str, Any],
        calibrator: OnlineCalibrator,
    ) -> None:
        first = pending.get(inc.id)
        if first is None:
            updated = inc.updated_at.isoformat() if inc.updated_at is not None else None
            pending[inc.id] = {"s": score, "g": group, "v": version, "u": updated}
            return
        if not _is_revision(first.get("u"), inc.updated_at):
            self.stats.duplicates += 1
            return
        if inc.arrest is None:
            return  # a revision without the flag: wait for the one that carries it
        # The score served at the first report, if the same model is still in service;
        # after a reload the new model's score of the revision (the calibrator maps the
        # scores of the model in service).
        served = float(first["s"]) if first.get("v") == version else score
        calibrator.learn_one(served, str(first.get("g", group)), bool(inc.arrest))
        del pending[inc.id]
        self.stats.labels += 1


def _is_revision(first_updated: str | None, updated: datetime | None) -> bool:
    """Whether an event updated at ``updated`` is newer than the first report."""
    if updated is None or first_updated is None:
        return False
    return updated > datetime.fromisoformat(first_updated)


def score_incidents(
    incidents: Sequence[Incident],
    service: ScoringService,
    *,
    batch: int = 256,
) -> list[dict[str, Any]]:
    """Score ``incidents`` in order, in micro-batches, with one in-memory label state (what
    the embedded mode serves; revisions in the input are late labels as in the stream)."""
    pending: dict[str, Any] = {}
    calibrator = service.new_calibrator()
    out: list[dict[str, Any]] = []
    for i in range(0, len(incidents), batch):
        chunk = incidents[i : i + batch]
        out.extend(service.score_batch(chunk, [c.district for c in chunk], pending, calibrator))
    return out
