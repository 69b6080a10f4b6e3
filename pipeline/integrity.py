"""Is a downloaded file the one upstream published? Running digests, size and checksum checks, and —
when upstream publishes neither (CommonCrawl) — the container (gzip, bz2, zstd) read to its very end,
which is the only way to tell a whole file from one cut short by a dropped connection.
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.storage import CHUNK

ALGORITHMS = ("md5", "sha1", "sha256")


@dataclass
class Hashes:
    """Running digests of the bytes written so far."""

    algorithms: tuple[str, ...]
    hashers: dict[str, "hashlib._Hash"] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.hashers = {a: hashlib.new(a) for a in self.algorithms}

    def update(self, chunk: bytes) -> None:
        for h in self.hashers.values():
            h.update(chunk)

    def hexdigest(self, algorithm: str) -> str:
        return self.hashers[algorithm].hexdigest()


def algorithms_for(checksum: str | None) -> tuple[str, ...]:
    published = checksum.partition(":")[0] if checksum else None
    return tuple(dict.fromkeys(a for a in ("sha256", published) if a))


def matches(expected_size: int | None, checksum: str | None, size: int, hashes: Hashes) -> bool:
    """The published size and checksum (where published) agree with what was received."""
    if expected_size is not None and size != expected_size:
        return False
    if checksum:
        algorithm, _, expected = checksum.partition(":")
        return hashes.hexdigest(algorithm) == expected.lower()
    return True


def _zstd_whole(path: Path) -> None:
    """Every zstd frame in ``path`` ends (a stream reader returns quietly at a frame cut short)."""
    import zstandard

    decompressor, pending = zstandard.ZstdDecompressor(), None
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            while chunk:
                pending = pending or decompressor.decompressobj()
                pending.decompress(chunk)
                chunk = pending.unused_data if pending.eof else b""
                if pending.eof:
                    pending = None
    if pending is not None:
        raise EOFError("a zstd frame ends before its end")


def _gzip_reader(f):
    return gzip.GzipFile(fileobj=f)


READERS = {".gz": _gzip_reader, ".tgz": _gzip_reader, ".bz2": bz2.BZ2File}


def _errors() -> tuple[type[BaseException], ...]:
    try:
        import zstandard
    except ImportError:
        return EOFError, OSError, zlib.error, ValueError
    return EOFError, OSError, zlib.error, ValueError, zstandard.ZstdError


def container_problem(path: Path, name: str) -> str | None:
    """Decompress ``path`` to its end if ``name`` says it is compressed; returns what is wrong, or None."""
    suffix = Path(name).suffix
    if suffix not in READERS and suffix != ".zst":
        return None
    try:
        if suffix == ".zst":
            _zstd_whole(path)
        else:
            with open(path, "rb") as raw, READERS[suffix](raw) as f:
                while f.read(CHUNK):
                    pass
    except _errors() as err:
        return f"{type(err).__name__}: {err}"
    return None
