"""Downloaded releases: what a version of an upstream is, recorded under the data root's ``raw/``.

A release is what ``discover`` found upstream (its id and files); once downloaded it is recorded
as ``raw/<source>/<version>/_release.json`` so later stages (on any host) read it back without
reaching upstream. Where ``raw/`` is comes from the ``DataRoot`` (``pipeline.store.root``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pipeline.acquire.download import Fetched, RemoteFile
from pipeline.errors import SourceError
from pipeline.store.location import Location
from pipeline.store.root import DataRoot

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


def share_raw(root: DataRoot, source: str, version: str, name: str, got: Fetched) -> Fetched:
    """A file this host downloaded, put into ``raw/`` in the bucket when the data root is remote (one PUT,
    skipped when it is there with its size), so any host can read it: hosts share nothing but the root."""
    if root.remote:
        remote = Location(root.raw(source, version))
        try:
            there = remote.fs.size(remote.full(name))
        except FileNotFoundError:
            there = None
        if there != got.size:
            remote.fs.put_file(str(got.path), remote.full(name))
    return got


def publish_release(release: Release, fetched: list[Fetched], root: DataRoot) -> Release:
    """Record a downloaded release under the data root; for a remote root, upload its files first (one PUT each)."""
    target = root.raw(release.source, release.version)
    if root.remote:
        remote = Location(target)
        present = remote.walk()
        for file, got in zip(release.files, fetched):
            if present.get(file.name, {}).get("size") != got.size:
                remote.fs.put_file(str(got.path), remote.full(file.name))
    return record_release(release, fetched, target)


def record_release(release: Release, fetched: list[Fetched], target: Path | str) -> Release:
    sha = {f.name: got.sha256 for f, got in zip(release.files, fetched)}
    release = dataclasses.replace(release, meta={**release.meta, "sha256": sha})
    Location(target).write_json(RELEASE_FILE, release.to_json())
    return release


def load_release(root: DataRoot | Path | str, source: str, version: str | None = None, prefix: str = "") -> Release:
    """The downloaded release ``version`` (default: the newest one under the data root whose id starts with ``prefix``)."""
    base = Location(DataRoot.of(root).path / "raw" / source)
    if version in (None, "latest"):
        versions = sorted(p.rsplit("/", 2)[-2] for p in base.fs.glob(base.full(f"{prefix}*/{RELEASE_FILE}")))
        if not versions:
            raise SourceError(f"nothing downloaded for {source} under {base.url}; "
                              f"run `datamill download {source}` first")
        version = versions[-1]
    try:
        release = Release.from_json(base.read_json(f"{version}/{RELEASE_FILE}"))
    except FileNotFoundError:
        raise SourceError(f"{source} {version} is not downloaded (no {base.url}/{version}/{RELEASE_FILE}); "
                          f"run `datamill download {source}`") from None
    present = base.child(version).walk()
    missing = [f.name for f in release.files if f.name not in present]
    if missing:
        raise SourceError(f"{source} {version}: downloaded files are missing: {', '.join(missing)}")
    return release
