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
from pipeline.store.shards import ShardSet, load_manifest, read_split, shard_paths
from pipeline.store.files import hash_file
from tests import shard_job

REPO = Path(__file__).parents[1]
EXPECTED_ROWS = sum(1 for i in range(4 * shard_job.ROWS_PER_BATCH * shard_job.BATCHES) if i % 97 != 0)


def all_ids(root: Path) -> list[int]:
    return sorted(read_split(root, columns=["id"]).column("id").to_pylist())


def finished_parts(root: Path) -> dict[str, int]:
    """Part records of finished parts (not the journals of tries in flight), with their mtimes."""
    return {p.name: p.stat().st_mtime_ns for p in (root / "_parts").glob("*.json")
            if not p.name.endswith(".attempt.json")}


def data_files(root: Path) -> set[str]:
    """Parquet files under the split folders (not _work/, _rejects/)."""
    return {str(p.relative_to(root)) for p in root.rglob("*.parquet") if not p.relative_to(root).parts[0][0] == "_"}


def work_files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in (root / "_work").rglob("*.parquet")}


def recorded_work_files(root: Path) -> set[str]:
    """The work files finished parts name (what a later commit may pack)."""
    records = [json.loads(p.read_text()) for p in (root / "_parts").glob("*.json") if ".attempt." not in p.name]
    return {s["file"] for r in records for s in r["shards"] if s["file"].startswith("_work/")}


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
    manifest = shard_job.run(tmp_path)
    ids = all_ids(tmp_path)
    assert len(ids) == len(set(ids)) == EXPECTED_ROWS
    rejects = pq.read_table(tmp_path / manifest["parts"]["p1"]["rejects"]).to_pylist()
    assert rejects and all(r["reason"] == "divisible_by_97" and int(r["id"]) % 97 == 0 for r in rejects)
    assert all(r["part"] == "p1" for r in rejects)


def test_rerun_is_a_no_op(tmp_path):
    shard_job.run(tmp_path)
    stamps = {p: p.stat().st_mtime_ns for p in (tmp_path / "_parts").iterdir()}
    shards = {p: p.stat().st_mtime_ns for p in shard_paths(tmp_path)}
    snapshots = sorted(p.name for p in (tmp_path / "_snapshots").iterdir())
    shard_job.run(tmp_path)
    assert sorted(p.name for p in (tmp_path / "_snapshots").iterdir()) == snapshots, "no new snapshot"
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
    assert not list((tmp_path / "_parts").glob("p0@*")), "neither a record nor a journal of the failed try"
    assert not list(tmp_path.rglob("*.parquet")), "the failed try's files are removed"
    assert not [p for p in tmp_path.rglob("*") if p.name.startswith(".tmp-")]


def test_sigkill_mid_write_then_rerun_gives_the_same_rows(tmp_path):
    reference = tmp_path / "reference"
    shard_job.run(reference)
    killed = tmp_path / "killed"
    child = subprocess.Popen([sys.executable, "-m", "tests.shard_job", str(killed), "--slow", "0.15"], cwd=REPO)
    deadline = time.time() + 60
    while time.time() < deadline and len(finished_parts(killed)) < 2:
        time.sleep(0.05)
    time.sleep(0.4)  # into the third part: some of its shards are written, its record is not
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    done_before = finished_parts(killed)
    assert 2 <= len(done_before) < 4
    assert not (killed / "_manifest.json").exists()
    unfinished = {f"p{i}" for i in range(4)} - {name.split("@")[0] for name in done_before}
    leftovers = [p for p in killed.rglob("*part-*") if any(p.name.startswith(f"part-{u}.") for u in unfinished)]
    assert leftovers, "the kill should have caught a part mid-write"
    shard_job.run(killed)
    after = finished_parts(killed)
    assert all(after[name] == stamp for name, stamp in done_before.items()), "finished parts must be skipped"
    assert all_ids(killed) == all_ids(reference)
    listed = {s["file"] for s in load_manifest(killed)["shards"]}
    assert data_files(killed) == listed, "no stray file may sit beside the shards"
    assert work_files(killed) == recorded_work_files(killed), "nor among the parts' work files"
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
    assert data_files(shared) == listed and not list(shared.rglob(".tmp-*"))
    assert work_files(shared) == recorded_work_files(shared)


def _listed_bytes(root: Path, manifest: dict) -> dict[str, bytes]:
    return {s["file"]: (root / s["file"]).read_bytes() for s in manifest["shards"]}


