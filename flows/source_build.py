"""Tasks and the flow shape every source shares: discover → download (mapped) → parts (mapped) → finalize."""

from __future__ import annotations

from typing import Any

from prefect import flow, task, unmapped
from prefect.artifacts import create_table_artifact
from prefect.task_runners import ProcessPoolTaskRunner
from prefect.logging import get_run_logger

from pipeline import build as stages
from pipeline.acquire.download import Fetched, RemoteFile, RetryPolicy
from pipeline.acquire.releases import share_raw
from pipeline.store.root import DataRoot
from pipeline.store.shards import Part
from pipeline.sources import get_source
from pipeline.sources.base import Release


def _source(name: str, options: dict[str, Any]):
    return get_source(name, **options)


@task(name="discover", retries=2, retry_delay_seconds=10)
def discover(source: str, options: dict[str, Any], version: str | None) -> Release:
    return stages.discover(_source(source, options), version)


@task(name="download", retries=1, retry_delay_seconds=30)
def download_file(source: str, options: dict[str, Any], version: str, remote: RemoteFile, attempts: int) -> Fetched:
    """Into this host's own raw dir (a local cache for s3:// roots), then shared through the root."""
    root: DataRoot = options["data_dir"]
    got = stages.downloader(_source(source, options), root.local_raw(source, version), progress=False,
                            policy=RetryPolicy(attempts=attempts)).fetch(remote)
    return share_raw(root, source, version, remote.name, got)


@task(name="record-release")
def record_release(source: str, options: dict[str, Any], release: Release, fetched: list[Fetched]) -> Release:
    """Extras beside the downloads, then the release recorded under the data root (uploaded if it is a URL)."""
    root: DataRoot = options["data_dir"]
    stages.fetch_extra(_source(source, options), release, root.local_raw(source, release.version))
    return stages.publish_release(release, fetched, root)


@task(name="prepare-unit", retries=1, retry_delay_seconds=5)
def prepare_unit(source: str, options: dict[str, Any], dataset: str, release: Release, unit: str) -> str:
    return _source(source, options).prepare_unit(dataset, release, unit)


@task(name="reduce-unit", retries=1, retry_delay_seconds=5)
def reduce_unit(source: str, options: dict[str, Any], dataset: str, release: Release, unit: Any) -> str:
    return _source(source, options).reduce_unit(dataset, release, unit)


@task(name="reduce")
def reduce(source: str, options: dict[str, Any], dataset: str, release: Release) -> str:
    return _source(source, options).reduce(dataset, release)


@task(name="plan-parts")
def plan_parts(source: str, options: dict[str, Any], dataset: str, release: Release) -> list[Part]:
    return stages.plan_parts(_source(source, options), dataset, release)


@task(name="build-part", retries=1, retry_delay_seconds=5)
def build_part(source: str, options: dict[str, Any], dataset: str, release: Release, part: Part) -> dict[str, Any]:
    record = stages.build_part(_source(source, options), dataset, release, options["data_dir"], part)
    return {"part": record["part"], "rows": record["rows"], "drops": record["drops"]}


@task(name="finalize")
def finalize(source: str, options: dict[str, Any], dataset: str, release: Release, parts: list[Part]
             ) -> dict[str, Any]:
    manifest = stages.finalize(_source(source, options), dataset, release, options["data_dir"], parts)
    rows = [{"dataset": dataset, "stage": "shard", "reason": "(kept)", "count": manifest["totals"]["rows"]}]
    rows += [{"dataset": dataset, "stage": "shard", "reason": reason, "count": count}
             for reason, count in manifest["totals"]["drops"].items()]
    create_table_artifact(rows, key=f"{source}-{dataset}-counts".replace("_", "-").lower(),
                          description=f"{source}/{dataset} {manifest['version']}: rows kept and dropped by reason")
    return {"dataset": dataset, "version": manifest["version"], "totals": manifest["totals"],
            "splits": manifest["splits"]}


@flow(name="source-build", task_runner=ProcessPoolTaskRunner(max_workers=2))
def _source_build(source: str, data_dir: str = "data", options: dict[str, Any] | None = None,
                 version: str | None = None, attempts: int = 8) -> dict[str, Any]:
    """Build every dataset of one source; the flow body only wires tasks together."""
    options = {"data_dir": data_dir, **(options or {})}
    options["data_dir"] = DataRoot.of(options["data_dir"])  # the root, resolved once for every task
    release = discover(source, options, version)
    fetched = download_file.map(unmapped(source), unmapped(options), unmapped(release.version), list(release.files),
                                unmapped(attempts))
    release = record_release(source, options, release, fetched.result())
    summaries = {}
    built = _source(source, options)
    for dataset in built.datasets:
        if hasattr(built, "prepare_units"):  # a whole-selection step (CommonCrawl's dedup) before the parts
            names = built.prepare_units(dataset, release)  # a unit is one file's name
            units = prepare_unit.map(unmapped(source), unmapped(options), unmapped(dataset),
                                     _per_task(built, release, [[n] for n in names]), names)
            if hasattr(built, "reduce_units"):  # a partitioned reduce (CommonCrawl's dedup buckets)
                units = reduce_unit.map(unmapped(source), unmapped(options), unmapped(dataset), unmapped(release),
                                        built.reduce_units(dataset, release), wait_for=list(units))
            reduce(source, options, dataset, release, wait_for=[units])
        parts = plan_parts(source, options, dataset, release)
        done = build_part.map(unmapped(source), unmapped(options), unmapped(dataset),
                              _per_task(built, release, [[i.name for i in p.inputs] for p in parts]),
                              parts)
        summaries[dataset] = finalize(source, options, dataset, release, parts, wait_for=[done])
    get_run_logger().info("built %s %s: %s", source, release.version,
                          {d: s["totals"]["rows"] for d, s in summaries.items()})
    return summaries


def _per_task(built: Any, release: Release, files: list[list[str]]) -> Any:
    """Each mapped task's own release (only its files) where the source can narrow one, else the whole release.

    A whole release sent to every one of N tasks is O(N²) bytes to ship and walk; a crawl has ~90,000 files.
    """
    if hasattr(built, "task_releases"):
        return built.task_releases(release, files)
    return unmapped(release)


def task_runner(runner: str = "process", workers: int = 2, dask_address: str | None = None):
    """Where a flow's tasks run: a local process pool, or Dask (an existing cluster or a local one)."""
    if runner == "process":
        return ProcessPoolTaskRunner(max_workers=max(1, workers))
    if runner == "dask":
        from prefect_dask import DaskTaskRunner

        if dask_address:
            return DaskTaskRunner(address=dask_address)
        return DaskTaskRunner(cluster_kwargs={"n_workers": max(1, workers), "threads_per_worker": 1,
                                              "processes": True, "dashboard_address": None})
    from pipeline.errors import ConfigError

    raise ConfigError(f"--runner: process or dask, not {runner!r}")


def source_build(source: str, data_dir: str = "data", options: dict[str, Any] | None = None,
                 version: str | None = None, attempts: int = 8, workers: int = 2, runner: str = "process",
                 dask_address: str | None = None) -> dict[str, Any]:
    """Run the shared flow with its tasks on ``runner`` (parsing is CPU-bound Python: processes, not threads)."""
    chosen = task_runner(runner, workers, dask_address)
    return _source_build.with_options(task_runner=chosen)(source, data_dir, options, version, attempts)
