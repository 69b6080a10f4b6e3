"""What a download is about: an upstream file as published (``RemoteFile``), what a HEAD says of it
(``Probe``) and the verified local copy a fetch gives (``Fetched``) — shared by the downloader and the
transfer layer below it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from pipeline.acquire.integrity import ALGORITHMS
from pipeline.errors import ConfigError


@dataclass(frozen=True)
class RemoteFile:
    """One upstream file: where it lives and what the upstream says it should be."""

    url: str
    name: str  # path relative to the destination directory
    size: int | None = None
    checksum: str | None = None  # "<md5|sha1|sha256>:<hex>", as published upstream

    def __post_init__(self) -> None:
        if self.checksum:
            algorithm, _, digest = self.checksum.partition(":")
            if algorithm not in ALGORITHMS or not digest:
                raise ConfigError(f"{self.name}: checksum must be '<md5|sha1|sha256>:<hex>', got {self.checksum!r}")
        if Path(self.name).is_absolute() or ".." in Path(self.name).parts:
            raise ConfigError(f"refusing a download name outside the data directory: {self.name!r}")


@dataclass(frozen=True)
class Probe:
    """What a HEAD request tells about a remote file."""

    url: str
    size: int | None
    last_modified: datetime | None
    validator: str | None


@dataclass(frozen=True)
class Fetched:
    """A verified local file and its sha256 (the input checksum manifests record)."""

    path: Path
    size: int
    sha256: str
