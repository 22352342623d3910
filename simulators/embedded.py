"""The embedded mode: the whole engine in one process, no Kafka (``patrolstream run``).

Incidents are read from city CSV exports, sorted by event time and replayed through
:class:`patrol.engine.Engine`. Each time the event-time clock reaches the start of a shift
that was asked for, every district's route for that shift is planned from the incidents
before it, exactly as the streaming workers do. Requested shifts that start after the last
incident are planned at the end, from all the data (a forecast).
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from tqdm import tqdm

from models.arrest import DEFAULT_MODEL
from patrol.engine import Engine
from patrol.incidents.parse import iter_csv
from patrol.incidents.report import RejectionReport
from patrol.incidents.schema import Incident
from patrol.planning import SHIFTS, Shift, shift_bounds
from patrol.policy import EmissionPolicy, PolicyConfig
from patrol.routes import Route

log = logging.getLogger("patrolstream.run")


@dataclass
class RunReport:
    """What a run did: rows read and rejected, what ingest did, routes planned."""

    rows: int = 0
    rejections: RejectionReport = field(default_factory=RejectionReport)
    outcomes: Counter[str] = field(default_factory=Counter)
    routes: int = 0
    first_event: str | None = None
    last_event: str | None = None
    scores: int = 0
    model_version: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready report."""
        return {
            "rows": self.rows,
            "accepted": self.rows - self.rejections.total,
            "rejected": self.rejections.to_dict(),
            "ingest": dict(self.outcomes),
            "routes": self.routes,
            "first_event": self.first_event,
            "last_event": self.last_event,
            "arrest_scores": self.scores,
            "model_version": self.model_version,
        }


def load_incidents(
    paths: Sequence[Path], engine: Engine, report: RunReport, progress: bool = True
) -> list[Incident]:
    """Read every file, count rejections, and sort by event time (stable: file order ties)."""
    incidents: list[Incident] = []
    for path in paths:
        rows = iter_csv(path, engine.profile, report.rejections, locator=engine.locator)
        incidents.extend(tqdm(rows, desc=f"read {path.name}", unit=" rows", disable=not progress))
    incidents.sort(key=lambda i: i.occurred_at)
    report.rows = len(incidents) + report.rejections.total
    if incidents:
        report.first_event = incidents[0].occurred_at.isoformat()
        report.last_event = incidents[-1].occurred_at.isoformat()
    return incidents


def replay(
    engine: Engine,
    incidents: Iterable[Incident],
    wanted: Callable[[date, Shift], bool],
    emit: Callable[[Route], None],
    districts: set[str] | None = None,
    report: RunReport | None = None,
    until: date | None = None,
    progress: bool = True,
    total: int | None = None,
) -> None:
    """Replay ``incidents`` (event-time order) through ``engine``, planning wanted shifts.

    ``until``: also plan the wanted shifts that start after the last incident, up to and
    including this date.
    """
    report = report or RunReport()
    clock: datetime | None = None

    def plan_due(before: datetime, after: datetime) -> None:
        for day, shift in engine.due_shifts(before, after):
            if not wanted(day, shift):
                continue
            for d in sorted(engine.districts, key=_key):
                if districts and d not in districts:
                    continue
                at = _shift_start(engine, day, shift)
                for route in engine.plan_units(d, day, shift, generated_at=at):
                    report.routes += 1
                    emit(route)

    for inc in tqdm(incidents, desc="replay", unit=" incidents", total=total, disable=not progress):
        if clock is not None and inc.occurred_at > clock:
            plan_due(clock, inc.occurred_at)
        if clock is None or inc.occurred_at > clock:
            clock = inc.occurred_at
        report.outcomes[engine.ingest(inc).value] += 1
    if clock is not None and until is not None:
        end = datetime(until.year, until.month, until.day, 23, 59, 59, tzinfo=engine.tz)
        plan_due(clock, end)


