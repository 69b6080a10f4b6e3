"""The CommonCrawl Prefect flow itself at two crawl sizes 10x apart, on 2 Dask workers: is its cost per file flat?

``bench.commoncrawl_scale`` maps the stage functions on Dask directly; this runs the real
flow (discover → download → a task per file → buckets → components → parts → finalize) from a
local mirror, on a temporary Prefect server and an existing 2-worker Dask cluster, so the
flow's own bookkeeping (task parameters, futures, the task runs Prefect records) is counted.
Prints wall and CPU seconds per file: the workers' processes, and this process (the flow
engine, the Dask scheduler and client).

    .venv/bin/python -m bench.commoncrawl_flow_scale [--files 50 500] [--docs 10]
"""

from __future__ import annotations

import argparse
import gzip
import os
import shutil
import tempfile
import time
from pathlib import Path

from bench.commoncrawl_scale import CRAWL, _cpu_s, make_crawl
from tests.fixtures.commoncrawl_upstream import SEGMENT


def mirror(upstream: Path, files: int, docs: int) -> None:
    """A generated crawl in CommonCrawl's layout: crawl-data/<crawl>/wet.paths.gz and the WET files it lists."""
    staging = upstream / "_staging"
    make_crawl(staging, files, docs)
    wet = upstream / "crawl-data" / CRAWL / "segments" / SEGMENT / "wet"
    wet.mkdir(parents=True)
    names = sorted(p.name for p in (staging / "raw" / "commoncrawl" / CRAWL).glob("*.wet.gz"))
    for name in names:
        shutil.move(staging / "raw" / "commoncrawl" / CRAWL / name, wet / name)
    shutil.rmtree(staging)
    listing = "".join(f"crawl-data/{CRAWL}/segments/{SEGMENT}/wet/{n}\n" for n in names)
    (upstream / "crawl-data" / CRAWL / "wet.paths.gz").write_bytes(gzip.compress(listing.encode()))


def run(files: int, docs: int) -> dict[str, float]:
    from distributed import Client, LocalCluster

    from flows.commoncrawl import commoncrawl_flow
    from pipeline.localserver import LocalServer

    with tempfile.TemporaryDirectory() as tmp:
        mirror(Path(tmp) / "upstream", files, docs)
        server = LocalServer(Path(tmp) / "upstream").start()
        try:
            with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
                    Client(cluster) as client:
                before, main0, t0 = client.run(_cpu_s), _cpu_s(), time.perf_counter()
                summary = commoncrawl_flow(data_dir=str(Path(tmp) / "data"), crawl=CRAWL, mirror=server.url,
                                           runner="dask", dask_address=cluster.scheduler_address)
                wall, main = time.perf_counter() - t0, _cpu_s() - main0
                after = client.run(_cpu_s)
        finally:
            server.stop()
    workers = sum(after[w] - before[w] for w in after)
    return {"files": files, "wall": wall, "workers_cpu": workers, "flow_cpu": main,
            "rows": summary["text"]["totals"]["rows"]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, nargs="+", default=[50, 500])
    parser.add_argument("--docs", type=int, default=10)
    args = parser.parse_args()
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        results = [run(n, args.docs) for n in args.files]
    for r in results:
        n = r["files"]
        print(f"{n:>6} files: {r['wall']:7.1f} s wall = {r['wall'] / n:.3f} s/file; CPU s/file: workers "
              f"{r['workers_cpu'] / n:.4f}, flow process (engine, scheduler, client) {r['flow_cpu'] / n:.4f}; "
              f"rows kept {r['rows']}")
    small, large = results[0], results[-1]
    per = lambda r, k: r[k] / r["files"]  # noqa: E731
    print(f"{large['files']} vs {small['files']} files, per file: wall {per(large, 'wall') / per(small, 'wall'):.2f}x, "
          f"worker CPU {per(large, 'workers_cpu') / per(small, 'workers_cpu'):.2f}x, flow-process CPU "
          f"{per(large, 'flow_cpu') / per(small, 'flow_cpu'):.2f}x (goal ≤ 1.2x)")


if __name__ == "__main__":
    main()
