"""Districts' histories in the worker's ``district-history`` table: chunks, snapshots,
compaction and restore (:class:`HistoryStore`, over any mutable mapping: a Faust table in the
worker, a dict in offline tests).

Keys of one district ``d`` (every one written on the district's changelog partition)::

    d|<seq:010d>                  a chunk: the entries of one flush, the first one's seq
    d|snapshot|<seq:010d>|<i:04d> chunk i of the snapshot taken after entry seq
    d|manifest                    the snapshot in use: seq, chunks, sha256 (written last)

There is one numbering, the policy's entry ``seq`` (:attr:`patrol.policy.Step.seq`): a chunk
holding entries ``s..s+n-1`` is stored under ``s``, so the next chunk is ``s+n``; a missing
one is a *hole* (never committed: what follows it is dropped, the redelivered incidents write
it again). Every ``snapshot_every`` entries the district's state
(:meth:`EmissionPolicy.snapshot <patrol.policy.EmissionPolicy.snapshot>`, after the flush's
last entry, so always at a chunk boundary) is written as JSON, zlib-compressed, base64 text
split into chunks of at most :data:`SNAPSHOT_CHUNK_CHARS` (well under Kafka's default 1 MB
message limit), under keys naming its seq (never those of the snapshot in use); then the
manifest; only then are the chunks it covers and the previous snapshot's chunks deleted
(tombstones: the changelog topic is compacted). A district thus keeps at most the entries
since its last snapshot, that snapshot's chunks and the manifest.

Restore (:meth:`HistoryStore.load`) tries the manifest's snapshot, then the previous one it
names, then none (seq 0); the first whose chunks are complete (sha256) and whose following
chunks reach at least the manifest's seq is used. Crash points: after some snapshot chunks
and before the manifest, the old manifest still holds and the orphan chunks are deleted; after
the manifest, during the deletes, the covered leftovers are deleted again. When no complete
state exists (a manifest naming a lost chunk after its covered entries were deleted), an
error is logged and the district is rebuilt from the entries that remain (``lossy``).
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import time
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from patrol.policy import chunk_entries, history_chunk

log = logging.getLogger("patrolstream.worker")

SNAPSHOT_CHUNK_CHARS = 256 * 1024
"""Largest snapshot chunk (base64 characters): a changelog message stays far below 1 MB."""

MANIFEST_VERSION = 1
"""Format version of manifests and snapshot chunks."""

Rebuild = Callable[[Mapping[str, Any] | None, list[Mapping[str, Any]], int], None]
"""``rebuild(snapshot, entries, base)``: make the district's state the snapshot (``None``:
empty) plus ``entries`` (the entries ``base + 1 ...``); raises ``ValueError`` if unusable."""


class SnapshotError(ValueError):
    """A snapshot that cannot be used: a chunk missing, a checksum mismatch, bad data."""


def history_key(district: str, seq: int) -> str:
    """Table key of the district's chunk whose first entry is the ``seq``-th.

    Examples
    --------
    >>> history_key("8", 12)
    '8|0000000012'
    """
    return f"{district}|{seq:010d}"


def snapshot_key(district: str, seq: int, index: int) -> str:
    """Table key of chunk ``index`` of the district's snapshot taken after entry ``seq``.

    Examples
    --------
    >>> snapshot_key("8", 2000, 1)
    '8|snapshot|0000002000|0001'
    """
    return f"{district}|snapshot|{seq:010d}|{index:04d}"


def manifest_key(district: str) -> str:
    """Table key of the district's snapshot manifest."""
    return f"{district}|manifest"


@dataclass(frozen=True, slots=True)
class Key:
    """A parsed table key: ``kind`` is ``entries``, ``snapshot`` or ``manifest``."""

    kind: str
    district: str
    seq: int = 0
    index: int = 0


