"""Connected components over CommonCrawl's duplicate edges, in partitions of bounded memory.

The components step must not hold a crawl's edges in one process (a crawl has ~10⁹). The
edges are split into P partitions by the file range of their nodes (P from a memory
setting), stored both ways round, and the smallest node of each component is found by
label propagation: each round, every partition sends each neighbour of its nodes the
node's label, then every partition lowers its nodes' labels to the smallest it received.
A partition's step touches that partition alone (its edges, labels and messages: ~1/P of
the whole), so memory is bounded by the setting; on Dask the steps of a round run as tasks
on the cluster's workers (``dask_mapper``), elsewhere one after another. Rounds = the graph's diameter + 1; MinHash
duplicate graphs are stars joined through shared bands, so a handful.

Two labels travel together: the near label (over every edge) and the exact label (over
the exact-hash edges only). The keeper of a node is its near label; the node is an exact
copy of it when the exact label equals it (the keeper is its component's smallest node,
so it is also the smallest of its own exact class).

Layout under ``<selection work>/components/``: ``e<p>.parquet`` the partition's edges
(u, v, exact) with u in p, each (u, v) once (``compact``, before the rounds); ``r<round>/l<p>.parquet`` its labels; ``r<round>/m<p>.parquet``
the messages partition p sent, row group q for partition q.
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.errors import ShardError

BYTES_PER_EDGE = 96  # one undirected edge in a partition's step: both directions, labels, messages, sort space
MAX_ROUNDS = 1000
_NONE = np.iinfo(np.int64).max
PART_EDGES = pa.schema([("u", pa.int64()), ("v", pa.int64()), ("exact", pa.bool_())])
LABELS = pa.schema([("node", pa.int64()), ("label", pa.int64()), ("exact_label", pa.int64())])


def partitions_for(edge_rows: int, memory_bytes: int) -> int:
    """How many partitions keep one partition's step within ``memory_bytes``."""
    return max(1, math.ceil(edge_rows * BYTES_PER_EDGE / max(1, memory_bytes)))


def partition_of(nodes: np.ndarray, files: int, parts: int) -> np.ndarray:
    """Partition of each node: by its file's range (so a partition's drops cover whole files); earlier
    snapshots' nodes (negative) are spread by value."""
    nodes = np.asarray(nodes, np.int64)
    mine = (nodes >> 32) * parts // max(1, files)
    spread = (-nodes) % parts
    return np.where(nodes >= 0, np.minimum(mine, parts - 1), spread).astype(np.int64)


def split(edge_tables: Iterable[pa.Table], root: Path, files: int, parts: int) -> int:
    """Write every edge both ways round into the partition of its first node; returns the edges read."""
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    writers = [pq.ParquetWriter(root / f"e{p:05d}.parquet", PART_EDGES, compression="zstd") for p in range(parts)]
    count = 0
    try:
        for table in edge_tables:
            count += table.num_rows
            a, b = table.column("node").to_numpy(), table.column("root").to_numpy()
            exact = table.column("exact").to_numpy(zero_copy_only=False)
            u, v, e = np.concatenate([a, b]), np.concatenate([b, a]), np.concatenate([exact, exact])
            target = partition_of(u, files, parts)
            order = np.argsort(target, kind="stable")
            bounds = np.searchsorted(target[order], np.arange(parts + 1))
            for p, (lo, hi) in enumerate(zip(bounds[:-1], bounds[1:])):
                if hi > lo:
                    rows = order[lo:hi]
                    writers[p].write_table(pa.table({"u": u[rows], "v": v[rows], "exact": e[rows]}, schema=PART_EDGES))
    finally:
        for writer in writers:
            writer.close()
    return count


def compact(root: Path, p: int) -> int:
    """Keep each (u, v) of partition p once (exact if any copy was): a pair comes once per bucket it shared a band
    in, and every round reads the edges again; returns the edges kept."""
    edges = _edges(root, p)
    u, v = edges.column("u").to_numpy(), edges.column("v").to_numpy()
    exact = edges.column("exact").to_numpy(zero_copy_only=False)
    order = np.lexsort((v, u))
    u, v, exact = u[order], v[order], exact[order]
    first = np.r_[True, (u[1:] != u[:-1]) | (v[1:] != v[:-1])] if len(u) else np.zeros(0, bool)
    starts = np.flatnonzero(first)
    merged = np.logical_or.reduceat(exact, starts) if len(starts) else exact
    tmp = root / f"e{p:05d}.parquet.tmp"
    pq.write_table(pa.table({"u": u[starts], "v": v[starts], "exact": merged}, schema=PART_EDGES), tmp,
                   compression="zstd")
    tmp.replace(root / f"e{p:05d}.parquet")
    return len(starts)


