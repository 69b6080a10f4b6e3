"""The shard contract: size targets, atomic commits, manifest, rejects, skip-and-finish reruns."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from pipeline.errors import ShardError
from pipeline.shards import ShardSet, load_manifest, read_split, shard_paths
from pipeline.storage import hash_file
from tests import shard_job

REPO = Path(__file__).parents[1]
EXPECTED_ROWS = sum(1 for i in range(4 * shard_job.ROWS_PER_BATCH * shard_job.BATCHES) if i % 97 != 0)


def all_ids(root: Path) -> list[int]:
    return sorted(read_split(root, columns=["id"]).column("id").to_pylist())


def test_manifest_describes_every_shard(tmp_path):
    manifest = shard_job.run(tmp_path)
    assert manifest["totals"]["rows"] == EXPECTED_ROWS
    assert manifest["totals"]["drops"] == {"divisible_by_97": 40_000 - EXPECTED_ROWS}
    assert set(manifest["splits"]) == {"train", "validation", "test"}
    for shard in manifest["shards"]:
        path = tmp_path / shard["file"]
        assert path.parent.name == shard["split"]
        assert hash_file(path) == shard["sha256"]
        assert path.stat().st_size == shard["bytes"]
        assert pq.ParquetFile(path).metadata.num_rows == shard["rows"]
    assert len(manifest["shards"]) > 8, "a small target size must produce several shards per part"
    assert manifest["parts"]["p0"]["inputs"] == [{"name": "input-0", "sha256": f"{0:064x}"}]
    assert manifest["config_hash"] and manifest["format_version"] == 1


def test_rows_are_unique_and_rejects_kept_with_reasons(tmp_path):
    shard_job.run(tmp_path)
    ids = all_ids(tmp_path)
    assert len(ids) == len(set(ids)) == EXPECTED_ROWS
    rejects = pq.read_table(tmp_path / "_rejects" / "part-p1.parquet").to_pylist()
    assert rejects and all(r["reason"] == "divisible_by_97" and int(r["id"]) % 97 == 0 for r in rejects)
    assert all(r["part"] == "p1" for r in rejects)


def test_rerun_is_a_no_op(tmp_path):
    shard_job.run(tmp_path)
    stamps = {p: p.stat().st_mtime_ns for p in (tmp_path / "_parts").iterdir()}
    shards = {p: p.stat().st_mtime_ns for p in shard_paths(tmp_path)}
    shard_job.run(tmp_path)
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "_parts").iterdir()} == stamps
    assert {p: p.stat().st_mtime_ns for p in shard_paths(tmp_path)} == shards


def test_config_change_rebuilds_parts(tmp_path):
    first = shard_job.run(tmp_path, tag="a")
    second = shard_job.run(tmp_path, tag="b")
    assert first["config_hash"] != second["config_hash"]
    assert second["totals"]["rows"] == EXPECTED_ROWS
    assert len(all_ids(tmp_path)) == EXPECTED_ROWS


def test_finalize_refuses_missing_parts(tmp_path):
    shard_set = ShardSet(shard_job.spec(tmp_path))
    shard_set.build_part(shard_job.PARTS[0], shard_job.reader())
    with pytest.raises(ShardError, match="not built yet"):
        shard_set.finalize(shard_job.PARTS)
    with pytest.raises(ShardError):
        load_manifest(tmp_path)


def test_failed_part_leaves_no_shard_and_no_record(tmp_path):
    shard_set = ShardSet(shard_job.spec(tmp_path))

    def broken(part, rejects):
        yield from shard_job.reader()(part, rejects)
        raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError):
        shard_set.build_part(shard_job.PARTS[0], broken)
    assert not (tmp_path / "_parts" / "p0.json").exists()
    assert not [p for p in tmp_path.rglob("*") if p.name.startswith(".tmp-")]


def test_sigkill_mid_write_then_rerun_gives_the_same_rows(tmp_path):
    reference = tmp_path / "reference"
    shard_job.run(reference)
    killed = tmp_path / "killed"
    child = subprocess.Popen([sys.executable, "-m", "tests.shard_job", str(killed), "--slow", "0.15"], cwd=REPO)
    deadline = time.time() + 60
    while time.time() < deadline and len(list((killed / "_parts").glob("*.json"))) < 2:
        time.sleep(0.05)
    time.sleep(0.4)  # into the third part: some of its shards are written, its record is not
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    done_before = {p.name: p.stat().st_mtime_ns for p in (killed / "_parts").glob("*.json")}
    assert 2 <= len(done_before) < 4
    assert not (killed / "_manifest.json").exists()
    unfinished = {f"p{i}" for i in range(4)} - {name[:-5] for name in done_before}
    leftovers = [p for p in killed.rglob("*part-*") if any(f"part-{u}-" in p.name for u in unfinished)]
    assert leftovers, "the kill should have caught a part mid-write"
    shard_job.run(killed)
    after = {p.name: p.stat().st_mtime_ns for p in (killed / "_parts").glob("*.json")}
    assert all(after[name] == stamp for name, stamp in done_before.items()), "finished parts must be skipped"
    assert all_ids(killed) == all_ids(reference)
    listed = {s["file"] for s in load_manifest(killed)["shards"]}
    on_disk = {str(p.relative_to(killed)) for p in killed.rglob("*.parquet") if "_rejects" not in p.parts}
    assert on_disk == listed, "no stray file may sit beside the shards"
    assert not [p for p in killed.rglob(".tmp-*")]


def test_card_loads_with_hugging_face_datasets(tmp_path):
    from pipeline.reports import write_card

    manifest = shard_job.run(tmp_path)
    write_card(shard_job.spec(tmp_path), manifest)
    import datasets

    loaded = datasets.load_dataset(str(tmp_path), cache_dir=str(tmp_path.parent / "hf-cache"))
    assert {name: len(split) for name, split in loaded.items()} == {
        name: entry["rows"] for name, entry in manifest["splits"].items()}
    card = (tmp_path / "README.md").read_text()
    assert card.startswith("---\n") and "divisible_by_97" in card
    assert json.loads((tmp_path / "_manifest.json").read_text())["complete"] is True


def test_two_builds_of_the_same_dataset_at_once(tmp_path):
    """Two processes on one data root: locks keep them from corrupting each other; both end complete."""
    reference = tmp_path / "reference"
    shard_job.run(reference)
    shared = tmp_path / "shared"
    runs = [subprocess.Popen([sys.executable, "-m", "tests.shard_job", str(shared), "--slow", "0.02"], cwd=REPO)
            for _ in range(2)]
    assert [r.wait(timeout=120) for r in runs] == [0, 0]
    assert all_ids(shared) == all_ids(reference)
    listed = {s["file"] for s in load_manifest(shared)["shards"]}
    on_disk = {str(p.relative_to(shared)) for p in shared.rglob("*.parquet") if "_rejects" not in p.parts}
    assert on_disk == listed and not list(shared.rglob(".tmp-*"))
