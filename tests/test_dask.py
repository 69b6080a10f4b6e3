"""A source build on a local two-worker Dask cluster gives the same manifest as the default runner."""

from __future__ import annotations

from pipeline.shards import load_manifest


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
