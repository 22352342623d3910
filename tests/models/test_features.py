"""Feature extraction and encoding: both paths agree, unseen values read as unknown."""

from __future__ import annotations

import dataclasses
import io
import json
from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest

from models.arrest.encoding import fit_target_tables
from models.arrest.features import (
    HONEST_CATEGORICAL,
    HONEST_NUMERIC,
    HONEST_TARGETS,
    KNOWN_ARREST_ONLY,
    SEED_CATEGORICAL,
    SEED_NUMERIC,
    FeatureEncoder,
    arrest_only_types,
    fit_encoder,
    raw_frame,
    raw_incident,
)
from patrol.incidents.parse import read_csv
from patrol.incidents.profile import CityProfile
from patrol.incidents.schema import Incident


def _encoder(raw: pd.DataFrame, min_count: int = 1) -> FeatureEncoder:
    y = raw["arrest"].fillna(0).to_numpy()
    enc, _ = fit_encoder(
        raw,
        y,
        categorical=HONEST_CATEGORICAL,
        numeric=HONEST_NUMERIC,
        targets=HONEST_TARGETS,
        min_count=min_count,
    )
    return enc


def _by_id(raw: pd.DataFrame, X: np.ndarray, ids: list[str]) -> np.ndarray:
    return X[pd.Index(raw["id"]).get_indexer(ids)]


def test_frame_path_keeps_exactly_the_rows_the_parser_accepts(
    rows_frame: pd.DataFrame, rows_incidents: list[Incident], chicago: CityProfile
) -> None:
    raw = raw_frame(rows_frame, chicago)
    assert sorted(raw["id"]) == sorted(i.id for i in rows_incidents)
    assert len(raw) < len(rows_frame)  # the fixture has rows without or with bad coordinates


def test_frame_and_incident_paths_give_identical_encodings(
    rows_frame: pd.DataFrame, rows_incidents: list[Incident], chicago: CityProfile
) -> None:
    raw = raw_frame(rows_frame, chicago)
    enc = _encoder(raw, min_count=2)
    from_frame = _by_id(raw, enc.transform_frame(raw), [i.id for i in rows_incidents])
    from_incidents = enc.transform_incidents(rows_incidents)
    assert from_frame.dtype == from_incidents.dtype == np.float32
    np.testing.assert_array_equal(from_frame, from_incidents)
    # the fixture's rows exercise every kind of column: not all unknown, not all prior
    rates = from_frame[:, len(enc.categorical) + len(enc.numeric) :]
    assert (from_frame[:, 0] > 0).any() and len(np.unique(rates)) > 1


def test_paths_agree_on_the_bundled_sample(sample_raw: pd.DataFrame, chicago: CityProfile) -> None:
    from simulators.settings import SAMPLE

    enc = _encoder(sample_raw, min_count=5)
    incidents = read_csv(SAMPLE, chicago, locate=False).incidents[::7]
    want = _by_id(sample_raw, enc.transform_frame(sample_raw), [i.id for i in incidents])
    np.testing.assert_array_equal(want, enc.transform_incidents(incidents))


def test_dst_gap_and_fold_times_follow_the_parser(
    rows_frame: pd.DataFrame, rows_incidents: list[Incident], chicago: CityProfile
) -> None:
    raw = raw_frame(rows_frame, chicago).set_index("id")
    gap = [i for i in rows_incidents if i.occurred_at.isoformat().startswith("2016-03-13T03:30")]
    fold = [i for i in rows_incidents if i.occurred_at.isoformat().startswith("2016-11-06T01:30")]
    assert gap and fold
    # 02:30 does not exist on 2016-03-13: shifted forward by the gap to 03:30 (timeparse)
    assert raw.loc[gap[0].id, ["hour", "minute"]].tolist() == [3, 30]
    assert raw.loc[fold[0].id, ["hour", "minute"]].tolist() == [1, 30]


def test_iso_times_take_the_one_row_path(chicago: CityProfile) -> None:
    text = (
        "ID,Date,Latitude,Longitude,Primary Type\n"
        "1,2016-07-04T21:15:00-05:00,41.88,-87.63,THEFT\n"
        "2,2016-07-05T02:15:00Z,41.88,-87.63,THEFT\n"
        "3,07/04/2016 09:15:00 PM,41.88,-87.63,THEFT\n"
    )
    raw = raw_frame(pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False), chicago)
    # all three are 21:15 local on Monday 4 July 2016 (02:15Z = 21:15 CDT the day before)
    assert (
        raw[["hour", "minute", "day_of_week", "month", "day_of_month"]].values.tolist()
        == [[21, 15, 0, 7, 4]] * 3
    )
    incs = read_csv(io.StringIO(text), chicago, locate=False).incidents
    enc = _encoder(raw)
    np.testing.assert_array_equal(enc.transform_frame(raw), enc.transform_incidents(incs))


