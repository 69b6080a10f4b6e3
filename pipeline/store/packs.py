"""Commit-time packing: the small outputs of many parts become shards of about the size target, per split.

A part writes a split's rows that still fit in one row group when it closes (its whole output, or
the tail after its full-size shards) to a work file, ``_work/<split>/part-...``, instead of a shard
of its own. The commit packs each split's work files, in part order, into groups of about the
target size (a group also ends at a part with full-size shards, so the files keep the rows' part
order), one shard per group. A group is named by its split and the sha256 of its inputs and
recorded under ``_packs/<key>.json`` once its shard is durable, so:

- a rerun with the same parts reuses every pack (same shards: no new snapshot);
- a changed part repacks only the groups from its own onward (earlier groups keep their inputs);
- two builds that pack the same group wait for each other (a lock per group: a file lock on one host,
  a lease on S3); on other object stores both may write it, under their own names, and each snapshot
  lists its own.

Inside a pack the rows are scattered (``scattered``): small parts are often one class or one source
page each, and a pack written in part order would stream class-sorted (as TFDS shuffles at write
time, so do we). Each input's rows are dealt at random into one bucket per output row group (local
temporary files), and each bucket is permuted as it is written, seeded by the pack's key: every row
group is a random sample of the whole pack, and a rerun writes the same bytes.

Work files stay until gc finds no retained snapshot using a pack made from them, so a later build
with one part changed can repack without rebuilding the others. Memory: one input file plus one
bucket (about a row group) at a time, whatever the pack's size.
"""

from __future__ import annotations

import hashlib
import json
import math
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterator, Protocol

import numpy as np

import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.store.location import Location

WORK = "_work"
PACKS = "_packs"


class Writer(Protocol):
    def write(self, table: pa.Table, stats: dict[str, int] | None = None) -> None: ...
    def close(self) -> list[dict[str, Any]]: ...
    def abort(self) -> None: ...


def is_work(entry: dict[str, Any]) -> bool:
    return entry["file"].startswith(WORK + "/")


def layout(shards: list[dict[str, Any]], target: int) -> list[dict[str, Any] | list[dict[str, Any]]]:
    """A snapshot's files in row order (split, then part): full-size shards as they are, and the work
    files between them in groups, each cut greedily once it reaches about ``target`` bytes.

    A file counts its column data (``data_bytes``), not its footer: a tiny file is mostly footer,
    which its pack carries only once. A group never spans a part's full shard, so reading the
    files in this order gives a split's rows in part order.
    """
    out: list[dict[str, Any] | list[dict[str, Any]]] = []
    group: list[dict[str, Any]] = []
    size, split = 0, None
    for s in sorted(shards, key=lambda s: (s["split"], s["part"], is_work(s), s["file"])):
        if group and (not is_work(s) or s["split"] != split or size >= target):
            out.append(group)
            group, size = [], 0
        split = s["split"]
        if is_work(s):
            group.append(s)
            size += s.get("data_bytes", s["bytes"])
        else:
            out.append(s)
    if group:
        out.append(group)
    return out


def key(config_hash: str, group: list[dict[str, Any]]) -> str:
    payload = json.dumps([config_hash, group[0]["split"], [s["sha256"] for s in group], "scattered"])
    return hashlib.sha256(payload.encode()).hexdigest()[:20]


def pack(location: Location, config_hash: str, schema: pa.Schema, shards: list[dict[str, Any]], target: int,
         writer_for: Callable[[str, str], Writer], row_group_bytes: int) -> list[dict[str, Any]]:
    """The snapshot's shard list, in row order: full-size shards as they are, work files replaced by packs."""
    out = []
    for item in layout(shards, target):
        out.extend(_pack_group(location, config_hash, schema, item, writer_for, row_group_bytes)
                   if isinstance(item, list) else [item])
    return out


def scattered(location: Location, schema: pa.Schema, group: list[dict[str, Any]], seed: int,
              row_group_bytes: int) -> Iterator[pa.Table]:
    """The group's rows in a seeded random order, about one row group at a time (see the module docstring)."""
    sizes = []
    for s in group:  # footers only: each input's in-memory size, to know how many buckets make a row group each
        with location.open(s["file"]) as f:
            meta = pq.ParquetFile(f).metadata
            sizes.append(sum(meta.row_group(g).total_byte_size for g in range(meta.num_row_groups)))
    buckets = max(1, math.ceil(sum(sizes) / row_group_bytes))
    rng = np.random.default_rng(seed)
    with tempfile.TemporaryDirectory(prefix="datamill-pack-") as scratch:
        paths = [Path(scratch) / f"{b}.parquet" for b in range(buckets)]
        writers = [pq.ParquetWriter(p, schema, compression="lz4") for p in paths]
        try:
            for s in group:
                with location.open(s["file"]) as f:
                    table = pq.read_table(f, schema=schema)
                dealt = rng.integers(0, buckets, table.num_rows)
                for b, writer in enumerate(writers):
                    rows = np.flatnonzero(dealt == b)
                    if len(rows):
                        writer.write_table(table.take(pa.array(rows)))
                del table
        finally:
            for writer in writers:
                writer.close()
        for path in paths:
            bucket = pq.read_table(path, schema=schema)
            path.unlink()
            yield bucket.take(pa.array(rng.permutation(bucket.num_rows)))


def _pack_group(location: Location, config_hash: str, schema: pa.Schema, group: list[dict[str, Any]],
                writer_for: Callable[[str, str], Writer], row_group_bytes: int) -> list[dict[str, Any]]:
    name = key(config_hash, group)
    record_name = f"{PACKS}/{name}.json"
    with location.lock(f".locks/pack-{name}.lock"):
        try:
            return location.read_json(record_name)["shards"]
        except FileNotFoundError:
            pass
        # Named after its first part, to be found beside it; row order is the manifest's list, not names.
        writer = writer_for(group[0]["split"], f"{group[0]['part']}~pack-{name[:12]}")
        try:
            for rows in scattered(location, schema, group, int(name[:16], 16), row_group_bytes):
                writer.write(rows)  # per-file counters are counted again: the rows no longer come by input
            out = writer.close()
        except BaseException:
            writer.abort()
            raise
        location.write_json(record_name, {"key": name, "split": group[0]["split"], "config_hash": config_hash,
                                          "files": [s["file"] for s in group], "shards": out})
        return out
