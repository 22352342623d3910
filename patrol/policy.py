"""When routes are planned and emitted: one deterministic policy for every runtime.

The embedded mode (:func:`simulators.embedded.replay_stream`) and the Faust workers
(:mod:`streams.app`) both feed incidents one at a time to :class:`EmissionPolicy`, which decides
from the event sequence alone (never the wall clock, never batch boundaries) when to plan and
which routes to emit. Per district, with the district's event-time clock (the latest
``occurred_at`` it has learned):

* **Shift start.** When a learned incident moves the clock past the start of shift S, S is
  planned from the incidents before S's start - exactly what ``patrolstream run`` plans at
  shift starts - and emitted; then the incident is learned. When the clock jumps over more than
  :attr:`PolicyConfig.max_catchup_shifts` shift starts, only the latest ones are planned.
* **Debounced revision.** After every :attr:`PolicyConfig.replan_every` learned incidents
  (``new`` or ``revision``), the *next* shift is re-planned as a forecast (a dry run: no version
  taken) and emitted only if it changed materially from the last route emitted for that slot
  (:func:`material_change`). A burst of incidents therefore gives at most one revised route
  per ``replan_every`` incidents. A forecast uses the district's last fitted clusters even when
  they are stale (clusters are re-chosen by k-means only at shift starts, and kept): the
  hotspots, predicted points and probabilities are current, only the choice of clusters may
  lag by up to one shift. This keeps k-means - most of the cost of a plan - out of the
  forecasts; only a district never fitted yet fits for its forecast, on a throw-away copy.
* Versions increase by one per emission per district, date and shift (all the units of a
  slot, ``EngineConfig.units`` with the optimising planner, are emitted together with one
  version and one fingerprint). Duplicates, stale and late versions trigger nothing.

Everything a district's state went through is written down as a :class:`Step` ``entry``: a
small JSON list of operations (``fit`` with the clustering a shift-start plan produced,
``ingest`` with the event, ``emit`` with version and fingerprint). :meth:`EmissionPolicy.restore`
applies a district's entries in order and rebuilds the engine's district state bit for bit,
refits included (k-means is not re-run); the Faust worker keeps the entries in a
changelog-backed table, so a restarted worker continues exactly where the changelog says.

Sequence numbers: every entry of a district has a 1-based ``seq`` (:attr:`Step.seq`, counted
by :attr:`Cursor.entries`), the only numbering there is. A runtime may store consecutive
entries together as one *chunk* (:func:`history_chunk`, keyed by the seq of its first entry;
:func:`chunk_entries` reads one back, a lone version-1 entry included). A *snapshot*
(:meth:`EmissionPolicy.snapshot`) is a district's whole state after entry ``seq``: restoring it
and then the entries after ``seq`` (``restore(district, tail, snapshot)``) gives exactly the
state a replay of every entry gives, so the entries it covers can be deleted.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta, tzinfo
from typing import Any

from patrol.engine import DistrictState, Engine, Outcome, route_key
from patrol.geo import haversine_m
from patrol.incidents.parse import parse_event
from patrol.incidents.revisions import RevisionLog
from patrol.incidents.schema import Incident
from patrol.learners.clusters import Clustering
from patrol.planning import SHIFTS, Shift, shift_bounds
from patrol.routes import Route

ENTRY_VERSION = 1
"""Format version of the entries :meth:`EmissionPolicy.process` writes (one per step)."""

CHUNK_VERSION = 2
"""Format version of a chunk of consecutive entries (:func:`history_chunk`)."""

SNAPSHOT_VERSION = 1
"""Format version of :meth:`EmissionPolicy.snapshot`."""


@dataclass(frozen=True, slots=True)
class PolicyConfig:
    """Parameters of the emission policy.

    Parameters
    ----------
    replan_every
        Re-plan the next shift after this many learned incidents in the district.
    material_m
        A forecast is emitted when a way-point moved farther than this (metres) ...
    material_share
        ... or the expected incidents changed by more than this share, or the way-points
        changed in number or order.
    max_catchup_shifts
        When the clock jumps over more shift starts than this, only the latest are planned.
    """

    replan_every: int = 25
    material_m: float = 50.0
    material_share: float = 0.05
    max_catchup_shifts: int = 9

    def __post_init__(self) -> None:
        if self.replan_every < 1 or self.max_catchup_shifts < 1:
            raise ValueError("replan_every and max_catchup_shifts must be >= 1")
        if not (self.material_m >= 0 and self.material_share >= 0):
            raise ValueError("material_m and material_share must be >= 0")


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """What makes two routes of a slot materially different: way-points in order, expectation."""

    points: tuple[tuple[float, float], ...]
    expected: float

    @classmethod
    def of(cls, route: Route) -> Fingerprint:
        """The fingerprint of ``route``."""
        return cls.of_team((route,))

    @classmethod
    def of_team(cls, routes: Iterable[Route]) -> Fingerprint:
        """The fingerprint of a slot's routes (units in order): way-points one unit after the
        other, expected incidents summed; for one route the same as :meth:`of`."""
        team = tuple(routes)
        pts = tuple((w.latitude, w.longitude) for r in team for w in r.waypoints)
        return cls(pts, sum(r.expected_incidents for r in team))

    def to_list(self) -> list[Any]:
        """JSON-ready form ``[[[lat, lon], ...], expected]``."""
        return [[list(p) for p in self.points], self.expected]

    @classmethod
    def from_list(cls, data: list[Any]) -> Fingerprint:
        """Inverse of :meth:`to_list`."""
        return cls(tuple((float(a), float(b)) for a, b in data[0]), float(data[1]))


def material_change(
    old: Fingerprint | None, new: Fingerprint, material_m: float, material_share: float
) -> bool:
    """Whether ``new`` differs materially from ``old`` (always, when there is no ``old``).

    Examples
    --------
    >>> a = Fingerprint(((41.88, -87.63), (41.89, -87.64)), 2.0)
    >>> material_change(a, replace(a, expected=2.05), 50.0, 0.05)
    False
    >>> material_change(a, replace(a, expected=2.2), 50.0, 0.05)
    True
    >>> material_change(a, replace(a, points=a.points[::-1]), 50.0, 0.05)  # order changed
    True
    >>> material_change(a, replace(a, points=((41.8803, -87.63), a.points[1])), 50.0, 0.05)
    False
    """
    if old is None or len(old.points) != len(new.points):
        return True
    if abs(new.expected - old.expected) > material_share * abs(old.expected):
        return True
    return any(
        haversine_m(a[0], a[1], b[0], b[1]) > material_m
        for a, b in zip(old.points, new.points, strict=True)
    )


@dataclass
class Cursor:
    """The policy's own state for one district (all of it derived from its entries)."""

    clock: datetime | None = None
    since_replan: int = 0
    entries: int = 0
    emitted: dict[str, Fingerprint] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (snapshots, tests and diagnostics)."""
        return {
            "clock": None if self.clock is None else self.clock.isoformat(),
            "since_replan": self.since_replan,
            "entries": self.entries,
            "emitted": {k: v.to_list() for k, v in sorted(self.emitted.items())},
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Cursor:
        """Inverse of :meth:`to_dict`.

        Examples
        --------
        >>> c = Cursor(datetime.fromisoformat("2016-09-01T10:00:00-05:00"), 3, 7,
        ...            {"2016-09-01/16-24": Fingerprint(((41.8, -87.6),), 1.5)})
        >>> Cursor.from_dict(c.to_dict()) == c
        True
        """
        clock = d["clock"]
        return cls(
            clock=None if clock is None else datetime.fromisoformat(clock),
            since_replan=int(d["since_replan"]),
            entries=int(d["entries"]),
            emitted={str(k): Fingerprint.from_list(v) for k, v in d["emitted"].items()},
        )


@dataclass(frozen=True, slots=True)
class Step:
    """What processing one incident did.

    ``entry`` is the record to append to the district's history (``None`` when nothing
    changed, e.g. a duplicate); ``seq`` is its 1-based position there (the district's entry
    count, :attr:`Cursor.entries`, after this step). ``incident_id`` is the
    incident processed: the trigger of ``routes``.
    """

    district: str
    outcome: Outcome
    routes: tuple[Route, ...] = ()
    entry: dict[str, Any] | None = None
    seq: int | None = None
    incident_id: str | None = None


class EmissionPolicy:
    """Feed incidents in, get the routes to emit and the history entries to keep.

    Parameters
    ----------
    engine
        The engine whose districts this policy drives (it must not be fed by anyone else).
    config
        Policy parameters.
    """

    def __init__(self, engine: Engine, config: PolicyConfig | None = None) -> None:
        self.engine = engine
        self.config = config or PolicyConfig()
        self.cursors: dict[str, Cursor] = {}

    # -- live processing -------------------------------------------------------------------
    def process(self, incident: Incident) -> Step:
        """Plan what is due, learn ``incident``, and say what to emit and to record."""
        eng = self.engine
        district = eng.district_of(incident)
        if incident.district != district:
            incident = replace(incident, district=district)
        cur = self.cursors.setdefault(district, Cursor())
        ops: list[list[Any]] = []
        routes: list[Route] = []
        preview = eng.preview(incident)
        if preview.learned and cur.clock is not None and incident.occurred_at > cur.clock:
            for day, shift in self._due(cur.clock, incident.occurred_at):
                routes += self._plan_shift_start(district, day, shift, ops)
        marker = self._marker(district, incident.id)
        outcome = eng.ingest(incident)
        if outcome is not preview:  # pragma: no cover - preview mirrors the revision log
            raise AssertionError(f"preview said {preview}, ingest did {outcome}")
        if outcome.learned or self._marker(district, incident.id) != marker:
            ops.append(["ingest", incident.to_event()])
        if self._advance(district, cur, incident, outcome):
            routes += self._forecast(district, cur, ops)
        if not ops:
            return Step(district, outcome, tuple(routes), incident_id=incident.id)
        cur.entries += 1
        entry = {"v": ENTRY_VERSION, "ops": ops}
        return Step(district, outcome, tuple(routes), entry, cur.entries, incident.id)

    def _due(self, before: datetime, after: datetime) -> list[tuple[date, Shift]]:
        due = self.engine.due_shifts(before, after)
        return due[-self.config.max_catchup_shifts :]

    def _plan_shift_start(
        self, district: str, day: date, shift: Shift, ops: list[list[Any]]
    ) -> list[Route]:
        st = self.engine.state(district)
        before = st.model.clusterer.clustering
        start = shift_bounds(day, shift, self.engine.tz)[0]
        routes = self.engine.plan_units(district, day, shift, generated_at=start)
        after = st.model.clusterer.clustering
        if after is not None and after is not before:
            ops.append(["fit", after.to_dict()])
        if not routes:
            return []
        self._record_emit(district, routes, ops)
        return routes

    def _forecast(self, district: str, cur: Cursor, ops: list[list[Any]]) -> list[Route]:
        assert cur.clock is not None
        day, shift = next_shift(cur.clock, self.engine.tz)
        routes = self.engine.plan_units(district, day, shift, generated_at=cur.clock, dry_run=True)
        if not routes:
            return []
        old = cur.emitted.get(route_key(day, shift))
        cfg = self.config
        new = Fingerprint.of_team(routes)
        if not material_change(old, new, cfg.material_m, cfg.material_share):
            return []
        self.engine.commit_version(routes[0])
        self._record_emit(district, routes, ops)
        return routes

    def _record_emit(self, district: str, routes: list[Route], ops: list[list[Any]]) -> None:
        """Record the emission of a slot's routes (all units share the slot's version)."""
        key = f"{routes[0].date}/{routes[0].shift}"
        fp = Fingerprint.of_team(routes)
        self.cursors[district].emitted[key] = fp
        ops.append(["emit", key, routes[0].version, fp.to_list()])

    def _advance(self, district: str, cur: Cursor, incident: Incident, outcome: Outcome) -> bool:
        """Move the clock and the debounce counter; True when a forecast is due."""
        if not outcome.learned:
            return False
        if cur.clock is None or incident.occurred_at > cur.clock:
            cur.clock = incident.occurred_at
            self._prune(district, cur)
        cur.since_replan += 1
        if cur.since_replan >= self.config.replan_every:
            cur.since_replan = 0
            return True
        return False

    def _prune(self, district: str, cur: Cursor) -> None:
        """Forget versions and fingerprints of slots more than a day before the clock."""
        assert cur.clock is not None
        cutoff = (cur.clock.astimezone(self.engine.tz).date() - timedelta(days=1)).isoformat()
        versions = self.engine.state(district).versions
        for store in (versions, cur.emitted):
            for key in [k for k in store if k[:10] < cutoff]:
                del store[key]

    def _marker(self, district: str, incident_id: str) -> tuple[float | None, object]:
        log: RevisionLog = self.engine.state(district).revisions
        return log.watermark, log.get(incident_id)

    # -- recovery --------------------------------------------------------------------------
    def snapshot(self, district: str) -> dict[str, Any]:
        """The district's whole state, JSON-ready: the engine's :class:`DistrictState`
        (``to_dict``, so fields added there are carried along) and this policy's cursor.

        It stands for the district's entries up to ``snapshot["cursor"]["entries"]``:
        ``restore(district, later_entries, snapshot)`` continues from it. ``KeyError`` when the
        district is unknown.
        """
        state = self.engine.districts[district]
        return {
            "v": SNAPSHOT_VERSION,
            "district": district,
            "state": state.to_dict(),
            "cursor": self.cursors[district].to_dict(),
        }

    def restore(
        self,
        district: str,
        entries: Iterable[Mapping[str, Any]],
        snapshot: Mapping[str, Any] | None = None,
    ) -> int:
        """Rebuild ``district`` from a snapshot (or nothing) and the history entries after it,
        in order; returns how many entries were applied.

        The engine's district state and this policy's cursor end up exactly as they were
        after the live processing that wrote the entries. ``ValueError`` for an unknown entry
        or snapshot format, or a snapshot of another district. A snapshot's state keeps the
        engine configuration it was learned with (as :meth:`Engine.load_dict
        <patrol.engine.Engine.load_dict>` does); callers may compare it with the engine's.
        """
        eng = self.engine
        eng.drop_district(district)
        self.cursors.pop(district, None)
        cur = Cursor()
        if snapshot is not None:
            if snapshot.get("v") != SNAPSHOT_VERSION or snapshot.get("district") != district:
                v, d = snapshot.get("v"), snapshot.get("district")
                raise ValueError(f"district {district}: unusable snapshot (version {v}, of {d})")
            state = DistrictState.from_dict(snapshot["state"])
            cur = Cursor.from_dict(snapshot["cursor"])
            eng.districts[district] = state
        self.cursors[district] = cur
        base = cur.entries
        n = 0
        for entry in entries:
            if entry.get("v") != ENTRY_VERSION:
                raise ValueError(f"district {district}: unsupported entry version {entry.get('v')}")
            for op in entry["ops"]:
                kind = op[0]
                if kind == "ingest":
                    incident = parse_event(op[1], eng.profile)
                    self._advance(district, cur, incident, eng.ingest(incident))
                elif kind == "fit":
                    eng.adopt_clustering(district, Clustering.from_dict(op[1]))
                elif kind == "emit":
                    eng.state(district).versions[op[1]] = int(op[2])
                    cur.emitted[op[1]] = Fingerprint.from_list(op[3])
                else:
                    raise ValueError(f"district {district}: unknown operation {kind!r}")
            n += 1
        cur.entries = base + n
        return n

    def forget(self, district: str) -> None:
        """Drop a district from the policy and the engine."""
        self.cursors.pop(district, None)
        self.engine.drop_district(district)


def history_chunk(entries: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Consecutive entries of one district as one stored record (a micro-batch's steps).

    Examples
    --------
    >>> chunk = history_chunk([{"v": 1, "ops": [["emit", "k", 1, [[], 0.0]]]}] * 2)
    >>> chunk["v"], len(chunk_entries(chunk))
    (2, 2)
    """
    return {"v": CHUNK_VERSION, "entries": [dict(e) for e in entries]}


