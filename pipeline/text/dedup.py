"""Exact and MinHash near-duplicate detection in stages whose cost is linear in the number of files.

Signatures (per file): the 64-bit hash of a document's normalized text and a MinHash of its
word 5-gram shingles (154 permutations) cut into 14 bands of 11 rows. Two documents at
Jaccard s share some band with probability 1 - (1 - s^11)^14: 0.995 at s = 0.9, 0.007 at
s = 0.5. Shuffle (per file): every (band, hash) row goes to bucket ``hash % B``, one small
file per (file, bucket). Candidates (per bucket): rows that share a (band, hash) are joined
to the group's smallest node, giving duplicate edges only, one per (node, root) pair. Components (once, over the
edges alone, never over all documents): the smallest node of each connected component is
kept, every other member is dropped, and the drops are written one table per file.

A node is ``file index << 32 | record index`` for this build's files, so the smallest node
is the earliest copy in selection order; nodes of an earlier snapshot are negative, so a
document that an earlier build already holds is always the one kept.
"""

from __future__ import annotations

import re
import zlib
from functools import lru_cache
from typing import Iterable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

SHINGLE_WORDS = 5
BANDS = 14
ROWS = 11
NUM_PERM = BANDS * ROWS
EXACT_BAND = -1
_PUNCT = re.compile(r"[^\w\s]", re.U)
_MERSENNE = np.uint64((1 << 61) - 1)
_MAX32 = np.uint64((1 << 32) - 1)
SIGNATURE_SCHEMA = pa.schema([("doc", pa.int32()), ("exact", pa.uint64()), ("bands", pa.list_(pa.uint64(), BANDS))])
ROW_SCHEMA = pa.schema([("band", pa.int8()), ("hash", pa.uint64()), ("doc", pa.int32())])
EDGE_SCHEMA = pa.schema([("node", pa.int64()), ("root", pa.int64()), ("exact", pa.bool_())])


def normalize(text: str) -> str:
    return " ".join(_PUNCT.sub(" ", text.lower()).split())


def hash64(data: bytes) -> int:
    import hashlib

    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "little")


@lru_cache(maxsize=1)
def _permutations() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.RandomState(1)
    a = rng.randint(1, int(_MERSENNE), size=NUM_PERM, dtype=np.uint64)
    b = rng.randint(0, int(_MERSENNE), size=NUM_PERM, dtype=np.uint64)
    return a, b


def minhash(shingles: list[bytes]) -> np.ndarray:
    """NUM_PERM minimum values of (a·h + b) mod (2^61 - 1), truncated to 32 bits, over crc32 shingle hashes."""
    a, b = _permutations()
    hashes = np.fromiter((zlib.crc32(s) for s in shingles), dtype=np.uint64, count=len(shingles))
    values = (np.outer(hashes, a) + b) % _MERSENNE & _MAX32
    return values.min(axis=0)


def shingles(normal: str) -> list[bytes]:
    words = normal.split()
    return [" ".join(words[i: i + SHINGLE_WORDS]).encode() for i in range(max(1, len(words) - SHINGLE_WORDS + 1))]


def signature(text: str) -> tuple[int, list[int]]:
    """(exact hash, band hashes) of one document."""
    normal = normalize(text)
    values = minhash(shingles(normal))
    bands = [hash64(values[i * ROWS:(i + 1) * ROWS].tobytes()) for i in range(BANDS)]
    return hash64(normal.encode()), bands


def signature_table(docs: list[int], exact: list[int], bands: list[list[int]]) -> pa.Table:
    return pa.table({"doc": pa.array(docs, pa.int32()), "exact": pa.array(exact, pa.uint64()),
                     "bands": pa.array(bands, pa.list_(pa.uint64(), BANDS))}, schema=SIGNATURE_SCHEMA)