def replay_stream(
    engine: Engine,
    incidents: Iterable[Incident],
    config: PolicyConfig | None = None,
    *,
    policy: EmissionPolicy | None = None,
) -> list[Route]:
    """Every route the streaming workers emit for ``incidents``, computed in one process.

    The incidents are fed in the given order (the order of a district's partition) to the
    same :class:`~patrol.policy.EmissionPolicy` the Faust agent runs: shift-start plans and
    debounced revisions of the next shift, with their versions. For in-order input the
    shift-start routes equal what :func:`replay` plans at each shift start.
    """
    policy = policy or EmissionPolicy(engine, config)
    routes: list[Route] = []
    for inc in incidents:
        routes.extend(policy.process(inc).routes)
    return routes


def _shift_start(engine: Engine, day: date, shift: Shift) -> datetime:
    return shift_bounds(day, shift, engine.tz)[0]


def _key(d: str) -> tuple[int, str]:
    return (int(d), d) if d.isdigit() else (10**9, d)


def route_filename(route: Route) -> str:
    """``<date>_<shift>_district-<id>.geojson`` (unit suffix when more than one unit)."""
    unit = f"_unit-{route.unit}" if route.unit != 1 else ""
    return f"{route.date}_{route.shift}_district-{route.district}{unit}.geojson"


def run(
    paths: Sequence[Path],
    engine: Engine,
    out_dir: Path,
    *,
    dates: set[date] | None,
    every_date: bool = False,
    shifts: Sequence[Shift] = SHIFTS,
    districts: set[str] | None = None,
    progress: bool = True,
    echo: Callable[[str], None] = print,
    arrest_model: Path | str | None = DEFAULT_MODEL,
) -> RunReport:
    """``patrolstream run``: replay files, write each planned route as GeoJSON.

    ``dates=None`` plans the last local date of the data; ``every_date`` plans every shift
    of the replay. Writes ``run_report.json`` too, and ``scores.jsonl`` (the arrest score of
    every incident, as on ``patrol.scores.v1``) unless ``arrest_model`` is ``None``/``"none"``
    or onnxruntime is not installed (a log line says so).
    """
    report = RunReport()
    incidents = load_incidents(paths, engine, report, progress)
    if not incidents:
        raise ValueError("no valid incidents in the input; see the rejection report")
    last_day = incidents[-1].occurred_at.astimezone(engine.tz).date()
    if dates is None:
        dates = {last_day}
    out_dir.mkdir(parents=True, exist_ok=True)
    wanted_shifts = {s.label for s in shifts}
    write_scores(incidents, arrest_model, out_dir, report, districts)

    def emit(route: Route) -> None:
        (out_dir / route_filename(route)).write_text(json.dumps(route.to_geojson()))
        echo(route.summary())

    replay(
        engine,
        incidents,
        wanted=lambda d, s: (every_date or d in dates) and s.label in wanted_shifts,
        emit=emit,
        districts=districts,
        report=report,
        until=last_day if every_date else max(dates),
        progress=progress,
        total=len(incidents),
    )
    (out_dir / "run_report.json").write_text(json.dumps(report.to_dict(), indent=2))
    log.info("run finished", extra={"routes": report.routes, "rows": report.rows})
    return report


def write_scores(
    incidents: Sequence[Incident],
    arrest_model: Path | str | None,
    out_dir: Path,
    report: RunReport,
    districts: set[str] | None = None,
) -> Path | None:
    """Score ``incidents`` with the arrest model into ``out_dir/scores.jsonl`` (what the
    stream's scoring agent sends, :mod:`models.arrest.service`); ``None`` when skipped.

    A missing or corrupt model raises :class:`~models.arrest.runtime.ModelError` (before the
    replay starts); without onnxruntime scoring is skipped with a warning.
    """
    if arrest_model is None or str(arrest_model).strip().lower() in ("", "none", "off"):
        return None
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        log.warning(
            "arrest scoring skipped: onnxruntime is not installed "
            "(pip install 'patrolstream[stream]')"
        )
        return None
    from models.arrest.service import ScoringService, score_incidents

    service = ScoringService(arrest_model)
    chosen = [i for i in incidents if not districts or i.district in districts]
    records = score_incidents(chosen, service)
    path = out_dir / "scores.jsonl"
    with path.open("w") as fh:
        fh.writelines(json.dumps(r, separators=(",", ":")) + "\n" for r in records)
    report.scores, report.model_version = len(records), service.version
    return path
