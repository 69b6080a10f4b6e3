"""Drop tables: built column-wise (no Python string per document), written per partition through the mapper."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from pipeline.text import crawl_components as crawlcomponents
from pipeline.text import crawl_dedup as crawldedup
from pipeline.text import dedup


def test_the_drop_table_says_whose_copy_each_document_is():
    names = ("a.warc.wet.gz", "b.warc.wet.gz", "c.warc.wet.gz")
    earlier = [{"version": "CC-MAIN-2026-40", "names": ["old0.gz", "old1.gz"]},
               {"version": "CC-MAIN-2026-43", "names": ["new0.gz"]}]
    nodes = np.array([(2 << 32) | 7, (1 << 32) | 3, (2 << 32) | 9, (1 << 32) | 4], np.int64)
    keepers = np.array([5, (1 << 32) | 1, crawldedup.EARLIER_BASE + ((1 << 32) | 12),
                        crawldedup.EARLIER_BASE * 2 + 8], np.int64)
    exact = np.array([True, False, False, True])
    table = crawldedup.drop_table(nodes, keepers, exact, names, earlier)
    assert table.schema == crawldedup.DROP_SCHEMA
    assert table.to_pylist() == [
        {"doc": 7, "reason": "exact_duplicate", "detail": "exact duplicate of file a.warc.wet.gz record 5"},
        {"doc": 3, "reason": "near_duplicate", "detail": "near duplicate of file b.warc.wet.gz record 1"},
        {"doc": 9, "reason": "in_earlier_crawl", "detail": "near duplicate of CC-MAIN-2026-40 file old1.gz record 12"},
        {"doc": 4, "reason": "in_earlier_crawl", "detail": "exact duplicate of CC-MAIN-2026-43 file new0.gz record 8"},
    ]


def _edges(rng: random.Random, files: int, count: int):
    import pyarrow as pa

    rows = set()
    while len(rows) < count:
        a, b = ((rng.randrange(files) << 32) | rng.randrange(30) for _ in range(2))
        if a != b:
            rows.add((max(a, b), min(a, b), rng.random() < 0.4))
    node, root, exact = zip(*sorted(rows))
    return pa.table({"node": pa.array(node, pa.int64()), "root": pa.array(root, pa.int64()),
                     "exact": pa.array(exact, pa.bool_())}, schema=dedup.EDGE_SCHEMA)


def test_with_a_mapper_each_partition_writes_its_own_drop_tables(tmp_path: Path):
    files = 12
    edges = _edges(random.Random(7), files, 300)
    selection = crawldedup.Selection(tmp_path / "sig", tmp_path / "work", tuple(f"f{i}" for i in range(files)),
                                     tuple(f"file{i:02d}.warc.wet.gz" for i in range(files)), buckets=1)
    selection.edges_path(0).parent.mkdir(parents=True)
    pq.write_table(edges, selection.edges_path(0))
    steps = []

    def mapper(function, *iterables):
        steps.append(function.__name__)
        return list(map(function, *iterables))

    memory = -(-edges.num_rows * crawlcomponents.BYTES_PER_EDGE // 4)
    summary = crawldedup.resolve(selection, memory_bytes=memory, mapper=mapper)
    assert summary["partitions"] == 4
    assert steps[-1] == "partition_drops", "the drop tables are written by a step per partition"
    nodes, keepers, exact = dedup.components(edges)
    expected = {((int(n) >> 32), int(n) & 0xFFFFFFFF, "exact_duplicate" if e else "near_duplicate",
                 f"{'exact' if e else 'near'} duplicate of file file{int(k) >> 32:02d}.warc.wet.gz "
                 f"record {int(k) & 0xFFFFFFFF}") for n, k, e in zip(nodes, keepers, exact)}
    got = {(f, r["doc"], r["reason"], r["detail"]) for f in range(files)
           for r in crawldedup.drops_for(selection.work, f).to_pylist()}
    assert got == expected and summary["dropped"] == len(expected)
    assert summary["files_with_drops"] == len({f for f, *_ in expected})
