"""Wikipedia and ImageNet build into an s3:// data root too (moto's server), and the snapshot there verifies."""

from __future__ import annotations

from tests.test_object_storage import datamill, s3  # noqa: F401 - the moto server fixture and the CLI runner


def _local_rows(tmp_path, *args: str) -> str:
    got = datamill({}, tmp_path / "local-cache", *args, "--data-dir", str(tmp_path / "local"), "--quiet")
    assert got.returncode == 0, got.stderr
    return got.stdout


def test_wikipedia_into_the_bucket(s3, server, tmp_path, monkeypatch):
    from pipeline.store.shards import read_split

    env, fs = s3
    args = ("build", "wikipedia", "--wiki", "simplewiki", "--date", "20261101", "--mirror", server.url + "wikimedia/",
            "--max-page-mb", "0.1", "--workers", "1")
    got = datamill(env, tmp_path / "cache", *args, "--data-dir", "s3://datamill-test/wiki", "--quiet")
    assert got.returncode == 0, got.stderr[-3000:]
    dataset = "s3://datamill-test/wiki/shards/wikipedia/simplewiki-20261101/articles"
    assert datamill(env, tmp_path / "cache2", "verify", dataset).returncode == 0
    assert fs.exists("datamill-test/wiki/raw/wikipedia/simplewiki-20261101/_release.json")
    local = _local_rows(tmp_path, *args)
    assert got.stdout.split("; shards in")[0] == local.split("; shards in")[0], "the same rows as a local build"
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert read_split(dataset, columns=["id"]).num_rows == read_split(
        tmp_path / "local/shards/wikipedia/simplewiki-20261101/articles", columns=["id"]).num_rows


def test_imagenet_into_the_bucket(s3, upstream, tmp_path):
    env, fs = s3
    args = ("build", "imagenet", "--manual-dir", str(upstream / "imagenet"), "--size", "32", "--workers", "1")
    got = datamill(env, tmp_path / "cache", *args, "--data-dir", "s3://datamill-test/imagenet", "--quiet")
    assert got.returncode == 0, got.stderr[-3000:]
    assert "imagenet/classification ILSVRC2012: 39 rows (train 27, validation 12); dropped 3" in got.stdout
    dataset = "s3://datamill-test/imagenet/shards/imagenet/ILSVRC2012/classification"
    assert datamill(env, tmp_path / "cache2", "verify", dataset).returncode == 0


def test_a_new_version_in_the_bucket_gets_lineage(s3, tmp_path, monkeypatch):
    """Lineage against the previous version is computed on s3:// too (it was skipped for URL roots)."""
    import os

    from pipeline import build
    from pipeline.acquire.download import RetryPolicy
    from pipeline.localserver import serving
    from pipeline.sources.tatoeba import Tatoeba
    from tests.fixtures.tatoeba_upstream import EXPORT_TIME, write_upstream

    env, fs = s3
    for key, value in {**env, "DATAMILL_CACHE": str(tmp_path / "cache")}.items():
        monkeypatch.setenv(key, value)
    weeks = [tmp_path / "week1", tmp_path / "week2"]
    write_upstream(weeks[0], groups=20, ugly=False)
    write_upstream(weeks[1], groups=24, ugly=False)  # four new groups: 16 new sentences
    for path in (weeks[1] / "exports").iterdir():
        os.utime(path, (EXPORT_TIME + 7 * 86400, EXPORT_TIME + 7 * 86400))
    root = "s3://datamill-test/lineage"
    for week in weeks:
        with serving(week) as srv:
            manifests = build.build(Tatoeba(data_dir=root, mirror=srv.url, bucket_ids=100), root, progress=False,
                                    policy=RetryPolicy(attempts=3, base=0.01, cap=0.05), datasets=["sentences"])
    lineage = manifests["sentences"].get("lineage")
    assert lineage is not None, "no lineage for a new version on s3://"
    assert lineage["previous"] == "2026-11-21" and (lineage["added"], lineage["removed"]) == (16, 0)
    assert fs.exists(f"datamill-test/lineage/shards/tatoeba/2026-11-28/sentences/{lineage['table']}")
