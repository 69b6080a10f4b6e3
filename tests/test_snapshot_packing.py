"""Shards are cut to the size target per split across parts: many small parts make about bytes / target files."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pyarrow as pa

from pipeline.store.shards import SPLIT_COLUMN, DatasetSpec, Part, PartInput, ShardSet, read_split
from pipeline.store.snapshots import gc, list_snapshots, verify
from pipeline.store.splits import SplitAssigner

SCHEMA = pa.schema([("id", pa.int64()), ("text", pa.string())])
ROWS = 1_000
TARGET = 40_000
SPLITS = SplitAssigner({"train": 0.8, "validation": 0.1, "test": 0.1})


def spec(root: Path) -> DatasetSpec:
    return DatasetSpec(root=root, source="synthetic", dataset="small", version="v1", schema=SCHEMA,
                       config={"packing": 1}, license="CC0", target_shard_bytes=TARGET, row_group_bytes=1 << 20)


def parts(n: int, changed: int | None = None) -> list[Part]:
    return [Part(f"p{i:04d}", (PartInput(f"in-{i}", f"{i + (1000 if i == changed else 0):064x}"),),
                 {"index": i, "changed": i == changed}) for i in range(n)]


def read(part: Part, rejects):
    ids = np.arange(part.options["index"] * ROWS, (part.options["index"] + 1) * ROWS)
    text = [("changed " if part.options["changed"] else "row ") + f"{i} " + "y" * (i % 30) for i in ids]
    yield pa.table({"id": ids, "text": text, SPLIT_COLUMN: SPLITS.of_ints(ids).astype(str)})


def build(root: Path, todo: list[Part]) -> dict:
    shard_set = ShardSet(spec(root))
    for part in todo:
        shard_set.build_part(part, read)
    return shard_set.finalize(todo)


def test_many_small_parts_make_about_bytes_over_target_files_per_split(tmp_path):
    manifest = build(tmp_path, parts(100))
    assert verify(tmp_path) == []
    assert sorted(read_split(tmp_path, columns=["id"]).column("id").to_pylist()) == list(range(100 * ROWS))
    for split, entry in manifest["splits"].items():
        assert entry["shards"] <= math.ceil(entry["bytes"] / TARGET) + 1, (split, entry)
    assert manifest["totals"]["shards"] < 100 / 4, "hundreds of parts must not make one file per split each"
    assert len(manifest["parts"]) == 100
    assert all(not s["file"].startswith("_") for s in manifest["shards"]), "snapshot files sit under <split>/"


def test_a_rerun_reuses_the_packs_and_commits_nothing(tmp_path):
    first = build(tmp_path, parts(100))
    again = build(tmp_path, parts(100))
    assert again["snapshot_id"] == first["snapshot_id"] and list_snapshots(tmp_path) == [first["snapshot_id"]]


def test_a_changed_part_repacks_only_from_its_group_on(tmp_path):
    first = build(tmp_path, parts(100))
    second = build(tmp_path, parts(100, changed=90))
    assert len(list_snapshots(tmp_path)) == 2 and verify(tmp_path) == []
    assert verify(tmp_path, first["snapshot_id"]) == [], "the first snapshot is untouched"
    kept = {s["file"] for s in first["shards"]} & {s["file"] for s in second["shards"]}
    assert len(kept) >= len(first["shards"]) // 2, "groups before the changed part are reused as they are"
    texts = read_split(tmp_path, columns=["text"]).column("text").to_pylist()
    assert sum(t.startswith("changed") for t in texts) == ROWS


def test_gc_keeps_what_a_resumed_build_needs(tmp_path):
    first = build(tmp_path, parts(60))
    gc(tmp_path, keep=1, grace_seconds=0)
    assert verify(tmp_path) == []
    shard_set = ShardSet(spec(tmp_path))
    assert all(shard_set.part_record(p) is not None for p in parts(60)), "finished parts survive gc"
    again = build(tmp_path, parts(60, changed=59))  # repacks the last group from the parts' own files
    assert verify(tmp_path) == [] and again["totals"]["rows"] == first["totals"]["rows"]
