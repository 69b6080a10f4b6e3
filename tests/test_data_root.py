"""The data root is resolved once and carried down: what lives where, for a local root and a bucket."""

from __future__ import annotations

import pickle
from pathlib import Path

from pipeline.store.root import DataRoot


def test_a_local_root_keeps_everything_under_itself(tmp_path):
    root = DataRoot(tmp_path)
    assert not root.remote and root.local == tmp_path
    assert root.raw("tatoeba", "v1") == root.local_raw("tatoeba", "v1") == tmp_path / "raw" / "tatoeba" / "v1"
    assert root.shards == tmp_path / "shards"
    assert root.host_work("wikipedia", "v1") == root.work("wikipedia", "v1") == tmp_path / "work" / "wikipedia" / "v1"


def test_a_bucket_root_shares_raw_and_shards_and_caches_the_rest_on_this_host(tmp_path, monkeypatch):
    monkeypatch.setenv("DATAMILL_CACHE", str(tmp_path))
    root = DataRoot("s3://bucket/data/")
    assert root.remote and str(root) == "s3://bucket/data"
    assert root.raw("commoncrawl", "CC-1") == "s3://bucket/data/raw/commoncrawl/CC-1"
    assert root.shards == "s3://bucket/data/shards"
    assert root.work("commoncrawl", "CC-1") == "s3://bucket/data/work/commoncrawl/CC-1"
    assert root.local.parent == tmp_path and root.local_raw("commoncrawl", "CC-1").is_relative_to(tmp_path)
    assert root.host_work("commoncrawl", "CC-1").is_relative_to(root.local)


def test_a_root_is_resolved_once_and_travels_to_workers(tmp_path):
    root = DataRoot(f"file://{tmp_path}")
    assert root.path == Path(tmp_path) and DataRoot.of(root) is root
    assert pickle.loads(pickle.dumps(root)) == root
    assert len({root, DataRoot(tmp_path)}) == 1
