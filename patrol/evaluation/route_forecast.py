"""The best hotspot forecaster's level for the route backtest's optimiser, from the past only.

``ours-boosted`` (:class:`patrol.forecast.BoostedCells`, the winner of the hotspot backtest in
docs/backtest.md) forecasts each 150 m cell's count for the week from every evaluated day's
local midnight; :func:`patrol.planning.forecast_level` turns it into a factor on the decayed
counts that place the risk within the cell and the shift's hours
(:func:`patrol.planning.relevel_risk`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from patrol.engine import Engine
from patrol.evaluation.events import events_from_incidents
from patrol.evaluation.grid import Grid, city_cells
from patrol.forecast.served import cell_lookup
from patrol.incidents.schema import Incident
from patrol.planning import forecast_level, weekly_counts

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class ForecastLevel:
    """Per day, the factor from decayed counts to the forecaster's level per coarse cell."""

    grid: Grid
    by_day: dict[date, FloatArray]

    def factor_at(self, day: date) -> Callable[[FloatArray, FloatArray], FloatArray]:
        """``factor_at(x, y)`` of the day (0 outside the grid), for :func:`relevel_risk`."""
        return cell_lookup(self.grid, self.by_day[day])


def forecast_levels(
    incidents: Sequence[Incident],
    engine: Engine,
    days: Sequence[date],
    *,
    cell_m: float = 150.0,
    origins: int = 52,
    retrain_days: float = 91.0,
    half_life_days: float = 365.0,
    served: bool = False,
) -> ForecastLevel:
    """The best forecaster's level for every evaluated day, learned only from the past.

    For each day, in order, the forecaster (:class:`patrol.forecast.BoostedCells`, the winner
    of the hotspot backtest, with its weekly settings) learns the incidents before the day's
    local midnight and predicts every cell's count for the week from that midnight; the factor
    (:func:`patrol.planning.forecast_level`) divides it by the decayed counts' weekly level
    (:func:`patrol.planning.weekly_counts`) at the same moment. The model is fit at the first
    day and refit when its fit is ``retrain_days`` old (the features are recomputed daily);
    ``origins`` weekly training origins, ``cell_m`` cells, and the counts' ``half_life_days``.
    The grid covers the city's bounding box; its cells are those with an incident in the two
    years before the first day (design.md's city area). With ``served`` the forecaster is
    :class:`patrol.forecast.DistrictBoosted` (per-district rows, what the stream serves).
    """
    from patrol.forecast import BoostedCells, DistrictBoosted

    tz = engine.tz
    events = events_from_incidents(incidents, engine.projection)
    if not len(events):
        raise ValueError("the forecaster needs incidents")
    grid = Grid.for_bbox(engine.projection, engine.profile.bbox, cell_m)
    all_cells = grid.cell_of(events.x, events.y)
    starts = [_midnight(d, tz) for d in days]
    cells = city_cells(all_cells, events.t, starts[0] - 730.0, starts[0])
    kind = DistrictBoosted if served else BoostedCells
    model = kind(n_origins=origins, retrain_every=10**9, tz=tz)
    model.fit(events.before(starts[0]), grid)
    learned_to = starts[0]
    by_day: dict[date, FloatArray] = {}
    for day, origin in zip(days, starts, strict=True):
        model.learn(events.between(learned_to, origin))
        learned_to = max(learned_to, origin)
        if model.model is not None and origin - model.trained_at >= retrain_days:
            model.train(cells, origin, 7.0)
        forecast = np.zeros(grid.size)
        if cells.size:
            forecast[cells] = model.predict(cells, origin, 7.0)
        counts = weekly_counts(
            all_cells, events.t, now=origin, n_cells=grid.size, half_life_days=half_life_days
        )
        by_day[day] = forecast_level(forecast, counts)
    return ForecastLevel(grid, by_day)


def _midnight(day: date, tz: ZoneInfo) -> float:
    """Local midnight of ``day`` in days since the epoch."""
    return datetime(day.year, day.month, day.day, tzinfo=tz).timestamp() / 86_400.0
