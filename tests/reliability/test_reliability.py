"""The runs behind RELIABILITY.md: kill sweeps, network faults, hostile input, secrets, load.

Run with `make reliability` (not part of `make test`). Every test prints its figures and
appends them to build/reliability.jsonl.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipeline import build
from pipeline.acquire.download import Downloader, RemoteFile, RetryPolicy
from pipeline.errors import DatamillError
from pipeline.store.shards import read_split

pytestmark = pytest.mark.reliability
REPO = Path(__file__).parents[2]
POINTS = int(os.environ.get("DATAMILL_KILL_POINTS", "20"))
FAST = RetryPolicy(attempts=4, base=0.01, cap=0.05, read_timeout=1.0)


def record(name: str, **figures) -> None:
    line = json.dumps({"test": name, **figures})
    print("\nRELIABILITY " + line)
    out = REPO / "build" / "reliability.jsonl"
    out.parent.mkdir(exist_ok=True)
    with open(out, "a") as handle:
        handle.write(line + "\n")


def kill_at(command: list[str], delay: float, env: dict | None = None) -> int | None:
    """Start ``command``, SIGKILL it after ``delay`` seconds (if still running); its exit code if it ended first."""
    child = subprocess.Popen(command, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})},
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        return child.wait(timeout=delay)
    except subprocess.TimeoutExpired:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        return None


# -- kill sweeps ---------------------------------------------------------------------------------

def test_download_kill_sweep(server, upstream, tmp_path):
    blob = upstream / "blobs" / "big.bin"  # 3 MB at 320 kB/s through the trickle route: ~10 s
    digest = hashlib.sha256(blob.read_bytes()).hexdigest()
    rng = random.Random(1)
    identical = killed = 0
    for point in range(POINTS):
        url = f"{server.url}fault/trickle/k{point}/blobs/big.bin"
        target = tmp_path / f"d{point}"
        script = (f"from pipeline.acquire.download import Downloader, RemoteFile; Downloader({str(target)!r}, progress=False)"
                  f".fetch(RemoteFile({url!r}, 'big.bin', {blob.stat().st_size}, 'sha256:{digest}'))")
        if kill_at([sys.executable, "-c", script], rng.uniform(1.0, 8.0)) is None:
            killed += 1
        assert not (target / "big.bin").exists(), "a killed transfer never leaves a promoted file"
        got = Downloader(target, policy=FAST, progress=False).fetch(
            RemoteFile(url, "big.bin", blob.stat().st_size, f"sha256:{digest}"))
        identical += got.sha256 == digest and got.path.read_bytes() == blob.read_bytes()
    record("download_kill_sweep", points=POINTS, killed_mid_transfer=killed, byte_identical=identical)
    assert identical == POINTS


def _fingerprint(root: Path, key: list[str]) -> list[tuple]:
    table = read_split(root)
    rows = table.to_pylist()
    return sorted((tuple(r[k] for k in key), hashlib.sha1(repr(sorted(
        (k, v if not isinstance(v, dict) else repr(v)) for k, v in r.items())).encode()).hexdigest()) for r in rows)


SOURCES = {
    "tatoeba": (["shard", "tatoeba", "--bucket-ids", "50"], "tatoeba/2026-11-21/sentences", ["id"]),
    "wikipedia": (["shard", "wikipedia", "--wiki", "simplewiki", "--pages-per-part", "100"],
                  "wikipedia/simplewiki-20261101/articles", ["id"]),
    "commoncrawl": (["shard", "commoncrawl"], "commoncrawl/CC-MAIN-2026-44/text", ["url"]),
    "imagenet": (["shard", "imagenet", "--size", "32"], "imagenet/ILSVRC2012/classification", ["synset", "label"]),
}


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_shard_kill_sweep(name, server, upstream, tmp_path):
    from pipeline.sources import get_source

    arguments, dataset, key = SOURCES[name]
    seed = tmp_path / "seed"
    options = {"tatoeba": {"mirror": server.url + "tatoeba/"}, "commoncrawl": {"mirror": server.url + "commoncrawl/"},
               "wikipedia": {"mirror": server.url + "wikimedia/", "wiki": "simplewiki", "date": "20261101"},
               "imagenet": {"manual_dir": str(upstream / "imagenet")}}[name]
    build.download(get_source(name, data_dir=seed, **options), seed, progress=False, policy=FAST)
    reference = tmp_path / "reference"
    shutil.copytree(seed, reference)
    started = time.time()
    assert subprocess.run([sys.executable, "-m", "pipeline.cli", *arguments, "--data-dir", str(reference),
                           "--workers", "1", "--quiet"], cwd=REPO, capture_output=True).returncode == 0
    duration = time.time() - started
    want = _fingerprint(reference / "shards" / dataset, key if name != "imagenet" else ["synset"])
    rng = random.Random(2)
    identical = killed = duplicates = losses = 0
    for point in range(POINTS):
        run = tmp_path / f"run{point}"
        shutil.copytree(seed, run)
        command = [sys.executable, "-m", "pipeline.cli", *arguments, "--data-dir", str(run), "--workers", "1", "--quiet"]
        killed += kill_at(command, rng.uniform(0.2, duration)) is None
        assert subprocess.run(command, cwd=REPO, capture_output=True).returncode == 0
        got = _fingerprint(run / "shards" / dataset, key if name != "imagenet" else ["synset"])
        identical += got == want
        duplicates += len(got) - len(set(got))
        losses += len(set(want) - set(got))
        shutil.rmtree(run)
    record("shard_kill_sweep", source=name, points=POINTS, killed_mid_build=killed, row_identical=identical,
           duplicates=duplicates, losses=losses, build_seconds=round(duration, 1))
    assert identical == POINTS and duplicates == 0 and losses == 0


def test_training_kill_sweep(shards, tmp_path):
    """Kill points are drawn inside the reference run's own measured duration (start-up included), as the
    shard sweeps do: a run of a few seconds killed at 3-12 s had mostly finished, and a finished run was
    then counted as a wrong resume. Runs that still end before their kill point are counted apart."""
    from models.train import TrainConfig, train

    settings = TrainConfig(steps=24, batch_size=8, checkpoint_every=3, eval_every=1000, trace_batches=True,
                           baseline_batches=1, learning_rate=3e-3, options={"dim": 16, "vocab": 300})

    def command(run: Path) -> list[str]:
        return [sys.executable, "-m", "models.train", "--model", "language_id", "--data", str(shards["sentences"]),
                "--run-dir", str(run), "--config", json.dumps(settings.__dict__)]
    reference = tmp_path / "reference"
    started = time.time()
    assert subprocess.run(command(reference), cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
                          capture_output=True).returncode == 0
    duration = time.time() - started
    want = _trace(reference)
    rng = random.Random(3)
    resumed_right = killed = 0
    for point in range(POINTS):
        run = tmp_path / f"run{point}"
        mid_run = kill_at(command(run), rng.uniform(0.2 * duration, duration)) is None
        killed += mid_run
        checkpoints = sorted(int(p.name.split("-")[1].split(".")[0]) for p in (run / "checkpoints").glob("ckpt-*.index"))
        report = train("language_id", str(shards["sentences"]), run, settings, resume=True)
        start = checkpoints[-1] if checkpoints else 0
        after = _trace(run)
        same = all(after.get(s) == want[s] for s in range(start + 1, 25)) and report["steps"] == 24
        resumed_right += same and (not mid_run or (report["resumed_from"] or 0) == start)
        shutil.rmtree(run)
    record("training_kill_sweep", points=POINTS, killed_mid_run=killed, run_seconds=round(duration, 1),
           resumed_at_checkpoint_step_and_data_position=resumed_right)
    assert resumed_right == POINTS and killed >= POINTS // 2, f"{killed} of {POINTS} kills landed mid-run"


def _trace(run: Path) -> dict[int, str]:
    lines = (run / "trace-worker0.jsonl").read_text().splitlines() if (run / "trace-worker0.jsonl").exists() else []
    return {json.loads(line)["step"]: json.loads(line)["batch"] for line in lines}


# -- network faults ------------------------------------------------------------------------------

FAULTS = ["flaky503", "retry429", "truncate", "reset", "slow", "norange", "changing", "wrong_checksum", "status404",
          "status503"]


def test_network_faults(server, upstream, tmp_path):
    trials = 10
    outcomes = {}
    for fault in FAULTS:
        verified = clear_errors = promoted_partial = 0
        for trial in range(trials):
            name = "change.bin" if fault == "changing" else "big.bin"
            expected = (upstream / "blobs" / ("change.v2" if fault == "changing" else name)).read_bytes()
            checksum = "sha256:" + ("0" * 64 if fault == "wrong_checksum" else hashlib.sha256(expected).hexdigest())
            route = "" if fault == "wrong_checksum" else f"fault/{fault}/t{trial}/"
            target = tmp_path / f"{fault}-{trial}"
            try:
                got = Downloader(target, policy=FAST, progress=False).fetch(
                    RemoteFile(f"{server.url}{route}blobs/{name}", name, len(expected), checksum))
                verified += got.path.read_bytes() == expected
            except DatamillError as err:
                clear_errors += bool(str(err))
            promoted = target / name
            promoted_partial += promoted.exists() and promoted.read_bytes() != expected
        outcomes[fault] = {"verified": verified, "clear_error": clear_errors, "promoted_partial": promoted_partial}
        assert verified + clear_errors == trials and promoted_partial == 0
    record("network_faults", trials_per_fault=trials, outcomes=outcomes)


# -- hostile input ---------------------------------------------------------------------------------

def test_hostile_inputs_are_refused_with_reasons(tmp_path):
    import bz2
    import gzip
    import io
    import tarfile

    from pipeline.formats.mediawiki import dump as mediawiki
    from pipeline.formats import mysql_tsv
    from pipeline.formats.images import ImageOptions, ImageRejected, process
    from pipeline.store.shards import Rejects
    from pipeline.sources.imagenet import _tar_images
    from pipeline.formats.warc import iter_records
    from tests.fixtures.commoncrawl_upstream import record as warc_record

    reasons = {}
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name in ("../../etc/evil.JPEG", "/abs.JPEG"):
            info = tarfile.TarInfo(name)
            info.size = 1
            archive.addfile(info, io.BytesIO(b"x"))
        link = tarfile.TarInfo("link.JPEG")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        archive.addfile(link)
        device = tarfile.TarInfo("dev.JPEG")
        device.type = tarfile.CHRTYPE
        archive.addfile(device)
    rejects = Rejects("t")
    assert list(_tar_images(io.BytesIO(buffer.getvalue()), "t.tar", rejects)) == []
    reasons["tar"] = dict(rejects.counts)
    from PIL import Image

    png = io.BytesIO()
    Image.new("1", (20000, 20000)).save(png, "PNG")  # 400 megapixels in a few kB
    with pytest.raises(ImageRejected) as err:
        process(png.getvalue(), ImageOptions())
    reasons["image_bomb"] = err.value.reason
    bomb = bz2.compress(b"<page>" + b"a" * (300 << 20) + b"</page>")
    reasons["bz2_bomb"] = [f.reason for f in mediawiki.read_multistream(io.BytesIO(bomb), [0], len(bomb), 64 << 20)]
    path = tmp_path / "bomb.warc.gz"
    path.write_bytes(warc_record("conversion", [("WARC-Record-ID", "<urn:uuid:1>")], b"a" * (80 << 20)))
    reasons["gzip_bomb"] = [f.reason for f in iter_records(path, lambda r, b: b, max_record_bytes=64 << 20)]
    huge = b"1\teng\t" + b"x" * (70 << 20) + b"\n2\teng\tok\n"
    reasons["huge_tsv_record"] = [b.reason for _, bad in mysql_tsv.read_batches(io.BytesIO(huge), ["id", "lang", "text"])
                                  for b in bad]
    reasons["invalid_utf8"] = [b.reason for _, bad in mysql_tsv.read_batches(io.BytesIO(b"1\teng\t\xff\xfe\n"),
                                                                             ["id", "lang", "text"]) for b in bad]
    record("hostile_inputs", reasons=reasons)
    assert reasons == {"tar": {"unsafe_path": 2, "not_a_file": 2}, "image_bomb": "decompression_bomb",
                       "bz2_bomb": ["too_large"], "gzip_bomb": ["too_large"], "huge_tsv_record": ["too_large"],
                       "invalid_utf8": ["invalid_utf8"]}
    del gzip


# -- secrets -----------------------------------------------------------------------------------------

def test_secrets_never_leak(prefect_harness, server, upstream, tmp_path, monkeypatch, caplog):
    from prefect.client.orchestration import get_client

    from flows.imagenet import imagenet_flow

    secret_token, secret_password = "hf_SECRETtoken123", "s3cret-t0ken"
    monkeypatch.setenv("HF_TOKEN", secret_token)
    monkeypatch.setenv("DATAMILL_IMAGENET_AUTH", f"Bearer {secret_password}")
    credentials = tmp_path / "credentials"
    credentials.write_text(f"user:{secret_password}")
    data = tmp_path / "data"
    imagenet_flow(data_dir=str(data), mirror=server.url + "fault/auth/x/imagenet/", size=32,
                  credentials_file=str(credentials), official_checksums=False)
    with pytest.raises(Exception) as err:  # the Hub path fails offline; its message must not carry the token
        imagenet_flow(data_dir=str(tmp_path / "hf"), hf=True)
    scanned, leaks = 0, []
    for path in list(data.rglob("*")) + list((tmp_path / "hf").rglob("*")):
        if path.is_file() and path.suffix in (".json", ".md", ".txt", ".jsonl", ".parquet"):
            scanned += 1
            if secret_token.encode() in path.read_bytes() or secret_password.encode() in path.read_bytes():
                leaks.append(str(path))
    import asyncio

    async def prefect_records() -> str:
        async with get_client() as client:
            runs = await client.read_flow_runs()
            artifacts = await client.read_artifacts()
            return json.dumps([r.parameters for r in runs], default=str) + json.dumps(
                [a.data for a in artifacts], default=str)

    stored = asyncio.run(prefect_records())
    texts = {"logs": caplog.text, "error": str(err.value), "prefect": stored}
    leaks += [name for name, text in texts.items() if secret_token in text or secret_password in text]
    record("secrets", files_scanned=scanned, prefect_runs_and_artifacts_scanned=True, leaks=leaks)
    assert leaks == []


# -- load ---------------------------------------------------------------------------------------------

def test_load_and_memory(server, upstream, tmp_path):
    blobs = upstream / "blobs" / "load"
    blobs.mkdir(exist_ok=True)
    rng = random.Random(4)
    files = []
    for i in range(60):
        data = rng.randbytes(50_000 + i)
        (blobs / f"f{i}.bin").write_bytes(data)
        files.append(RemoteFile(f"{server.url}blobs/load/f{i}.bin", f"f{i}.bin", len(data),
                                "sha256:" + hashlib.sha256(data).hexdigest()))
    started = time.time()
    got = Downloader(tmp_path / "many", max_workers=16, policy=FAST, progress=False).fetch_all(files)
    downloads = {"files": len(files), "workers": 16, "verified": sum(g.sha256 == f.checksum[7:] for g, f in zip(got, files)),
                 "seconds": round(time.time() - started, 2)}
    shared = tmp_path / "shared"
    command = [sys.executable, "-m", "pipeline.cli", "build", "tatoeba", "--mirror", server.url + "tatoeba/",
               "--data-dir", str(shared), "--bucket-ids", "50", "--quiet"]
    runs = [subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
    codes = [r.wait(timeout=300) for r in runs]
    concurrent = {"builds": 2, "exit_codes": codes,
                  "rows": read_split(shared / "shards/tatoeba/2026-11-21/sentences").num_rows}
    record("load", downloads=downloads, concurrent_builds=concurrent)
    assert downloads["verified"] == len(files) and codes == [0, 0] and concurrent["rows"] == 246


def _big_export(root: Path, groups: int) -> None:
    """The fixture generator's export at scale, written as .csv.zst only, at a fast level (level 19 takes minutes)."""
    import zstandard

    from tests.fixtures.tatoeba_upstream import EXPORT_TIME, generate

    detailed, basic, links, _ = generate(groups, 7, False)
    exports = root / "exports"
    exports.mkdir(parents=True)
    for name, data in (("sentences_detailed", detailed), ("sentences", basic), ("links", links)):
        (exports / f"{name}.csv.zst").write_bytes(zstandard.ZstdCompressor(level=3).compress(data))
        os.utime(exports / f"{name}.csv.zst", (EXPORT_TIME, EXPORT_TIME))