def chunk_entries(record: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The entries of a stored record: a chunk's, or a lone entry (the version-1 format, one
    record per entry, as written before chunks existed). ``ValueError`` for other versions.

    Examples
    --------
    >>> chunk_entries({"v": 1, "ops": []})
    [{'v': 1, 'ops': []}]
    >>> chunk_entries({"v": 7})
    Traceback (most recent call last):
    ...
    ValueError: unsupported history record version 7
    """
    version = record.get("v")
    if version == ENTRY_VERSION:
        return [record]
    if version == CHUNK_VERSION:
        return list(record["entries"])
    raise ValueError(f"unsupported history record version {version}")


def next_shift(clock: datetime, tz: tzinfo) -> tuple[date, Shift]:
    """The shift after the one containing ``clock`` (local wall-clock hours in ``tz``).

    Examples
    --------
    >>> from zoneinfo import ZoneInfo
    >>> chicago = ZoneInfo("America/Chicago")
    >>> d, s = next_shift(datetime(2016, 9, 5, 23, 30, tzinfo=chicago), chicago)
    >>> d.isoformat(), s.label
    ('2016-09-06', '00-08')
    >>> next_shift(datetime(2016, 9, 5, 12, 0, tzinfo=chicago), chicago)[1].label
    '16-24'
    """
    local = clock.astimezone(tz)
    index = local.hour // 8
    if index < len(SHIFTS) - 1:
        return local.date(), SHIFTS[index + 1]
    return local.date() + timedelta(days=1), SHIFTS[0]
