"""Peak memory of one epoch of the training stream at two dataset sizes, 10x apart (it must stay flat).

Each size is a datamill dataset of incompressible ~20 kB rows (JPEG-like bytes, stored uncompressed)
written through the real shard writer (8 parts, default shard and row-group sizes); each epoch is
streamed with the stream's defaults (every file of the epoch open at once, batch 256) in a fresh
process, and the figure is that process's peak RSS (VmHWM) above its RSS once everything is
imported and the stream is built. Hugging Face ``datasets`` reads the same Parquet files in the same
run (``iter(batch_size=256)`` over ``load_dataset("parquet", streaming=True)``, no cache copy) as
the anchor.

    .venv/bin/python -m bench.stream_memory [--gb 0.5 5] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROW_BYTES = 20_000
BATCH = 256


def build(root: Path, gigabytes: float) -> dict:
    import numpy as np
    import pyarrow as pa

    from pipeline.store.shards import SPLIT_COLUMN, DatasetSpec, Part, PartInput, ShardSet

    rows = int(gigabytes * 1e9 / ROW_BYTES)
    per_part = rows // 8
    schema = pa.schema([("id", pa.int64()), ("blob", pa.binary())])
    spec = DatasetSpec(root, "bench", "blobs", "v1", schema, {"rows": rows}, "CC0", uncompressed_columns=("blob",))
    pool = np.frombuffer(np.random.default_rng(0).bytes(ROW_BYTES * 1024), dtype=np.uint8).reshape(1024, ROW_BYTES)
    parts = [Part(f"p{i}", (PartInput(f"p{i}", "0" * 64),), {"i": i}) for i in range(8)]

    def read(part, rejects):
        for start in range(part.options["i"] * per_part, (part.options["i"] + 1) * per_part, 4096):
            ids = np.arange(start, min(start + 4096, (part.options["i"] + 1) * per_part))
            values = pool[ids % 1024].copy()
            values[:, :8] = ids.astype(">u8").view(np.uint8).reshape(-1, 8)  # every row its own bytes
            blob = pa.FixedSizeBinaryArray.from_buffers(pa.binary(ROW_BYTES), len(ids), [None, pa.py_buffer(values)])
            yield pa.table({"id": ids, "blob": blob.cast(pa.binary()), SPLIT_COLUMN: ["train"] * len(ids)})
    shard_set = ShardSet(spec)
    for part in parts:
        shard_set.build_part(part, read)
    return shard_set.finalize(parts)


def child(reader: str, root: str) -> None:
    """One epoch in this process; prints rows, seconds and peak RSS above the start (MB)."""
    def status(key: str) -> int:
        return int(next(line for line in open("/proc/self/status") if line.startswith(key)).split()[1]) >> 10

    if reader == "datamill":
        from pipeline.features import Columns
        from pipeline.features.stream import Stream

        batches = Stream(root, Columns(["id", "blob"], {"id": "int64", "blob": "binary"}), batch_size=BATCH,
                         seed=1).batches()
        count = lambda b: len(b["id"])  # noqa: E731
    else:
        from datasets import load_dataset

        from pipeline.features.stream import list_shards

        files = [s.url for s in list_shards(root, "train")[0]]
        data = load_dataset("parquet", data_files=files, split="train", streaming=True).shuffle(seed=1, buffer_size=4096)
        batches = data.iter(batch_size=BATCH)
        count = lambda b: len(b["id"])  # noqa: E731
    start, started, rows = status("VmRSS"), time.perf_counter(), 0
    for batch in batches:
        rows += count(batch)
    print(json.dumps({"rows": rows, "seconds": time.perf_counter() - started,
                      "peak_above_start_mb": status("VmHWM") - start}))


def measure(reader: str, root: Path) -> dict:
    done = subprocess.run([sys.executable, "-m", "bench.stream_memory", "--child", reader, str(root)],
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--gb", type=float, nargs=2, default=[0.5, 5.0])
    parser.add_argument("--readers", nargs="+", default=["datamill", "hf"])
    parser.add_argument("--child", nargs=2)
    args = parser.parse_args()
    if args.child:
        return child(*args.child)
    work = Path(tempfile.mkdtemp(prefix="stream-memory-"))
    results = {}
    try:
        for gigabytes in args.gb:
            root = work / f"{gigabytes}gb"
            started = time.perf_counter()
            manifest = build(root, gigabytes)
            size = sum(s["bytes"] for s in manifest["shards"])
            print(f"{gigabytes} GB: {len(manifest['shards'])} files, {size / 1e9:.2f} GB, "
                  f"{manifest['totals']['rows']:,} rows (built in {time.perf_counter() - started:.0f} s)", flush=True)
            for reader in args.readers:
                results[(reader, gigabytes)] = got = measure(reader, root)
                print(f"  {reader:8s} peak RSS above start {got['peak_above_start_mb']:,} MB; "
                      f"{got['rows'] / got['seconds']:,.0f} rows/s ({got['rows']:,} rows)", flush=True)
            shutil.rmtree(root)
        small, large = args.gb
        for reader in args.readers:
            ratio = results[(reader, large)]["peak_above_start_mb"] / max(1, results[(reader, small)]["peak_above_start_mb"])
            print(f"{reader}: peak RSS at {large:g} GB / at {small:g} GB = {ratio:.2f}x (goal <= 1.2x)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
