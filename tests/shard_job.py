"""A synthetic dataset build the shard tests run (and kill) in a subprocess.

    python -m tests.shard_job ROOT [--slow SECONDS] [--tag TAG]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

from pipeline.store.shards import SPLIT_COLUMN, DatasetSpec, Part, PartInput, ShardSet
from pipeline.store.splits import SplitAssigner

SCHEMA = pa.schema([("id", pa.int64()), ("text", pa.string())])
PARTS = [Part(f"p{i}", (PartInput(f"input-{i}", f"{i:064x}"),), {"index": i}) for i in range(4)]
ROWS_PER_BATCH, BATCHES = 2_000, 5


def spec(root: Path, tag: str = "a", target: int = 40_000) -> DatasetSpec:
    return DatasetSpec(root=root, source="synthetic", dataset="rows", version="v1", schema=SCHEMA,
                       config={"tag": tag}, license="CC0", target_shard_bytes=target, row_group_bytes=10_000)


def reader(slow: float = 0.0):
    assigner = SplitAssigner(salt="synthetic")

    def read(part: Part, rejects):
        base = part.options["index"] * ROWS_PER_BATCH * BATCHES
        for b in range(BATCHES):
            ids = np.arange(base + b * ROWS_PER_BATCH, base + (b + 1) * ROWS_PER_BATCH)
            keep = ids % 97 != 0
            for bad in ids[~keep]:
                rejects.add(int(bad), "divisible_by_97", "synthetic drop")
            ids = ids[keep]
            yield pa.table({"id": ids, "text": [f"row {i} " + "x" * (i % 50) for i in ids],
                            SPLIT_COLUMN: assigner.of_ints(ids).astype(str)})
            if slow:
                time.sleep(slow)
    return read


def run(root: Path, slow: float = 0.0, tag: str = "a", target: int = 40_000) -> dict:
    shard_set = ShardSet(spec(root, tag, target))
    for part in PARTS:
        shard_set.build_part(part, reader(slow))
    return shard_set.finalize(PARTS)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("root", type=Path)
    parser.add_argument("--slow", type=float, default=0.0)
    parser.add_argument("--tag", default="a")
    args = parser.parse_args()
    run(args.root, args.slow, args.tag)
