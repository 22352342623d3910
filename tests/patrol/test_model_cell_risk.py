"""DistrictModel.cell_risk: the optimiser's risk from learned state equals the raw-incident one."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from patrol.config import EngineConfig
from patrol.learners.base import Observation
from patrol.model import DistrictModel
from patrol.planning import CellRisk, history_risk

T0 = 16800.0

# Coordinates kept 1 m off the cell edges: history_risk bins by ``(x - x0) // cell_m``, which
# float rounding can move across an edge (the learners use ``floor(x / cell_m)``).
coordinate = st.builds(lambda i, f: i * 50.0 + f, st.integers(-40, 40), st.floats(1.0, 49.0))
incidents = st.lists(
    st.tuples(coordinate, coordinate, st.floats(0.0, 200.0), st.integers(0, 7 * 24 - 1)),
    min_size=1,
    max_size=60,
)


def _cells(c: CellRisk) -> dict[tuple[int, int, int], float]:
    out = {}
    for h, iy, ix in zip(*np.nonzero(c.risk), strict=True):
        key = (int(h), round(c.x0 / c.cell_m) + int(ix), round(c.y0 / c.cell_m) + int(iy))
        out[key] = float(c.risk[h, iy, ix])
    return out


@settings(max_examples=60, deadline=None)
@given(
    incidents,
    st.sampled_from([30.0, 90.0, math.inf]),
    st.integers(0, 6),
    st.integers(0, 16),
    st.floats(0.5, 30.0),
)
def test_cell_risk_equals_the_decayed_counts_of_the_incidents(
    rows: list[tuple[float, float, float, int]],
    half_life: float,
    weekday: int,
    first_hour: int,
    after: float,
) -> None:
    model = DistrictModel(EngineConfig(half_life_days=half_life))
    for x, y, t, slot in rows:
        model.learn_one(Observation(x=x, y=y, t=T0 + t, slot=slot))
    now = T0 + max(r[2] for r in rows) + after
    hours = list(range(first_hour, first_hour + 8))
    got = _cells(model.cell_risk(weekday, hours, now))
    ref = _cells(
        history_risk(
            [r[0] for r in rows],
            [r[1] for r in rows],
            [T0 + r[2] for r in rows],
            [r[3] % 24 for r in rows],
            [r[3] // 24 for r in rows],
            now=now,
            hours=hours,
            weekday=weekday,
            half_life_days=half_life,
        )
    )
    assert got.keys() == ref.keys()
    assert all(got[k] == pytest.approx(ref[k], rel=1e-8) for k in ref)


@settings(max_examples=30, deadline=None)
@given(incidents, st.randoms(use_true_random=False))
def test_cell_risk_does_not_depend_on_arrival_order(
    rows: list[tuple[float, float, float, int]], rnd: random.Random
) -> None:
    shuffled = rnd.sample(rows, len(rows))
    risks = []
    for order in (rows, shuffled):
        model = DistrictModel(EngineConfig())
        for x, y, t, slot in order:
            model.learn_one(Observation(x=x, y=y, t=T0 + t, slot=slot))
        risks.append(model.cell_risk(2, list(range(8, 16)), T0 + 201.0))
    assert (risks[0].x0, risks[0].y0) == (risks[1].x0, risks[1].y0)
    assert np.array_equal(risks[0].risk, risks[1].risk)


def test_an_empty_model_has_no_risk() -> None:
    risk = DistrictModel().cell_risk(0, [8, 9], T0)
    assert risk.risk.shape == (2, 1, 1) and not risk.risk.any()
