"""Fixtures of the arrest-model tests: real Chicago rows (no ../shared, no torch needed)."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from models.arrest.features import (
    HONEST_CATEGORICAL,
    HONEST_NUMERIC,
    HONEST_TARGETS,
    FeatureEncoder,
    fit_encoder,
    raw_frame,
)
from patrol.incidents.parse import read_csv
from patrol.incidents.profile import CityProfile, load_profile
from patrol.incidents.schema import Incident
from simulators.settings import SAMPLE

ROOT = Path(__file__).resolve().parents[2]
ROWS = ROOT / "tests" / "fixtures" / "chicago_rows.csv"


@pytest.fixture(scope="session")
def chicago() -> CityProfile:
    return load_profile("chicago")


@pytest.fixture(scope="session")
def rows_frame() -> pd.DataFrame:
    """The 200 committed real rows (all years, DST rows, bad coordinates), as strings."""
    return pd.read_csv(ROWS, dtype=str, keep_default_na=False)


@pytest.fixture(scope="session")
def rows_incidents(chicago: CityProfile) -> list[Incident]:
    """The valid incidents of the 200 rows (no district placement: the CSV's district)."""
    return read_csv(ROWS, chicago, locate=False).incidents


@pytest.fixture(scope="session")
def sample_raw(chicago: CityProfile) -> pd.DataFrame:
    """Raw fields of the bundled sample (47k real rows, Sept-Oct 2016)."""
    with gzip.open(SAMPLE, "rt") as fh:
        df = pd.read_csv(fh, dtype=str, keep_default_na=False)
    return raw_frame(df, chicago)


@pytest.fixture(scope="session")
def small_training(
    sample_raw: pd.DataFrame,
) -> tuple[FeatureEncoder, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """An encoder fitted on 6000 sample rows: ``(encoder, X_train, y_train, X_test, y_test)``."""
    rng = np.random.default_rng(7)
    idx = rng.permutation(len(sample_raw))
    train, test = sample_raw.iloc[idx[:6000]], sample_raw.iloc[idx[6000:8000]]
    y_tr = train["arrest"].to_numpy(dtype=np.int64)
    enc, X_tr = fit_encoder(
        train,
        y_tr,
        categorical=HONEST_CATEGORICAL,
        numeric=HONEST_NUMERIC,
        targets=HONEST_TARGETS,
        min_count=5,
    )
    return enc, X_tr, y_tr, enc.transform_frame(test), test["arrest"].to_numpy(dtype=np.int64)
