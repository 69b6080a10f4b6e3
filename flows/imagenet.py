"""The ImageNet flow: user-provided (gated) files → labelled, resized image shards."""

from __future__ import annotations

from typing import Any

from prefect import flow

from flows.source_build import source_build


@flow(name="imagenet")
def imagenet_flow(data_dir: str = "data", manual_dir: str | None = None, mirror: str | None = None,
                  credentials_file: str | None = None, hf: bool = False, size: int = 256, quality: int = 90,
                  holdout: float = 0.0, shard_mb: int = 256, official_checksums: bool = True, workers: int = 2,
                  runner: str = "process", dask_address: str | None = None) -> dict[str, Any]:
    """Credentials are read from the environment or ``credentials_file`` inside the tasks, never passed here."""
    options = {"mirror": mirror, "manual_dir": manual_dir, "credentials_file": credentials_file, "hf": hf,
               "size": size, "quality": quality, "holdout": holdout, "official_checksums": official_checksums,
               "target_shard_bytes": shard_mb << 20}
    return source_build("imagenet", data_dir, options, workers=workers, runner=runner,
                        dask_address=dask_address)


if __name__ == "__main__":
    imagenet_flow()
