"""A source build on a local two-worker Dask cluster gives the same manifest as the default runner."""

from __future__ import annotations

from pathlib import Path

from pipeline.store.shards import load_manifest
from tests.test_object_storage import s3  # noqa: F401 - the moto server fixture

REPO = Path(__file__).parents[1]


def test_tatoeba_on_dask_matches_the_process_runner(prefect_harness, server, tmp_path):
    from flows.tatoeba import tatoeba_flow

    mirror = server.url + "tatoeba/"
    tatoeba_flow(data_dir=str(tmp_path / "process"), mirror=mirror, bucket_ids=100)
    tatoeba_flow(data_dir=str(tmp_path / "dask"), mirror=mirror, bucket_ids=100, runner="dask", workers=2)
    for dataset in ("sentences", "pairs"):
        a = load_manifest(tmp_path / "process/shards/tatoeba/2026-11-21" / dataset)
        b = load_manifest(tmp_path / "dask/shards/tatoeba/2026-11-21" / dataset)
        # file names carry each build's own attempt token; the content must be the same
        assert [(s["split"], s["part"], s["rows"], s["sha256"]) for s in a["shards"]] == \
            [(s["split"], s["part"], s["rows"], s["sha256"]) for s in b["shards"]]
        assert a["totals"] == b["totals"]


def test_two_dask_workers_that_share_only_the_bucket_build_the_same_rows(prefect_harness, server, s3, tmp_path,
                                                                         monkeypatch):
    """Each worker is its own process with its own cache, temp and working directory: only s3:// joins them."""
    import os
    import subprocess
    import sys

    from distributed import Client, LocalCluster

    from flows.tatoeba import tatoeba_flow
    from pipeline.store.shards import read_split
    from pipeline.store.snapshots import verify

    env, fs = s3
    for key, value in {**env, "DATAMILL_CACHE": str(tmp_path / "driver-cache")}.items():
        monkeypatch.setenv(key, value)
    mirror = server.url + "tatoeba/"
    tatoeba_flow(data_dir=str(tmp_path / "local"), mirror=mirror, bucket_ids=100, workers=1)
    cluster = LocalCluster(n_workers=0, processes=True, dashboard_address=None)
    workers = []
    try:
        for host in ("a", "b"):
            home = tmp_path / f"host-{host}"
            (home / "tmp").mkdir(parents=True)
            workers.append(subprocess.Popen(
                [sys.executable, "-m", "distributed.cli.dask_worker", cluster.scheduler_address, "--nthreads", "1",
                 "--no-dashboard", "--name", f"host-{host}"],
                cwd=home, env={**os.environ, "DATAMILL_CACHE": str(home / "cache"), "TMPDIR": str(home / "tmp"),
                               "PYTHONPATH": str(REPO)}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        with Client(cluster.scheduler_address) as client:
            client.wait_for_workers(2, timeout=120)
        tatoeba_flow(data_dir="s3://datamill-test/dask", mirror=mirror, bucket_ids=100, runner="dask",
                     dask_address=cluster.scheduler_address)
    finally:
        for worker in workers:
            worker.terminate()
            worker.wait(timeout=60)
        cluster.close()
    for dataset in ("sentences", "pairs"):
        remote = f"s3://datamill-test/dask/shards/tatoeba/2026-11-21/{dataset}"
        assert verify(remote) == [], f"{dataset}: the snapshot in the bucket does not verify"
        local = tmp_path / "local/shards/tatoeba/2026-11-21" / dataset
        key = ["id"] if dataset == "sentences" else ["source_id", "target_id"]
        got, want = read_split(remote).sort_by([(k, "ascending") for k in key]), \
            read_split(local).sort_by([(k, "ascending") for k in key])
        assert got.num_rows > 0 and got.equals(want), f"{dataset}: rows differ from the single-process build"
    used = [h for h in ("a", "b") if (tmp_path / f"host-{h}" / "cache").exists()]
    assert used == ["a", "b"], "both workers did work (each through its own cache)"
    # The downloader leaves .datamill/<file>.verified.json where it downloaded: on the workers' own disks, never
    # in a path the flow host chose (on another machine that path would not exist).
    downloaded = {p.name for h in ("a", "b") for p in (tmp_path / f"host-{h}").rglob(".datamill/*.verified.json")}
    assert downloaded == {"sentences_detailed.csv.zst.verified.json", "links.csv.zst.verified.json"}
    assert not list((tmp_path / "driver-cache").rglob(".datamill/*.verified.json")), "a worker wrote to the flow host"
