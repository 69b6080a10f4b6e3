"""CommonCrawl built into an s3:// data root (moto): dedup files in the bucket, the same rows as a local build."""

from __future__ import annotations

import hashlib
from pathlib import Path

from pipeline import build
from pipeline.store.shards import read_split
from pipeline.sources.commoncrawl import CommonCrawl
from tests.fixtures.commoncrawl_upstream import CRAWL
from tests.test_object_storage import s3  # noqa: F401 - the moto fixture

ROOT = "s3://datamill-test/cc"
TEXT = f"shards/commoncrawl/{CRAWL}/text"


def _kept_sha(dataset: str | Path) -> str:
    ids = sorted(read_split(dataset, columns=["id"]).column("id").to_pylist())
    return hashlib.sha256("\n".join(ids).encode()).hexdigest()


def test_a_build_into_the_bucket_keeps_what_a_local_build_keeps(s3, server, tmp_path, monkeypatch):  # noqa: F811
    env, fs = s3
    cache = tmp_path / "cache"
    for name, value in {**env, "DATAMILL_CACHE": str(cache)}.items():
        monkeypatch.setenv(name, value)
    build.build(CommonCrawl(data_dir=ROOT, mirror=server.url + "commoncrawl/", dedup_buckets=3), ROOT,
                progress=False, max_workers=2)
    signatures = f"{ROOT[5:]}/{TEXT}/_signatures"
    assert fs.exists(f"{signatures}/latest.json"), "the signatures stay with the snapshot, in the bucket"
    key = fs.cat_file(f"{signatures}/latest.json").decode()
    assert any(k.endswith(".parquet") for k in fs.find(signatures)) and "-b3" in key
    work = fs.find(f"{ROOT[5:]}/work/commoncrawl/{CRAWL}")
    assert any(k.endswith("/_done.json") for k in work) and any("/edges/b00002.parquet" in k for k in work), \
        "the bucket and components steps share their files through the bucket"
    assert not any(p.name == "_signatures" for p in cache.rglob("*")), "nothing shared is left only on this host"

    local = tmp_path / "local"
    build.build(CommonCrawl(data_dir=local, mirror=server.url + "commoncrawl/"), local, progress=False,
                max_workers=1)
    assert _kept_sha(f"{ROOT}/{TEXT}") == _kept_sha(local / TEXT), "3 buckets on S3 == 16 buckets on local disk"
