"""Per-record lineage between two versions of a dataset: added, changed, removed, by stable id and content hash.

Both sides are streamed a batch at a time into hash partitions of (id, content hash) on local
scratch disk; each partition pair is then joined alone. Memory is bounded by one partition
(about ``ROWS_PER_PARTITION`` rows of ids and hashes), whatever the size of the dataset.
"""

from __future__ import annotations

import math
import shutil
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any, Iterator

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipeline.store.location import Location
from pipeline.store.snapshots import load_manifest

# Stable id and content columns per (source, dataset); datasets not listed get no lineage.
LINEAGE = {
    ("tatoeba", "sentences"): (["id"], ["lang", "text", "username"]),
    ("tatoeba", "pairs"): (["source_id", "target_id"], ["source_text", "target_text"]),
    ("wikipedia", "articles"): (["id"], ["title", "text"]),
    ("commoncrawl", "text"): (["url"], ["text"]),
}
LINEAGE_DIR = "_lineage"
ROWS_PER_PARTITION = 1_000_000
BATCH_ROWS = 65_536
CHANGES = ("added", "changed", "removed", "unchanged")


def previous_version(root: Path | str, prefix: str = "") -> Path | str | None:
    """The newest other finished version of the same dataset (``.../<source>/<version>/<dataset>``), on local
    disk (a ``Path``) or behind a URL (the URL)."""
    text = str(root).rstrip("/")
    version_dir, dataset = text.rsplit("/", 1)
    source_dir, version = version_dir.rsplit("/", 1)
    source = Location(source_dir)
    found = source.fs.glob(source.full(f"{prefix}*/{dataset}/_manifest.json"))
    older = sorted(v for v in (name.rsplit("/", 3)[-3] for name in found) if v < version)
    if not older:
        return None
    return Path(source.full(f"{older[-1]}/{dataset}")) if source.local else f"{source_dir}/{older[-1]}/{dataset}"


def _batches(root: Path | str, manifest: dict[str, Any], columns: list[str]) -> Iterator[pa.RecordBatch]:
    location = Location(root)
    for shard in manifest["shards"]:
        with location.open(shard["file"]) as f:
            yield from pq.ParquetFile(f).iter_batches(batch_size=BATCH_ROWS, columns=columns)


def _partition(root: Path | str, manifest: dict[str, Any], keys: list[str], content: list[str],
               partitions: int, scratch: Path, side: str) -> None:
    """Write (keys, hash) of every row into ``scratch/<side>-<p>.parquet`` by a hash of the keys."""
    writers: dict[int, pq.ParquetWriter] = {}
    try:
        for batch in _batches(root, manifest, keys + content):
            frame = batch.to_pandas()
            digest = pd.util.hash_pandas_object(frame[content], index=False).to_numpy()
            bucket = pd.util.hash_pandas_object(frame[keys], index=False).to_numpy() % partitions
            table = pa.Table.from_batches([batch.select(keys)]).append_column("hash", pa.array(digest, pa.uint64()))
            for p in range(partitions):
                piece = table.filter(pa.array(bucket == p))
                if piece.num_rows:
                    if p not in writers:
                        writers[p] = pq.ParquetWriter(scratch / f"{side}-{p}.parquet", piece.schema)
                    writers[p].write_table(piece)
    finally:
        for writer in writers.values():
            writer.close()


def _changes(old: pa.Table, new: pa.Table, keys: list[str]) -> pa.Table:
    joined = old.rename_columns(keys + ["old"]).join(new.rename_columns(keys + ["new"]), keys=keys,
                                                    join_type="full outer")
    change = pc.case_when(
        pc.make_struct(pc.is_null(joined.column("old")), pc.is_null(joined.column("new")),
                       pc.not_equal(joined.column("old"), joined.column("new"))),
        "added", "removed", "changed", "unchanged")
    return joined.select(keys).append_column("change", change)


def compare(previous: Path | str, current: Path | str, source: str, dataset: str,
            current_manifest: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """Counts of added/changed/removed/unchanged records; the ids and their change go to ``_lineage/``.

    ``current_manifest`` is the snapshot being built (default: the newest committed one of ``current``).
    """
    if (source, dataset) not in LINEAGE:
        return None
    keys, content = LINEAGE[(source, dataset)]
    old_manifest = load_manifest(previous)
    new_manifest = current_manifest or load_manifest(current)
    rows = max(old_manifest["totals"]["rows"], new_manifest["totals"]["rows"])
    partitions = max(1, math.ceil(rows / ROWS_PER_PARTITION))
    name = f"{LINEAGE_DIR}/{new_manifest['snapshot_id']}.parquet"
    counts: Counter[str] = Counter()
    with tempfile.TemporaryDirectory(prefix="datamill-lineage-") as tmp:
        scratch = Path(tmp)
        _partition(previous, old_manifest, keys, content, partitions, scratch, "old")
        _partition(current, new_manifest, keys, content, partitions, scratch, "new")
        out = scratch / "changes.parquet"
        _join_partitions(scratch, partitions, keys, out, counts)
        with open(out, "rb") as src, Location(current).create(name) as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
    return {"previous": Path(str(previous)).parent.name, **{c: counts.get(c, 0) for c in CHANGES}, "table": name}


def _join_partitions(scratch: Path, partitions: int, keys: list[str], out: Path, counts: Counter[str]) -> None:
    """Join each partition pair alone; changed ids go to ``out``, every change is counted."""
    writer = None
    for p in range(partitions):
        old_path, new_path = scratch / f"old-{p}.parquet", scratch / f"new-{p}.parquet"
        if not old_path.exists() and not new_path.exists():
            continue
        schema = pq.read_schema(old_path if old_path.exists() else new_path)
        old = pq.read_table(old_path) if old_path.exists() else schema.empty_table()
        new = pq.read_table(new_path).cast(schema) if new_path.exists() else schema.empty_table()
        table = _changes(old, new, keys)
        values, numbers = _value_counts(table.column("change"))
        counts.update(dict(zip(values, numbers)))
        changed = table.filter(pc.not_equal(table.column("change"), "unchanged"))
        if writer is None:
            writer = pq.ParquetWriter(out, changed.schema, compression="zstd")
        writer.write_table(changed)
        del old, new, table, changed
    if writer is None:
        pq.write_table(pa.table({k: pa.array([], pa.int64()) for k in keys} | {"change": pa.array([], pa.string())}),
                       out)
    else:
        writer.close()


def _value_counts(column: pa.ChunkedArray) -> tuple[list[str], list[int]]:
    counted = pc.value_counts(column)
    return counted.field("values").to_pylist(), counted.field("counts").to_pylist()
