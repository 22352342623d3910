"""Tests for the hour-of-day speed profile (CPSPA phase 4 traffic, paper section 5.4)."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from patrol.travel.speed import SpeedProfile, check_hour

RUSH_HOURS = (7, 8, 9, 16, 17, 18)
NIGHT_HOURS = (0, 1, 2, 3, 4)
MIDDAY_HOURS = (11, 12, 13)

valid_multipliers = st.lists(
    st.floats(min_value=1e-3, max_value=10.0, allow_nan=False), min_size=24, max_size=24
)


def test_default_profile_has_one_value_per_hour() -> None:
    profile = SpeedProfile.default()
    assert len(profile.multipliers) == 24
    assert all(0.0 < m <= 1.0 for m in profile.multipliers)


def test_default_rush_hours_are_slower_than_midday_and_night() -> None:
    profile = SpeedProfile.default()
    slowest_midday = min(profile.multiplier(h) for h in MIDDAY_HOURS)
    for rush in RUSH_HOURS:
        assert profile.multiplier(rush) < slowest_midday
        for night in NIGHT_HOURS:
            assert profile.multiplier(rush) < profile.multiplier(night)
    assert all(profile.multiplier(h) == 1.0 for h in NIGHT_HOURS)


def test_speed_is_free_flow_times_multiplier() -> None:
    profile = SpeedProfile((0.5,) * 12 + (0.25,) * 12)
    assert profile.speed_kmh(40.0, 3) == 20.0
    assert profile.speed_kmh(40.0, 20) == 10.0


@pytest.mark.parametrize(
    "values",
    [
        [1.0] * 23,
        [1.0] * 25,
        [1.0] * 23 + [0.0],
        [1.0] * 23 + [-0.5],
        [1.0] * 23 + [math.nan],
        [1.0] * 23 + [math.inf],
    ],
)
def test_invalid_multipliers_are_rejected(values: list[float]) -> None:
    with pytest.raises(ValueError):
        SpeedProfile(tuple(values))


@pytest.mark.parametrize("hour", [-1, 24, 100])
def test_hours_outside_the_day_are_rejected(hour: int) -> None:
    with pytest.raises(ValueError, match="hour"):
        SpeedProfile.default().multiplier(hour)


def test_hour_must_be_an_integer() -> None:
    with pytest.raises(TypeError):
        check_hour(8.0)  # type: ignore[arg-type]
    assert check_hour(np.int64(8)) == 8


def test_profile_is_immutable_and_stores_floats() -> None:
    profile = SpeedProfile(tuple([1] * 24))
    assert all(type(m) is float for m in profile.multipliers)
    with pytest.raises(dataclasses.FrozenInstanceError):
        profile.multipliers = (2.0,) * 24  # type: ignore[misc]


def test_from_speeds_kmh_divides_by_free_flow() -> None:
    speeds = [50.0] * 7 + [20.0] * 17
    profile = SpeedProfile.from_dict({"speeds_kmh": speeds, "free_flow_kmh": 50.0})
    assert profile.multiplier(6) == 1.0
    assert profile.multiplier(7) == pytest.approx(0.4)
    with pytest.raises(ValueError):
        SpeedProfile.from_speeds_kmh(speeds, free_flow_kmh=0.0)


@pytest.mark.parametrize(
    "data", [{}, {"multiplier": [1.0] * 24}, {"multipliers": [1.0] * 24, "extra": 1}]
)
def test_from_dict_rejects_unknown_layouts(data: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        SpeedProfile.from_dict(data)


def test_to_dict_layout() -> None:
    assert SpeedProfile.constant(0.7).to_dict() == {"multipliers": [0.7] * 24}


@given(valid_multipliers)
def test_dict_round_trip(values: list[float]) -> None:
    profile = SpeedProfile(tuple(values))
    again = SpeedProfile.from_dict(profile.to_dict())
    assert again == profile
    assert [again.multiplier(h) for h in range(24)] == values
