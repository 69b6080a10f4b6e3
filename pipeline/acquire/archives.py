"""Streams the bytes of compressed files and tar members without extracting anything to disk."""

from __future__ import annotations

import bz2
import contextlib
import tarfile
from pathlib import Path
from typing import BinaryIO, Iterator

import zstandard

from pipeline.errors import SourceError


@contextlib.contextmanager
def open_decompressed(path: Path) -> Iterator[BinaryIO]:
    """Open ``path`` and undo its compression (.zst, .bz2, plain), streaming."""
    name = path.name
    with open(path, "rb") as raw:
        if name.endswith(".zst"):
            # Tatoeba's .zst files are written by the CLI tool: multiple frames are possible.
            reader = zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True)
            with reader:
                yield reader  # type: ignore[misc]
        elif name.endswith(".bz2") and not name.endswith(".tar.bz2"):
            with bz2.BZ2File(raw) as reader:
                yield reader  # type: ignore[misc]
        else:
            yield raw


@contextlib.contextmanager
def open_tar_member(path: Path, member_name: str) -> Iterator[BinaryIO]:
    """Stream one regular-file member out of a (possibly compressed) tar, by base name.

    The archive is read front to back in stream mode (``r|*``): no seeking, no temp files.
    Member paths are only compared, never used to write anything.
    """
    with open(path, "rb") as raw, tarfile.open(fileobj=raw, mode="r|*") as archive:
        for member in archive:
            if Path(member.name).name != member_name:
                continue
            if not member.isfile():
                raise SourceError(f"{path}: member {member.name!r} is not a regular file")
            handle = archive.extractfile(member)
            assert handle is not None
            yield handle
            return
    raise SourceError(f"{path}: no member named {member_name!r}")


@contextlib.contextmanager
def open_export(path: Path, member_name: str) -> Iterator[BinaryIO]:
    """A published export as a byte stream, whatever its packaging (.tar.bz2, .zst, .bz2, plain)."""
    if ".tar" in path.suffixes:
        with open_tar_member(path, member_name) as handle:
            yield handle
    else:
        with open_decompressed(path) as handle:
            yield handle
