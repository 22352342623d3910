"""The emission policy with the optimising planner: restore from history stays bit-identical."""

from __future__ import annotations

import io
import json
from collections import defaultdict
from collections.abc import Callable, Iterable

import pytest

from patrol.config import EngineConfig
from patrol.engine import Engine
from patrol.incidents.parse import read_csv
from patrol.incidents.profile import CityProfile
from patrol.incidents.schema import Incident
from patrol.policy import EmissionPolicy, Fingerprint, PolicyConfig
from patrol.routes import Route


@pytest.fixture(scope="module")
def district8_days(slicer: Callable[[set[str], int], str], chicago: CityProfile) -> list[Incident]:
    """Real incidents of district 8, 1-4 Sept 2016, in event-time order."""
    batch = read_csv(io.StringIO(slicer({"008"}, 4)), chicago)
    return sorted(batch.incidents, key=lambda i: i.occurred_at)


def _run(
    policy: EmissionPolicy, incidents: Iterable[Incident]
) -> tuple[list[Route], dict[str, list[dict[str, object]]]]:
    routes: list[Route] = []
    history: dict[str, list[dict[str, object]]] = defaultdict(list)
    for inc in incidents:
        step = policy.process(inc)
        routes += step.routes
        if step.entry is not None:
            history[step.district].append(step.entry)
    return routes, dict(history)


@pytest.mark.parametrize("units", [1, 2])
def test_history_entries_rebuild_the_state_exactly(
    chicago: CityProfile, district8_days: list[Incident], units: int
) -> None:
    cfg = EngineConfig(planner="optimizer", units=units, sites_per_unit=8, min_incidents=20)
    live = EmissionPolicy(Engine(chicago, cfg), PolicyConfig(replan_every=15))
    half = len(district8_days) * 2 // 3
    routes, history = _run(live, district8_days[:half])
    assert routes and all(r.planner == "optimizer" for r in routes)
    assert any(r.version > 1 for r in routes)  # forecasts (dry runs) were emitted too
    slots: dict[tuple[str, str, int], list[Route]] = defaultdict(list)
    for r in routes:
        slots[(r.date, r.shift, r.version)].append(r)
    assert all([r.unit for r in team] == list(range(1, units + 1)) for team in slots.values())
    restored = EmissionPolicy(Engine(chicago, cfg), live.config)
    for district, entries in json.loads(json.dumps(history)).items():
        assert restored.restore(district, entries) == len(entries)
    state = json.dumps(live.engine.to_dict(), sort_keys=True)
    assert json.dumps(restored.engine.to_dict(), sort_keys=True) == state
    assert {d: c.to_dict() for d, c in restored.cursors.items()} == {
        d: c.to_dict() for d, c in live.cursors.items()
    }
    for inc in district8_days[half:]:  # both continue identically, routes included
        a, b = live.process(inc), restored.process(inc)
        assert [r.to_geojson() for r in a.routes] == [r.to_geojson() for r in b.routes]
        assert (a.entry, a.seq) == (b.entry, b.seq)


def test_a_team_fingerprint_joins_the_units(
    chicago: CityProfile, district8_days: list[Incident]
) -> None:
    cfg = EngineConfig(planner="optimizer", units=2, sites_per_unit=5, min_incidents=20)
    policy = EmissionPolicy(Engine(chicago, cfg), PolicyConfig(replan_every=10**6))
    routes, _ = _run(policy, district8_days[:200])
    team = routes[-2:]  # the last slot emitted (older slots are pruned)
    assert [r.unit for r in team] == [1, 2]
    fp = Fingerprint.of_team(team)
    assert fp.points == Fingerprint.of(team[0]).points + Fingerprint.of(team[1]).points
    assert fp.expected == pytest.approx(team[0].expected_incidents + team[1].expected_incidents)
    key = f"{team[0].date}/{team[0].shift}"
    assert policy.cursors["8"].emitted[key] == fp
