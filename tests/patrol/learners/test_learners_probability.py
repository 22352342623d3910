"""Phase 2.3: Algorithm 1's M_p = repCr / totCrCl, checked against pandas counts."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest

from patrol.learners import SpaceTimeTable, SpatialClusterer
from patrol.learners.base import Observation
from patrol.learners.clusters import Clustering

if TYPE_CHECKING:
    from conftest import District

T0 = 16_900.0


def fitted(district8: District, half_life: float) -> tuple[Clustering, SpaceTimeTable]:
    clusterer = SpatialClusterer(half_life_days=math.inf, k_max=8)
    table = SpaceTimeTable(half_life_days=half_life)
    for o in district8.observations:
        clusterer.learn_one(o)
        table.learn_one(o)
    return clusterer.fit(now=float(district8.t.max())), table


def with_clusters(district8: District, c: Clustering) -> pd.DataFrame:
    df = district8.frame.copy()
    cx = (np.floor(df["x"] / 50.0) + 0.5) * 50.0
    cy = (np.floor(df["y"] / 50.0) + 0.5) * 50.0
    df["cluster"] = c.assign(cx.to_numpy(), cy.to_numpy())
    return df


def test_fixture_slots_are_local_chicago_time(district8: District) -> None:
    tz = ZoneInfo("America/Chicago")
    for epoch, slot in district8.frame[["epoch_s", "slot"]].itertuples(index=False):
        local = datetime.fromtimestamp(int(epoch), UTC).astimezone(tz)
        assert slot == local.weekday() * 24 + local.hour


def test_algorithm1_matches_counts(district8: District) -> None:
    c, table = fitted(district8, math.inf)
    df = with_clusters(district8, c)
    rep = df.groupby(["slot", "cluster"]).size()
    tot = df.groupby("slot").size()
    now = float(district8.t.max())
    for slot in range(168):
        dow, hour = divmod(slot, 24)
        p = table.predict_proba(c, dow, hour, now)
        expected = [
            rep.get((slot, j), 0) / tot[slot] if slot in tot.index else 0.0 for j in range(c.k)
        ]
        assert p.tolist() == pytest.approx(expected, abs=1e-12)


def test_algorithm1_matches_explicitly_decayed_counts(district8: District) -> None:
    h = 20.0
    c, table = fitted(district8, h)
    df = with_clusters(district8, c)
    now = float(district8.t.max()) + 3.0
    df["w"] = 0.5 ** ((now - df["t"]) / h)
    rep = df.groupby(["slot", "cluster"])["w"].sum()
    tot = df.groupby("slot")["w"].sum()
    for dow, hour in [(0, 18), (4, 23), (5, 2), (6, 12)]:
        slot = dow * 24 + hour
        counts, total = table.decayed_counts(c, dow, hour, now)
        assert total == pytest.approx(tot[slot], rel=1e-9)
        expected = [rep.get((slot, j), 0.0) for j in range(c.k)]
        assert counts.tolist() == pytest.approx(expected, rel=1e-9, abs=1e-12)
        p = table.predict_proba(c, dow, hour, now)
        assert p.tolist() == pytest.approx([e / tot[slot] for e in expected], rel=1e-9)


def test_table_rows_follow_algorithm1(district8: District) -> None:
    c, table = fitted(district8, 90.0)
    hours = range(16, 24)  # the evening turn
    rows = table.table(c, range(7), hours, now=float(district8.t.max()))
    assert len(rows) == 7 * 8 * c.k  # n_d x n_h x k rows, 4 columns
    assert [r[:3] for r in rows] == [(d, h, k) for d in range(7) for h in hours for k in range(c.k)]
    for i in range(0, len(rows), c.k):  # every (day, hour) with crimes sums to 1
        assert sum(r[3] for r in rows[i : i + c.k]) == pytest.approx(1.0)


def test_paper_example_shape_five_of_twenty_four() -> None:
    # P(Monday, 18:00, cluster) = 5 / 24 as in the paper's example
    st = SpaceTimeTable(half_life_days=math.inf)
    c = Clustering(np.array([[0.0, 0.0], [5000.0, 0.0]]), 0.0)
    for i in range(24):
        x = 5000.0 if i < 5 else 0.0
        st.learn_one(Observation(x + i, 0.0, T0 + i, 18))
    st.learn_one(Observation(5000.0, 0.0, T0, 19))  # another hour: not counted
    assert st.predict_proba(c, 0, 18, T0).tolist() == pytest.approx([19 / 24, 5 / 24])
    assert st.predict_proba(c, 0, 17, T0).tolist() == [0.0, 0.0]


def test_forget_and_slot_validation() -> None:
    st = SpaceTimeTable()
    o = Observation(0.0, 0.0, T0, 167)
    st.learn_one(o)
    st.forget_one(o)
    assert st.to_dict() == SpaceTimeTable().to_dict()
    with pytest.raises(KeyError):
        st.forget_one(o)
    for bad in (-1, 168):
        with pytest.raises(ValueError):
            st.learn_one(Observation(0.0, 0.0, T0, bad))
    c = Clustering(np.zeros((1, 2)), 0.0)
    with pytest.raises(ValueError):
        st.predict_proba(c, 7, 0, T0)
    with pytest.raises(ValueError):
        st.predict_proba(c, 0, 24, T0)