def parse_key(key: str) -> Key:
    """Inverse of :func:`history_key`, :func:`snapshot_key` and :func:`manifest_key`.

    Examples
    --------
    >>> parse_key("8|0000000012")
    Key(kind='entries', district='8', seq=12, index=0)
    >>> parse_key(snapshot_key("11", 40, 2)), parse_key("11|manifest").kind
    (Key(kind='snapshot', district='11', seq=40, index=2), 'manifest')
    """
    parts = key.split("|")
    if len(parts) >= 4 and parts[-3] == "snapshot":
        return Key("snapshot", "|".join(parts[:-3]), int(parts[-2]), int(parts[-1]))
    head, _, tail = key.rpartition("|")
    if tail == "manifest":
        return Key("manifest", head)
    return Key("entries", head, int(tail))


def parse_history_key(key: str) -> tuple[str, int]:
    """District and seq of a chunk key (:func:`history_key`)."""
    parsed = parse_key(key)
    if parsed.kind != "entries":
        raise ValueError(f"not a history chunk key: {key!r}")
    return parsed.district, parsed.seq


def encode_snapshot(
    snapshot: Mapping[str, Any], seq: int, chunk_chars: int = SNAPSHOT_CHUNK_CHARS
) -> tuple[dict[str, Any], list[str]]:
    """The manifest and the chunks (base64 text) of a snapshot taken after entry ``seq``.

    Examples
    --------
    >>> manifest, chunks = encode_snapshot({"a": list(range(100))}, 7, chunk_chars=40)
    >>> manifest["seq"], manifest["chunks"] == len(chunks) > 1
    (7, True)
    >>> decode_snapshot(manifest, chunks)["a"][-1]
    99
    """
    raw = json.dumps(snapshot, separators=(",", ":")).encode()
    payload = zlib.compress(raw, 6)
    text = base64.b64encode(payload).decode("ascii")
    chunks = [text[i : i + chunk_chars] for i in range(0, len(text), chunk_chars)]
    manifest = {
        "v": MANIFEST_VERSION,
        "seq": seq,
        "chunks": len(chunks),
        "sha256": hashlib.sha256(payload).hexdigest(),
        "bytes": len(payload),
        "raw_bytes": len(raw),
    }
    return manifest, chunks


def decode_snapshot(manifest: Mapping[str, Any], chunks: Sequence[str | None]) -> dict[str, Any]:
    """Inverse of :func:`encode_snapshot`; :class:`SnapshotError` when a chunk is missing
    (``None``), the payload's sha256 differs from the manifest's, or it does not decode."""
    missing = [i for i, c in enumerate(chunks) if c is None]
    if missing or len(chunks) != manifest["chunks"]:
        raise SnapshotError(f"snapshot {manifest['seq']}: chunks {missing or '?'} missing")
    try:
        payload = base64.b64decode("".join(c or "" for c in chunks), validate=True)
    except ValueError as exc:
        raise SnapshotError(f"snapshot {manifest['seq']}: not base64 ({exc})") from None
    if hashlib.sha256(payload).hexdigest() != manifest["sha256"]:
        raise SnapshotError(f"snapshot {manifest['seq']}: sha256 mismatch")
    try:
        snapshot = json.loads(zlib.decompress(payload))
    except (zlib.error, ValueError) as exc:
        raise SnapshotError(f"snapshot {manifest['seq']}: does not decode ({exc})") from None
    if not isinstance(snapshot, dict):
        raise SnapshotError(f"snapshot {manifest['seq']}: not an object")
    return snapshot


@dataclass
class DistrictKeys:
    """The live keys of one district (kept in memory from its restore on)."""

    entries: list[int] = field(default_factory=list)
    """Seqs of the live chunks, ascending."""
    snapshot: list[str] = field(default_factory=list)
    """Keys of the chunks of the snapshot in use."""
    snapshots: dict[int, dict[int, str]] = field(default_factory=dict)
    """Snapshot chunks found by the scan: seq -> index -> key (restore only)."""
    manifest: dict[str, Any] | None = None
    """The manifest in use (``None``: no snapshot)."""
    has_manifest: bool = False
    """The scan found a manifest key (restore only)."""

    @property
    def snapshot_seq(self) -> int:
        """Seq of the snapshot in use (0: none)."""
        return int(self.manifest["seq"]) if self.manifest else 0


