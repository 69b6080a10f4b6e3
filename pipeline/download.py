"""The only network code: resumable, retried, verified fetches of upstream files.

A file is streamed to ``<name>.part``, resumed with HTTP Range (``If-Range`` guards
against splicing two versions of a changed file), verified against the size and the
checksum the upstream publishes, and renamed into place only then. A verified file
already present is not fetched again.
"""

from __future__ import annotations

import email.utils
import hashlib
import logging
import os
import random
import shutil
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from datetime import datetime, timezone
from typing import BinaryIO, Callable, Iterable, Iterator, TypeVar
from urllib.parse import urlparse

import requests
import urllib3
from tqdm.auto import tqdm

from pipeline import __version__
from pipeline.errors import (
    ChecksumMismatch,
    ConfigError,
    PermanentDownloadError,
    SizeMismatch,
    TransientDownloadError,
)
from pipeline.storage import CHUNK, file_lock, fsync_dir, read_json, write_json_atomic

log = logging.getLogger(__name__)
T = TypeVar("T")

ALGORITHMS = ("md5", "sha1", "sha256")
TRANSIENT_STATUS = {408, 425, 429, 500, 502, 503, 504}
USER_AGENT = f"datamill/{__version__} (+https://github.com/datamill)"


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


@dataclass
class RetryPolicy:
    """Capped exponential backoff with jitter; ``Retry-After`` wins when the server sends one."""

    attempts: int = 8
    base: float = 1.0
    cap: float = 60.0
    max_retry_after: float = 600.0
    connect_timeout: float = 30.0
    read_timeout: float = 60.0

    def delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self.max_retry_after)
        return min(self.cap, self.base * 2**attempt) * random.uniform(0.5, 1.0)


@dataclass
class _Hashes:
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


