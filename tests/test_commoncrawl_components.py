"""The partitioned components step finds the same keepers and exact copies as one in-memory pass, in bounded memory."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.text import crawl_components as crawlcomponents
from pipeline.text import crawl_dedup as crawldedup
from pipeline.text import dedup


def _graph(rng: random.Random, files: int, edges: int, earlier: bool, chain: bool = True) -> pa.Table:
    """Star edges (node → a smaller root) among documents of ``files`` files, some chained, some exact."""
    def node() -> int:
        if earlier and rng.random() < 0.1:
            return crawldedup.EARLIER_BASE + (rng.randrange(3) << 32) + rng.randrange(20)
        return (rng.randrange(files) << 32) | rng.randrange(30)

    rows = set()
    while len(rows) < edges:
        a, b = node(), node()
        if a != b:
            rows.add((max(a, b), min(a, b), rng.random() < 0.4))
    chain_, chain = chain, [((files - 1) << 32) | (1000 + i) for i in range(40)]  # its own component, diameter 39
    rows |= {(chain[i + 1], chain[i], i % 3 == 0) for i in range(len(chain) - 1)} if chain_ else set()
    node_, root, exact = zip(*sorted(rows))
    return pa.table({"node": pa.array(node_, pa.int64()), "root": pa.array(root, pa.int64()),
                     "exact": pa.array(exact, pa.bool_())}, schema=dedup.EDGE_SCHEMA)


def _expected(edges: pa.Table) -> set[tuple[int, int, bool]]:
    nodes, keepers, exact = dedup.components(edges)
    return {(int(n), int(k), bool(e)) for n, k, e in zip(nodes, keepers, exact)}


@pytest.mark.parametrize("parts", [1, 3, 8])
@pytest.mark.parametrize("seed", [0, 1])
def test_partitioned_components_equal_the_in_memory_ones(tmp_path: Path, parts: int, seed: int):
    files = 12
    edges = _graph(random.Random(seed), files, 400, earlier=seed == 1)
    root = tmp_path / "components"
    halves = [edges.slice(0, 150), edges.slice(150)]  # as if from two buckets
    assert crawlcomponents.split(halves, root, files, parts) == edges.num_rows
    last = crawlcomponents.propagate(root, files, parts)
    assert last >= 20, "the 40-node chain needs a round per link (from both ends)"
    got = set()
    for p in range(parts):
        nodes, keepers, exact = crawlcomponents.dropped(root, last, p)
        got |= {(int(n), int(k), bool(e)) for n, k, e in zip(nodes, keepers, exact)}
    assert got == _expected(edges)


def test_a_partition_holds_whole_files_and_earlier_nodes_spread():
    nodes = np.array([(f << 32) | d for f in range(10) for d in range(3)] + [crawldedup.EARLIER_BASE + 5], np.int64)
    parts = crawlcomponents.partition_of(nodes, 10, 4)
    by_file = {}
    for n, p in zip(nodes[:-1], parts[:-1]):
        by_file.setdefault(int(n) >> 32, set()).add(int(p))
    assert all(len(p) == 1 for p in by_file.values()) and set(parts[:-1]) == {0, 1, 2, 3}
    assert 0 <= parts[-1] < 4


def test_resolve_splits_by_the_memory_setting_and_drops_the_same(tmp_path: Path):
    files = 12
    edges = _graph(random.Random(5), files, 300, earlier=False)
    names = tuple(f"file{i:02d}.warc.wet.gz" for i in range(files))
    selection = crawldedup.Selection(tmp_path / "sig", tmp_path / "work", tuple(f"f{i}" for i in range(files)),
                                     names, buckets=2)
    for b, table in enumerate([edges.slice(0, 100), edges.slice(100)]):
        selection.edges_path(b).parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, selection.edges_path(b))
    memory = -(-edges.num_rows * crawlcomponents.BYTES_PER_EDGE // 5)  # a fifth of the edges fit at once
    summary = crawldedup.resolve(selection, memory_bytes=memory)
    assert summary["partitions"] == 5 and summary["edges"] == edges.num_rows
    assert not (selection.work / "components").exists(), "the scratch partitions are removed"
    got = set()
    for f in range(files):
        for row in crawldedup.drops_for(selection.work, f).to_pylist():
            got.add(((f << 32) | row["doc"], row["reason"]))
    expected = {(n, "exact_duplicate" if e else "near_duplicate") for n, _, e in _expected(edges)}
    assert got == expected and summary["dropped"] == len(expected)


def _resolve_on_a_worker(selection: crawldedup.Selection, memory: int) -> tuple[bool, dict]:
    mapper = crawlcomponents.dask_mapper()
    return mapper is not None, crawldedup.resolve(selection, memory_bytes=memory, mapper=mapper)


def test_on_dask_the_partition_steps_run_as_tasks_and_drop_the_same(tmp_path: Path):
    from distributed import Client, LocalCluster, get_task_stream

    files = 12
    edges = _graph(random.Random(6), files, 300, earlier=False, chain=False)  # a few rounds of tasks
    selection = crawldedup.Selection(tmp_path / "sig", tmp_path / "work", tuple(f"f{i}" for i in range(files)),
                                     tuple(f"file{i:02d}" for i in range(files)), buckets=1)
    selection.edges_path(0).parent.mkdir(parents=True)
    pq.write_table(edges, selection.edges_path(0))
    assert crawlcomponents.dask_mapper() is None, "outside a Dask task the steps run here"
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0") as cluster, \
            Client(cluster) as client:
        with get_task_stream(client) as stream:
            on_dask, summary = client.submit(_resolve_on_a_worker, selection, 4_000, pure=False).result()
    assert any(task["key"].startswith("send-") for task in stream.data), "the send steps ran as cluster tasks"
    assert on_dask and summary["partitions"] > 1
    got = {((f << 32) | r["doc"]) for f in range(files) for r in crawldedup.drops_for(selection.work, f).to_pylist()}
    assert got == {n for n, _, _ in _expected(edges)}
