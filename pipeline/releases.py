"""Downloaded releases and where they live: the raw-dir layout every stage shares.

A release is what ``discover`` found upstream (its id and files); once downloaded it is recorded
as ``raw/<source>/<version>/_release.json`` so later stages (on any host) read it back without
reaching upstream. This module depends on nothing but the downloader's ``RemoteFile``, so the
build, the plan and the sources can all use it without importing each other.
"""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pipeline.download import Fetched, RemoteFile
from pipeline.errors import SourceError
from pipeline.storage import read_json, write_json_atomic

RELEASE_FILE = "_release.json"


@dataclass(frozen=True)
class Release:
    """One published version of an upstream: its id and the files it consists of."""

    source: str
    version: str
    files: tuple[RemoteFile, ...]
    meta: dict[str, Any] = field(default_factory=dict, hash=False)

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source, "version": self.version, "meta": self.meta,
                "files": [asdict(f) for f in self.files]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Release":
        return cls(data["source"], data["version"], tuple(RemoteFile(**f) for f in data["files"]),
                   data.get("meta", {}))


def raw_dir(data_dir: Path | str, source: str, version: str) -> Path:
    return Path(data_dir) / "raw" / source / version


def shards_dir(data_dir: Path | str) -> Path | str:
    """Where datasets live: ``<data root>/shards`` (a URL stays a URL)."""
    return f"{str(data_dir).rstrip('/')}/shards" if "://" in str(data_dir) else Path(data_dir) / "shards"


def record_release(release: Release, fetched: list[Fetched], target: Path) -> Release:
    sha = {f.name: got.sha256 for f, got in zip(release.files, fetched)}
    release = dataclasses.replace(release, meta={**release.meta, "sha256": sha})
    write_json_atomic(Path(target) / RELEASE_FILE, release.to_json())
    return release


def load_release(data_dir: Path | str, source: str, version: str | None = None, prefix: str = "") -> Release:
    """The downloaded release ``version`` (default: the newest one on disk whose id starts with ``prefix``)."""
    base = Path(data_dir) / "raw" / source
    if version in (None, "latest"):
        versions = sorted(p.parent.name for p in base.glob(f"{prefix}*/{RELEASE_FILE}"))
        if not versions:
            raise SourceError(f"nothing downloaded for {source} under {base}; run `datamill download {source}` first")
        version = versions[-1]
    path = base / version / RELEASE_FILE
    if not path.exists():
        raise SourceError(f"{source} {version} is not downloaded (no {path}); run `datamill download {source}`")
    release = Release.from_json(read_json(path))
    missing = [f.name for f in release.files if not (base / version / f.name).exists()]
    if missing:
        raise SourceError(f"{source} {version}: downloaded files are missing: {', '.join(missing)}")
    return release
