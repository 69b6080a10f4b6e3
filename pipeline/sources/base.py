"""The protocol every upstream source implements, and the mixin that places its files under the data root."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator, Protocol

import pyarrow as pa

from pipeline.acquire.download import Downloader, Fetched
from pipeline.acquire.releases import Release, load_release
from pipeline.store.files import cached_dir
from pipeline.store.location import Location, materialize
from pipeline.store.root import DataRoot
from pipeline.store.shards import DatasetSpec, Part, Rejects

__all__ = ["DataRoot", "LocalFiles", "Release", "Source"]


class Source(Protocol):
    """discover → download → parts → read_part; every source follows the same steps."""

    name: str
    license: str
    datasets: tuple[str, ...]
    release_prefix: str  # downloaded releases of this configuration start with it (e.g. "simplewiki-")

    def local_version(self, version: str | None) -> str | None:
        """The on-disk release id for a user-given version (None: the newest downloaded)."""

    def discover(self, downloader: Downloader, version: str | None = None) -> Release:
        """Ask upstream what exists and return the release with published sizes/checksums."""

    def spec(self, dataset: str, release: Release, shards_dir: Path) -> DatasetSpec:
        """Where ``dataset`` of ``release`` lives, its schema and the options that shape it."""

    def parts(self, dataset: str, release: Release, fetched: dict[str, Fetched],
              work_dir: Path) -> list[Part]:
        """The units of parallel work, retry and resume for ``dataset``."""

    def read_part(self, dataset: str, part: Part, rejects: Rejects) -> Iterator[pa.Table]:
        """Stream one part as Arrow tables (with a ``_split`` column); bad records go to ``rejects``."""


class LocalFiles:
    """Where a source keeps its files under the data root; every source mixes this in.

    With a remote data root (``s3://...``) the raw files live in the bucket and each host parses a
    local copy (fetched once, on first use); work files are per-host caches of deterministic steps.
    """

    data_dir: DataRoot
    name: str
    release_prefix: str = ""

    def raw_dir(self, release: Release) -> Path:
        local = self.data_dir.local_raw(self.name, release.version)
        if not self.data_dir.remote:
            return local
        remote = Location(self.data_dir.raw(self.name, release.version))
        for file in release.files:
            (local / file.name).parent.mkdir(parents=True, exist_ok=True)
            materialize(remote, file.name, local / file.name, file.size)
        return local

    def load_release(self, version: str) -> Release:
        """A downloaded release, read back from the data root (a part may run in another process or host)."""
        return load_release(self.data_dir, self.name, version, self.release_prefix)

    def cached(self, release: Release, key: str, build) -> Path:
        """``build(dir)`` once per key under ``work/<source>/<version>/`` (see ``store.files.cached_dir``)."""
        return cached_dir(self.data_dir.host_work(self.name, release.version), key, build)
