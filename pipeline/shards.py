"""The shard contract: size-targeted Parquet, atomic commits, a manifest, rejects, resumable parts.

Layout of one dataset directory::

    <root>/_manifest.json                  what readers trust (never glob)
    <root>/<split>/part-<part>-<seq>.parquet
    <root>/_rejects/part-<part>.parquet    (id, part, reason, detail) for every dropped record
    <root>/_parts/<part>.json              the journal: a part is done when its record is here
    <root>/README.md                       the data card

Every file is written under a temporary name, fsynced and renamed. A part's record is
committed only after all its shards and rejects are; a rerun skips parts whose record
matches the same inputs and config and redoes the rest from scratch, so a crash at any
instant leaves nothing a reader would take for a shard.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipeline.errors import ShardError
from pipeline.storage import (
    commit,
    file_lock,
    hash_file,
    read_json,
    remove_temp_files,
    temp_path,
    write_json_atomic,
)

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
SPLIT_COLUMN = "_split"
MANIFEST = "_manifest.json"
REJECTS_SCHEMA = pa.schema([
    ("id", pa.string()), ("part", pa.string()), ("reason", pa.string()), ("detail", pa.string()),
])


@dataclass(frozen=True)
class DatasetSpec:
    """What a dataset is: where it lives, its schema and the exact options that produce it."""

    root: Path
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
    """Writes one split of one part as size-targeted Parquet files, each committed atomically."""

    def __init__(self, spec: DatasetSpec, split: str, part_id: str) -> None:
        self.spec = spec
        self.split = split
        self.part_id = part_id
        self.shards: list[dict[str, Any]] = []
        self._seq = 0
        self._pending: list[pa.Table] = []
        self._pending_bytes = 0
        self._writer: pq.ParquetWriter | None = None
        self._tmp: Path | None = None
        self._rows_in_file = 0
        self._stats: Counter[str] = Counter()

    def write(self, table: pa.Table) -> None:
        if table.num_rows == 0:
            return
        if self.spec.stats is not None:
            self._stats.update(self.spec.stats(table))
        self._pending.append(table)
        self._pending_bytes += table.nbytes
        if self._pending_bytes >= self.spec.row_group_bytes:
            self._flush_row_group()

    def close(self) -> list[dict[str, Any]]:
        self._flush_row_group()
        self._finish_file()
        return self.shards

    def abort(self) -> None:
        if self._writer is not None:
            self._writer.close()
        if self._tmp is not None:
            self._tmp.unlink(missing_ok=True)

    def _final_path(self) -> Path:
        return self.spec.root / self.split / f"part-{self.part_id}-{self._seq:05d}.parquet"

    def _flush_row_group(self) -> None:
        if not self._pending:
            return
        table = pa.concat_tables(self._pending).combine_chunks()
        self._pending, self._pending_bytes = [], 0
        if self._writer is None:
            self._tmp = temp_path(self._final_path())
            compression = {name: ("none" if name in self.spec.uncompressed_columns else "zstd")
                           for name in self.spec.schema.names}
            self._writer = pq.ParquetWriter(self._tmp, self.spec.schema, compression=compression,
                                            write_statistics=True)
        self._writer.write_table(table, row_group_size=table.num_rows)
        self._rows_in_file += table.num_rows
        if self._tmp.stat().st_size >= self.spec.target_shard_bytes:
            self._finish_file()

    def _finish_file(self) -> None:
        if self._writer is None:
            return
        self._writer.close()
        final = self._final_path()
        commit(self._tmp, final)
        self.shards.append({
            "file": str(final.relative_to(self.spec.root)), "split": self.split,
            "rows": self._rows_in_file, "bytes": final.stat().st_size,
            "sha256": hash_file(final), "part": self.part_id,
            **({"stats": dict(sorted(self._stats.items()))} if self.spec.stats is not None else {}),
        })
        self._writer, self._tmp, self._rows_in_file = None, None, 0
        self._stats = Counter()
        self._seq += 1


ReadPart = Callable[[Part, Rejects], Iterator[pa.Table]]


class ShardSet:
    """A dataset directory: builds parts into shards and keeps the manifest."""

    def __init__(self, spec: DatasetSpec) -> None:
        self.spec = spec
        self.root = spec.root
        self.journal = self.root / "_parts"

    # -- parts --------------------------------------------------------------------

    def part_record(self, part: Part) -> dict[str, Any] | None:
        """The committed record of ``part`` if it was built from the same inputs and config."""
        path = self.journal / f"{part.id}.json"
        if not path.exists():
            return None
        record = read_json(path)
        if record.get("config_hash") != self.spec.config_hash:
            return None
        if record.get("inputs") != [vars(i) for i in part.inputs]:
            return None
        if any(not (self.root / s["file"]).exists() for s in record["shards"]):
            return None
        return record

    def build_part(self, part: Part, read: ReadPart) -> dict[str, Any]:
        """Build one part unless it is already done; returns its record."""
        with file_lock(self.root / ".locks" / f"{part.id}.lock"):
            done = self.part_record(part)
            if done is not None:
                log.info("%s/%s: part %s already done, skipping", self.spec.source, self.spec.dataset, part.id)
                return done
            return self._build(part, read)

    def _build(self, part: Part, read: ReadPart) -> dict[str, Any]:
        self._clear_part(part.id)
        started = time.time()
        rejects = Rejects(part.id)
        writers: dict[str, ShardWriter] = {}
        try:
            for table in read(part, rejects):
                self._route(table, writers, part.id)
            shards = [s for w in writers.values() for s in w.close()]
        except BaseException:
            for w in writers.values():
                w.abort()
            raise
        rejects_file = self._write_rejects(part.id, rejects)
        record = {
            "part": part.id, "inputs": [vars(i) for i in part.inputs], "options": part.options,
            "config_hash": self.spec.config_hash, "shards": sorted(shards, key=lambda s: s["file"]),
            "rows": sum(s["rows"] for s in shards), "drops": dict(sorted(rejects.counts.items())),
            "rejects": rejects_file, "seconds": round(time.time() - started, 3),
        }
        write_json_atomic(self.journal / f"{part.id}.json", record)
        return record

    def _route(self, table: pa.Table, writers: dict[str, ShardWriter], part_id: str) -> None:
        splits = table.column(SPLIT_COLUMN)
        data = table.drop_columns([SPLIT_COLUMN]).select(self.spec.schema.names).cast(self.spec.schema)
        for split in pc.unique(splits).to_pylist():
            if split not in writers:
                writers[split] = ShardWriter(self.spec, split, part_id)
            writers[split].write(data.filter(pc.equal(splits, split)))

    def _write_rejects(self, part_id: str, rejects: Rejects) -> str | None:
        if not rejects.counts:
            return None
        final = self.root / "_rejects" / f"part-{part_id}.parquet"
        tmp = temp_path(final)
        pq.write_table(rejects.table(), tmp, compression="zstd")
        commit(tmp, final)
        return str(final.relative_to(self.root))

    def _clear_part(self, part_id: str) -> None:
        """Remove what an interrupted earlier attempt at this part left behind."""
        (self.journal / f"{part_id}.json").unlink(missing_ok=True)
        for stale in self.root.glob(f"*/part-{part_id}-*.parquet"):
            stale.unlink()
        (self.root / "_rejects" / f"part-{part_id}.parquet").unlink(missing_ok=True)
        for tmp in self.root.rglob(f".tmp-part-{part_id}-*"):
            tmp.unlink(missing_ok=True)

    # -- the manifest ---------------------------------------------------------------

    def finalize(self, parts: Iterable[Part]) -> dict[str, Any]:
        """Fold the part records into ``_manifest.json``; refuses if any part is unfinished."""
        parts = list(parts)
        records, missing = [], []
        for part in parts:
            record = self.part_record(part)
            (records.append(record) if record else missing.append(part.id))
        if missing:
            raise ShardError(f"{self.root}: {len(missing)} part(s) not built yet: {', '.join(missing[:5])}")
        manifest = self._manifest(records)
        with file_lock(self.root / ".locks" / "manifest.lock"):
            write_json_atomic(self.root / MANIFEST, manifest)
            remove_temp_files(self.root)
        return manifest

    def _manifest(self, records: list[dict[str, Any]]) -> dict[str, Any]:
        shards = sorted((s for r in records for s in r["shards"]), key=lambda s: s["file"])
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
        return {
            "format_version": FORMAT_VERSION, "source": self.spec.source, "dataset": self.spec.dataset,
            "version": self.spec.version, "license": self.spec.license,
            "config": self.spec.config, "config_hash": self.spec.config_hash,
            "schema": [{"name": f.name, "type": str(f.type)} for f in self.spec.schema],
            "arrow_schema": base64.b64encode(self.spec.schema.serialize().to_pybytes()).decode(),
            "shards": shards, "splits": dict(sorted(splits.items())),
            "parts": {r["part"]: {k: r[k] for k in ("inputs", "options", "rows", "drops", "rejects")}
                      for r in sorted(records, key=lambda r: r["part"])},
            "totals": {"rows": sum(s["rows"] for s in shards), "bytes": sum(s["bytes"] for s in shards),
                       "shards": len(shards), "dropped": sum(drops.values()),
                       "drops": dict(sorted(drops.items())), "stats": dict(sorted(stats.items()))},
            "complete": True,
        }


# -- reading -------------------------------------------------------------------------

def load_manifest(root: Path | str) -> dict[str, Any]:
    path = Path(root) / MANIFEST
    if not path.exists():
        raise ShardError(f"{root}: no {MANIFEST}; is this a finished datamill dataset?")
    manifest = read_json(path)
    if manifest.get("format_version") != FORMAT_VERSION:
        raise ShardError(f"{path}: format version {manifest.get('format_version')} is not {FORMAT_VERSION}")
    return manifest


def shard_paths(root: Path | str, split: str | None = None) -> list[Path]:
    """The shard files of a dataset (one split or all), from its manifest."""
    manifest = load_manifest(root)
    return [Path(root) / s["file"] for s in manifest["shards"] if split in (None, s["split"])]


def manifest_schema(manifest: dict[str, Any]) -> pa.Schema:
    return pa.ipc.read_schema(pa.py_buffer(base64.b64decode(manifest["arrow_schema"])))


def read_split(root: Path | str, split: str | None = None, columns: list[str] | None = None) -> pa.Table:
    """Read a whole split into memory: for inspection and tests, not for training."""
    manifest = load_manifest(root)
    schema = manifest_schema(manifest)
    tables = [pq.read_table(p, columns=columns, schema=schema) for p in shard_paths(root, split)]
    return pa.concat_tables(tables) if tables else schema.empty_table().select(columns or schema.names)