@dataclass(frozen=True, slots=True)
class Restored:
    """What :meth:`HistoryStore.load` did for one district."""

    entries: int
    """Entries applied after the snapshot."""
    snapshot_seq: int
    """Seq of the snapshot restored (0: none)."""
    seq: int
    """The district's last entry (the next one written is ``seq + 1``)."""
    deleted: int
    """Keys deleted: hole, covered leftovers, orphan snapshot chunks."""
    lossy: bool = False
    """No complete state was found: rebuilt from the entries that remain."""


@dataclass(frozen=True, slots=True)
class SnapshotInfo:
    """One snapshot written (the ``snapshot written`` log line)."""

    seq: int
    bytes: int
    chunks: int
    deleted: int
    seconds: float


@dataclass
class _Walk:
    entries: list[Mapping[str, Any]]
    kept: list[int]
    stale: list[int]
    end: int
    gap: int | None = None


def _valid_manifest(m: Any) -> bool:
    """Whether ``m`` looks like a manifest (or a manifest's ``previous`` reference)."""
    return (
        isinstance(m, dict)
        and isinstance(m.get("seq"), int)
        and m["seq"] > 0
        and isinstance(m.get("chunks"), int)
        and isinstance(m.get("sha256"), str)
    )


class HistoryStore:
    """Chunks, snapshots and restores of districts' histories in one table.

    Parameters
    ----------
    table
        The ``district-history`` table (a Faust table, or a dict offline). Writes happen on
        the caller's current changelog partition (:func:`streams.messages.table_partition_of`).
    snapshot_every
        Snapshot a district after this many entries since its last snapshot (0: never).
    chunk_chars
        Largest snapshot chunk, in base64 characters.
    """

    def __init__(
        self, table: Any, snapshot_every: int, chunk_chars: int = SNAPSHOT_CHUNK_CHARS
    ) -> None:
        if snapshot_every < 0 or chunk_chars < 4:
            raise ValueError("snapshot_every must be >= 0 and chunk_chars >= 4")
        self.table = table
        self.snapshot_every = snapshot_every
        self.chunk_chars = chunk_chars
        self._live: dict[str, DistrictKeys] = {}
        self._index: dict[str, DistrictKeys] | None = None

    # -- keys --------------------------------------------------------------------------------
    def reset(self) -> None:
        """Forget every district's keys (a rebalance): the next restore scans the table."""
        self._live.clear()
        self._index = None

    def forget(self, district: str) -> None:
        """Forget one district's keys (it is rebuilt on its next incident, after a rescan)."""
        self._live.pop(district, None)
        self._index = None

    def live_keys(self, district: str) -> DistrictKeys | None:
        """The district's live keys, once restored."""
        return self._live.get(district)

    def _scan(self) -> dict[str, DistrictKeys]:
        index: dict[str, DistrictKeys] = {}
        for key in list(self.table):
            parsed = parse_key(key)
            keys = index.setdefault(parsed.district, DistrictKeys())
            if parsed.kind == "entries":
                keys.entries.append(parsed.seq)
            elif parsed.kind == "snapshot":
                keys.snapshots.setdefault(parsed.seq, {})[parsed.index] = key
            else:
                keys.has_manifest = True
        for keys in index.values():
            keys.entries.sort()
        return index

    def _delete(self, keys: list[str]) -> int:
        for key in keys:
            try:
                del self.table[key]
            except KeyError:
                continue
        return len(keys)

    # -- writing -----------------------------------------------------------------------------
    def append(self, district: str, steps: Sequence[tuple[int, Mapping[str, Any]]]) -> int:
        """Write ``(seq, entry)`` steps of one district as chunks of consecutive seqs (one,
        normally: a flush's steps); returns how many chunks."""
        keys = self._live.setdefault(district, DistrictKeys())
        runs: list[list[tuple[int, Mapping[str, Any]]]] = []
        for seq, entry in steps:
            if runs and runs[-1][-1][0] + 1 == seq:
                runs[-1].append((seq, entry))
            else:
                runs.append([(seq, entry)])
        for run in runs:
            self.table[history_key(district, run[0][0])] = history_chunk([e for _, e in run])
            keys.entries.append(run[0][0])
        return len(runs)

    def snapshot_due(self, district: str, seq: int) -> bool:
        """Whether the district, at entry ``seq``, is due for a snapshot."""
        keys = self._live.get(district)
        every = self.snapshot_every
        return keys is not None and every > 0 and seq - keys.snapshot_seq >= every

    def write_snapshot(self, district: str, seq: int, snapshot: Mapping[str, Any]) -> SnapshotInfo:
        """Write the snapshot taken after entry ``seq``: chunks, the manifest last, then delete
        the chunks it covers and the previous snapshot's chunks."""
        started = time.perf_counter()
        keys = self._live.setdefault(district, DistrictKeys())
        manifest, chunks = encode_snapshot(snapshot, seq, self.chunk_chars)
        names = [snapshot_key(district, seq, i) for i, _ in enumerate(chunks)]
        for name, text in zip(names, chunks, strict=True):
            self.table[name] = {"v": MANIFEST_VERSION, "data": text}
        if keys.manifest:
            previous = keys.manifest
            manifest["previous"] = {k: previous[k] for k in ("seq", "chunks", "sha256")}
        self.table[manifest_key(district)] = manifest  # the snapshot counts from here on
        stale = [history_key(district, s) for s in keys.entries if s <= seq]
        stale += [k for k in keys.snapshot if k not in names]
        deleted = self._delete(stale)
        keys.entries = [s for s in keys.entries if s > seq]
        keys.snapshot, keys.manifest = names, manifest
        info = SnapshotInfo(seq, manifest["bytes"], len(chunks), deleted,
                            round(time.perf_counter() - started, 4))  # fmt: skip
        log.info(
            "snapshot written",
            extra={"district": district, "seq": seq, "bytes": info.bytes,
                   "raw_bytes": manifest["raw_bytes"], "chunks": info.chunks,
                   "deleted": deleted, "seconds": info.seconds},
        )  # fmt: skip
        return info

    # -- restore -----------------------------------------------------------------------------
    def load(self, district: str, rebuild: Rebuild) -> Restored:
        """Rebuild the district through ``rebuild`` from its best complete state (see the
        module docstring), delete what that state makes stale, and start tracking its keys."""
        if self._index is None:
            self._index = self._scan()
        found = self._index.pop(district, DistrictKeys())
        manifest = self.table.get(manifest_key(district)) if found.has_manifest else None
        if found.has_manifest and not _valid_manifest(manifest):
            return self._lossy(district, found, None, 0, rebuild)
        candidates: list[Mapping[str, Any] | None] = []
        if manifest is not None:
            candidates.append(manifest)
            if _valid_manifest(manifest.get("previous")):
                candidates.append(manifest["previous"])
        target = int(manifest["seq"]) if manifest is not None else 0
        for cand in [*candidates, None]:
            base = int(cand["seq"]) if cand else 0
            try:
                snap = None if cand is None else self._read(district, cand, found)
                walk = self._walk(district, found.entries, base)
                if walk.end < target:
                    raise SnapshotError(f"entries after {base} end at {walk.end} < {target}")
                rebuild(snap, walk.entries, base)
            except (SnapshotError, KeyError, TypeError, ValueError) as exc:
                if cand is None and target == 0:
                    raise  # no snapshot involved: a bad entry, as before snapshots
                log.warning(
                    "snapshot unusable",
                    extra={"district": district, "seq": base, "reason": str(exc)},
                )
                continue
            return self._adopt(district, found, manifest, cand, walk)
        return self._lossy(district, found, manifest, target, rebuild)

    def _read(
        self, district: str, manifest: Mapping[str, Any], found: DistrictKeys
    ) -> dict[str, Any]:
        seq = int(manifest["seq"])
        names = found.snapshots.get(seq, {})
        texts: list[str | None] = []
        for i in range(int(manifest["chunks"])):
            value = self.table.get(names[i]) if i in names else None
            texts.append(value.get("data") if isinstance(value, dict) else None)
        snapshot = decode_snapshot(manifest, texts)
        if snapshot.get("cursor", {}).get("entries") != seq:
            raise SnapshotError(f"snapshot {seq}: its cursor is not at entry {seq}")
        return snapshot

    def _walk(self, district: str, seqs: list[int], base: int) -> _Walk:
        """The chunks after ``base``, contiguous; ``stale``: those at or before ``base``
        (covered by the snapshot) and those after a hole (never committed)."""
        walk = _Walk([], [], [], base)
        for i, seq in enumerate(seqs):
            if seq <= base:
                walk.stale.append(seq)
                continue
            if seq != walk.end + 1:  # a hole: what follows was never committed, drop it
                walk.gap = seq
                walk.stale.extend(seqs[i:])
                break
            entries = chunk_entries(self.table[history_key(district, seq)])
            walk.entries.extend(entries)
            walk.kept.append(seq)
            walk.end += len(entries)
        return walk

    def _adopt(
        self,
        district: str,
        found: DistrictKeys,
        manifest: Mapping[str, Any] | None,
        chosen: Mapping[str, Any] | None,
        walk: _Walk,
    ) -> Restored:
        if walk.gap is not None:
            extra = {"district": district, "expected": walk.end + 1, "got": walk.gap}
            log.warning("history gap", extra=extra)
        keys = DistrictKeys(entries=walk.kept)
        if chosen is not None:
            keys.manifest = dict(chosen)
            keys.snapshot = [snapshot_key(district, int(chosen["seq"]), i)
                             for i in range(int(chosen["chunks"]))]  # fmt: skip
        if manifest is not None and chosen is not manifest:  # fell back: say so in the table
            if chosen is None:
                self._delete([manifest_key(district)])
            else:
                self.table[manifest_key(district)] = keys.manifest
        stale = [history_key(district, s) for s in walk.stale]
        stale += [k for names in found.snapshots.values() for k in names.values()
                  if k not in keys.snapshot]  # fmt: skip
        deleted = self._delete(stale)
        self._live[district] = keys
        return Restored(len(walk.entries), keys.snapshot_seq, walk.end, deleted)

    def _lossy(
        self,
        district: str,
        found: DistrictKeys,
        manifest: Mapping[str, Any] | None,
        target: int,
        rebuild: Rebuild,
    ) -> Restored:
        """No complete state: rebuild from the entries that remain (from the first one). The
        caller then writes a snapshot of what was rebuilt, which replaces the broken manifest
        (until then, a restart finds the same); with nothing left, the manifest is deleted."""
        base = found.entries[0] - 1 if found.entries else 0  # nothing left: start again at 1
        walk = self._walk(district, found.entries, base)
        log.error(
            "district history incomplete: rebuilt from the entries that remain",
            extra={"district": district, "snapshot_seq": target, "from_seq": base + 1,
                   "entries": len(walk.entries)},
        )  # fmt: skip
        rebuild(None, walk.entries, base)
        broken = None if walk.entries else (manifest or {})  # with nothing left: delete it
        restored = self._adopt(district, found, broken, None, walk)
        return Restored(restored.entries, 0, walk.end, restored.deleted, lossy=True)


def entries_from_start(table: Mapping[str, Any]) -> dict[str, list[Mapping[str, Any]]]:
    """Every district's entries from seq 1 up to the first hole, read from a table's chunks
    (snapshot keys ignored: for tables, or changelogs, of districts never snapshotted).

    Examples
    --------
    >>> e = {"v": 1, "ops": []}
    >>> t = {"8|0000000001": history_chunk([e, e]), "8|0000000003": e, "8|0000000009": e}
    >>> {d: len(v) for d, v in entries_from_start(t).items()}
    {'8': 3}
    """
    seqs: dict[str, list[int]] = {}
    for key in table:
        parsed = parse_key(key)
        if parsed.kind == "entries":
            seqs.setdefault(parsed.district, []).append(parsed.seq)
    out: dict[str, list[Mapping[str, Any]]] = {}
    for district, found in seqs.items():
        entries: list[Mapping[str, Any]] = []
        for seq in sorted(found):
            if seq != len(entries) + 1:
                break
            entries.extend(chunk_entries(table[history_key(district, seq)]))
        out[district] = entries
    return out