def test_unseen_and_missing_categories_read_as_the_unknown_index() -> None:
    enc = FeatureEncoder(
        categorical=("primary_type", "beat"),
        numeric=("minute", "on_the_hour"),
        vocabularies={"primary_type": ["THEFT", "BATTERY"], "beat": ["111"]},
    )
    t = datetime(2016, 5, 1, 14, 0, tzinfo=timezone(timedelta(hours=-5)))
    seen = Incident("1", t, 41.9, -87.7, primary_type="BATTERY", beat="111")
    unseen = dataclasses.replace(seen, primary_type="NEW TYPE", beat="9999")
    missing = dataclasses.replace(seen, primary_type=None, beat=None)
    X = enc.transform_incidents([seen, unseen, missing])
    assert X.tolist() == [[2, 1, 0, 1], [0, 0, 0, 1], [0, 0, 0, 1]]
    frame = pd.DataFrame([raw_incident(i) for i in (seen, unseen, missing)])
    np.testing.assert_array_equal(enc.transform_frame(frame), X)


def test_vocabulary_keeps_values_seen_min_count_times(sample_raw: pd.DataFrame) -> None:
    y = sample_raw["arrest"].to_numpy()
    enc, X = fit_encoder(
        sample_raw, y, categorical=SEED_CATEGORICAL, numeric=SEED_NUMERIC, min_count=100
    )
    counts = sample_raw["location_description"].value_counts()
    assert set(enc.vocabularies["location_description"]) == set(counts[counts >= 100].index)
    rare = sample_raw["location_description"].isin(counts[counts < 100].index).to_numpy()
    j = enc.columns.index("location_description")
    known = ~rare & sample_raw["location_description"].notna().to_numpy()
    assert rare.any() and (X[rare, j] == 0).all() and (X[known, j] > 0).all()


def test_encoder_round_trips_through_json(sample_raw: pd.DataFrame) -> None:
    enc = _encoder(sample_raw.iloc[:3000], min_count=3)
    back = FeatureEncoder.from_dict(json.loads(json.dumps(enc.to_dict())))
    head = sample_raw.iloc[3000:3500]
    np.testing.assert_array_equal(back.transform_frame(head), enc.transform_frame(head))
    assert back.to_dict()["unknown_index"] == 0


def test_training_rows_get_out_of_fold_rates() -> None:
    raw = pd.DataFrame({"beat": ["1"] * 6, "primary_type": ["THEFT"] * 6})
    y = np.array([1, 1, 1, 0, 0, 0])
    folds = np.array([2012, 2012, 2012, 2013, 2013, 2013])
    tables, oof = fit_target_tables(
        raw, y, [("beat", "primary_type")], folds, min_count=1, alpha=2.0
    )
    # all rows: (3 + 2 * 0.5) / (6 + 2) = 0.5; fold 2012 sees only 2013 (0 of 3, prior 0):
    # (0 + 2 * 0) / (3 + 2) = 0; fold 2013 sees 2012 (3 of 3, prior 1): (3 + 2) / 5 = 1
    assert tables[0].rates == {"1\x1fTHEFT": 0.5}
    assert oof[:, 0].tolist() == [0.0, 0.0, 0.0, 1.0, 1.0, 1.0]


def test_rare_keys_read_the_prior() -> None:
    raw = pd.DataFrame({"block": ["A"] * 5 + ["B"]})
    y = np.array([1, 1, 1, 1, 0, 1])
    tables, _ = fit_target_tables(raw, y, [("block",)], None, min_count=2, alpha=0.0)
    assert tables[0].rates == {"A": 0.8}
    assert tables[0].lookup("B") == tables[0].prior == round(5 / 6, 6)


def test_arrest_only_types_are_the_known_ones_plus_computed() -> None:
    types = pd.Series(["NARCOTICS"] * 30 + ["PUBLIC INDECENCY"] * 25 + ["THEFT"] * 40)
    y = np.array([1] * 29 + [0] + [1] * 25 + [1] * 10 + [0] * 30)
    got = arrest_only_types(types, y)
    assert got == {"NARCOTICS": pytest.approx(29 / 30), "PUBLIC INDECENCY": 1.0}
    assert set(KNOWN_ARREST_ONLY) >= {"NARCOTICS", "PROSTITUTION", "GAMBLING"}


def test_derived_minute_features() -> None:
    enc = FeatureEncoder((), ("minute", "on_the_hour", "on_five_minutes"), {})
    frame = pd.DataFrame({"minute": [0, 5, 7]})
    assert enc.transform_frame(frame).tolist() == [[0, 1, 1], [5, 0, 1], [7, 0, 0]]
