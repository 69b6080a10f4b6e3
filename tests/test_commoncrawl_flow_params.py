"""The shared flow sends each mapped CommonCrawl task its own file's details only, whatever the crawl's size."""

from __future__ import annotations

import hashlib
import pickle
from collections import defaultdict
from pathlib import Path

import pytest
from prefect.task_runners import ThreadPoolTaskRunner

from pipeline.acquire.download import Fetched, RemoteFile
from pipeline.acquire.releases import Release
from pipeline.sources.commoncrawl import CommonCrawl

CRAWL = "CC-MAIN-2026-48"


class RecordingRunner(ThreadPoolTaskRunner):
    """Threads (so stubs and records stay in this process); records the pickled size of every task's parameters."""

    sizes: dict[str, list[int]] = defaultdict(list)

    def submit(self, task, parameters, wait_for=None, dependencies=None):
        RecordingRunner.sizes[task.name].append(len(pickle.dumps(parameters)))
        return super().submit(task, parameters, wait_for, dependencies)


def _release(files: int) -> Release:
    names = [f"CC-MAIN-20261121000000-20261121010000-{i:05d}.warc.wet.gz" for i in range(files)]
    paths = [f"crawl-data/{CRAWL}/segments/1/wet/{n}" for n in names]
    return Release("commoncrawl", CRAWL, tuple(RemoteFile(f"https://example.org/{p}", n) for p, n in zip(paths, names)),
                   {"crawl": CRAWL, "mode": "wet", "paths": paths})


def _run_flow(monkeypatch, data: Path, files: int) -> dict[str, list[int]]:
    from flows import source_build
    from flows.source_build import _source_build

    stages = source_build.stages

    class Local:
        def fetch(self, remote: RemoteFile) -> Fetched:
            return Fetched(data / remote.name, 1, hashlib.sha256(remote.name.encode()).hexdigest())

    seen: dict[str, list[int]] = defaultdict(list)
    monkeypatch.setattr(stages, "discover", lambda source, version=None: _release(files))
    monkeypatch.setattr(stages, "downloader", lambda *a, **k: Local())
    monkeypatch.setattr(CommonCrawl, "prepare_unit",
                        lambda self, dataset, release, unit: seen["prepare"].append(len(release.files)) or unit)
    monkeypatch.setattr(CommonCrawl, "reduce_unit", lambda self, dataset, release, unit: str(unit))
    monkeypatch.setattr(CommonCrawl, "reduce", lambda self, dataset, release: "done")

    def build_part(source, dataset, release, data_dir, part):
        assert release.meta["sha256"][part.options["file"]] == part.inputs[0].sha256
        seen["part"].append(len(release.files))
        return {"part": part.id, "rows": 0, "drops": {}}

    monkeypatch.setattr(stages, "build_part", build_part)
    monkeypatch.setattr(stages, "finalize", lambda source, dataset, release, data_dir, parts: {
        "version": release.version, "totals": {"rows": 0, "drops": {}}, "splits": {}})
    RecordingRunner.sizes.clear()
    _source_build.with_options(task_runner=RecordingRunner(max_workers=2))("commoncrawl", str(data),
                                                                           {"dedup_buckets": 2})
    assert len(seen["prepare"]) == len(seen["part"]) == files
    assert set(seen["prepare"]) == set(seen["part"]) == {1}, "each file's tasks see that file alone"
    return dict(RecordingRunner.sizes)


def test_each_mapped_task_gets_parameters_of_a_constant_size(prefect_harness, monkeypatch, tmp_path):
    small = _run_flow(monkeypatch, tmp_path / "small", 3)
    large = _run_flow(monkeypatch, tmp_path / "large", 30)
    for task in ("download", "prepare-unit", "build-part"):
        assert len(large[task]) == 30 and len(small[task]) == 3
        assert max(large[task]) <= max(small[task]) + 16, (task, max(small[task]), max(large[task]))
    # The once-per-crawl tasks may carry the file list; a bucket task's grows with the files, B of them.
    assert len(large["reduce-unit"]) == 2


@pytest.mark.parametrize("files", [1, 3])
def test_a_task_release_holds_its_own_files_only(files, tmp_path):
    release = _release(5)
    release = Release(release.source, release.version, release.files,
                      {**release.meta, "sha256": {f.name: f"{i:064x}" for i, f in enumerate(release.files)}})
    source = CommonCrawl(data_dir=tmp_path)
    groups = [[f.name for f in release.files[i:i + files]] for i in range(0, 5, files)]
    narrowed = source.task_releases(release, groups)
    for names, got in zip(groups, narrowed):
        assert [f.name for f in got.files] == names
        assert got.meta["sha256"] == {n: release.meta["sha256"][n] for n in names}
        assert got.meta["paths"] == [p for p in release.meta["paths"] if p.rsplit("/", 1)[-1] in names]
        assert got.version == release.version and got.meta["crawl"] == CRAWL


def test_the_process_runner_sends_each_call_its_own_file_too(monkeypatch, tmp_path):
    """``datamill build`` (a process pool, pickling every call) sends each prepare and part call one file."""
    from pipeline import build

    release = _release(6)
    release = Release(release.source, release.version, release.files,
                      {**release.meta, "sha256": {f.name: f"{i:064x}" for i, f in enumerate(release.files)}})
    sent: dict[str, list[int]] = defaultdict(list)

    def run_many(function, calls, max_workers, progress, label):
        sent[label.rsplit(" ", 1)[-1]] += [len(pickle.dumps(call)) for call in calls]
        sent[label.rsplit(" ", 1)[-1] + " files"] += [len(a.files) for call in calls for a in call
                                                      if isinstance(a, Release)]
        return [{} for _ in calls]

    monkeypatch.setattr(build, "_run_many", run_many)
    monkeypatch.setattr(CommonCrawl, "reduce", lambda self, dataset, release: "done")
    source = CommonCrawl(data_dir=tmp_path)
    build.prepare(source, "text", release, 2, False)
    build.run_parts(source, "text", release, tmp_path, source.parts("text", release), 2, False)
    assert sent["prepare files"] == [1] * 6 and sent["commoncrawl/text files"] == [1] * 6
    assert sent["reduce files"] == [6] * 16, "a bucket task reads every file's rows of its bucket"
