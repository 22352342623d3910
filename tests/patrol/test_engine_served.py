"""The engine with the served forecaster: its per-district window, forecast and site factor."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date, datetime

import numpy as np
import pytest

from patrol.config import EngineConfig
from patrol.engine import Engine
from patrol.forecast.features import feature_names
from patrol.forecast.served import CellRateModel
from patrol.incidents.profile import CityProfile
from patrol.incidents.schema import Incident
from patrol.planning import weekly_counts

N365 = feature_names().index("n_365d")


def flat_model() -> CellRateModel:
    """Trees that say "log rate 0": the forecast is the last year's count + 0.5."""
    bins = [np.array([0.5])] * len(feature_names())
    return CellRateModel(bins, N365, 0.5, lambda b: np.zeros(len(b)), "flat@test")


def served(chicago: CityProfile, incidents: list[Incident], **cfg: object) -> Engine:
    config = EngineConfig(forecaster="served", **cfg)  # type: ignore[arg-type]
    engine = Engine(chicago, config, forecast_model=flat_model())
    for inc in incidents:
        engine.ingest(inc)
    return engine


def midnight(engine: Engine, day: date) -> float:
    return datetime(day.year, day.month, day.day, tzinfo=engine.tz).timestamp() / 86_400.0


def test_served_needs_a_model(chicago: CityProfile) -> None:
    with pytest.raises(ValueError, match="forecast_model"):
        Engine(chicago, EngineConfig(forecaster="served"))
    with pytest.raises(ValueError, match="forecaster"):
        EngineConfig(forecaster="crystal-ball")


def test_forecast_is_the_models_output_on_the_districts_own_cells(
    chicago: CityProfile, district8_september: list[Incident]
) -> None:
    engine = served(chicago, district8_september)
    day = date(2016, 9, 20)
    origin = midnight(engine, day)
    cells, expected = engine.forecast("8", origin)
    grid = engine.forecast_grid
    # by hand: district 8's incidents before the origin, per 150 m cell (365 days back)
    counts: dict[int, int] = {}
    for inc in district8_september:
        if inc.occurred_at.timestamp() / 86_400.0 < origin:
            x, y = engine.projection.forward(inc.latitude, inc.longitude)
            c = int(grid.cell_of([x], [y])[0])
            counts[c] = counts.get(c, 0) + 1
    assert sorted(counts) == cells.tolist()
    assert expected.tolist() == pytest.approx([counts[c] + 0.5 for c in cells.tolist()])
    assert engine.forecast("9", origin)[0].size == 0  # a district it never saw


def test_revision_moves_the_incident_in_the_forecast(
    chicago: CityProfile, district8_september: list[Incident]
) -> None:
    engine = served(chicago, district8_september)
    origin = midnight(engine, date(2016, 10, 1))
    before = dict(zip(*engine.forecast("8", origin), strict=True))
    first = district8_september[0]
    moved = replace(first, latitude=first.latitude + 0.004, description="revised")  # ~450 m N
    assert engine.ingest(moved).value == "revision"
    after = dict(zip(*engine.forecast("8", origin), strict=True))
    grid = engine.forecast_grid

    def cell(inc: Incident) -> int:
        x, y = engine.projection.forward(inc.latitude, inc.longitude)
        return int(grid.cell_of([x], [y])[0])

    old, new = cell(first), cell(moved)
    assert old != new
    assert after.get(old, 0.5) == pytest.approx(before[old] - 1.0)  # gone from its old cell
    assert after[new] == pytest.approx(before.get(new, 0.5) + 1.0)  # counted once in the new
    rest = set(before) | set(after)
    assert all(before.get(c) == after.get(c) for c in rest - {old, new})


def test_state_round_trip_keeps_the_forecast(
    chicago: CityProfile, district8_september: list[Incident]
) -> None:
    engine = served(chicago, district8_september)
    origin = midnight(engine, date(2016, 10, 1))
    other = Engine(chicago, engine.config, forecast_model=flat_model())
    other.load_dict(json.loads(json.dumps(engine.to_dict())))
    a, b = engine.forecast("8", origin), other.forecast("8", origin)
    assert a[0].tolist() == b[0].tolist() and a[1].tolist() == b[1].tolist()
    counts_only = Engine(chicago, EngineConfig())
    for inc in district8_september[:5]:
        counts_only.ingest(inc)
    assert "window" not in counts_only.to_dict()["8"]  # nothing kept without the forecaster


def test_site_factor_turns_the_counts_level_into_the_forecast(
    chicago: CityProfile, district8_september: list[Incident]
) -> None:
    engine = served(chicago, district8_september)
    day = date(2016, 10, 1)
    origin = midnight(engine, day)
    cells, expected = engine.forecast("8", origin)
    grid = engine.forecast_grid
    ev = engine.districts["8"].window.events()  # type: ignore[union-attr]
    level = weekly_counts(grid.cell_of(ev.x, ev.y), ev.t, now=origin, n_cells=grid.size)
    xs, ys = grid.centres(cells)
    factor = engine.forecast_factor("8", day)(xs, ys)
    assert (factor * level[cells]).tolist() == pytest.approx(expected.tolist())
    far = engine.forecast_factor("8", day)(np.array([-1e7]), np.array([0.0]))
    assert far.tolist() == [0.0]  # outside the grid


def test_optimiser_sites_follow_the_forecast(
    chicago: CityProfile, district8_september: list[Incident]
) -> None:
    pytest.importorskip("ortools")
    from patrol.planning import SHIFTS, shift_bounds

    day = date(2016, 10, 1)
    plain = Engine(chicago, EngineConfig(planner="optimizer"))
    with_forecast = served(chicago, district8_september, planner="optimizer")
    for inc in district8_september:
        plain.ingest(inc)
    start = shift_bounds(day, SHIFTS[1], plain.tz)[0]
    a = plain.plan_units("8", day, SHIFTS[1], generated_at=start)
    b = with_forecast.plan_units("8", day, SHIFTS[1], generated_at=start)
    assert a and b
    # the flat model levels every cell to its yearly count + 0.5, unlike the 90-day decay
    assert [(w.latitude, w.longitude) for w in a[0].waypoints] != [
        (w.latitude, w.longitude) for w in b[0].waypoints
    ]