def shuffle(signatures: pa.Table, buckets: int) -> list[pa.Table]:
    """One file's signatures as (band, hash, doc) rows, split into ``buckets`` tables by ``hash % buckets``."""
    docs = signatures.column("doc").to_numpy()
    exact = signatures.column("exact").to_numpy()
    if len(docs):
        bands = signatures.column("bands").combine_chunks().flatten().to_numpy().reshape(len(docs), BANDS)
    else:
        bands = np.zeros((0, BANDS), dtype=np.uint64)
    band_ids = np.concatenate([np.full(len(docs), EXACT_BAND, np.int8)]
                              + [np.full(len(docs), b, np.int8) for b in range(BANDS)])
    hashes = np.concatenate([exact] + [bands[:, b] for b in range(BANDS)]).astype(np.uint64)
    all_docs = np.tile(docs, BANDS + 1).astype(np.int32)
    target = hashes % np.uint64(buckets)
    order = np.argsort(target, kind="stable")
    bounds = np.searchsorted(target[order], np.arange(buckets + 1, dtype=np.uint64))
    return [pa.table({"band": band_ids[order[lo:hi]], "hash": hashes[order[lo:hi]], "doc": all_docs[order[lo:hi]]},
                     schema=ROW_SCHEMA) for lo, hi in zip(bounds[:-1], bounds[1:])]


def candidate_edges(rows: Iterable[tuple[int, pa.Table]]) -> pa.Table:
    """Edges (node, smallest node of its (band, hash) group, exact?) within one bucket.

    ``rows`` yields (node base, that file's rows for this bucket): node = base + doc.
    """
    tables = [pa.table({"band": t.column("band"), "hash": t.column("hash"),
                        "node": pc.add(pc.cast(t.column("doc"), pa.int64()), pa.scalar(base, pa.int64()))})
              for base, t in rows if t.num_rows]
    if not tables:
        return EDGE_SCHEMA.empty_table()
    table = pa.concat_tables(tables)
    groups = table.group_by(["band", "hash"]).aggregate([("node", "min"), ("node", "count")])
    groups = groups.filter(pc.greater(groups.column("node_count"), 1))
    if groups.num_rows == 0:
        return EDGE_SCHEMA.empty_table()
    joined = table.join(groups.select(["band", "hash", "node_min"]), keys=["band", "hash"], join_type="inner")
    joined = joined.filter(pc.not_equal(joined.column("node"), joined.column("node_min")))
    pairs = pa.table({"node": joined.column("node"), "root": joined.column("node_min"),
                      "exact": pc.equal(joined.column("band"), pa.scalar(EXACT_BAND, pa.int8()))})
    # A pair shares up to every band (all 15 for an exact copy): one edge per pair, exact if any band was the exact one
    merged = pairs.group_by(["node", "root"]).aggregate([("exact", "any")]).sort_by([("node", "ascending"),
                                                                                     ("root", "ascending")])
    return pa.table({"node": merged.column("node"), "root": merged.column("root"),
                     "exact": merged.column("exact_any")}, schema=EDGE_SCHEMA)


def components(edges: pa.Table) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(node, keeper, exact copy of its keeper?) for every non-keeper node of the duplicate graph."""
    if edges.num_rows == 0:
        empty = np.zeros(0, np.int64)
        return empty, empty, np.zeros(0, bool)
    a, b = edges.column("node").to_numpy(), edges.column("root").to_numpy()
    nodes, keeper = _smallest_in_component(a, b)
    exact = edges.filter(edges.column("exact"))
    exact_nodes, exact_keeper = _smallest_in_component(exact.column("node").to_numpy(),
                                                       exact.column("root").to_numpy())
    same_text = _lookup(exact_nodes, exact_keeper, nodes) == _lookup(exact_nodes, exact_keeper, keeper)
    dropped = nodes != keeper
    return nodes[dropped], keeper[dropped], same_text[dropped]


def _smallest_in_component(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    nodes, index = np.unique(np.concatenate([a, b]), return_inverse=True)
    if len(nodes) == 0:
        return nodes, nodes
    graph = coo_matrix((np.ones(len(a), np.int8), (index[:len(a)], index[len(a):])), shape=(len(nodes),) * 2)
    count, labels = connected_components(graph, directed=False)
    smallest = np.full(count, np.iinfo(np.int64).max, np.int64)
    np.minimum.at(smallest, labels, nodes)  # nodes are sorted, so this is the earliest copy
    return nodes, smallest[labels]


def _lookup(nodes: np.ndarray, roots: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """roots[node] for each wanted node (a node outside ``nodes`` is its own root)."""
    if len(nodes) == 0:
        return wanted.copy()
    at = np.clip(np.searchsorted(nodes, wanted), 0, len(nodes) - 1)
    return np.where(nodes[at] == wanted, roots[at], wanted)
