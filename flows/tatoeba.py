"""The Tatoeba flow: weekly exports → sentences and pairs shards (parameters are plain JSON)."""

from __future__ import annotations

from typing import Any

from prefect import flow

from flows.source_build import source_build
from pipeline.store.splits import parse_splits


@flow(name="tatoeba")
def tatoeba_flow(data_dir: str = "data", mirror: str | None = None, pairs: str = "all",
                 splits: str = "train=0.98,validation=0.01,test=0.01", compression: str = "zst",
                 bucket_ids: int = 1_000_000, shard_mb: int = 256, attempts: int = 8,
                 workers: int = 2,
                 runner: str = "process", dask_address: str | None = None) -> dict[str, Any]:
    options = {"mirror": mirror, "pairs": pairs, "splits": parse_splits(splits), "compression": compression,
               "bucket_ids": bucket_ids, "target_shard_bytes": shard_mb << 20}
    return source_build("tatoeba", data_dir, options, attempts=attempts, workers=workers, runner=runner,
                        dask_address=dask_address)


if __name__ == "__main__":
    tatoeba_flow()