@pytest.mark.timeout(1800)
def test_memory_is_flat_where_the_data_dominates(tmp_path):
    """Peak RSS of one build process at 300k and 3M sentences, less the fixed cost of its imports.

    Every buffer of the build is bounded (the parser's few 4 MB blocks in flight, one 4 MB block of
    links, one row group of 16 MB with ``--shard-mb 16``), so both sizes are past those bounds: at
    100k sentences the parser's blocks are not all filled yet and the figure grew with them, not
    with the data. What may grow with the data is one int per sentence id (the component labels).

    The peak is the process's own high-water mark (VmHWM). ``ru_maxrss`` is not: Linux carries the parent's
    RSS at fork across exec into it, so every build launched from this (large) pytest process reported the
    same 1.4 GB whatever its input. The fixed cost is a process that only imports what the build imports.
    """
    from pipeline.localserver import serving

    hwm = ("[int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmHWM:')][0]")
    fixed_script = ("import sys; from pipeline.cli import app; import pipeline.sources.tatoeba, pipeline.build; "
                    f"print({hwm})")
    fixed = int(subprocess.run([sys.executable, "-c", fixed_script], cwd=REPO, check=True, capture_output=True,
                               text=True).stdout.strip().splitlines()[-1])
    peaks = {}
    for groups in (75_000, 750_000):
        root = tmp_path / f"tatoeba{groups}"
        _big_export(root, groups)
        with serving(root) as local:
            argv = ["datamill", "build", "tatoeba", "--mirror", local.url, "--data-dir", str(root / "data"),
                    "--workers", "1", "--bucket-ids", "20000", "--dataset", "sentences", "--shard-mb", "16",
                    "--quiet"]
            script = (f"import sys; sys.argv = {argv!r}; from pipeline.cli import app; "
                      f"app(standalone_mode=False); print({hwm})")
            out = subprocess.run([sys.executable, "-c", script], cwd=REPO, check=True, capture_output=True,
                                 text=True, timeout=1200)
            peaks[f"{groups * 4} sentences"] = int(out.stdout.strip().splitlines()[-1])
    data = {k: max(0, v - fixed) for k, v in peaks.items()}
    record("memory", fixed_cost_kb=fixed, peak_rss_kb=peaks, above_fixed_kb=data)
    small, large = data.values()
    assert large < max(small, 50_000) * 1.5, "10x the sentences must not need much more memory above the fixed cost"
