"""The incident's wire form: every field, times as ISO 8601 with offset."""

from __future__ import annotations

from dataclasses import asdict

from patrol.incidents.schema import Incident


def test_to_event_carries_every_field_with_iso_times(district8_september: list[Incident]) -> None:
    for inc in district8_september[:300]:
        expected = asdict(inc)
        expected["occurred_at"] = inc.occurred_at.isoformat()
        expected["updated_at"] = inc.updated_at.isoformat() if inc.updated_at else None
        assert inc.to_event() == expected
        assert expected["occurred_at"][-6] in "+-"  # an explicit UTC offset
