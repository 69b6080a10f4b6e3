"""The `datamill` command as a user runs it: real subprocesses, real local server."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).parents[1]


def datamill(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipeline.cli", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=300)


def test_download_then_shard_then_inspect(server, tmp_path):
    mirror = server.url + "tatoeba/"
    got = datamill("download", "tatoeba", "--data-dir", str(tmp_path), "--mirror", mirror, "--quiet")
    assert got.returncode == 0, got.stderr
    assert "2 files verified" in got.stdout
    assert not (tmp_path / "shards").exists(), "download must not shard"
    got = datamill("shard", "tatoeba", "--data-dir", str(tmp_path), "--bucket-ids", "100", "--quiet")
    assert got.returncode == 0, got.stderr
    assert "tatoeba/sentences 2026-11-21: 246 rows" in got.stdout
    got = datamill("inspect", str(tmp_path / "shards/tatoeba/2026-11-21/pairs"), "--rows", "2")
    assert got.returncode == 0, got.stderr
    assert "source_text: string" in got.stdout and "dangling_link: 2" in got.stdout


def test_build_runs_both_stages(server, tmp_path):
    got = datamill("build", "tatoeba", "--data-dir", str(tmp_path), "--mirror", server.url + "tatoeba/",
                   "--pairs", "eng-deu", "--quiet")
    assert got.returncode == 0, got.stderr
    assert "tatoeba/pairs 2026-11-21: 60 rows" in got.stdout


def test_errors_are_one_line_and_non_zero(tmp_path):
    got = datamill("shard", "tatoeba", "--data-dir", str(tmp_path))
    assert got.returncode != 0
    lines = got.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: nothing downloaded for tatoeba")
    got = datamill("build", "nosuch")
    assert got.returncode != 0 and "unknown source 'nosuch'" in got.stderr and "Traceback" not in got.stderr
    got = datamill("--debug", "shard", "tatoeba", "--data-dir", str(tmp_path))
    assert got.returncode != 0 and "Traceback" in got.stderr


def test_features_and_stream_commands(shards, tmp_path):
    got = datamill("features", str(shards["articles"]), "--vocab", "300")
    assert got.returncode == 0, got.stderr
    assert "_features/tokenizer-bpe300-" in got.stdout
    got = datamill("stream", str(shards["articles"]), "--take", "2", "--seq-len", "12", "--batch-size", "2")
    assert got.returncode == 0, got.stderr
    assert got.stdout.count("inputs: ") == 2
    got = datamill("stream", str(shards["images"]), "--split", "validation", "--take", "1", "--image-size", "24",
                   "--batch-size", "4")
    assert got.returncode == 0 and "image (24, 24, 3)" in got.stdout, got.stderr
    got = datamill("stream", str(shards["sentences"]), "--bench", "--batch-size", "8")
    assert got.returncode == 0 and "examples/s" in got.stdout, got.stderr
    import shutil

    fresh = tmp_path / "pairs"  # a copy without _features/, whatever other tests trained
    shutil.copytree(shards["pairs"], fresh, ignore=shutil.ignore_patterns("_features"))
    got = datamill("stream", str(fresh), "--take", "1")
    assert got.returncode == 1 and "datamill features" in got.stderr, "a missing tokenizer says how to make one"


def test_rebuild_with_other_splits_keeps_the_old_snapshot_then_verify_and_gc(server, tmp_path):
    """A default build, then `--splits train=0.8,...`: the first snapshot's files stay byte-identical."""
    import hashlib
    import json

    from pipeline.store.shards import read_split

    mirror, data = server.url + "tatoeba/", str(tmp_path)
    assert datamill("build", "tatoeba", "--data-dir", data, "--mirror", mirror, "--quiet").returncode == 0
    root = tmp_path / "shards/tatoeba/2026-11-21/sentences"
    first = json.loads((root / "_manifest.json").read_text())
    before = {s["file"]: hashlib.sha256((root / s["file"]).read_bytes()).hexdigest() for s in first["shards"]}
    got = datamill("build", "tatoeba", "--data-dir", data, "--mirror", mirror, "--quiet",
                   "--splits", "train=0.8,validation=0.1,test=0.1")
    assert got.returncode == 0, got.stderr
    after = {name: hashlib.sha256((root / name).read_bytes()).hexdigest() for name in before}
    assert after == before
    assert read_split(root, snapshot=first["snapshot_id"]).num_rows == first["totals"]["rows"]
    got = datamill("inspect", str(root), "--snapshot", first["snapshot_id"], "--rows", "0")
    assert got.returncode == 0 and f"snapshot {first['snapshot_id']}" in got.stdout, got.stderr
    assert datamill("verify", str(root)).returncode == 0
    readme = (root / "README.md").read_text()
    newest = json.loads((root / "_manifest.json").read_text())
    assert all(f"    - {s['file']}" in readme for s in newest["shards"]) and "*.parquet" not in readme
    victim = root / newest["shards"][0]["file"]
    victim.write_bytes(victim.read_bytes()[:-1] + b"\0")
    got = datamill("verify", str(root))
    assert got.returncode == 1 and newest["shards"][0]["file"] in got.stderr
    got = datamill("gc", str(root), "--keep", "1", "--grace-hours", "0")
    assert got.returncode == 0, got.stderr
    assert not any((root / name).exists() for name in set(before) - {s["file"] for s in newest["shards"]})
    assert datamill("inspect", str(root), "--rows", "0").returncode == 0


def test_verify_checks_imagenet_archives_against_the_published_list(tmp_path):
    from pipeline.formats.imagenet import DEVKIT

    (tmp_path / DEVKIT).write_bytes(b"not the devkit")
    got = datamill("verify", "--manual-dir", str(tmp_path))
    assert got.returncode == 1
    assert "MISMATCH" in got.stderr and DEVKIT in got.stderr and "published size" in got.stderr
    got = datamill("verify", "--manual-dir", str(tmp_path / "empty"))
    assert got.returncode == 1 and "none of ImageNet's published archives" in got.stderr
