"""Each duplicate pair is one edge: a (node, root) pair shared through several bands is not repeated."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.text import crawl_components as crawlcomponents
from pipeline.text import dedup

_WORDS = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho sigma".split()


def _rows(per_file: list[list[str]], buckets: int) -> list[list[pa.Table]]:
    """Each file's signature rows, one table per bucket."""
    out = []
    for docs in per_file:
        sigs = [dedup.signature(t) for t in docs]
        table = dedup.signature_table(list(range(len(docs))), [s[0] for s in sigs], [s[1] for s in sigs])
        out.append(dedup.shuffle(table, buckets))
    return out


def _texts() -> tuple[str, str, str]:
    rng = random.Random(3)
    text, other = (" ".join(rng.choice(_WORDS) for _ in range(150)) for _ in range(2))
    near = text.split()
    near[70] = "changed"
    return text, other, " ".join(near)


def test_a_cluster_of_exact_copies_yields_one_edge_per_pair():
    text, other, _ = _texts()
    rows = _rows([[text, other], [text], [text], [text]], buckets=1)  # every band in the one bucket
    edges = dedup.candidate_edges([(i << 32, rows[i][0]) for i in range(4)])
    pairs = Counter(zip(edges.column("node").to_pylist(), edges.column("root").to_pylist()))
    assert pairs == Counter({(1 << 32, 0): 1, (2 << 32, 0): 1, (3 << 32, 0): 1}), "15 shared bands, one edge each"
    assert all(edges.column("exact").to_pylist()), "the exact band's flag survives the merge"


def test_a_near_copy_is_one_edge_not_exact():
    text, _, near = _texts()
    rows = _rows([[text], [near]], buckets=1)
    edges = dedup.candidate_edges([(i << 32, rows[i][0]) for i in range(2)])
    assert edges.to_pylist() == [{"node": 1 << 32, "root": 0, "exact": False}]


def test_a_partition_holds_each_pair_once_whichever_buckets_it_came_through(tmp_path: Path):
    text, other, near = _texts()
    buckets, files, parts = 4, 4, 2
    rows = _rows([[text, other], [text], [text, near], [text]], buckets)
    tables = [dedup.candidate_edges([(i << 32, rows[i][b]) for i in range(files)]) for b in range(buckets)]
    root = tmp_path / "components"
    crawlcomponents.split(tables, root, files, parts)
    crawlcomponents.propagate(root, files, parts)
    seen = Counter()
    exact = {}
    for p in range(parts):
        table = pq.read_table(root / f"e{p:05d}.parquet")
        for r in table.to_pylist():
            seen[(r["u"], r["v"])] += 1
            exact[(r["u"], r["v"])] = r["exact"]
    copies = [1 << 32, 2 << 32, 3 << 32]
    expected = {(c, 0) for c in copies} | {(0, c) for c in copies} | {((2 << 32) | 1, 0), (0, (2 << 32) | 1)}
    assert set(seen) == expected and set(seen.values()) == {1}, "each pair once each way round"
    assert all(exact[(c, 0)] for c in copies) and not exact[((2 << 32) | 1, 0)]