def _edges(root: Path, p: int) -> pa.Table:
    return pq.read_table(root / f"e{p:05d}.parquet")


def _labels(root: Path, round_: int, p: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(sorted nodes, near labels, exact labels) of partition p; before round 1 every node is its own label."""
    if round_ == 0:
        nodes = np.unique(_edges(root, p).column("u").to_numpy())
        return nodes, nodes.copy(), nodes.copy()
    table = pq.read_table(root / f"r{round_}" / f"l{p:05d}.parquet")
    return tuple(table.column(c).to_numpy() for c in ("node", "label", "exact_label"))  # type: ignore[return-value]


def send(root: Path, round_: int, p: int, files: int, parts: int) -> None:
    """Partition p tells each neighbour of its nodes their labels (the exact label along exact edges only)."""
    edges = _edges(root, p)
    nodes, label, exact_label = _labels(root, round_, p)
    u, v = edges.column("u").to_numpy(), edges.column("v").to_numpy()
    exact = edges.column("exact").to_numpy(zero_copy_only=False)
    at = np.searchsorted(nodes, u)
    near, same = label[at], np.where(exact, exact_label[at], _NONE)
    target = partition_of(v, files, parts)
    order = np.argsort(target, kind="stable")
    bounds = np.searchsorted(target[order], np.arange(parts + 1))
    out = root / f"r{round_ + 1}"
    out.mkdir(parents=True, exist_ok=True)
    with pq.ParquetWriter(out / f"m{p:05d}.parquet", LABELS) as writer:
        for lo, hi in zip(bounds[:-1], bounds[1:]):  # row group q holds the messages to partition q, maybe none
            rows = order[lo:hi]
            writer.write_table(pa.table({"node": v[rows], "label": near[rows], "exact_label": same[rows]},
                                        schema=LABELS))


def receive(root: Path, round_: int, q: int, parts: int) -> int:
    """Partition q lowers its nodes' labels to the smallest received; returns how many nodes changed."""
    nodes, label, exact_label = _labels(root, round_, q)
    got = pa.concat_tables([pq.ParquetFile(root / f"r{round_ + 1}" / f"m{p:05d}.parquet").read_row_group(q)
                            for p in range(parts)])
    to = np.searchsorted(nodes, got.column("node").to_numpy())
    new_label, new_exact = label.copy(), exact_label.copy()
    np.minimum.at(new_label, to, got.column("label").to_numpy())
    np.minimum.at(new_exact, to, got.column("exact_label").to_numpy())
    pq.write_table(pa.table({"node": nodes, "label": new_label, "exact_label": new_exact}, schema=LABELS),
                   root / f"r{round_ + 1}" / f"l{q:05d}.parquet")
    return int(np.count_nonzero((new_label != label) | (new_exact != exact_label)))


Mapper = Callable[..., list]  # like ``lambda f, *iterables: list(map(f, *iterables))``, maybe on other processes


def propagate(root: Path, files: int, parts: int, mapper: Mapper | None = None) -> int:
    """Rounds until no label changes; returns the last round (whose labels are final).

    ``mapper`` runs one step over every partition (``dask_mapper`` spreads them over a Dask cluster's
    workers; the default runs them here, one after another).
    """
    run = mapper if mapper and parts > 1 else (lambda f, *iterables: list(map(f, *iterables)))
    every = range(parts)
    run(compact, [root] * parts, every)
    for round_ in range(MAX_ROUNDS):
        run(send, [root] * parts, [round_] * parts, every, [files] * parts, [parts] * parts)
        changed = sum(run(receive, [root] * parts, [round_] * parts, every, [parts] * parts))
        if round_ > 0:
            shutil.rmtree(root / f"r{round_}", ignore_errors=True)  # only the newest round is read again
        if changed == 0:
            return round_ + 1
    raise ShardError(f"dedup components: labels still changing after {MAX_ROUNDS} rounds")


def dask_mapper() -> Mapper | None:
    """Inside a Dask task: a mapper that runs each partition's step as a task on the same cluster (this task
    steps aside while they run); elsewhere None."""
    try:
        from distributed import get_worker, worker_client

        get_worker()
    except (ImportError, ValueError):
        return None

    def run(function: Callable, *iterables) -> list:
        with worker_client() as client:
            return client.gather(client.map(function, *iterables, pure=False))

    return run


def dropped(root: Path, round_: int, p: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(node, keeper, exact copy of its keeper?) of partition p's nodes that are not their component's keeper."""
    nodes, label, exact_label = _labels(root, round_, p)
    gone = label != nodes
    return nodes[gone], label[gone], (exact_label == label)[gone]
