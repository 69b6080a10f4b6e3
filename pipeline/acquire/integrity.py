"""Is a downloaded file the one upstream published? Running digests, size and checksum checks, and —
when upstream publishes neither (CommonCrawl) — the container (gzip, bz2, zstd) read to its very end,
which is the only way to tell a whole file from one cut short by a dropped connection.
"""

from __future__ import annotations

import bz2
import hashlib
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.store.files import CHUNK

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


_GZIP_MAGIC = b"\x1f\x8b\x08"


def _gzip_whole(path: Path) -> None:
    """The last gzip member of ``path`` ends. A damaged member inside is skipped to the next whole
    member, as the WARC reader does: a complete file with one bad member cannot be mended by a new
    download (the reader counts it), while a copy cut short can."""
    unfinished, _ = _gzip_scan(path, 0)
    while unfinished is not None:
        # A member that never ends is damage if whole members follow it, and a cut if none does.
        unfinished, whole = _gzip_scan(path, unfinished + 1)
        if whole == 0:
            raise EOFError("the last gzip member ends before its end")


def _gzip_scan(path: Path, offset: int) -> tuple[int | None, int]:
    """From ``offset``: (the start of a member still open at the end of the file, or None; whole members)."""
    whole, member, start, pending = 0, None, None, b""
    with open(path, "rb") as f:
        f.seek(offset)
        pos = offset  # the file offset of data[0]
        while chunk := f.read(CHUNK):
            data, pending = pending + chunk, b""
            while data:
                if member is None:
                    found = data.find(_GZIP_MAGIC)
                    if found < 0:
                        pending = data[-2:]  # a header may straddle two chunks
                        pos += len(data) - len(pending)
                        break
                    data, pos, start, member = data[found:], pos + found, pos + found, zlib.decompressobj(wbits=31)
                try:
                    member.decompress(data)
                except zlib.error:
                    data, pos, member = data[1:], pos + 1, None
                    continue
                if not member.eof:
                    pos, data = pos + len(data), b""
                    continue
                used = len(data) - len(member.unused_data)
                data, pos, member, whole = member.unused_data, pos + used, None, whole + 1
        if member is None and pending and _GZIP_MAGIC.startswith(pending[pending.find(b"\x1f"):] or b"-"):
            start, member = pos + pending.find(b"\x1f"), "header"  # cut inside the next member's header
    return (start if member is not None else None), whole


READERS = {".bz2": bz2.BZ2File}


def _errors() -> tuple[type[BaseException], ...]:
    try:
        import zstandard
    except ImportError:
        return EOFError, OSError, zlib.error, ValueError
    return EOFError, OSError, zlib.error, ValueError, zstandard.ZstdError


def container_problem(path: Path, name: str) -> str | None:
    """Decompress ``path`` to its end if ``name`` says it is compressed; returns what is wrong, or None."""
    suffix = Path(name).suffix
    if suffix not in READERS and suffix not in (".zst", ".gz", ".tgz"):
        return None
    try:
        if suffix == ".zst":
            _zstd_whole(path)
        elif suffix in (".gz", ".tgz"):
            _gzip_whole(path)
        else:
            with open(path, "rb") as raw, READERS[suffix](raw) as f:
                while f.read(CHUNK):
                    pass
    except _errors() as err:
        return f"{type(err).__name__}: {err}"
    return None
