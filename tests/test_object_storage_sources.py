"""Wikipedia and ImageNet build into an s3:// data root too (moto's server), and the snapshot there verifies."""

from __future__ import annotations

from tests.test_object_storage import datamill, s3  # noqa: F401 - the moto server fixture and the CLI runner


def _local_rows(tmp_path, *args: str) -> str:
    got = datamill({}, tmp_path / "local-cache", *args, "--data-dir", str(tmp_path / "local"), "--quiet")
    assert got.returncode == 0, got.stderr
    return got.stdout


def test_wikipedia_into_the_bucket(s3, server, tmp_path, monkeypatch):
    from pipeline.shards import read_split

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
