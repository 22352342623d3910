"""Fit the served forecaster on the weekly origins before a date (what the card records).

The model a worker loads is :class:`patrol.forecast.served.DistrictBoosted` trained exactly
as the hotspot backtest's ``ours-served`` trains it at a forecast origin: ``origins`` weekly
origins before ``until`` (local midnight), rows of every district from its own incidents,
labels = the district's count in the cell over the next week. The backtest refits every four
weeks; a deployment does the same by re-running ``patrolstream train-forecaster`` (the
workers reload the model file at start).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np

from patrol.evaluation.events import Events, events_from_incidents
from patrol.evaluation.grid import Grid
from patrol.forecast.served import DistrictBoosted
from patrol.incidents.parse import iter_csv
from patrol.incidents.profile import CityProfile
from patrol.incidents.report import RejectionReport


@dataclass(frozen=True)
class Trained:
    """A fitted forecaster, the rows of its last origin (for the parity check) and facts."""

    model: DistrictBoosted
    rows: np.ndarray
    info: dict[str, Any]


def load(
    paths: Sequence[Path], profile: CityProfile, until: float, progress: bool = False
) -> tuple[Events, int]:
    """The files' incidents before ``until`` (days) as events; and the rows rejected."""
    from tqdm import tqdm

    report = RejectionReport()

    def incidents() -> Iterable[Any]:
        for path in paths:
            bar = tqdm(desc=f"read {path.name}", unit=" rows", disable=not progress,
                       file=sys.stderr, mininterval=0.5)  # fmt: skip
            for inc in iter_csv(path, profile, report):
                bar.update()
                if inc.occurred_at.timestamp() / 86_400.0 < until:
                    yield inc
            bar.close()

    return events_from_incidents(incidents(), profile.projection), report.total


def train(
    paths: Sequence[Path],
    profile: CityProfile,
    until: date,
    *,
    origins: int = 52,
    cell_m: float = 150.0,
    progress: bool = False,
) -> Trained:
    """Fit on ``origins`` weeks before ``until``'s local midnight."""
    tz = profile.zone
    start = datetime(until.year, until.month, until.day, tzinfo=tz).timestamp() / 86_400.0
    events, rejected = load(paths, profile, start, progress)
    if not len(events):
        raise ValueError(f"no incident before {until}")
    grid = Grid.for_bbox(profile.projection, profile.bbox, cell_m)
    model = DistrictBoosted(n_origins=origins, retrain_every=10**9, tz=tz)
    model.fit(events, grid)
    model.train(np.zeros(0, np.int64), start, 7.0)
    if model.model is None:
        raise ValueError(f"too little history before {until} to train (need 28 days)")
    _, _, rows = model.rows(start - 7.0, 7.0)
    first = datetime.fromtimestamp(float(events.t[0]) * 86_400.0, tz).date()
    info = {
        "training": {
            "until": until.isoformat(),
            "origins": origins,
            "period_days": 7.0,
            "rows": model.n_train_rows,
            "incidents": len(events),
            "first_incident": first.isoformat(),
            "rejected_rows": rejected,
        },
        "grid": {"cell_m": cell_m, "city": profile.name},
        "data": [p.name for p in paths],
    }
    return Trained(model, rows, info)
