"""Shared fixtures: a generated upstream tree and a local HTTP server with misbehaving routes.

Fault routes live under ``/fault/<kind>/<key>/<path>``: ``<path>`` is served from the
fixture tree, and ``<key>`` names an independent counter so each test sees the fault
afresh. Nothing here reaches the internet.
"""

from __future__ import annotations

import os
import random
import socket
import struct
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Iterator

import pytest

from pipeline.localserver import LocalServer, RangeRequestHandler
from tests.fixtures.tatoeba_upstream import write_upstream
from tests.fixtures.commoncrawl_upstream import write_warc, write_wet
from tests.fixtures.imagenet_upstream import write_official
from tests.fixtures.wikipedia_upstream import write_dump

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


class FaultHandler(RangeRequestHandler):
    """RangeRequestHandler plus the failure modes real hosts show."""

    hits: Counter = Counter()
    # (method, path, Range, If-Range, Accept-Encoding) of every request
    requests_seen: list[tuple[str, str, str | None, str | None, str | None]] = []
    lock = threading.Lock()

    def serve_file(self, head: bool, honour_range: bool = True) -> None:
        with self.lock:
            self.requests_seen.append((self.command, self.path, self.headers.get("Range"),
                                       self.headers.get("If-Range"), self.headers.get("Accept-Encoding")))
        if not self.path.startswith("/fault/"):
            return super().serve_file(head, honour_range)
        _, _, kind, key, rest = self.path.split("/", 4)
        with self.lock:
            self.hits[(kind, key)] += 1
            hit = self.hits[(kind, key)]
        original = self.path
        self.path = "/" + rest
        try:
            self._fault(kind, hit, head)
        finally:
            self.path = original

    def _fault(self, kind: str, hit: int, head: bool) -> None:
        if kind == "flaky503" and hit <= 2:
            return self._status(503)
        if kind == "retry429" and hit == 1:
            return self._status(429, {"Retry-After": "1"})
        if kind.startswith("status"):
            return self._status(int(kind[6:]))
        if kind == "truncate" and hit == 1:
            return self._partial_then(close=True)
        if kind == "reset" and hit == 1:
            return self._partial_then(close=False)
        if kind == "slow" and hit == 1:
            return self._partial_then(close=True, stall=3.0)
        if kind == "trickle":
            return self._trickle(head)
        if kind == "norange":
            return super().serve_file(head, honour_range=False)
        if kind == "changing":
            return self._changing(hit, head)
        if kind == "gzip" and "gzip" in self.headers.get("Accept-Encoding", ""):
            return self._gzip_encoded(head)
        if kind == "gzipalways":
            return self._gzip_encoded(head)
        if kind == "nolength" or (kind == "nolength1" and hit == 1):
            return self._truncated_without_length()
        if kind == "auth" and self.headers.get("Authorization") != "Bearer s3cret-t0ken":
            return self._status(401)
        return super().serve_file(head)

    def _status(self, code: int, headers: dict[str, str] | None = None) -> None:
        self.send_response(code)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _partial_then(self, close: bool, stall: float = 0.0) -> None:
        """Promise the whole file, send half, then stall, close, or reset the connection."""
        path = Path(self.translate_path(self.path))
        data = path.read_bytes()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("ETag", f'"{len(data):x}-{path.stat().st_mtime_ns:x}"')
        self.end_headers()
        self.wfile.write(data[: len(data) // 2])
        self.wfile.flush()
        if stall:
            time.sleep(stall)
        if not close:
            time.sleep(0.3)  # let the client read the first half before the reset discards buffers
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        self.connection.close()

    def _gzip_encoded(self, head: bool) -> None:
        """``Content-Encoding: gzip`` like nginx's gzip module: the body is the file, compressed on the fly."""
        import gzip

        body = gzip.compress(Path(self.translate_path(self.path)).read_bytes(), mtime=0)
        self.send_response(200)
        self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def _truncated_without_length(self) -> None:
        """No Content-Length (the body ends when the connection closes), and it closes halfway."""
        data = Path(self.translate_path(self.path)).read_bytes()
        self.send_response(200)
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data[: len(data) // 2])
        self.wfile.flush()
        self.close_connection = True

    def _trickle(self, head: bool) -> None:
        """Honours Range but sends 16 KiB every 50 ms: slow enough to kill mid-transfer."""
        path = Path(self.translate_path(self.path))
        data = path.read_bytes()
        start = 0
        ranged = self.headers.get("Range", "")
        if ranged.startswith("bytes="):
            start = int(ranged[6:].split("-")[0])
        self.send_response(206 if start else 200)
        self.send_header("Content-Length", str(len(data) - start))
        self.send_header("ETag", f'"{len(data):x}-{path.stat().st_mtime_ns:x}"')
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.end_headers()
        for offset in range(start, len(data), 16384):
            self.wfile.write(data[offset: offset + 16384])
            self.wfile.flush()
            time.sleep(0.05)

    def _changing(self, hit: int, head: bool) -> None:
        """Version A (cut short) on the first request; version B, a new ETag, afterwards."""
        path = Path(self.translate_path(self.path))
        data = path.read_bytes() if hit == 1 else path.with_suffix(".v2").read_bytes()
        etag = '"version-a"' if hit == 1 else '"version-b"'
        wanted = self.headers.get("Range", "")
        if hit > 1 and wanted and self.headers.get("If-Range") in (None, etag):
            # Like a real server: a Range without If-Range is served from the new version (a splice).
            start = int(wanted[6:].split("-")[0])
            self.send_response(206)
            self.send_header("Content-Length", str(len(data) - start))
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            self.end_headers()
            self.wfile.write(data[start:])
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("ETag", etag)
        self.end_headers()
        self.wfile.write(data if hit > 1 else data[: len(data) // 2])
        self.wfile.flush()
        if hit == 1:
            self.close_connection = True
            self.connection.close()


@pytest.fixture(scope="session")
def upstream(tmp_path_factory) -> Path:
    """The fixture tree: a Tatoeba export set plus binary blobs for download tests."""
    root = tmp_path_factory.mktemp("upstream")
    write_upstream(root / "tatoeba", groups=60)
    wikimedia = root / "wikimedia"
    write_dump(wikimedia, "simplewiki", "20261101")
    write_dump(wikimedia, "simplewiki", "20261120", status="in-progress")
    write_dump(wikimedia, "dewiki", "20261101", version=0.10, siteinfo=False, jobs=("articlesdump",))
    write_dump(wikimedia, "frwiki", "20261101", hashes=False)
    write_dump(wikimedia, "itwiki", "20261101", status="failed")
    write_dump(wikimedia, "enwiki", "20261101")
    corrupt = wikimedia / "enwiki/20261101/enwiki-20261101-pages-articles-multistream.xml.bz2"
    data = bytearray(corrupt.read_bytes())
    data[len(data) // 2] ^= 0xFF
    corrupt.write_bytes(bytes(data))
    write_official(root / "imagenet")
    write_wet(root / "commoncrawl")
    write_warc(root / "commoncrawl")
    blobs = root / "blobs"
    blobs.mkdir()
    rng = random.Random(11)
    (blobs / "big.bin").write_bytes(rng.randbytes(3 << 20))
    (blobs / "small.bin").write_bytes(rng.randbytes(200_000))
    (blobs / "change.bin").write_bytes(rng.randbytes(300_000))
    (blobs / "change.v2").write_bytes(rng.randbytes(300_000))
    for i in range(5):
        (blobs / f"many-{i}.bin").write_bytes(rng.randbytes(150_000 + i))
    import bz2
    import gzip

    text = "".join(f"{i}\tline {i} {rng.random()}\n" for i in range(20_000)).encode()
    (blobs / "text.tsv").write_bytes(text)
    (blobs / "text.tsv.gz").write_bytes(gzip.compress(text, mtime=0))
    (blobs / "text.tsv.bz2").write_bytes(bz2.compress(text))
    import zstandard

    (blobs / "text.tsv.zst").write_bytes(zstandard.ZstdCompressor().compress(text))
    return root


@pytest.fixture(scope="session")
def server(upstream) -> Iterator[LocalServer]:
    srv = LocalServer(upstream, FaultHandler).start()
    yield srv
    srv.stop()


@pytest.fixture
def seen() -> list:
    FaultHandler.requests_seen.clear()
    return FaultHandler.requests_seen


@pytest.fixture(scope="session")
def prefect_harness(tmp_path_factory) -> Iterator[None]:
    """One temporary Prefect server for the whole session (starting one costs ~7 s)."""
    os.environ["PREFECT_HOME"] = str(tmp_path_factory.mktemp("prefect-home"))
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(scope="session")
def shards(upstream, server, tmp_path_factory) -> dict[str, Path]:
    """Every source built once from the fixture upstreams, with small shards (several files per split)."""
    from pipeline import build
    from pipeline.sources.imagenet import ImageNet
    from pipeline.sources.tatoeba import Tatoeba
    from pipeline.sources.wikipedia import Wikipedia

    data = tmp_path_factory.mktemp("shards")
    small = {"target_shard_bytes": 3_000, "splits": {"train": 0.8, "validation": 0.1, "test": 0.1}}
    build.build(Tatoeba(data_dir=data, mirror=server.url + "tatoeba/", bucket_ids=40, **small), data,
                progress=False, max_workers=1)
    build.build(Wikipedia(data_dir=data, mirror=server.url + "wikimedia/", wiki="simplewiki", date="20261101",
                          max_page_bytes=100_000, **small), data, progress=False, max_workers=1)
    build.build(ImageNet(data_dir=data, manual_dir=str(upstream / "imagenet"), size=40), data, progress=False,
                max_workers=1)
    root = data / "shards"
    return {"sentences": root / "tatoeba/2026-11-21/sentences", "pairs": root / "tatoeba/2026-11-21/pairs",
            "articles": root / "wikipedia/simplewiki-20261101/articles",
            "images": root / "imagenet/ILSVRC2012/classification"}
