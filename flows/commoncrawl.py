"""The CommonCrawl flow: a task per file (extract, filter, sign, shuffle), a task per dedup bucket, components, shards."""

from __future__ import annotations

from typing import Any

from prefect import flow

from flows.source_build import source_build
from pipeline.store.splits import parse_splits


@flow(name="commoncrawl")
def commoncrawl_flow(data_dir: str = "data", crawl: str | None = None, mode: str = "wet",
                     max_files: int | None = None, files: list[str] | None = None, languages: str = "en",
                     filters: str = "gopher", pii: bool = False, mirror: str | None = None,
                     splits: str = "train=0.98,validation=0.01,test=0.01", shard_mb: int = 256,
                     workers: int = 2, dedup_buckets: int = 16, dedup_against: list[str] | None = None,
                     bad_words: str | None = None, dedup_memory_mb: int = 1024,
                     runner: str = "process", dask_address: str | None = None) -> dict[str, Any]:
    """``runner="dask"`` with ``dask_address`` runs every map, bucket and part task on an existing cluster."""
    options = {"mirror": mirror, "crawl": crawl, "mode": mode, "max_files": max_files, "files": files,
               "languages": languages, "filters": filters, "pii": pii, "splits": parse_splits(splits),
               "target_shard_bytes": shard_mb << 20, "dedup_buckets": dedup_buckets,
               "dedup_against": dedup_against, "bad_words": bad_words,
               "dedup_memory_mb": dedup_memory_mb}
    return source_build("commoncrawl", data_dir, options, workers=workers, runner=runner,
                        dask_address=dask_address)


if __name__ == "__main__":
    commoncrawl_flow()
