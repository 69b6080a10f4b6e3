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
