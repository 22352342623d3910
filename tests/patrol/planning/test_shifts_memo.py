"""Shift bounds and hours are memoised: the memo returns what the computation gives."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from patrol.planning import SHIFTS, shift_bounds, shift_local_hours
from patrol.planning.shifts import _local, _local_hours

ZONES = [ZoneInfo("America/Chicago"), ZoneInfo("Australia/Lord_Howe"), ZoneInfo("UTC")]


@pytest.mark.parametrize("tz", ZONES, ids=str)
def test_memoised_bounds_and_hours_equal_fresh_computation(tz: ZoneInfo) -> None:
    day = dt.date(2024, 1, 1)
    while day < dt.date(2025, 1, 1):
        for shift in SHIFTS:
            start, end = shift_bounds(day, shift, tz)
            for got, hour in ((start, shift.start_hour), (end, shift.end_hour)):
                fresh = _local.__wrapped__(day, hour, tz)
                assert got == fresh and got.utcoffset() == fresh.utcoffset()
                assert got.fold == fresh.fold and got.tzinfo is fresh.tzinfo
            assert shift_local_hours(day, shift, tz) == list(
                _local_hours.__wrapped__(day, shift, tz)
            )
        day += dt.timedelta(days=5 if day.month not in (3, 4, 10, 11) else 1)


def test_local_hours_are_a_fresh_list_every_call() -> None:
    chicago = ZoneInfo("America/Chicago")
    hours = shift_local_hours(dt.date(2024, 11, 3), 1, chicago)
    assert hours == [0, 1, 1, 2, 3, 4, 5, 6, 7]
    hours.clear()
    assert shift_local_hours(dt.date(2024, 11, 3), 1, chicago) == [0, 1, 1, 2, 3, 4, 5, 6, 7]
