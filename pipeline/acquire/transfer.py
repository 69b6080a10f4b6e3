"""Moving bytes: one upstream file streamed into its ``.part`` file over HTTP(S) or fsspec, resumed with Range.

``If-Range`` guards a resume against splicing two versions of a changed file. Bytes are asked
for as published (``Accept-Encoding: identity``); a server that compresses them anyway is
decoded (and never resumed, since its ranges would count encoded bytes).
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import BinaryIO, Callable, Iterable, Iterator
from urllib.parse import urlparse

import requests
import urllib3

from pipeline.errors import PermanentDownloadError, SizeMismatch, TransientDownloadError
from pipeline.acquire.integrity import Hashes, algorithms_for
from pipeline.acquire.remote import RemoteFile
from pipeline.acquire.retry import RetryPolicy, raise_for_status
from pipeline.store.files import CHUNK, read_json, write_json_atomic

log = logging.getLogger(__name__)


class Transfer:
    """HTTP sessions (one per thread) and the resumable copy of one remote file into a local ``.part``."""

    def __init__(self, headers: dict[str, str], policy: RetryPolicy, meta_path: Callable[[RemoteFile, str], Path],
                 advance: Callable[[int], None]) -> None:
        self.headers = headers
        self.policy = policy
        self.meta_path = meta_path
        self.advance = advance
        self._local = threading.local()

    def request(self, method: str, url: str, extra_headers: dict[str, str] | None = None,
                **kwargs) -> requests.Response:
        try:
            return self._session().request(
                method, url, headers={**self.headers, **(extra_headers or {})}, allow_redirects=True,
                timeout=(self.policy.connect_timeout, self.policy.read_timeout), **kwargs)
        except (requests.ConnectionError, requests.Timeout) as err:
            raise TransientDownloadError(f"{type(err).__name__}: {err}") from err
        except requests.RequestException as err:
            raise PermanentDownloadError(f"{url}: {err}") from err

    def into(self, remote: RemoteFile, part: Path) -> Hashes:
        """Copy ``remote`` into ``part`` (resuming what is there); returns the digests of the whole file."""
        if urlparse(remote.url).scheme in ("http", "https"):
            return self._http(remote, part)
        return self._fsspec(remote, part)

    # -- HTTP -------------------------------------------------------------------------------

    def _http(self, remote: RemoteFile, part: Path) -> Hashes:
        hashes = Hashes(algorithms_for(remote.checksum))
        offset = self._resume_offset(remote, part, hashes)
        validator = self.part_meta(remote).get("validator") if offset else None
        headers: dict[str, str] = {}
        if offset:
            headers["Range"] = f"bytes={offset}-"
            if validator:
                headers["If-Range"] = validator
        response = self.request("GET", remote.url, stream=True, extra_headers=headers)
        with response:
            encoded = response.headers.get("Content-Encoding", "identity").lower() not in ("identity", "")
            if encoded and response.status_code == 206:
                self.discard_part(remote, part)
                raise TransientDownloadError("server compressed a range it was asked for as is; restarting")
            offset = self._check_response(remote, response, part, offset, validator, hashes)
            served = None if encoded else _total_size(response, offset)
            if remote.size is not None and served is not None and served != remote.size:
                # Retrying cannot help: the server holds a different file than the one published.
                raise SizeMismatch(f"{remote.name}: the server has {served:,} bytes, upstream publishes "
                                   f"{remote.size:,}; nothing was promoted")
            expected = remote.size if remote.size is not None else served
            # The file as published: decoded only when the server encoded it although asked not to.
            body = response.raw.stream(CHUNK, decode_content=encoded)
            self._stream_into(part, offset, body, hashes, remote.name, expected)
        return hashes

    def _check_response(self, remote: RemoteFile, response: requests.Response, part: Path,
                        offset: int, validator: str | None, hashes: Hashes) -> int:
        """Decide where the body starts; returns the offset to write at (0 = from scratch)."""
        status = response.status_code
        if status == 416:
            self.discard_part(remote, part)
            raise TransientDownloadError("HTTP 416: the partial file no longer fits upstream; restarting")
        raise_for_status(remote.url, response)
        now = _validator(response)
        if status == 206 and offset and _content_range_start(response) == offset and (
                not validator or not now or now == validator):
            return offset
        if status not in (200, 206):
            raise PermanentDownloadError(f"{remote.name}: unexpected HTTP {status} from {remote.url}")
        if status == 206:
            # A range we did not ask for, or a file that changed under us: never splice.
            self.discard_part(remote, part)
            raise TransientDownloadError("server answered a different range or version; restarting")
        if offset:
            log.info("%s: server ignored the Range request or the file changed; restarting", remote.name)
            self.advance(-offset)
        hashes.reset()
        write_json_atomic(self.meta_path(remote, "part.json"), {"url": remote.url, "validator": now})
        return 0

    # -- fsspec (local paths, file://, s3://...) ------------------------------------------------

    def _fsspec(self, remote: RemoteFile, part: Path) -> Hashes:
        import fsspec

        hashes = Hashes(algorithms_for(remote.checksum))
        offset = self._resume_offset(remote, part, hashes)
        try:
            opened = fsspec.open(remote.url, "rb")
        except (ImportError, ValueError) as err:
            scheme = urlparse(remote.url).scheme
            raise PermanentDownloadError(f"{remote.url}: cannot open {scheme}:// URLs here ({err}); "
                                         f"install the fsspec backend (e.g. s3fs for s3://)") from err
        try:
            with opened as src:
                size = remote.size if remote.size is not None else _fsspec_size(src)
                src.seek(offset)
                self._stream_into(part, offset, iter(lambda: src.read(CHUNK), b""), hashes, remote.name, size)
        except FileNotFoundError as err:
            raise PermanentDownloadError(f"{remote.name}: not found: {remote.url}") from err
        except PermissionError as err:
            raise PermanentDownloadError(f"{remote.name}: permission denied: {remote.url}") from err
        except OSError as err:
            raise TransientDownloadError(f"{type(err).__name__}: {err}") from err
        return hashes

    # -- the .part file ------------------------------------------------------------------------

    def _resume_offset(self, remote: RemoteFile, part: Path, hashes: Hashes) -> int:
        """Hash the bytes already in ``part`` so the final digest covers the whole file."""
        if not part.exists():
            return 0
        size = part.stat().st_size
        if remote.size is not None and size > remote.size:
            self.discard_part(remote, part)
            return 0
        with open(part, "rb") as f:
            while chunk := f.read(CHUNK):
                hashes.update(chunk)
        return size

    def _stream_into(self, part: Path, offset: int, chunks: Iterator[bytes], hashes: Hashes,
                     name: str, expected: int | None) -> None:
        written = offset
        with open(part, "r+b" if offset else "wb") as out:
            out.seek(offset)
            out.truncate()
            try:
                for chunk in chunks:
                    if not chunk:
                        continue
                    out.write(chunk)
                    hashes.update(chunk)
                    written += len(chunk)
                    self.advance(len(chunk))
            except (requests.RequestException, urllib3.exceptions.HTTPError) as err:
                out.flush()
                os.fsync(out.fileno())
                raise TransientDownloadError(f"transfer interrupted at byte {written}: {err}") from err
            out.flush()
            os.fsync(out.fileno())
        if expected is not None and written < expected:
            raise TransientDownloadError(f"truncated body: {written} of {expected} bytes")
        if expected is not None and written > expected:
            raise SizeMismatch(f"{name}: got {written} bytes, upstream publishes {expected}")

    def part_meta(self, remote: RemoteFile) -> dict:
        path = self.meta_path(remote, "part.json")
        return read_json(path) if path.exists() else {}

    def discard_part(self, remote: RemoteFile, part: Path) -> None:
        if part.exists():
            self.advance(-part.stat().st_size)
        part.unlink(missing_ok=True)
        self.meta_path(remote, "part.json").unlink(missing_ok=True)

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
        return session


def _validator(response: requests.Response) -> str | None:
    etag = response.headers.get("ETag")
    if etag and not etag.startswith("W/"):
        return etag
    return response.headers.get("Last-Modified")


def _content_range_start(response: requests.Response) -> int | None:
    value = response.headers.get("Content-Range", "")
    try:
        return int(value.split()[1].split("-")[0])
    except (IndexError, ValueError):
        return None


def _total_size(response: requests.Response, offset: int) -> int | None:
    content_range = response.headers.get("Content-Range", "")
    if "/" in content_range and not content_range.endswith("/*"):
        return int(content_range.rsplit("/", 1)[1])
    length = response.headers.get("Content-Length")
    if length is None:
        return None
    return offset + int(length)


def _fsspec_size(handle: BinaryIO) -> int | None:
    size = getattr(handle, "size", None)
    if size is not None:
        return int(size)
    try:
        return os.fstat(handle.fileno()).st_size
    except (AttributeError, OSError, ValueError):
        return None


def read_limited(chunks: Iterable[bytes], limit: int, url: str) -> bytes:
    buffer = bytearray()
    for chunk in chunks:
        buffer += chunk
        if len(buffer) > limit:
            raise PermanentDownloadError(f"{url}: larger than the {limit}-byte limit for a metadata file")
    return bytes(buffer)