def test_rebuild_with_other_options_leaves_the_previous_snapshot_intact(tmp_path):
    first = shard_job.run(tmp_path, tag="a")
    before = _listed_bytes(tmp_path, first)
    second = shard_job.run(tmp_path, tag="b", target=25_000)
    assert _listed_bytes(tmp_path, first) == before, "a committed snapshot's files were rewritten or deleted"
    assert not set(before) & {s["file"] for s in second["shards"]}, "a new build reused another build's names"
    old = read_split(tmp_path, columns=["id"], snapshot=first["snapshot_id"])
    assert sorted(old.column("id").to_pylist()) == all_ids(tmp_path)
    assert load_manifest(tmp_path)["snapshot_id"] == second["snapshot_id"]
    assert load_manifest(tmp_path, snapshot=first["snapshot_id"])["config_hash"] == first["config_hash"]


def test_clearing_a_part_leaves_a_part_whose_id_it_prefixes(tmp_path):
    from pipeline.store.shards import Part, PartInput

    parts = [Part("p0", (PartInput("input-0", "0" * 64),), {"index": 0}),
             Part("p0-x", (PartInput("input-1", "1" * 64),), {"index": 1})]
    shard_set = ShardSet(shard_job.spec(tmp_path))
    for part in parts:
        shard_set.build_part(part, shard_job.reader())
    changed = Part("p0", (PartInput("input-0", "f" * 64),), {"index": 0})  # new inputs: p0 is redone
    shard_set.build_part(changed, shard_job.reader())
    manifest = shard_set.finalize([changed, parts[1]])
    for shard in manifest["shards"]:
        assert (tmp_path / shard["file"]).exists(), f"{shard['file']} of part {shard['part']} was deleted"
    assert len(all_ids(tmp_path)) == manifest["totals"]["rows"]


def test_two_concurrent_builds_with_different_configs_both_finish_and_verify(tmp_path):
    from pipeline.store.snapshots import list_snapshots, verify

    runs = [subprocess.Popen([sys.executable, "-m", "tests.shard_job", str(tmp_path), "--slow", "0.02",
                              "--tag", tag], cwd=REPO) for tag in ("a", "b")]
    assert [r.wait(timeout=180) for r in runs] == [0, 0]
    snapshots = list_snapshots(tmp_path)
    assert len(snapshots) == 2
    for snapshot in snapshots:
        assert verify(tmp_path, snapshot) == [], f"snapshot {snapshot} does not verify"
        ids = read_split(tmp_path, columns=["id"], snapshot=snapshot).column("id").to_pylist()
        assert sorted(ids) == [i for i in range(4 * shard_job.ROWS_PER_BATCH * shard_job.BATCHES) if i % 97]


def test_verify_finds_a_changed_file_and_the_stream_checks_sizes(tmp_path):
    from pipeline.features.stream import list_shards
    from pipeline.store.snapshots import verify

    manifest = shard_job.run(tmp_path)
    assert verify(tmp_path) == []
    victim = tmp_path / manifest["shards"][0]["file"]
    data = bytearray(victim.read_bytes())
    data[100] ^= 0xFF
    victim.write_bytes(bytes(data))
    problems = verify(tmp_path)
    assert len(problems) == 1 and "sha256" in problems[0]
    victim.write_bytes(bytes(data[:-10]))
    with pytest.raises(ShardError, match="size"):
        list_shards(str(tmp_path), manifest["shards"][0]["split"])


def test_gc_keeps_the_retained_snapshots_and_never_the_newest(tmp_path):
    from pipeline.store.snapshots import gc, list_snapshots, verify

    manifests = [shard_job.run(tmp_path, tag=tag) for tag in ("a", "b", "c")]
    removed = gc(tmp_path, keep=2, grace_seconds=0)
    assert removed, "the oldest snapshot's files are garbage"
    kept = list_snapshots(tmp_path)
    assert kept == [m["snapshot_id"] for m in manifests[1:]]
    assert all(verify(tmp_path, s) == [] for s in kept)
    assert not any((tmp_path / s["file"]).exists() for s in manifests[0]["shards"])
    gc(tmp_path, keep=0, grace_seconds=0)
    assert list_snapshots(tmp_path) == [manifests[-1]["snapshot_id"]]
    assert verify(tmp_path) == []


def test_card_plots_are_drawn_safely_from_many_threads(tmp_path):
    """Sources build in parallel: plots must not go through pyplot's global state (ParseException in the demo)."""
    manifest = shard_job.run(tmp_path)
    script = f"""
import sys, json
from concurrent.futures import ThreadPoolExecutor
from pipeline.plots import card_plots
manifest = json.load(open({str(tmp_path / "_manifest.json")!r}))
with ThreadPoolExecutor(4) as pool:
    made = list(pool.map(lambda i: card_plots({str(tmp_path)!r}, dict(manifest, snapshot_id=f"t{{i}}")), range(6)))
assert all(len(m) == 2 for m in made), made
assert "matplotlib.pyplot" not in sys.modules, "pyplot keeps global state; use the Figure API"
"""
    got = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert got.returncode == 0, got.stderr[-2000:]
    assert (tmp_path / "_plots/t0/drops.png").read_bytes().startswith(b"\x89PNG")
    assert manifest["totals"]["drops"]
