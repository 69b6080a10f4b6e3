"""The only network code: resumable, retried, verified fetches of upstream files.

A file is streamed to ``<name>.part`` (``transfer``), retried on transient failures
(``retry``), verified against the size and checksum the upstream publishes — or, when it
publishes neither, by reading its container to the end (``integrity``) — and renamed into
place only then. A copy that fails verification is kept aside as ``<name>.bad``. A verified
file already present is not fetched again.
"""

from __future__ import annotations

import email.utils
import logging
import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable
from urllib.parse import urlparse

import requests
import urllib3
from tqdm.auto import tqdm

from pipeline import __version__
from pipeline.errors import (
    ChecksumMismatch,
    PermanentDownloadError,
    SizeMismatch,
    TransientDownloadError,
)
from pipeline.acquire.integrity import Hashes, algorithms_for, container_problem, matches
from pipeline.acquire.retry import TRANSIENT_STATUS, RetryPolicy, raise_for_status, retry  # noqa: F401 - re-exported
from pipeline.store.files import CHUNK, file_lock, fsync_dir, read_json, write_json_atomic
from pipeline.acquire.remote import Fetched, Probe, RemoteFile  # noqa: F401 - re-exported
from pipeline.acquire.transfer import Transfer, read_limited

log = logging.getLogger(__name__)
USER_AGENT = f"datamill/{__version__} (+https://github.com/datamill)"


class Downloader:
    """Fetches ``RemoteFile``s into ``dest_dir``, several at a time, with one progress bar."""

    def __init__(self, dest_dir: Path | str, *, max_workers: int = 4, policy: RetryPolicy | None = None,
                 progress: bool = True, headers: dict[str, str] | None = None) -> None:
        self.dest_dir = Path(dest_dir)
        self.max_workers = max(1, max_workers)
        self.policy = policy or RetryPolicy()
        self.progress = progress
        # identity: the bytes exactly as published (a gzip-encoding server would otherwise hand back its own encoding)
        self.headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity", **(headers or {})}
        self._bar: tqdm | None = None
        self.transfer = Transfer(self.headers, self.policy, self._meta_path, self._advance)

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
        hashes = Hashes(algorithms_for(remote.checksum))
        with open(dest, "rb") as f:
            while chunk := f.read(CHUNK):
                hashes.update(chunk)
        if not matches(remote.size, remote.checksum, stat.st_size, hashes):
            log.warning("%s: existing file does not verify; downloading again", dest)
            return None
        return self._record_verified(remote, dest, hashes)

    def _record_verified(self, remote: RemoteFile, dest: Path, hashes: Hashes) -> Fetched:
        stat = dest.stat()
        sha256 = hashes.hexdigest("sha256")
        write_json_atomic(self._meta_path(remote, "verified.json"), {
            "url": remote.url, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns,
            "checksum": remote.checksum, "sha256": sha256,
        })
        return Fetched(dest, stat.st_size, sha256)

    # -- one file, retried ---------------------------------------------------------

    def _fetch_with_retries(self, remote: RemoteFile, dest: Path) -> Fetched:
        part = dest.with_name(dest.name + ".part")
        part.parent.mkdir(parents=True, exist_ok=True)

        def attempt() -> Fetched:
            resumed = part.exists() and part.stat().st_size > 0
            hashes = self.transfer.into(remote, part)
            if resumed and not matches(remote.size, remote.checksum, part.stat().st_size, hashes):
                # A resumed file that fails verification may be two upstream versions
                # spliced together: start once more from zero before calling it bad.
                log.warning("%s: resumed copy does not verify; downloading it again", remote.name)
                self.transfer.discard_part(remote, part)
                hashes = self.transfer.into(remote, part)
            return self._promote(remote, part, dest, hashes)

        return retry(self.policy, remote.name, attempt)

    def _promote(self, remote: RemoteFile, part: Path, dest: Path, hashes: Hashes) -> Fetched:
        size = part.stat().st_size
        if not matches(remote.size, remote.checksum, size, hashes):
            self._reject(remote, part, dest, hashes)
        if remote.size is None and remote.checksum is None:
            problem = container_problem(part, remote.name)
            if problem is not None:
                bad = self._keep_aside(remote, part, dest)
                # Nothing published says how long the file is: a cut connection looks like this. Try again.
                raise TransientDownloadError(f"{remote.name}: the download is truncated or corrupt ({problem}); "
                                             f"the bad copy is kept at {bad}")
        os.replace(part, dest)
        fsync_dir(dest.parent)
        self._meta_path(remote, "part.json").unlink(missing_ok=True)
        return self._record_verified(remote, dest, hashes)

    def _keep_aside(self, remote: RemoteFile, part: Path, dest: Path) -> Path:
        bad = dest.with_name(dest.name + ".bad")
        shutil.move(part, bad)
        self._meta_path(remote, "part.json").unlink(missing_ok=True)
        return bad

    def _reject(self, remote: RemoteFile, part: Path, dest: Path, hashes: Hashes) -> None:
        algorithm, _, expected = remote.checksum.partition(":") if remote.checksum else ("size", "", "")
        bad = self._keep_aside(remote, part, dest)
        if algorithm == "size":
            raise SizeMismatch(f"{remote.name}: got {bad.stat().st_size} bytes, upstream publishes "
                               f"{remote.size}; the bad copy is kept at {bad}")
        raise ChecksumMismatch(remote.name, algorithm, expected.lower(), hashes.hexdigest(algorithm), str(bad))

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
            response = self.transfer.request("HEAD", url)
            with response:
                raise_for_status(url, response)
                length = response.headers.get("Content-Length")
                modified = response.headers.get("Last-Modified")
                etag = response.headers.get("ETag")
                return Probe(url, int(length) if length is not None else None,
                             email.utils.parsedate_to_datetime(modified) if modified else None,
                             etag if etag and not etag.startswith("W/") else modified)
        return retry(self.policy, url, attempt)

    def get_bytes(self, url: str, limit: int = 64 << 20) -> bytes:
        """GET a small document (a status file, a path list) into memory, refusing over ``limit``."""
        def attempt() -> bytes:
            if urlparse(url).scheme not in ("http", "https"):
                import fsspec
                try:
                    with fsspec.open(url, "rb") as f:
                        return read_limited(iter(lambda: f.read(CHUNK), b""), limit, url)
                except FileNotFoundError as err:
                    raise PermanentDownloadError(f"not found: {url}") from err
            response = self.transfer.request("GET", url, stream=True)
            with response:
                raise_for_status(url, response)
                try:
                    return read_limited(response.iter_content(CHUNK), limit, url)
                except (requests.RequestException, urllib3.exceptions.HTTPError) as err:
                    raise TransientDownloadError(f"{type(err).__name__}: {err}") from err
        return retry(self.policy, url, attempt)

    def _advance(self, n: int) -> None:
        if self._bar is not None and n:
            self._bar.update(n)
