"""A directory on local disk or behind an fsspec URL (s3://, gs://, file://), addressed by relative names.

Local directories get atomic renames, fsync and advisory locks; object stores get one PUT per
file (a reader sees the whole object or none), no rename, and on S3 lease locks (``locks``). Credentials come from the standard
environment (``AWS_ACCESS_KEY_ID``, ``AWS_ENDPOINT_URL``...) or from ``storage_options``; they are
held by the filesystem object only and never written anywhere.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from pathlib import Path
from typing import Any, BinaryIO, Iterator

import fsspec
from fsspec.implementations.local import LocalFileSystem

from pipeline.store import locks as objectlock
from pipeline.store.files import CHUNK, HashingWriter, file_lock, read_json, write_bytes_atomic

OPTIONS_ENV = "DATAMILL_STORAGE_OPTIONS"


def set_storage_options(options: dict[str, Any]) -> None:
    """fsspec options (``endpoint_url``, ``key``...) for every remote URL here and in child processes.

    They travel in the environment (as ``--storage-options`` does), never in a manifest, card or log.
    """
    import json

    os.environ[OPTIONS_ENV] = json.dumps(options)


def storage_options(protocol: str) -> dict[str, Any]:
    import json

    if protocol == "file" or not os.environ.get(OPTIONS_ENV):
        return {}
    return json.loads(os.environ[OPTIONS_ENV])


def is_url(root: Path | str) -> bool:
    return "://" in str(root) and not str(root).startswith("file://")


class Location:
    """One directory: names inside it are ``/``-separated and relative."""

    def __init__(self, root: Path | str) -> None:
        self.url = str(root).rstrip("/")
        protocol = self.url.split("://", 1)[0] if "://" in self.url else "file"
        self.fs, self.path = fsspec.core.url_to_fs(self.url, **storage_options(protocol))
        self.path = self.path.rstrip("/")
        self.local = isinstance(self.fs, LocalFileSystem)

    def __repr__(self) -> str:
        return f"Location({self.url!r})"

    def full(self, name: str) -> str:
        return f"{self.path}/{name}" if name else self.path

    def public(self, name: str) -> Path | str:
        """What a reader opens: a ``Path`` on local disk, else the URL."""
        return Path(self.full(name)) if self.local else f"{self.url}/{name}"

    def child(self, name: str) -> "Location":
        return Location(self.public(name) if self.local else f"{self.url}/{name}")

    # -- reading ------------------------------------------------------------------------

    def exists(self, name: str) -> bool:
        return self.fs.exists(self.full(name))

    def read_bytes(self, name: str) -> bytes:
        return self.fs.cat_file(self.full(name))

    def read_json(self, name: str) -> Any:
        if self.local:
            return read_json(Path(self.full(name)))
        import json

        return json.loads(self.read_bytes(name))

    def open(self, name: str) -> BinaryIO:
        return self.fs.open(self.full(name), "rb")

    def listdir(self, name: str = "") -> dict[str, int]:
        """Files directly in ``name``: relative name → size (one listing call on an object store)."""
        try:
            entries = self.fs.ls(self.full(name), detail=True)
        except FileNotFoundError:
            return {}
        prefix = f"{name}/" if name else ""
        return {prefix + e["name"].rstrip("/").rsplit("/", 1)[-1]: int(e.get("size") or 0)
                for e in entries if e.get("type") == "file"}

    def walk(self) -> dict[str, dict[str, Any]]:
        """Every file below the directory: relative name → info (size, mtime when the store has one)."""
        found = self.fs.find(self.path, detail=True) if self.fs.exists(self.path) else {}
        return {name[len(self.path) + 1:]: info for name, info in found.items() if info.get("type") == "file"}

    def sha256(self, name: str) -> str:
        h = hashlib.sha256()
        with self.open(name) as f:
            while chunk := f.read(CHUNK):
                h.update(chunk)
        return h.hexdigest()

    # -- writing ------------------------------------------------------------------------

    def write_bytes(self, name: str, data: bytes, durable: bool = True) -> None:
        """Readers see all of ``data`` or nothing: rename on local disk, a single PUT on an object store."""
        if self.local:
            write_bytes_atomic(Path(self.full(name)), data, durable)
        else:
            self.fs.pipe_file(self.full(name), data)

    def write_json(self, name: str, obj: Any, durable: bool = True) -> None:
        import json

        self.write_bytes(name, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode(), durable)

    @contextlib.contextmanager
    def create(self, name: str) -> Iterator[HashingWriter]:
        """A new file written in one go (durable on local disk when the block ends)."""
        if self.local:
            Path(self.full(name)).parent.mkdir(parents=True, exist_ok=True)
        handle = HashingWriter(self.fs.open(self.full(name), "wb"))
        try:
            yield handle
            handle.flush()
            if self.local:
                os.fsync(handle.handle.fileno())
        finally:
            handle.close()

    def remove(self, name: str) -> None:
        try:
            self.fs.rm_file(self.full(name))
        except FileNotFoundError:
            pass

    @contextlib.contextmanager
    def lock(self, name: str) -> Iterator[objectlock.Lease | None]:
        """An exclusive lock: advisory on local disk (processes of one host), a lease object created by a
        conditional PUT on S3 (hosts sharing the bucket; see ``locks``); none on other stores.

        Yields the S3 ``Lease`` (None elsewhere): ``still_held(lease)`` before a write that must not happen
        once another host has taken the lock over."""
        if self.local:
            with file_lock(Path(self.full(name))):
                yield None
        else:
            with objectlock.held(self.fs, self.full(name)) as lease:
                yield lease


def still_held(lease: "objectlock.Lease | None") -> None:
    """Raise ``LockLost`` if an object-store lease was taken over; a local lock cannot be."""
    if lease is not None:
        lease.check()


class UrlPath(str):
    """An fsspec URL that joins like a ``Path`` (``root / "shards" / name``), for code written against paths."""

    def __truediv__(self, other: object) -> "UrlPath":
        return UrlPath(f"{self.rstrip('/')}/{str(other).strip('/')}")

    @property
    def name(self) -> str:
        return self.rstrip("/").rsplit("/", 1)[-1]

    @property
    def parent(self) -> "UrlPath":
        return UrlPath(self.rstrip("/").rsplit("/", 1)[0])


def data_path(root: Path | str) -> Path | UrlPath:
    """A data root as code should hold it: a ``Path`` on local disk (``file://`` included), else a ``UrlPath``."""
    text = str(root)
    if text.startswith("file://"):
        return Path(text[len("file://"):])
    return UrlPath(text.rstrip("/")) if "://" in text else Path(text)


def local_cache(root: Path | str) -> Path:
    """Where a host keeps local copies for a remote data root (``DATAMILL_CACHE``, default ~/.cache/datamill)."""
    base = Path(os.environ.get("DATAMILL_CACHE", Path.home() / ".cache" / "datamill"))
    return base / hashlib.sha1(str(root).encode()).hexdigest()[:16]


def materialize(remote: Location, name: str, local: Path, size: int | None = None) -> Path:
    """A local copy of ``remote/name`` at ``local`` (fetched once per host; refetched if its size is wrong)."""
    with file_lock(local.with_name(f".{local.name}.lock")):
        if local.exists() and (size is None or local.stat().st_size == size):
            return local
        tmp = local.with_name(f".tmp-{local.name}-{os.getpid()}")
        remote.fs.get_file(remote.full(name), str(tmp))
        os.replace(tmp, local)
    return local
