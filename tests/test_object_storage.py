"""A data root on object storage: build into s3:// on moto's server, then stream and train from it.

Credentials come only from the standard AWS variables and must never land in the bucket or the output.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).parents[1]
SECRET = "s3cr3t-never-written-anywhere"
DATASET = "s3://datamill-test/data/shards/tatoeba/2026-11-21/sentences"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


_SERVER: dict = {}


@pytest.fixture(scope="module")
def s3():
    """One moto server per test process (moto's state and fsspec's filesystem cache are per process anyway)."""
    import atexit

    from moto.server import ThreadedMotoServer

    if not _SERVER:
        port = free_port()
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        server.start()
        atexit.register(server.stop)
        _SERVER["port"] = port
    env = {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{_SERVER['port']}", "AWS_ACCESS_KEY_ID": "testing",
           "AWS_SECRET_ACCESS_KEY": SECRET, "AWS_DEFAULT_REGION": "us-east-1"}
    import s3fs

    fs = s3fs.S3FileSystem(key="testing", secret=SECRET, endpoint_url=env["AWS_ENDPOINT_URL"])
    if not fs.exists("datamill-test"):
        fs.mkdir("datamill-test")
    yield env, fs


def datamill(env: dict, cache: Path, *args: str) -> subprocess.CompletedProcess:
    full = {**os.environ, **env, "DATAMILL_CACHE": str(cache)}
    return subprocess.run([sys.executable, "-m", "pipeline.cli", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=400, env=full)


@pytest.fixture(scope="module")
def built(s3, server, tmp_path_factory):
    env, fs = s3
    got = datamill(env, tmp_path_factory.mktemp("cache-build"), "build", "tatoeba", "--data-dir",
                   "s3://datamill-test/data", "--mirror", server.url + "tatoeba/", "--bucket-ids", "100",
                   "--workers", "1", "--quiet")
    assert got.returncode == 0, got.stderr
    return env, fs, got


def test_build_puts_raw_files_and_a_snapshot_in_the_bucket_and_no_secret(built):
    env, fs, got = built
    assert "tatoeba/sentences 2026-11-21: 246 rows" in got.stdout
    assert fs.exists("datamill-test/data/raw/tatoeba/2026-11-21/_release.json"), "raw files live in the bucket"
    assert len(fs.ls(DATASET[5:] + "/_snapshots")) == 1 and fs.exists(DATASET[5:] + "/_manifest.json")
    assert SECRET not in got.stdout + got.stderr
    for key in fs.find("datamill-test"):
        if key.endswith((".json", ".md")):
            assert SECRET not in fs.cat_file(key).decode(), f"the secret leaked into {key}"


def test_verify_and_stream_from_the_bucket(built, tmp_path):
    env, fs, _ = built
    got = datamill(env, tmp_path, "verify", DATASET)
    assert got.returncode == 0 and "files verified" in got.stdout, got.stderr
    got = datamill(env, tmp_path, "stream", DATASET, "--feature", "columns", "--take", "2")
    assert got.returncode == 0, got.stderr
    assert len(got.stdout.strip().splitlines()) >= 2


def test_train_from_the_bucket(built, tmp_path):
    env, fs, _ = built
    got = datamill(env, tmp_path, "train", "language_id", "--data", DATASET, "--steps", "3", "--batch-size", "8",
                   "--eval-batches", "1", "--run-dir", str(tmp_path / "run"), "-o", "dim=16", "-o", "vocab=300")
    assert got.returncode == 0, got.stderr[-3000:]
    assert "language_id: 3 steps" in got.stdout


def test_a_second_host_rebuilds_from_the_bucket_alone(built, tmp_path):
    """A host with an empty cache reads the raw files from the bucket, and the finished parts are reused."""
    env, fs, _ = built
    parts = {k: fs.info(k)["LastModified"] for k in fs.find("datamill-test/data/shards") if "/_parts/" in k}
    assert parts
    again = datamill(env, tmp_path / "other-host", "shard", "tatoeba", "--data-dir", "s3://datamill-test/data",
                     "--bucket-ids", "100", "--workers", "1", "--quiet")
    assert again.returncode == 0, again.stderr
    assert {k: fs.info(k)["LastModified"] for k in parts} == parts, "finished parts are reused from the bucket"
    assert len(fs.ls(DATASET[5:] + "/_snapshots")) == 1, "nothing changed: no new snapshot"


def test_a_build_killed_midway_on_s3_then_rerun_gives_the_same_rows(built, server, tmp_path, monkeypatch):
    import signal
    import time

    from pipeline.store.shards import read_split

    env, fs, _ = built
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    root = "s3://datamill-test/killed"
    got = datamill(env, tmp_path / "dl", "download", "tatoeba", "--data-dir", root, "--mirror",
                   server.url + "tatoeba/", "--quiet")
    assert got.returncode == 0, got.stderr
    command = [sys.executable, "-m", "pipeline.cli", "shard", "tatoeba", "--data-dir", root, "--bucket-ids", "100",
               "--workers", "1", "--dataset", "sentences", "--quiet"]
    # A short lease: the killed build's part lock expires 5 s after its last renewal, and the rerun takes it over.
    child = subprocess.Popen(command, cwd=REPO, env={**os.environ, **env, "DATAMILL_CACHE": str(tmp_path / "k"),
                                                     "DATAMILL_LOCK_TTL": "5"},
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    records = "datamill-test/killed/shards/tatoeba/2026-11-21/sentences/_parts"
    deadline = time.time() + 240
    while time.time() < deadline and child.poll() is None and not any(
            k.endswith(".json") and not k.endswith(".attempt.json") for k in _find(fs, records)):
        time.sleep(0.2)
    assert child.poll() is None, "the build ended before it could be killed midway"
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    assert not fs.exists(records.replace("_parts", "_snapshots")), "nothing was committed by the killed build"
    again = datamill(env, tmp_path / "k", "shard", "tatoeba", "--data-dir", root, "--bucket-ids", "100",
                     "--workers", "1", "--dataset", "sentences", "--quiet")
    assert again.returncode == 0, again.stderr
    ids = sorted(read_split(f"{root}/shards/tatoeba/2026-11-21/sentences", columns=["id"]).column("id").to_pylist())
    assert ids == sorted(read_split(DATASET, columns=["id"]).column("id").to_pylist())
    assert datamill(env, tmp_path / "k", "verify", f"{root}/shards/tatoeba/2026-11-21/sentences").returncode == 0


def _find(fs, path: str) -> list[str]:
    fs.invalidate_cache()
    try:
        return fs.find(path)
    except FileNotFoundError:
        return []
