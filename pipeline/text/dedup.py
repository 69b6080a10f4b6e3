"""Exact and near-duplicate detection across a whole selection of files, in bounded memory.

Per file, every kept document gets a key (file index << 32 | document index), the hash of
its normalized text, and a MinHash signature (word 5-gram shingles, 128 permutations)
cut into 16 bands of 8 rows: two documents share a band with probability ≈ s^8 per band,
so pairs above Jaccard ≈ 0.71 collide in some band with high probability.
The reduce step spreads (band, hash, key) rows over partitions by hash, finds colliding
groups one partition at a time, and joins them with union-find over the colliding
documents only. The smallest key of a group is kept: the earliest document of the
earliest file in the selection's order, the same on every run.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

SHINGLE_WORDS = 5
NUM_PERM = 128
BANDS = 16
ROWS = NUM_PERM // BANDS
EXACT_BAND = -1
_PUNCT = re.compile(r"[^\w\s]", re.U)
SIGNATURE_SCHEMA = pa.schema([("key", pa.int64()), ("exact", pa.uint64()), ("bands", pa.list_(pa.uint64(), BANDS))])


def normalize(text: str) -> str:
    return " ".join(_PUNCT.sub(" ", text.lower()).split())


def _hash64(data: bytes) -> int:
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "little")


def signature(text: str) -> tuple[int, list[int]]:
    """(exact hash, band hashes) of one document."""
    from datasketch import MinHash

    normal = normalize(text)
    words = normal.split()
    shingles = [" ".join(words[i: i + SHINGLE_WORDS]).encode()
                for i in range(max(1, len(words) - SHINGLE_WORDS + 1))]
    minhash = MinHash(num_perm=NUM_PERM, seed=1)
    minhash.update_batch(shingles)
    values = np.asarray(minhash.hashvalues, dtype=np.uint64)
    bands = [_hash64(values[b * ROWS:(b + 1) * ROWS].tobytes()) for b in range(BANDS)]
    return _hash64(normal.encode()), bands


def key(file_index: int, doc_index: int) -> int:
    return (file_index << 32) | doc_index


def write_signatures(path: Path, keys: list[int], exact: list[int], bands: list[list[int]]) -> None:
    table = pa.table({"key": pa.array(keys, pa.int64()), "exact": pa.array(exact, pa.uint64()),
                      "bands": pa.array(bands, pa.list_(pa.uint64(), BANDS))}, schema=SIGNATURE_SCHEMA)
    pq.write_table(table, path)


def find_duplicates(signature_files: list[Path], work: Path, partitions: int = 16) -> pa.Table:
    """(key, keeper, reason) for every document that duplicates an earlier one."""
    work.mkdir(parents=True, exist_ok=True)
    writers: dict[int, pq.ParquetWriter] = {}
    schema = pa.schema([("band", pa.int8()), ("hash", pa.uint64()), ("key", pa.int64())])
    exact_of: dict[int, int] = {}
    try:
        for path in signature_files:
            table = pq.read_table(path)
            if table.num_rows == 0:
                continue
            keys = table.column("key").to_numpy()
            exact = table.column("exact").to_numpy()
            bands = np.stack(table.column("bands").to_numpy(zero_copy_only=False))
            columns = [(EXACT_BAND, exact)] + [(b, bands[:, b]) for b in range(BANDS)]
            for band, hashes in columns:
                partition = (hashes % np.uint64(partitions)).astype(np.int64)
                for p in np.unique(partition):
                    rows = partition == p
                    if p not in writers:
                        writers[p] = pq.ParquetWriter(work / f"partition-{p:04d}.parquet", schema)
                    writers[p].write_table(pa.table({"band": pa.array(np.full(rows.sum(), band), pa.int8()),
                                                     "hash": pa.array(hashes[rows], pa.uint64()),
                                                     "key": pa.array(keys[rows], pa.int64())}, schema=schema))
            exact_of.update(zip(keys.tolist(), exact.tolist()))
    finally:
        for writer in writers.values():
            writer.close()
    parent: dict[int, int] = {}
    for p in sorted(writers):
        for a, b in _edges(work / f"partition-{p:04d}.parquet"):
            _union(parent, a, b)
    dropped, keepers, reasons = [], [], []
    for node in sorted(parent):
        root = _find(parent, node)
        if root != node:
            dropped.append(node)
            keepers.append(root)
            reasons.append("exact_duplicate" if exact_of.get(node) == exact_of.get(root) else "near_duplicate")
    return pa.table({"key": pa.array(dropped, pa.int64()), "keeper": pa.array(keepers, pa.int64()),
                     "reason": pa.array(reasons, pa.string())})


def _edges(path: Path) -> list[tuple[int, int]]:
    """Within one partition: each member of a colliding (band, hash) group → the group's smallest key."""
    table = pq.read_table(path)
    groups = table.group_by(["band", "hash"]).aggregate([("key", "min"), ("key", "count")])
    groups = groups.filter(pc.greater(groups.column("key_count"), 1))
    if groups.num_rows == 0:
        return []
    joined = table.join(groups.select(["band", "hash", "key_min"]), keys=["band", "hash"], join_type="inner")
    members, firsts = joined.column("key").to_pylist(), joined.column("key_min").to_pylist()
    return [(m, f) for m, f in zip(members, firsts) if m != f]


def _find(parent: dict[int, int], node: int) -> int:
    root = node
    while parent.get(root, root) != root:
        root = parent[root]
    while parent.get(node, node) != root:  # path compression
        parent[node], node = root, parent[node]
    return root


def _union(parent: dict[int, int], a: int, b: int) -> None:
    parent.setdefault(a, a)
    parent.setdefault(b, b)
    ra, rb = _find(parent, a), _find(parent, b)
    if ra != rb:
        low, high = (ra, rb) if ra < rb else (rb, ra)
        parent[high] = low  # the smaller key stays the root: the keeper is deterministic
