"""The stages every source shares: download a release, shard it, finalize the manifests.

The CLI and the Prefect flows both call these functions; neither holds logic of its own.
Stages talk through the disk only: ``download`` leaves the verified files and
``raw/<source>/<version>/_release.json``; ``shard`` reads them and never reaches upstream.
"""

from __future__ import annotations

import logging
import multiprocessing
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from pipeline.acquire.download import Downloader, RetryPolicy
from pipeline.errors import ShardError
from pipeline.store.lineage import compare, previous_version
from pipeline.store.root import DataRoot
from pipeline.plan import check_disk, make_plan
from pipeline.acquire.releases import (  # noqa: F401 - the stages' names for the layout
    RELEASE_FILE, Release, load_release, publish_release, record_release,
)
from pipeline.reports import add_plots, write_card
from pipeline.store.shards import Part, ShardSet
from pipeline.store.snapshots import same_content
from pipeline.sources.base import Source

log = logging.getLogger(__name__)


def downloader(source: Source, target: Path | str, **kwargs) -> Downloader:
    """A Downloader carrying the source's request headers (credentials stay in memory, never logged)."""
    headers = source.request_headers() if hasattr(source, "request_headers") else {}
    return Downloader(target, headers=headers, **kwargs)


def discover(source: Source, version: str | None = None, policy: RetryPolicy | None = None) -> Release:
    return source.discover(downloader(source, ".", policy=policy, progress=False), version)


def download(source: Source, data_dir: DataRoot | Path | str, version: str | None = None, *, max_workers: int = 4,
             progress: bool = True, policy: RetryPolicy | None = None, ignore_disk_check: bool = False) -> Release:
    """Discover the release and fetch its files, verified; records the release for ``shard``.

    Refuses to start when the disk cannot hold the raw files and the shards (see ``plan``).
    """
    root = DataRoot.of(data_dir)
    release = discover(source, version, policy)
    check_disk(make_plan(source, release, root.local,
                         downloader(source, ".", policy=policy, progress=False), max_workers), ignore_disk_check)
    target = root.local_raw(source.name, release.version)
    fetched = downloader(source, target, max_workers=max_workers, policy=policy, progress=progress).fetch_all(release.files)
    fetch_extra(source, release, target)
    return publish_release(release, fetched, root)


def fetch_extra(source: Source, release: Release, target: Path) -> None:
    """Sources whose upstream is not a list of files (a Hub repository) fetch the rest here."""
    if hasattr(source, "fetch_extra"):
        source.fetch_extra(release, target)


def plan_parts(source: Source, dataset: str, release: Release) -> list[Part]:
    return source.parts(dataset, release)


def build_part(source: Source, dataset: str, release: Release, root: DataRoot, part: Part) -> dict[str, Any]:
    shard_set = ShardSet(source.spec(dataset, release, root.shards))
    return shard_set.build_part(part, lambda p, rejects: source.read_part(dataset, p, rejects))


def finalize(source: Source, dataset: str, release: Release, root: DataRoot,
             parts: list[Part]) -> dict[str, Any]:
    """Commit a snapshot of the built parts, with lineage against the previous version, plots and a card."""
    shard_set = ShardSet(source.spec(dataset, release, root.shards))
    manifest = shard_set.prepare(parts)
    newest = shard_set.newest()
    if newest is not None and same_content(newest, manifest):
        return newest  # a rerun that changed nothing commits nothing
    if hasattr(source, "write_extras"):
        source.write_extras(dataset, release, shard_set.root)
    previous = previous_version(shard_set.root, source.release_prefix)
    if previous is not None:
        changes = compare(previous, shard_set.root, source.name, dataset, manifest)
        if changes is not None:
            manifest["lineage"] = changes
    manifest = shard_set.commit(add_plots(shard_set.root, manifest))
    write_card(shard_set.spec, manifest)
    return manifest


def shard(source: Source, data_dir: DataRoot | Path | str, version: str | None = None, *,
          datasets: list[str] | None = None, max_workers: int = 2, progress: bool = True) -> dict[str, dict]:
    """Build every dataset of a downloaded release; finished parts are skipped."""
    root = DataRoot.of(data_dir)
    release = load_release(root, source.name, source.local_version(version), source.release_prefix)
    manifests = {}
    for dataset in datasets or source.datasets:
        if dataset not in source.datasets:
            raise ShardError(f"{source.name} has datasets {', '.join(source.datasets)}, not {dataset!r}")
        prepare(source, dataset, release, max_workers, progress)
        parts = plan_parts(source, dataset, release)
        run_parts(source, dataset, release, root, parts, max_workers, progress)
        manifests[dataset] = finalize(source, dataset, release, root, parts)
    return manifests


def prepare(source: Source, dataset: str, release: Release, max_workers: int, progress: bool) -> None:
    """Sources with a whole-selection step (CommonCrawl's dedup): per-unit work in parallel, then the reduce."""
    if not hasattr(source, "prepare_units"):
        return
    units = source.prepare_units(dataset, release)
    _run_many(source.prepare_unit, [(dataset, r, unit) for r, unit in zip(_per_task(source, release, units), units)],
              max_workers, progress, f"{source.name}/{dataset} prepare")
    if hasattr(source, "reduce_units"):  # a partitioned reduce (CommonCrawl's dedup buckets) in parallel first
        _run_many(source.reduce_unit, [(dataset, release, unit) for unit in source.reduce_units(dataset, release)],
                  max_workers, progress, f"{source.name}/{dataset} reduce")
    source.reduce(dataset, release)


def _run_many(function, calls: list[tuple], max_workers: int, progress: bool, label: str) -> list[Any]:
    with tqdm(total=len(calls), desc=label, unit="unit", disable=not progress) as bar:
        if max_workers <= 1 or len(calls) <= 1:
            results = []
            for args in calls:
                results.append(function(*args))
                bar.update(1)
            return results
        # spawn, not fork: the parent may hold threads (progress bars, Prefect) that fork would copy mid-state.
        with ProcessPoolExecutor(max_workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = [pool.submit(function, *args) for args in calls]
            for future in as_completed(futures):
                future.result()
                bar.update(1)
            return [f.result() for f in futures]


def run_parts(source: Source, dataset: str, release: Release, root: DataRoot, parts: list[Part],
              max_workers: int, progress: bool) -> list[dict[str, Any]]:
    """Build parts on ``max_workers`` processes (parsing is CPU-bound Python), with a progress bar."""
    releases = _per_task(source, release, [[i.name for i in p.inputs] for p in parts])
    return _run_many(build_part, [(source, dataset, r, root, part) for r, part in zip(releases, parts)],
                     max_workers, progress, f"{source.name}/{dataset}")


def _per_task(source: Source, release: Release, files: list) -> list[Release]:
    """Each call's own release (its files only) where the source narrows one: a pickled call stays O(1) bytes."""
    if hasattr(source, "task_releases"):
        return source.task_releases(release, [[f] if isinstance(f, str) else f for f in files])
    return [release] * len(files)


def build(source: Source, data_dir: DataRoot | Path | str, version: str | None = None, *, max_workers: int = 4,
          progress: bool = True, policy: RetryPolicy | None = None,
          datasets: list[str] | None = None, ignore_disk_check: bool = False) -> dict[str, dict]:
    root = DataRoot.of(data_dir)
    release = download(source, root, version, max_workers=max_workers, progress=progress, policy=policy,
                       ignore_disk_check=ignore_disk_check)
    return shard(source, root, release.version, datasets=datasets, max_workers=max_workers, progress=progress)
