"""Shared fixtures: District 008, January-March 2016, from the committed CSV fixture."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest

from patrol.geo import LocalProjection
from patrol.learners.base import SECONDS_PER_DAY, Observation

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "learners_district8_2016q1.csv"
ORIGIN = LocalProjection(41.78, -87.72)


@dataclass(frozen=True)
class District:
    frame: pd.DataFrame  # id, lat, lon, epoch_s, slot, x, y, t
    observations: list[Observation]

    @property
    def x(self) -> npt.NDArray[np.float64]:
        return self.frame["x"].to_numpy()

    @property
    def y(self) -> npt.NDArray[np.float64]:
        return self.frame["y"].to_numpy()

    @property
    def t(self) -> npt.NDArray[np.float64]:
        return self.frame["t"].to_numpy()


@pytest.fixture(scope="session")
def district8() -> District:
    df = pd.read_csv(FIXTURE)
    x, y = ORIGIN.forward_many(df["lat"], df["lon"])
    df["x"], df["y"] = x, y
    df["t"] = df["epoch_s"] / SECONDS_PER_DAY
    obs = [
        Observation(float(a), float(b), float(c), int(d))
        for a, b, c, d in zip(df["x"], df["y"], df["t"], df["slot"], strict=True)
    ]
    return District(df, obs)
