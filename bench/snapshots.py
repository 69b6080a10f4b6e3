"""Snapshot bookkeeping and lineage at two sizes 10x apart (costs that must stay flat).

- parts: a build of N small parts (``ShardSet.build_part`` + the snapshot commit) against the anchor,
  a bare ``pq.write_table`` of the same rows per part (the least a build with one file per part could
  cost). Printed: seconds per part for both, their ratio, and the 10x-size ratio (goal <= 1.2x),
  plus the number of data files and the manifest's bytes.
- lineage: peak resident memory of ``lineage.compare`` between two versions of M rows (10% changed,
  1% added, 1% removed), against the anchor, the whole-table in-memory join it replaced. Each run is a
  fresh process; the 10x-size ratio is the goal (<= 1.2x).

    .venv/bin/python -m bench.snapshots parts --sizes 1000 10000
    .venv/bin/python -m bench.snapshots lineage --sizes 1000000 10000000
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.store.shards import SPLIT_COLUMN, DatasetSpec, Part, PartInput, ShardSet
from pipeline.store.splits import SplitAssigner

SCHEMA = pa.schema([("id", pa.int64()), ("text", pa.string())])
ROWS_PER_PART = 20


def _spec(root: Path) -> DatasetSpec:
    return DatasetSpec(root=root, source="bench", dataset="rows", version="v1", schema=SCHEMA,
                       config={"bench": 1}, license="CC0", target_shard_bytes=64 << 20, row_group_bytes=1 << 20)


def _rows(index: int) -> pa.Table:
    ids = np.arange(index * ROWS_PER_PART, (index + 1) * ROWS_PER_PART)
    return pa.table({"id": ids, "text": [f"row {i}" for i in ids]})


def parts(n: int, scratch: Path) -> dict:
    assigner = SplitAssigner()
    shard_set = ShardSet(_spec(scratch / f"ours-{n}"))
    todo = [Part(f"p{i:06d}", (PartInput(f"in-{i}", f"{i:064x}"),), {"index": i}) for i in range(n)]

    def read(part, rejects):
        table = _rows(part.options["index"])
        yield table.append_column(SPLIT_COLUMN, pa.array(assigner.of_ints(table.column("id").to_numpy()).astype(str)))

    started = time.perf_counter()
    for part in todo:
        shard_set.build_part(part, read)
    manifest = shard_set.finalize(todo)
    ours = time.perf_counter() - started
    anchor_dir = scratch / f"anchor-{n}"
    anchor_dir.mkdir()
    started = time.perf_counter()
    for i in range(n):
        pq.write_table(_rows(i), anchor_dir / f"{i}.parquet", compression="zstd")
    anchor = time.perf_counter() - started
    manifest_bytes = (scratch / f"ours-{n}" / "_manifest.json").stat().st_size
    return {"parts": n, "ours_s_per_part": ours / n, "anchor_s_per_part": anchor / n,
            "files": len(manifest["shards"]), "manifest_bytes": manifest_bytes}


def _version(root: Path, rows: int, seed: int) -> None:
    """A dataset of ``rows`` rows; a later seed changes 10%, removes 1% and adds 1%."""
    shard_set = ShardSet(DatasetSpec(root=root, source="bench", dataset="rows", version=root.name, schema=SCHEMA,
                                     config={}, license="CC0", target_shard_bytes=64 << 20,
                                     row_group_bytes=8 << 20))
    step = 1_000_000
    todo = [Part(f"p{i}", (PartInput(f"in-{i}", f"{i:064x}"),), {"start": i * step}) for i in range(-(-rows // step))]

    def read(part, rejects):
        start = part.options["start"]
        ids = np.arange(start, min(start + step, rows))
        if seed:
            ids = ids[ids % 100 != 7]  # removed
            ids = np.concatenate([ids, ids[ids % 100 == 3] + 10 * rows])  # added
        edited = (ids % 10 == 1) if seed else np.zeros(len(ids), bool)
        text = pa.array(np.char.add(np.where(edited, "edited ", "text "), ids.astype(str)).tolist(), pa.string())
        yield pa.table({"id": ids, "text": text, SPLIT_COLUMN: pa.array(["train"] * len(ids))})

    for part in todo:
        shard_set.build_part(part, read)
    shard_set.finalize(todo)


def _anchor_compare(old: Path, new: Path) -> dict:
    """The whole-table join: every (id, hash) of both versions in memory at once."""
    import pandas as pd
    import pyarrow.compute as pc

    from pipeline.store.shards import read_split

    def prints(root):
        table = read_split(root, columns=["id", "text"])
        digest = pd.util.hash_pandas_object(table.select(["text"]).to_pandas(), index=False).to_numpy()
        return pa.table({"id": table.column("id"), "hash": digest})

    joined = prints(old).rename_columns(["id", "old"]).join(prints(new).rename_columns(["id", "new"]), "id",
                                                             join_type="full outer")
    return {"changed": int(pc.sum(pc.not_equal(joined.column("old"), joined.column("new"))).as_py() or 0)}


def lineage_child(kind: str, old: str, new: str) -> None:
    from pipeline.store import lineage

    lineage.LINEAGE[("bench", "rows")] = (["id"], ["text"])
    started = time.perf_counter()
    if kind == "ours":
        result = lineage.compare(Path(old), Path(new), "bench", "rows")
    else:
        result = _anchor_compare(Path(old), Path(new))
    print(json.dumps({"seconds": time.perf_counter() - started, "result": result, "peak_kb": peak_kb()}))


def peak_kb() -> int:
    """This process's own peak RSS (VmHWM). Not ru_maxrss: Linux carries the parent's RSS at fork across exec
    into it, so every child of a big parent reports at least the parent's size."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def lineage_run(rows: int, scratch: Path) -> dict:
    old, new = scratch / f"v1-{rows}", scratch / f"v2-{rows}"
    _version(old, rows, 0)
    _version(new, rows, 1)
    out = {"rows": rows}
    for kind in ("ours", "anchor"):
        got = subprocess.run([sys.executable, "-m", "bench.snapshots", "lineage-child", kind, str(old), str(new)],
                             capture_output=True, text=True, check=True)
        out[kind] = json.loads(got.stdout.strip().splitlines()[-1])
    baseline = subprocess.run([sys.executable, "-c", "import pipeline.store.lineage, pandas, bench.snapshots as b; "
                               "print(b.peak_kb())"],
                              capture_output=True, text=True, check=True)
    out["fixed_kb"] = int(baseline.stdout.strip())
    shutil.rmtree(old)
    shutil.rmtree(new)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("what", choices=["parts", "lineage", "lineage-child"])
    parser.add_argument("args", nargs="*")
    parser.add_argument("--sizes", type=int, nargs=2)
    args = parser.parse_args()
    if args.what == "lineage-child":
        return lineage_child(*args.args)
    with tempfile.TemporaryDirectory(prefix="datamill-bench-") as tmp:
        results = []
        for size in args.sizes:
            results.append(parts(size, Path(tmp)) if args.what == "parts" else lineage_run(size, Path(tmp)))
            print(json.dumps(results[-1]), flush=True)
    small, large = results
    if args.what == "parts":
        for r in results:
            print(f"{r['parts']:>7,} parts: ours {r['ours_s_per_part'] * 1e3:.2f} ms/part, anchor "
                  f"{r['anchor_s_per_part'] * 1e3:.2f} ms/part (x{r['ours_s_per_part'] / r['anchor_s_per_part']:.2f}); "
                  f"{r['files']:,} data files, manifest {r['manifest_bytes']:,} bytes")
        print(f"10x parts: ours per part x{large['ours_s_per_part'] / small['ours_s_per_part']:.2f} (goal <= 1.2), "
              f"anchor x{large['anchor_s_per_part'] / small['anchor_s_per_part']:.2f}")
    else:
        for r in results:
            print(f"{r['rows']:>11,} rows: ours peak {r['ours']['peak_kb']:,} kB in {r['ours']['seconds']:.1f} s, "
                  f"anchor peak {r['anchor']['peak_kb']:,} kB in {r['anchor']['seconds']:.1f} s; "
                  f"fixed cost (imports) {r['fixed_kb']:,} kB")
        grow = (large["ours"]["peak_kb"] - large["fixed_kb"]) / max(1, small["ours"]["peak_kb"] - small["fixed_kb"])
        print(f"10x rows: ours peak x{large['ours']['peak_kb'] / small['ours']['peak_kb']:.2f} (goal <= 1.2; "
              f"above the fixed cost x{grow:.2f}), anchor x{large['anchor']['peak_kb'] / small['anchor']['peak_kb']:.2f}")


if __name__ == "__main__":
    main()