class Downloader:
    """Fetches ``RemoteFile``s into ``dest_dir``, several at a time, with one progress bar."""

    def __init__(
        self,
        dest_dir: Path | str,
        *,
        max_workers: int = 4,
        policy: RetryPolicy | None = None,
        progress: bool = True,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.dest_dir = Path(dest_dir)
        self.max_workers = max(1, max_workers)
        self.policy = policy or RetryPolicy()
        self.progress = progress
        self.headers = {"User-Agent": USER_AGENT, **(headers or {})}
        self._local = threading.local()
        self._bar: tqdm | None = None

    # -- public -----------------------------------------------------------------

    def fetch_all(self, files: Iterable[RemoteFile]) -> list[Fetched]:
        """Fetch every file (``max_workers`` at once); the first failure is raised after the rest finish."""
        files = list(files)
        total = sum(f.size or 0 for f in files) or None
        with tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc="download",
                  disable=not self.progress, dynamic_ncols=True) as bar:
            self._bar = bar
            try:
                with ThreadPoolExecutor(self.max_workers, thread_name_prefix="download") as pool:
                    futures = [pool.submit(self.fetch, f) for f in files]
                    errors = [fut.exception() for fut in futures]
                    failed = [e for e in errors if e is not None]
                    if failed:
                        raise failed[0]
                    return [fut.result() for fut in futures]
            finally:
                self._bar = None

    def fetch(self, remote: RemoteFile) -> Fetched:
        """Fetch one file, or return it at once if a verified copy is already in place."""
        dest = self.dest_dir / remote.name
        with file_lock(self._meta_path(remote, "lock")):
            done = self._already_verified(remote, dest)
            if done:
                self._advance(done.size)
                return done
            return self._fetch_with_retries(remote, dest)

    # -- verification records ---------------------------------------------------

    def _meta_path(self, remote: RemoteFile, kind: str) -> Path:
        path = self.dest_dir / ".datamill" / f"{remote.name}.{kind}"
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def _already_verified(self, remote: RemoteFile, dest: Path) -> Fetched | None:
        if not dest.exists():
            return None
        record_path = self._meta_path(remote, "verified.json")
        stat = dest.stat()
        if record_path.exists():
            record = read_json(record_path)
            if (record.get("size") == stat.st_size and record.get("mtime_ns") == stat.st_mtime_ns
                    and record.get("checksum") == remote.checksum):
                return Fetched(dest, stat.st_size, record["sha256"])
        # A file placed by hand (or by an older run): verify it before trusting it.
        hashes = _Hashes(_algorithms_for(remote))
        with open(dest, "rb") as f:
            while chunk := f.read(CHUNK):
                hashes.update(chunk)
        if not self._matches(remote, stat.st_size, hashes):
            log.warning("%s: existing file does not verify; downloading again", dest)
            return None
        return self._record_verified(remote, dest, hashes)

    @staticmethod
    def _matches(remote: RemoteFile, size: int, hashes: _Hashes) -> bool:
        if remote.size is not None and size != remote.size:
            return False
        if remote.checksum:
            algorithm, _, expected = remote.checksum.partition(":")
            return hashes.hexdigest(algorithm) == expected.lower()
        return True

    def _record_verified(self, remote: RemoteFile, dest: Path, hashes: _Hashes) -> Fetched:
        stat = dest.stat()
        sha256 = hashes.hexdigest("sha256")
        write_json_atomic(self._meta_path(remote, "verified.json"), {
            "url": remote.url, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns,
            "checksum": remote.checksum, "sha256": sha256,
        })
        return Fetched(dest, stat.st_size, sha256)

    # -- the transfer -----------------------------------------------------------

    def _fetch_with_retries(self, remote: RemoteFile, dest: Path) -> Fetched:
        part = dest.with_name(dest.name + ".part")
        part.parent.mkdir(parents=True, exist_ok=True)

        def attempt() -> Fetched:
            resumed = part.exists() and part.stat().st_size > 0
            hashes = self._transfer(remote, part)
            if resumed and not self._matches(remote, part.stat().st_size, hashes):
                # A resumed file that fails verification may be two upstream versions
                # spliced together: start once more from zero before calling it bad.
                log.warning("%s: resumed copy does not verify; downloading it again", remote.name)
                self._discard_part(remote, part)
                hashes = self._transfer(remote, part)
            return self._promote(remote, part, dest, hashes)

        return self._retry(remote.name, attempt)

    def _retry(self, what: str, attempt: Callable[[], T]) -> T:
        """Run ``attempt`` until it succeeds, retrying only transient failures."""
        for number in range(1, self.policy.attempts + 1):
            try:
                return attempt()
            except TransientDownloadError as err:
                if number == self.policy.attempts:
                    raise TransientDownloadError(f"{what}: gave up after {number} attempts: {err}") from err
                wait = self.policy.delay(number - 1, err.retry_after)
                log.warning("%s: %s; retry %d/%d in %.1fs", what, err, number,
                            self.policy.attempts - 1, wait)
                time.sleep(wait)
        raise AssertionError("unreachable")

    # -- small metadata requests (listings, status files) -----------------------

    def probe(self, url: str) -> Probe:
        """HEAD a URL (or stat a local/fsspec path): size, Last-Modified and ETag, with the same retries."""
        if urlparse(url).scheme not in ("http", "https"):
            import fsspec

            try:
                fs, path = fsspec.core.url_to_fs(url)
                info = fs.info(path)
            except FileNotFoundError as err:
                raise PermanentDownloadError(f"not found: {url}") from err
            modified = info.get("mtime") or info.get("created")
            stamp = datetime.fromtimestamp(float(modified), tz=timezone.utc) if modified else None
            return Probe(url, info.get("size"), stamp, None)

        def attempt() -> Probe:
            response = self._request("HEAD", url)
            with response:
                self._raise_for_status(url, response)
                length = response.headers.get("Content-Length")
                modified = response.headers.get("Last-Modified")
                return Probe(url, int(length) if length is not None else None,
                             email.utils.parsedate_to_datetime(modified) if modified else None,
                             _validator(response))
        return self._retry(url, attempt)

    def get_bytes(self, url: str, limit: int = 64 << 20) -> bytes:
        """GET a small document (a status file, a path list) into memory, refusing over ``limit``."""
        def attempt() -> bytes:
            if urlparse(url).scheme not in ("http", "https"):
                import fsspec
                try:
                    with fsspec.open(url, "rb") as f:
                        return _read_limited(iter(lambda: f.read(CHUNK), b""), limit, url)
                except FileNotFoundError as err:
                    raise PermanentDownloadError(f"not found: {url}") from err
            response = self._request("GET", url, stream=True)
            with response:
                self._raise_for_status(url, response)
                try:
                    return _read_limited(response.iter_content(CHUNK), limit, url)
                except (requests.RequestException, urllib3.exceptions.HTTPError) as err:
                    raise TransientDownloadError(f"{type(err).__name__}: {err}") from err
        return self._retry(url, attempt)

    def _request(self, method: str, url: str, extra_headers: dict[str, str] | None = None,
                 **kwargs) -> requests.Response:
        try:
            return self._session().request(
                method, url, headers={**self.headers, **(extra_headers or {})}, allow_redirects=True,
                timeout=(self.policy.connect_timeout, self.policy.read_timeout), **kwargs)
        except (requests.ConnectionError, requests.Timeout) as err:
            raise TransientDownloadError(f"{type(err).__name__}: {err}") from err
        except requests.RequestException as err:
            raise PermanentDownloadError(f"{url}: {err}") from err

    @staticmethod
    def _raise_for_status(url: str, response: requests.Response) -> None:
        status = response.status_code
        if status in TRANSIENT_STATUS:
            raise TransientDownloadError(f"HTTP {status} from {url}", retry_after=_retry_after(response))
        if status >= 400:
            raise PermanentDownloadError(f"HTTP {status} from {url}")

    def _transfer(self, remote: RemoteFile, part: Path) -> _Hashes:
        scheme = urlparse(remote.url).scheme
        if scheme in ("http", "https"):
            return self._transfer_http(remote, part)
        return self._transfer_fsspec(remote, part)

    def _transfer_http(self, remote: RemoteFile, part: Path) -> _Hashes:
        hashes = _Hashes(_algorithms_for(remote))
        offset = self._resume_offset(remote, part, hashes)
        validator = self._part_meta(remote).get("validator") if offset else None
        headers: dict[str, str] = {}
        if offset:
            headers["Range"] = f"bytes={offset}-"
            if validator:
                headers["If-Range"] = validator
        response = self._request("GET", remote.url, stream=True, extra_headers=headers)
        with response:
            offset = self._check_response(remote, response, part, offset, validator, hashes)
            served = _total_size(response, offset)
            if remote.size is not None and served is not None and served != remote.size:
                # Retrying cannot help: the server holds a different file than the one published.
                raise SizeMismatch(f"{remote.name}: the server has {served:,} bytes, upstream publishes "
                                   f"{remote.size:,}; nothing was promoted")
            expected = remote.size if remote.size is not None else served
            # Raw bytes: the file exactly as published, even if served with Content-Encoding.
            body = response.raw.stream(CHUNK, decode_content=False)
            self._stream_into(part, offset, body, hashes, remote.name, expected)
        return hashes

    def _check_response(self, remote: RemoteFile, response: requests.Response, part: Path,
                        offset: int, validator: str | None, hashes: _Hashes) -> int:
        """Decide where the body starts; returns the offset to write at (0 = from scratch)."""
        status = response.status_code
        if status == 416:
            self._discard_part(remote, part)
            raise TransientDownloadError("HTTP 416: the partial file no longer fits upstream; restarting")
        self._raise_for_status(remote.url, response)
        now = _validator(response)
        if status == 206 and offset and _content_range_start(response) == offset and (
                not validator or not now or now == validator):
            return offset
        if status not in (200, 206):
            raise PermanentDownloadError(f"{remote.name}: unexpected HTTP {status} from {remote.url}")
        if status == 206:
            # A range we did not ask for, or a file that changed under us: never splice.
            self._discard_part(remote, part)
            raise TransientDownloadError("server answered a different range or version; restarting")
        if offset:
            log.info("%s: server ignored the Range request or the file changed; restarting", remote.name)
            self._advance(-offset)
        hashes.reset()
        self._write_part_meta(remote, {"url": remote.url, "validator": now})
        return 0

    def _transfer_fsspec(self, remote: RemoteFile, part: Path) -> _Hashes:
        import fsspec

        hashes = _Hashes(_algorithms_for(remote))
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
                self._stream_into(part, offset, iter(lambda: src.read(CHUNK), b""), hashes,
                                  remote.name, size)
        except FileNotFoundError as err:
            raise PermanentDownloadError(f"{remote.name}: not found: {remote.url}") from err
        except PermissionError as err:
            raise PermanentDownloadError(f"{remote.name}: permission denied: {remote.url}") from err
        except OSError as err:
            raise TransientDownloadError(f"{type(err).__name__}: {err}") from err
        return hashes

    def _resume_offset(self, remote: RemoteFile, part: Path, hashes: _Hashes) -> int:
        """Hash the bytes already in ``part`` so the final digest covers the whole file."""
        if not part.exists():
            return 0
        size = part.stat().st_size
        if remote.size is not None and size > remote.size:
            self._discard_part(remote, part)
            return 0
        with open(part, "rb") as f:
            while chunk := f.read(CHUNK):
                hashes.update(chunk)
        return size

    def _stream_into(self, part: Path, offset: int, chunks: Iterator[bytes], hashes: _Hashes,
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
                    self._advance(len(chunk))
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

    def _promote(self, remote: RemoteFile, part: Path, dest: Path, hashes: _Hashes) -> Fetched:
        size = part.stat().st_size
        if not self._matches(remote, size, hashes):
            self._reject(remote, part, dest, hashes)
        os.replace(part, dest)
        fsync_dir(dest.parent)
        self._meta_path(remote, "part.json").unlink(missing_ok=True)
        return self._record_verified(remote, dest, hashes)

    def _reject(self, remote: RemoteFile, part: Path, dest: Path, hashes: _Hashes) -> None:
        algorithm, _, expected = remote.checksum.partition(":") if remote.checksum else ("size", "", "")
        bad = dest.with_name(dest.name + ".bad")
        shutil.move(part, bad)
        self._meta_path(remote, "part.json").unlink(missing_ok=True)
        if algorithm == "size":
            raise SizeMismatch(f"{remote.name}: got {bad.stat().st_size} bytes, upstream publishes "
                               f"{remote.size}; the bad copy is kept at {bad}")
        raise ChecksumMismatch(remote.name, algorithm, expected.lower(),
                               hashes.hexdigest(algorithm), str(bad))

    # -- helpers ----------------------------------------------------------------

    def _part_meta(self, remote: RemoteFile) -> dict:
        path = self._meta_path(remote, "part.json")
        return read_json(path) if path.exists() else {}

    def _write_part_meta(self, remote: RemoteFile, meta: dict) -> None:
        write_json_atomic(self._meta_path(remote, "part.json"), meta)

    def _discard_part(self, remote: RemoteFile, part: Path) -> None:
        if part.exists():
            self._advance(-part.stat().st_size)
        part.unlink(missing_ok=True)
        self._meta_path(remote, "part.json").unlink(missing_ok=True)

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
        return session

    def _advance(self, n: int) -> None:
        if self._bar is not None and n:
            self._bar.update(n)


def _algorithms_for(remote: RemoteFile) -> tuple[str, ...]:
    published = remote.checksum.partition(":")[0] if remote.checksum else None
    return tuple(dict.fromkeys(a for a in ("sha256", published) if a))


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


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if not value:
        return None
    if value.strip().isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _fsspec_size(handle: BinaryIO) -> int | None:
    size = getattr(handle, "size", None)
    if size is not None:
        return int(size)
    try:
        return os.fstat(handle.fileno()).st_size
    except (AttributeError, OSError, ValueError):
        return None


def _read_limited(chunks: Iterable[bytes], limit: int, url: str) -> bytes:
    buffer = bytearray()
    for chunk in chunks:
        buffer += chunk
        if len(buffer) > limit:
            raise PermanentDownloadError(f"{url}: larger than the {limit}-byte limit for a metadata file")
    return bytes(buffer)
