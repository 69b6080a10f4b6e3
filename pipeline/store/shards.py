"""The shard contract: size-targeted Parquet written under names no other build uses, resumable parts.

Layout of one dataset directory (local path or fsspec URL; see ``snapshots`` for the history)::

    <split>/part-<part>.<attempt>.<seq>.parquet   data files; <attempt> is new for every try at a part
    _work/<split>/part-<part>.<attempt>.<seq>.parquet   a part's small output, packed at commit (``packs``)
    _packs/<key>.json                             a packed group of work files: its inputs and its shard
    _rejects/part-<part>.<attempt>.parquet        (id, part, reason, detail) for every dropped record
    _parts/<part>@<config hash>.json              a finished part (exact name: O(1) to find, no globbing)
    _parts/<part>@<config hash>.attempt.json      a try in flight: the files it has begun, for cleanup
    _snapshots/<id>.json, _manifest.json          the commits (see ``snapshots``)

No file is ever rewritten: a try writes new names, a part is done when its record is written
(after all its files are durable), and only a committed snapshot makes files visible to
readers. A rerun skips parts whose record matches the same inputs and config and redoes the
rest, deleting only the files of its own unfinished tries, so a crash at any instant leaves
nothing a reader would take for a shard, and two builds with different configs never touch
each other's files.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import secrets
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipeline.store import packs
from pipeline.store import snapshots
from pipeline.errors import ShardError
from pipeline.store.location import Location, still_held
from pipeline.store.snapshots import (  # noqa: F401 - the readers' API, re-exported where it always was
    FORMAT_VERSION,
    MANIFEST,
    PARTS,
    load_manifest,
    manifest_schema,
    read_split,
    shard_paths,
)

log = logging.getLogger(__name__)

SPLIT_COLUMN = "_split"
REJECTS_SCHEMA = pa.schema([
    ("id", pa.string()), ("part", pa.string()), ("reason", pa.string()), ("detail", pa.string()),
])


PAGE_BYTES = 1 << 20  # a data page: what a reader holds per column at a time


@dataclass(frozen=True)
class DatasetSpec:
    """What a dataset is: where it lives, its schema and the exact options that produce it."""

    root: Path | str  # a local directory or an fsspec URL
    source: str
    dataset: str
    version: str
    schema: pa.Schema
    config: dict[str, Any]
    license: str
    description: str = ""
    target_shard_bytes: int = 256 << 20
    row_group_bytes: int = 96 << 20
    uncompressed_columns: tuple[str, ...] = ()
    # Per-shard counters a source wants in the manifest (e.g. pages with markup residue).
    stats: Callable[[pa.Table], dict[str, int]] | None = field(default=None, compare=False)
    # A markdown section the source adds to the data card, from the dataset root and its manifest.
    card_section: Callable[[Any, dict[str, Any]], str] | None = field(default=None, compare=False)

    @property
    def config_hash(self) -> str:
        """The options that shape the rows, canonically: key order and number formatting do not count."""
        payload = json.dumps(canonical({"format": FORMAT_VERSION, "config": self.config,
                                        "schema": self.schema.to_string()}), sort_keys=True, default=str)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]


def canonical(value: Any) -> Any:
    """A JSON-able value with numbers normalized (1 == 1.0 == 1e0) and mappings key-sorted."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        number = float(value)
        return int(number) if number.is_integer() else float(f"{number:.12g}")
    if isinstance(value, dict):
        return {str(k): canonical(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, (list, tuple)):
        return [canonical(v) for v in value]
    return str(value)


@dataclass(frozen=True)
class PartInput:
    name: str
    sha256: str


@dataclass(frozen=True)
class Part:
    """One unit of parallel work, retry and resume."""

    id: str  # filesystem-safe and stable across runs
    inputs: tuple[PartInput, ...]
    options: dict[str, Any] = field(default_factory=dict, hash=False)


class Rejects:
    """Collects dropped records for one part: counted by reason, kept with their detail."""

    def __init__(self, part_id: str) -> None:
        self.part_id = part_id
        self.counts: Counter[str] = Counter()
        self._rows: dict[str, list[str]] = {n: [] for n in REJECTS_SCHEMA.names}

    def add(self, record_id: Any, reason: str, detail: str = "") -> None:
        self.counts[reason] += 1
        self._rows["id"].append("" if record_id is None else str(record_id))
        self._rows["part"].append(self.part_id)
        self._rows["reason"].append(reason)
        self._rows["detail"].append(detail[:2000])

    def add_many(self, ids: Iterable[Any], reason: str, details: Iterable[str]) -> None:
        for record_id, detail in zip(ids, details):
            self.add(record_id, reason, detail)

    def extend(self, other: "Rejects") -> None:
        """Take over another collector's records (e.g. one filled on a worker thread)."""
        self.counts.update(other.counts)
        for name, values in other._rows.items():
            self._rows[name].extend(values if name != "part" else [self.part_id] * len(values))

    def table(self) -> pa.Table:
        return pa.table(self._rows, schema=REJECTS_SCHEMA)


class ShardWriter:
    """Writes one split of one part as size-targeted Parquet files under this try's own names.

    What is still buffered at ``close`` (less than a row group: a small part's whole output, or the
    tail after its full shards) becomes a work file that the commit packs with other parts' (``packs``),
    unless ``work_tails`` is off (the packer's own writer).
    """

    def __init__(self, spec: DatasetSpec, split: str, part_id: str, attempt: str | None = None,
                 location: Location | None = None, on_create: Callable[[str], None] | None = None,
                 work_tails: bool = True) -> None:
        self.spec = spec
        self.split = split
        self.part_id = part_id
        self.attempt = attempt or new_attempt(spec)
        self.location = location or Location(spec.root)
        self.on_create = on_create
        self.shards: list[dict[str, Any]] = []
        self._seq = 0
        self._pending: list[pa.Table] = []
        self._pending_bytes = 0
        self._writer: pq.ParquetWriter | None = None
        self._file = None
        self._handle = None
        self._rows_in_file = 0
        self._stats: Counter[str] = Counter()
        self.work_tails = work_tails
        self._work = False

    def write(self, table: pa.Table, stats: dict[str, int] | None = None) -> None:
        """Buffer ``table``; ``stats`` are its counters when already known (a packed work file's)."""
        if table.num_rows == 0:
            return
        if stats is not None:
            self._stats.update(stats)
        elif self.spec.stats is not None:
            self._stats.update(self.spec.stats(table))
        self._pending.append(table)
        self._pending_bytes += table.nbytes
        if self._pending_bytes >= self.spec.row_group_bytes:
            self._flush_row_group()

    def close(self) -> list[dict[str, Any]]:
        self._work = self.work_tails and self._writer is None and bool(self._pending)
        self._flush_row_group()
        self._finish_file()
        return self.shards

    def abort(self) -> None:
        if self._writer is not None:
            self._writer.close()
        if self._file is not None:
            self._file.__exit__(None, None, None)
            self.location.remove(self._name())
        self._writer = self._file = self._handle = None

    def _name(self) -> str:
        prefix = f"{packs.WORK}/" if self._work else ""
        return f"{prefix}{self.split}/part-{self.part_id}.{self.attempt}.{self._seq:05d}.parquet"

    def _flush_row_group(self) -> None:
        if not self._pending:
            return
        table = pa.concat_tables(self._pending)  # no combine_chunks: it would copy a whole row group
        self._pending, self._pending_bytes = [], 0
        if self._writer is None:
            if self.on_create is not None:
                self.on_create(self._name())
            self._file = self.location.create(self._name())
            self._handle = self._file.__enter__()
            compression = {name: ("none" if name in self.spec.uncompressed_columns else "zstd")
                           for name in self.spec.schema.names}
            # Parquet checks a page's size only every write_batch_size values (1,024 by default): 20 kB rows
            # made 20 MB pages, and a reader holds a whole page. Batches of ~PAGE_BYTES keep pages ~1 MB.
            row_bytes = max(1, table.nbytes // max(1, table.num_rows))
            self._writer = pq.ParquetWriter(self._handle, self.spec.schema, compression=compression,
                                            write_statistics=True, data_page_size=PAGE_BYTES,
                                            write_batch_size=max(1, min(1024, PAGE_BYTES // row_bytes)))
        self._writer.write_table(table, row_group_size=table.num_rows)
        self._rows_in_file += table.num_rows
        if self._handle.tell() >= self.spec.target_shard_bytes:
            self._finish_file()

    def _finish_file(self) -> None:
        if self._writer is None:
            return
        self._writer.close()
        self._file.__exit__(None, None, None)
        data = self._writer.writer.metadata  # column chunks only: what a pack of this file would carry
        self.shards.append({
            "file": self._name(), "split": self.split, "rows": self._rows_in_file,
            "bytes": self._handle.size, "sha256": self._handle.sha256.hexdigest(), "part": self.part_id,
            **({"data_bytes": sum(data.row_group(g).column(c).total_compressed_size
                                  for g in range(data.num_row_groups) for c in range(data.num_columns))}
               if self._work else {}),
            **({"stats": dict(sorted(self._stats.items()))} if self.spec.stats is not None else {}),
        })
        self._writer = self._file = self._handle = None
        self._rows_in_file = 0
        self._stats = Counter()
        self._seq += 1


def new_attempt(spec: DatasetSpec) -> str:
    """A token no other try at any part uses: the config (for people reading names) and random bits."""
    return f"{spec.config_hash[:8]}{secrets.token_hex(4)}"


ReadPart = Callable[[Part, Rejects], Iterator[pa.Table]]


class ShardSet:
    """A dataset directory: builds parts into shards and commits snapshots of them."""

    def __init__(self, spec: DatasetSpec) -> None:
        self.spec = spec
        self.root = spec.root
        self.location = Location(spec.root)

    # -- parts --------------------------------------------------------------------

    def _record_name(self, part_id: str, kind: str = "") -> str:
        return f"{PARTS}/{part_id}@{self.spec.config_hash}{kind}.json"

    def _read(self, name: str) -> dict[str, Any] | None:
        try:
            return self.location.read_json(name)
        except FileNotFoundError:
            return None

    def part_record(self, part: Part) -> dict[str, Any] | None:
        """The committed record of ``part`` if it was built from the same inputs and config."""
        record = self._read(self._record_name(part.id))
        if record is None or record.get("config_hash") != self.spec.config_hash:
            return None
        if record.get("inputs") != [vars(i) for i in part.inputs]:
            return None
        return record

    def build_part(self, part: Part, read: ReadPart) -> dict[str, Any]:
        """Build one part unless it is already done (or being done by another process: then wait for it)."""
        with self.location.lock(f".locks/{part.id}@{self.spec.config_hash}.lock") as lease:
            done = self.part_record(part)
            if done is not None:
                log.info("%s/%s: part %s already done, skipping", self.spec.source, self.spec.dataset, part.id)
                return done
            return self._build(part, read, lease)

    def _build(self, part: Part, read: ReadPart, lease: Any = None) -> dict[str, Any]:
        self._clear_attempt(part.id)
        started = time.time()
        attempt = new_attempt(self.spec)
        journal = {"part": part.id, "attempt": attempt, "files": []}

        def begun(name: str) -> None:
            journal["files"].append(name)
            # A cleanup hint, not a commit: if a crash loses it, gc still finds the orphans (nothing lists them).
            self.location.write_json(self._record_name(part.id, ".attempt"), journal, durable=False)

        rejects = Rejects(part.id)
        writers: dict[str, ShardWriter] = {}
        try:
            for table in read(part, rejects):
                self._route(table, writers, part.id, attempt, begun)
            shards = [s for w in writers.values() for s in w.close()]
            rejects_file = self._write_rejects(part.id, attempt, rejects, begun)
        except BaseException:
            for w in writers.values():
                w.abort()
            self._clear_attempt(part.id)
            raise
        record = {
            "part": part.id, "attempt": attempt, "inputs": [vars(i) for i in part.inputs],
            "options": part.options, "config_hash": self.spec.config_hash,
            "shards": sorted(shards, key=lambda s: s["file"]),
            "rows": sum(s["rows"] for s in shards), "drops": dict(sorted(rejects.counts.items())),
            "rejects": rejects_file, "seconds": round(time.time() - started, 3),
        }
        still_held(lease)  # a host that took the lock over may be clearing these files: no record names them
        self.location.write_json(self._record_name(part.id), record)
        self.location.remove(self._record_name(part.id, ".attempt"))
        return record

    def _route(self, table: pa.Table, writers: dict[str, ShardWriter], part_id: str, attempt: str,
               begun: Callable[[str], None]) -> None:
        splits = table.column(SPLIT_COLUMN)
        data = table.drop_columns([SPLIT_COLUMN]).select(self.spec.schema.names).cast(self.spec.schema)
        for split in pc.unique(splits).to_pylist():
            if split not in writers:
                writers[split] = ShardWriter(self.spec, split, part_id, attempt, self.location, begun)
            writers[split].write(data.filter(pc.equal(splits, split)))

    def _write_rejects(self, part_id: str, attempt: str, rejects: Rejects,
                       begun: Callable[[str], None]) -> str | None:
        if not rejects.counts:
            return None
        name = f"_rejects/part-{part_id}.{attempt}.parquet"
        begun(name)
        with self.location.create(name) as handle:
            pq.write_table(rejects.table(), handle, compression="zstd")
        return name

    def _clear_attempt(self, part_id: str) -> None:
        """Delete the files of an earlier unfinished try at this part (its journal names them exactly)."""
        journal = self._read(self._record_name(part_id, ".attempt"))
        if journal is None:
            return
        finished = self._read(self._record_name(part_id)) or {}
        if finished.get("attempt") != journal["attempt"]:  # a finished try's files may be in a snapshot
            for name in journal["files"]:
                self.location.remove(name)
        self.location.remove(self._record_name(part_id, ".attempt"))

    # -- the snapshot -----------------------------------------------------------------

    def prepare(self, parts: Iterable[Part]) -> dict[str, Any]:
        """The manifest of a new snapshot of ``parts`` (not yet committed); refuses if any part is unfinished."""
        records, missing = [], []
        for part in parts:
            record = self.part_record(part)
            (records.append(record) if record else missing.append(part.id))
        if missing:
            raise ShardError(f"{self.root}: {len(missing)} part(s) not built yet: {', '.join(missing[:5])}")
        shards = packs.pack(self.location, self.spec.config_hash, self.spec.schema,
                            [s for r in records for s in r["shards"]], self.spec.target_shard_bytes,
                            self._pack_writer, self.spec.row_group_bytes)
        return self._manifest(records, shards)

    def _pack_writer(self, split: str, pack_id: str) -> ShardWriter:
        one_file = replace(self.spec, target_shard_bytes=1 << 62)  # a group is one shard, whatever its size
        return ShardWriter(one_file, split, pack_id, location=self.location, work_tails=False)

    def newest(self) -> dict[str, Any] | None:
        """The newest committed snapshot's manifest, if any."""
        ids = snapshots.list_snapshots(self.location)
        return snapshots.load_manifest(self.location, ids[-1]) if ids else None

    def commit(self, manifest: dict[str, Any]) -> dict[str, Any]:
        """Publish ``manifest`` as the newest snapshot unless the newest already holds exactly these rows."""
        with self.location.lock(".locks/commit.lock") as lease:  # two builds of one config commit one snapshot
            newest = self.newest()
            if newest is not None and snapshots.same_content(newest, manifest):
                return newest
            still_held(lease)
            # gc runs under this lock too: a file removed since the records were read is refused here.
            snapshots.check_sizes(self.location, manifest)
            snapshots.commit(self.location, manifest)
        return manifest

    def finalize(self, parts: Iterable[Part]) -> dict[str, Any]:
        """Prepare and commit a snapshot of ``parts``; returns its manifest."""
        return self.commit(self.prepare(parts))

    def _manifest(self, records: list[dict[str, Any]], shards: list[dict[str, Any]]) -> dict[str, Any]:
        drops: Counter[str] = Counter()
        for r in records:
            drops.update(r["drops"])
        stats: Counter[str] = Counter()
        for s in shards:
            stats.update(s.get("stats", {}))
        splits: dict[str, dict[str, int]] = {}
        for s in shards:
            entry = splits.setdefault(s["split"], {"rows": 0, "bytes": 0, "shards": 0})
            entry["rows"] += s["rows"]
            entry["bytes"] += s["bytes"]
            entry["shards"] += 1
        ids = snapshots.list_snapshots(self.location)
        return {
            "format_version": FORMAT_VERSION, "source": self.spec.source, "dataset": self.spec.dataset,
            "version": self.spec.version, "license": self.spec.license,
            "snapshot_id": snapshots.new_snapshot_id(self.spec.config_hash), "parent": ids[-1] if ids else None,
            "config": self.spec.config, "config_hash": self.spec.config_hash,
            "schema": [{"name": f.name, "type": str(f.type)} for f in self.spec.schema],
            "arrow_schema": base64.b64encode(self.spec.schema.serialize().to_pybytes()).decode(),
            "shards": shards, "splits": dict(sorted(splits.items())),
            "parts": {r["part"]: {k: r[k] for k in ("inputs", "options", "rows", "drops", "rejects")}
                      for r in sorted(records, key=lambda r: r["part"])},
            "totals": {"rows": sum(s["rows"] for s in shards), "bytes": sum(s["bytes"] for s in shards),
                       "shards": len(shards), "dropped": sum(drops.values()),
                       "drops": dict(sorted(drops.items())), "stats": dict(sorted(stats.items()))},
            "files": [],
            "complete": True,
        }
