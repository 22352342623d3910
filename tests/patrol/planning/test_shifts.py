"""The three turns of paper section 5.2.3 and their real bounds across DST transitions."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from patrol.planning.shifts import (
    SHIFTS,
    Shift,
    shift_bounds,
    shift_duration_s,
    shift_local_hours,
    shift_of_hour,
)

CHICAGO = ZoneInfo("America/Chicago")
HAVANA = ZoneInfo("America/Havana")  # switches at local midnight
SPRING_2024 = dt.date(2024, 3, 10)  # US: 02:00 CST -> 03:00 CDT
FALL_2024 = dt.date(2024, 11, 3)  # US: 02:00 CDT -> 01:00 CST

# hour -> turn index, written out (00:00-07:59, 08:00-15:59, 16:00-23:59)
EXPECTED_TURN = [1] * 8 + [2] * 8 + [3] * 8


def test_shift_table() -> None:
    assert [(s.index, s.start_hour, s.end_hour, s.label) for s in SHIFTS] == [
        (1, 0, 8, "00-08"),
        (2, 8, 16, "08-16"),
        (3, 16, 24, "16-24"),
    ]


@pytest.mark.parametrize("hour", range(24))
def test_shift_of_every_hour(hour: int) -> None:
    shift = shift_of_hour(hour)
    assert shift.index == EXPECTED_TURN[hour]
    assert hour in shift.hours


@pytest.mark.parametrize("hour", [-1, 24, 100])
def test_shift_of_hour_rejects_out_of_range(hour: int) -> None:
    with pytest.raises(ValueError, match=r"0\.\.23"):
        shift_of_hour(hour)


def test_bad_shift_index() -> None:
    with pytest.raises(ValueError, match="1, 2 or 3"):
        shift_bounds(SPRING_2024, 4, CHICAGO)


def test_ordinary_day_is_three_eight_hour_shifts() -> None:
    day = dt.date(2024, 6, 12)
    bounds = [shift_bounds(day, s, CHICAGO) for s in SHIFTS]
    assert [b[0].isoformat() for b in bounds] == [
        "2024-06-12T00:00:00-05:00",
        "2024-06-12T08:00:00-05:00",
        "2024-06-12T16:00:00-05:00",
    ]
    assert bounds[2][1].isoformat() == "2024-06-13T00:00:00-05:00"
    assert [shift_duration_s(day, s, CHICAGO) for s in (1, 2, 3)] == [28800.0] * 3


def test_spring_forward_night_shift_is_seven_hours() -> None:
    start, end = shift_bounds(SPRING_2024, 1, CHICAGO)
    assert start.isoformat() == "2024-03-10T00:00:00-06:00"
    assert end.isoformat() == "2024-03-10T08:00:00-05:00"
    assert start.astimezone(dt.UTC).isoformat() == "2024-03-10T06:00:00+00:00"
    assert end.astimezone(dt.UTC).isoformat() == "2024-03-10T13:00:00+00:00"
    assert shift_duration_s(SPRING_2024, 1, CHICAGO) == 7 * 3600.0
    assert shift_duration_s(SPRING_2024, 2, CHICAGO) == 8 * 3600.0
    assert shift_duration_s(SPRING_2024, SHIFTS[2], CHICAGO) == 8 * 3600.0
    assert shift_local_hours(SPRING_2024, 1, CHICAGO) == [0, 1, 3, 4, 5, 6, 7]


def test_fall_back_night_shift_is_nine_hours() -> None:
    start, end = shift_bounds(FALL_2024, 1, CHICAGO)
    assert start.isoformat() == "2024-11-03T00:00:00-05:00"
    assert end.isoformat() == "2024-11-03T08:00:00-06:00"
    assert shift_duration_s(FALL_2024, 1, CHICAGO) == 9 * 3600.0
    assert [shift_duration_s(FALL_2024, s, CHICAGO) for s in (2, 3)] == [28800.0] * 2
    assert shift_local_hours(FALL_2024, 1, CHICAGO) == [0, 1, 1, 2, 3, 4, 5, 6, 7]


@pytest.mark.parametrize(
    ("day", "hours"), [(SPRING_2024, 23), (FALL_2024, 25), (dt.date(2024, 6, 12), 24)]
)
def test_shifts_tile_the_day(day: dt.date, hours: int) -> None:
    bounds = [shift_bounds(day, s, CHICAGO) for s in (1, 2, 3)]
    assert bounds[0][1] == bounds[1][0] and bounds[1][1] == bounds[2][0]
    assert bounds[2][1] == shift_bounds(day + dt.timedelta(days=1), 1, CHICAGO)[0]
    assert sum(shift_duration_s(day, s, CHICAGO) for s in (1, 2, 3)) == hours * 3600.0


def test_shift_start_inside_a_midnight_gap() -> None:
    # Cuba springs forward at 00:00 -> 01:00 (2024-03-10): the night shift starts at 01:00
    # CDT, is 7 h long, and the previous evening shift ends at that same instant.
    start, end = shift_bounds(SPRING_2024, 1, HAVANA)
    assert start.isoformat() == "2024-03-10T01:00:00-04:00"
    assert end.isoformat() == "2024-03-10T08:00:00-04:00"
    assert shift_duration_s(SPRING_2024, 1, HAVANA) == 7 * 3600.0
    previous_end = shift_bounds(SPRING_2024 - dt.timedelta(days=1), 3, HAVANA)[1]
    assert previous_end == start
    assert shift_duration_s(SPRING_2024 - dt.timedelta(days=1), 3, HAVANA) == 8 * 3600.0


def test_shift_start_at_an_ambiguous_midnight_takes_the_first() -> None:
    # Cuba falls back at 01:00 CDT -> 00:00 CST (2024-11-03): 00:00-00:59 happens twice.
    start, end = shift_bounds(FALL_2024, 1, HAVANA)
    assert start.isoformat() == "2024-11-03T00:00:00-04:00"
    assert end.isoformat() == "2024-11-03T08:00:00-05:00"
    assert shift_duration_s(FALL_2024, 1, HAVANA) == 9 * 3600.0


def test_custom_shift_object() -> None:
    evening = Shift(3, 16, 24)
    assert shift_bounds(SPRING_2024, evening, CHICAGO) == shift_bounds(SPRING_2024, 3, CHICAGO)
