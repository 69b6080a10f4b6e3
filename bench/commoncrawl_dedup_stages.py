"""Dedup stage costs a bucket task and the drop step pay per file: the one-file layout vs one object per (file, bucket),
and the drop table's detail text per document (f-strings) vs column-wise (Arrow compute).

Run: .venv/bin/python bench/commoncrawl_dedup_stages.py [--buckets 4096] [--docs 30000] [--drops 1000000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.text import crawl_dedup as crawldedup
from pipeline.text import dedup


def _signatures(docs: int) -> pa.Table:
    rng = np.random.default_rng(0)
    bands = rng.integers(0, 1 << 63, size=(docs, dedup.BANDS), dtype=np.uint64)
    return dedup.signature_table(list(range(docs)), rng.integers(0, 1 << 63, docs, dtype=np.uint64).tolist(),
                                 bands.tolist())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--buckets", type=int, default=4096)
    parser.add_argument("--docs", type=int, default=30000)
    parser.add_argument("--drops", type=int, default=1_000_000)
    args = parser.parse_args()
    table, buckets = _signatures(args.docs), args.buckets
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        one_file = root / "one.parquet"
        t = time.perf_counter()
        with pq.ParquetWriter(one_file, dedup.ROW_SCHEMA, compression="zstd") as writer:
            for part in dedup.shuffle(table, buckets):
                writer.write_table(part)
        write_old = time.perf_counter() - t
        t = time.perf_counter()
        crawldedup.write_rows(root, "f0", table, buckets)
        write_new = time.perf_counter() - t
        print(f"B={buckets}, {args.docs} docs: the map task writes one file {write_old:.2f} s, "
              f"one object per (file, bucket) {write_new:.2f} s")
        probe = list(range(0, buckets, max(1, buckets // 200)))
        t = time.perf_counter()
        for b in probe:
            crawldedup.read_bucket(one_file, b)
        old = (time.perf_counter() - t) / len(probe)
        t = time.perf_counter()
        for b in probe:
            pq.read_table(crawldedup.bucket_path(root, "f0", b))
        new = (time.perf_counter() - t) / len(probe)
        footer_old = pq.ParquetFile(one_file).metadata.serialized_size
        footer_new = max(pq.ParquetFile(crawldedup.bucket_path(root, "f0", b)).metadata.serialized_size for b in probe)
        print(f"B={buckets}, {args.docs} docs: one bucket of one file: one-file layout {old * 1e3:.2f} ms "
              f"(footer {footer_old / 1e6:.2f} MB), per (file, bucket) object {new * 1e3:.2f} ms "
              f"(footer {footer_new} B); {old / new:.0f}x")
    rng = np.random.default_rng(1)
    n, files = args.drops, 1000
    names = tuple(f"CC-MAIN-2026-{i:05d}.warc.wet.gz" for i in range(files))
    nodes = (rng.integers(0, files, n) << 32) | rng.integers(0, 30000, n)
    keepers = (rng.integers(0, files, n) << 32) | rng.integers(0, 30000, n)
    exact = rng.random(n) < 0.5
    t = time.perf_counter()
    rows = [(int(k) & 0xFFFFFFFF, "exact_duplicate" if e else "near_duplicate",
             f"{'exact' if e else 'near'} duplicate of file {names[int(k) >> 32]} record {int(k) & 0xFFFFFFFF}")
            for nd, k, e in zip(nodes, keepers, exact)]  # the previous per-document f-string
    pa.table({"doc": [r[0] for r in rows], "reason": [r[1] for r in rows], "detail": [r[2] for r in rows]})
    old = time.perf_counter() - t
    t = time.perf_counter()
    crawldedup.drop_table(nodes, keepers, exact, names, [])
    new = time.perf_counter() - t
    print(f"drop table of {n} drops: per-document f-strings {old:.2f} s, column-wise {new:.2f} s; {old / new:.1f}x")


if __name__ == "__main__":
    main()
