"""The Wikipedia flow: one wiki's dump (a date or the newest finished run) → clean article shards."""

from __future__ import annotations

from typing import Any

from prefect import flow

from flows.source_build import source_build
from pipeline.store.splits import parse_splits


@flow(name="wikipedia")
def wikipedia_flow(wiki: str = "simplewiki", date: str = "latest", data_dir: str = "data", mirror: str | None = None,
                   splits: str = "train=0.98,validation=0.01,test=0.01", pages_per_part: int = 20_000,
                   max_page_mb: float = 2.0, keep_math: bool = False, shard_mb: int = 256,
                   attempts: int = 8, workers: int = 2,
                   runner: str = "process", dask_address: str | None = None) -> dict[str, Any]:
    options = {"mirror": mirror, "wiki": wiki, "date": date, "splits": parse_splits(splits),
               "pages_per_part": pages_per_part, "max_page_bytes": int(max_page_mb * (1 << 20)),
               "keep_math": keep_math, "target_shard_bytes": shard_mb << 20}
    return source_build("wikipedia", data_dir, options, attempts=attempts, workers=workers, runner=runner,
                        dask_address=dask_address)


if __name__ == "__main__":
    wikipedia_flow()
