"""The downloader against a real local HTTP server: resume, retries, verification, promotion."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipeline.acquire.download import Downloader, RemoteFile, RetryPolicy
from pipeline.errors import ChecksumMismatch, ConfigError, PermanentDownloadError, TransientDownloadError

FAST = RetryPolicy(attempts=4, base=0.01, cap=0.05, read_timeout=1.0, connect_timeout=2.0)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def remote(server, upstream, name: str, route: str = "", algorithm: str = "sha256", **kw) -> RemoteFile:
    path = upstream / "blobs" / name
    digest = hashlib.new(algorithm, path.read_bytes()).hexdigest()
    return RemoteFile(f"{server.url}{route}blobs/{name}", name, kw.pop("size", path.stat().st_size),
                      kw.pop("checksum", f"{algorithm}:{digest}"))


class RecordingPolicy(RetryPolicy):
    def __init__(self, **kw):
        super().__init__(**kw)
        self.asked: list[float | None] = []

    def delay(self, attempt, retry_after):
        self.asked.append(retry_after)
        return super().delay(attempt, retry_after) if retry_after is None else 0.01


@pytest.mark.parametrize("algorithm", ["md5", "sha1", "sha256"])
def test_fetch_verifies_and_is_not_repeated(server, upstream, tmp_path, seen, algorithm):
    rf = remote(server, upstream, "small.bin", algorithm=algorithm)
    got = Downloader(tmp_path, policy=FAST, progress=False).fetch(rf)
    assert got.path.read_bytes() == (upstream / "blobs" / "small.bin").read_bytes()
    assert got.sha256 == sha256(got.path)
    assert not (tmp_path / "small.bin.part").exists()
    before = len(seen)
    again = Downloader(tmp_path, policy=FAST, progress=False).fetch(rf)
    assert again == got
    assert len(seen) == before, "a verified file must not be downloaded again"


@pytest.mark.parametrize("route", ["fault/flaky503/a/", "fault/truncate/a/", "fault/reset/a/", "fault/slow/a/"])
def test_transient_failures_end_in_a_verified_file(server, upstream, tmp_path, seen, route):
    rf = remote(server, upstream, "big.bin", route)
    got = Downloader(tmp_path, policy=FAST, progress=False).fetch(rf)
    assert sha256(got.path) == rf.checksum.split(":")[1]
    attempts = [r for r in seen if r[1].startswith("/" + route)]
    assert len(attempts) >= 2
    if route != "fault/flaky503/a/":
        assert attempts[-1][2] and attempts[-1][2].startswith("bytes="), "an interrupted body must resume with Range"
        assert int(attempts[-1][2][6:].rstrip("-")) > 0


def test_retry_after_is_honoured(server, upstream, tmp_path):
    policy = RecordingPolicy(attempts=3, base=0.01, cap=0.05)
    Downloader(tmp_path, policy=policy, progress=False).fetch(remote(server, upstream, "small.bin", "fault/retry429/a/"))
    assert policy.asked == [1.0]


def test_server_ignoring_range_restarts_cleanly(server, upstream, tmp_path):
    rf = remote(server, upstream, "big.bin", "fault/norange/a/")
    part = tmp_path / "big.bin.part"
    part.write_bytes((upstream / "blobs" / "big.bin").read_bytes()[:1000])
    got = Downloader(tmp_path, policy=FAST, progress=False).fetch(rf)
    assert sha256(got.path) == rf.checksum.split(":")[1]


def test_file_changed_upstream_is_restarted_not_spliced(server, upstream, tmp_path, seen):
    v2 = (upstream / "blobs" / "change.v2").read_bytes()
    rf = RemoteFile(f"{server.url}fault/changing/a/blobs/change.bin", "change.bin", len(v2),
                    "sha256:" + hashlib.sha256(v2).hexdigest())
    got = Downloader(tmp_path, policy=FAST, progress=False).fetch(rf)
    assert got.path.read_bytes() == v2
    gets = [r for r in seen if "changing/a" in r[1] and r[0] == "GET"]
    assert gets[1][2] and gets[1][3] == '"version-a"', "the resume must carry If-Range with the first ETag"
    assert len(gets) == 2, "If-Range lets the server answer the new version whole: no splice, no third request"


def test_checksum_mismatch_keeps_bad_file_aside(server, upstream, tmp_path):
    rf = remote(server, upstream, "small.bin", checksum="sha256:" + "0" * 64)
    with pytest.raises(ChecksumMismatch) as err:
        Downloader(tmp_path, policy=FAST, progress=False).fetch(rf)
    message = str(err.value)
    assert "small.bin" in message and "0" * 64 in message
    assert sha256(upstream / "blobs" / "small.bin") in message
    assert (tmp_path / "small.bin.bad").exists()
    assert not (tmp_path / "small.bin").exists() and not (tmp_path / "small.bin.part").exists()


def test_size_mismatch_is_not_promoted(server, upstream, tmp_path):
    rf = remote(server, upstream, "small.bin", size=100, checksum=None)
    with pytest.raises(Exception):
        Downloader(tmp_path, policy=FAST, progress=False).fetch(rf)
    assert not (tmp_path / "small.bin").exists()


@pytest.mark.parametrize("status", [404, 403, 410])
def test_permanent_errors_are_not_retried(server, upstream, tmp_path, seen, status):
    rf = remote(server, upstream, "small.bin", f"fault/status{status}/a/")
    with pytest.raises(PermanentDownloadError, match=str(status)):
        Downloader(tmp_path, policy=FAST, progress=False).fetch(rf)
    assert len([r for r in seen if f"status{status}" in r[1]]) == 1


def test_gives_up_after_the_configured_attempts(server, upstream, tmp_path, seen):
    rf = remote(server, upstream, "small.bin", "fault/status503/a/")
    with pytest.raises(TransientDownloadError, match="gave up after 4 attempts"):
        Downloader(tmp_path, policy=FAST, progress=False).fetch(rf)
    assert len([r for r in seen if "status503" in r[1]]) == 4


def test_local_paths_and_file_urls(upstream, tmp_path):
    src = upstream / "blobs" / "small.bin"
    digest = "sha1:" + hashlib.sha1(src.read_bytes()).hexdigest()
    for url in (str(src), src.as_uri()):
        out = tmp_path / url.replace("/", "_")
        got = Downloader(out, policy=FAST, progress=False).fetch(RemoteFile(url, "small.bin", src.stat().st_size, digest))
        assert got.path.read_bytes() == src.read_bytes()
    with pytest.raises(PermanentDownloadError):
        Downloader(tmp_path, policy=FAST, progress=False).fetch(RemoteFile(str(upstream / "missing"), "missing"))


def test_many_files_concurrently(server, upstream, tmp_path):
    files = [remote(server, upstream, f"many-{i}.bin") for i in range(5)]
    got = Downloader(tmp_path, max_workers=3, policy=FAST, progress=False).fetch_all(files)
    assert [g.sha256 for g in got] == [f.checksum.split(":")[1] for f in files]


def test_names_outside_the_data_dir_are_refused():
    with pytest.raises(ConfigError):
        RemoteFile("http://127.0.0.1/x", "../escape")
    with pytest.raises(ConfigError):
        RemoteFile("http://127.0.0.1/x", "x", checksum="crc32:1234")


def test_sigkill_mid_transfer_then_resume_is_byte_identical(server, upstream, tmp_path, seen):
    rf = remote(server, upstream, "big.bin", "fault/trickle/a/")
    script = (
        "import sys; from pipeline.acquire.download import Downloader, RemoteFile, RetryPolicy;"
        f"Downloader(sys.argv[1], progress=False).fetch(RemoteFile({rf.url!r}, 'big.bin', {rf.size}, {rf.checksum!r}))"
    )
    child = subprocess.Popen([sys.executable, "-c", script, str(tmp_path)], cwd=Path(__file__).parents[1])
    part = tmp_path / "big.bin.part"
    deadline = time.time() + 30
    while time.time() < deadline and (not part.exists() or part.stat().st_size < 300_000):
        time.sleep(0.05)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    assert not (tmp_path / "big.bin").exists(), "a killed transfer must not leave a promoted file"
    kept = part.stat().st_size
    assert 0 < kept < rf.size
    got = Downloader(tmp_path, policy=FAST, progress=False).fetch(rf)
    assert got.path.read_bytes() == (upstream / "blobs" / "big.bin").read_bytes()
    ranges = [r[2] for r in seen if "trickle/a" in r[1] and r[2]]
    assert ranges and int(ranges[-1][6:].rstrip("-")) >= kept - (1 << 20)


def test_a_server_file_of_another_size_fails_at_once(server, upstream, tmp_path, seen):
    from pipeline.errors import SizeMismatch

    rf = remote(server, upstream, "small.bin", size=1_000_000, checksum=None)
    with pytest.raises(SizeMismatch, match="upstream publishes 1,000,000"):
        Downloader(tmp_path, policy=FAST, progress=False).fetch(rf)
    assert len([r for r in seen if r[1].endswith("small.bin")]) == 1, "no retries: it cannot get better"
    assert not (tmp_path / "small.bin").exists()


@pytest.mark.parametrize("route", ["fault/gzip/a/", "fault/gzipalways/a/"])
def test_a_gzip_encoding_server_still_gives_the_published_bytes(server, upstream, tmp_path, seen, route):
    rf = RemoteFile(f"{server.url}{route}blobs/text.tsv", "text.tsv")  # nothing published to check against
    got = Downloader(tmp_path, policy=FAST, progress=False).fetch(rf)
    assert got.path.read_bytes() == (upstream / "blobs" / "text.tsv").read_bytes()
    assert all(r[4] == "identity" for r in seen if route in r[1]), "ask for the bytes as published"


@pytest.mark.parametrize("name", ["text.tsv.gz", "text.tsv.zst"])
def test_a_truncated_body_without_any_published_size_is_not_promoted(server, upstream, tmp_path, name):
    rf = RemoteFile(f"{server.url}fault/nolength/{name}/blobs/{name}", name)
    with pytest.raises(TransientDownloadError, match="truncated or corrupt") as err:
        Downloader(tmp_path, policy=FAST, progress=False).fetch(rf)
    assert f"{name}.bad" in str(err.value)
    assert not (tmp_path / name).exists() and (tmp_path / f"{name}.bad").exists()


@pytest.mark.parametrize("name", ["text.tsv.gz", "text.tsv.bz2", "text.tsv.zst"])
def test_a_body_cut_once_without_a_length_is_fetched_again_whole(server, upstream, tmp_path, name):
    rf = RemoteFile(f"{server.url}fault/nolength1/{name}/blobs/{name}", name)
    got = Downloader(tmp_path, policy=FAST, progress=False).fetch(rf)
    assert got.path.read_bytes() == (upstream / "blobs" / name).read_bytes()


def test_a_whole_file_with_a_corrupt_gzip_member_is_promoted_for_the_reader_to_resync(server, upstream, tmp_path):
    # CommonCrawl files carry no size or checksum, and a real one may hold a damaged member: the copy is
    # complete (it ends where the server's body ends, members after the damage intact), so retrying cannot
    # help; the WARC reader skips the damaged member and counts it. Only a cut-short container is refetched.
    import gzip
    import zlib

    good = gzip.compress(b"first member\n") + gzip.compress(b"second member\n")
    damaged = bytearray(gzip.compress(b"x" * 4000))
    damaged[20:40] = b"\xff" * 20
    body = good + bytes(damaged) + gzip.compress(b"last member\n")
    with pytest.raises((zlib.error, OSError, EOFError)):
        gzip.decompress(body)
    name = "damaged-member.txt.gz"
    (upstream / "blobs" / name).write_bytes(body)
    # The route cuts the first body short (that copy must be refused), then serves it whole.
    rf = RemoteFile(f"{server.url}fault/nolength1/{name}/blobs/{name}", name)
    got = Downloader(tmp_path, policy=FAST, progress=False).fetch(rf)
    assert got.path.read_bytes() == body
