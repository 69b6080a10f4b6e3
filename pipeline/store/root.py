"""The data root, resolved once where a command or flow starts: the one place that says what lives where under it.

``raw/<source>/<version>/`` holds downloads as published, ``shards/`` the datasets, ``work/`` steps a
build may redo. A remote root (``s3://...``) keeps ``raw/`` and ``shards/`` in the bucket; each host
downloads into, parses from and caches its own work in a local cache of it (``DATAMILL_CACHE``), so
hosts share nothing but the root. Code below the edge holds a ``DataRoot``, never a string.
"""

from __future__ import annotations

from pathlib import Path

from pipeline.store.location import Location, UrlPath, data_path, local_cache


class DataRoot:
    """A data root on local disk or behind an fsspec URL."""

    __slots__ = ("path",)

    def __init__(self, root: Path | str) -> None:
        self.path: Path | UrlPath = data_path(root)

    @classmethod
    def of(cls, root: "DataRoot | Path | str") -> "DataRoot":
        """The root as given, or resolved from a path or URL (what a command, flow or library call starts from)."""
        return root if isinstance(root, DataRoot) else cls(root)

    def __repr__(self) -> str:
        return f"DataRoot({str(self.path)!r})"

    def __str__(self) -> str:
        return str(self.path)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DataRoot) and str(self.path) == str(other.path)

    def __hash__(self) -> int:
        return hash(str(self.path))

    def __getstate__(self) -> str:
        return str(self.path)

    def __setstate__(self, state: str) -> None:
        self.path = data_path(state)

    @property
    def remote(self) -> bool:
        return isinstance(self.path, UrlPath)

    @property
    def location(self) -> Location:
        return Location(self.path)

    @property
    def local(self) -> Path:
        """The root itself on local disk, or this host's cache of a remote one."""
        return local_cache(self.path) if self.remote else self.path

    def raw(self, source: str, version: str) -> Path | UrlPath:
        """Where a release's files live for every host (in the bucket for a remote root)."""
        return self.path / "raw" / source / version

    def local_raw(self, source: str, version: str) -> Path:
        """Where this host downloads and parses a release's files: ``raw``, or its local cache."""
        return self.local / "raw" / source / version

    @property
    def shards(self) -> Path | UrlPath:
        """Where datasets live: ``<root>/shards`` (a URL stays a URL)."""
        return self.path / "shards"

    def work(self, source: str, version: str) -> Path | UrlPath:
        """Work every host shares (CommonCrawl's dedup scratch): under the root itself."""
        return self.path / "work" / source / version

    def host_work(self, source: str, version: str) -> Path:
        """This host's cache of deterministic steps (never shared: another host rebuilds its own)."""
        return self.local / "work" / source / version
