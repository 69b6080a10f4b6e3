"""Two builds of one config at once on s3://: one waits for the other part by part, nothing is built twice."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.test_object_storage import REPO, datamill, s3  # noqa: F401 - the moto server fixture and the CLI runner

ROOT = "s3://datamill-test/locks"
DATASET = "datamill-test/locks/shards/tatoeba/2026-11-21/sentences"


def test_two_builds_of_one_config_on_s3_build_each_part_once(s3, server, tmp_path):
    env, fs = s3
    got = datamill(env, tmp_path / "dl", "download", "tatoeba", "--data-dir", ROOT, "--mirror", server.url + "tatoeba/",
                   "--quiet")
    assert got.returncode == 0, got.stderr
    command = [sys.executable, "-m", "pipeline.cli", "shard", "tatoeba", "--data-dir", ROOT, "--bucket-ids", "60",
               "--workers", "1", "--dataset", "sentences", "--quiet"]
    runs = [subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env={**os.environ, **env, "DATAMILL_CACHE": str(tmp_path / f"host-{i}")})
            for i in range(2)]
    outcomes = [r.communicate(timeout=400) for r in runs]
    assert [r.returncode for r in runs] == [0, 0], [o[1][-2000:] for o in outcomes]
    fs.invalidate_cache()
    assert len(fs.ls(f"{DATASET}/_snapshots")) == 1, "one config, one snapshot"
    keys = fs.find(DATASET)
    records = [json.loads(fs.cat_file(k)) for k in keys
               if ("/_parts/" in k or "/_packs/" in k) and k.endswith(".json") and not k.endswith(".attempt.json")]
    named = {s["file"] for r in records for s in r.get("shards", [])} | {r["rejects"] for r in records if r.get("rejects")}
    data = {k[len(DATASET) + 1:] for k in keys if k.endswith(".parquet")}
    assert data == named, f"files of a second try at a part: {sorted(data - named)[:5]}"
    assert datamill(env, tmp_path / "v", "verify", f"s3://{DATASET}").returncode == 0


def test_a_lease_blocks_a_second_holder_until_released_and_an_expired_one_is_taken_over(s3):
    import threading
    import time

    from pipeline.store import locks as objectlock

    env, fs = s3
    key = "datamill-test/locks-unit/.locks/x.lock"
    order = []
    with objectlock.held(fs, key):
        waiter = threading.Thread(target=lambda: (objectlock.held(fs, key).__enter__(), order.append("second")))
        waiter.start()
        time.sleep(1.0)
        order.append("first released")
    waiter.join(timeout=30)
    assert order == ["first released", "second"], "the second holder got in while the first held the lease"
    newest = fs.ls(key, detail=False, refresh=True)[-1]
    generation = int(newest.rsplit("/", 1)[-1]) + 1
    killed = f"{key}/{generation:012d}"  # a killed build's lease: never renewed, never released
    fs.pipe_file(killed, json.dumps({"token": "killed", "state": "held", "expires": time.time() - 1}).encode())
    started = time.time()
    with objectlock.held(fs, key) as lease:
        lease.check()
        assert lease.generation == generation + 1 and not fs.exists(killed), "the expired lease is taken over"
    left = fs.ls(key, detail=False, refresh=True)
    assert time.time() - started < 5 and len(left) == 1, "only the newest generation is kept"
    assert json.loads(fs.cat_file(left[0]))["state"] == "released", "ours is released on leaving"


class _Stepped:
    """``fs`` with two waiters stepped into the worst order: both read the expired lease before either
    acts, and the second one's delete waits until the first has created its own lease."""

    def __init__(self, fs, expired_key_part: str):
        import threading

        self._fs, self._part = fs, expired_key_part
        self._both_read = threading.Barrier(2, timeout=5)
        self._reads, self._removes = 0, 0
        self._first_created = threading.Event()
        self._mutex = threading.Lock()

    def __getattr__(self, name):
        return getattr(self._fs, name)

    def cat_file(self, path, *args, **kwargs):
        body = self._fs.cat_file(path, *args, **kwargs)
        with self._mutex:
            gate = self._part in path and self._reads < 2
            self._reads += gate
        if gate:
            self._both_read.wait()
        return body

    def rm_file(self, path, *args, **kwargs):
        with self._mutex:
            second = self._removes == 1
            self._removes += 1
        if second:
            self._first_created.wait(timeout=5)
        return self._fs.rm_file(path, *args, **kwargs)

    def pipe_file(self, path, *args, **kwargs):
        out = self._fs.pipe_file(path, *args, **kwargs)
        if kwargs.get("IfNoneMatch"):
            self._first_created.set()
        return out


def _leave_an_expired_lease(fs, key, monkeypatch):
    """A holder killed without releasing: it took the lease with a 1 s TTL and never renewed it."""
    import time

    from pipeline.store import locks as objectlock

    monkeypatch.setenv(objectlock.TTL_ENV, "1")
    with monkeypatch.context() as m:
        m.setattr(objectlock, "_renew", lambda *args, **kwargs: None)
        lease = objectlock.held(fs, key)
        lease.__enter__()  # never exited: the process died
    monkeypatch.setenv(objectlock.TTL_ENV, "60")
    time.sleep(1.2)
    return lease  # kept referenced: a collected generator would run its release


def test_two_waiters_on_one_expired_lease_never_both_hold_it(s3, monkeypatch):
    import threading
    import time

    from pipeline.store import locks as objectlock

    env, fs = s3
    key = "datamill-test/locks-race/.locks/y.lock"
    killed = _leave_an_expired_lease(fs, key, monkeypatch)
    stepped = _Stepped(fs, key)
    inside, most, errors = [0], [0], []
    mutex = threading.Lock()

    def waiter():
        try:
            with objectlock.held(stepped, key):
                with mutex:
                    inside[0] += 1
                    most[0] = max(most[0], inside[0])
                time.sleep(0.5)
                with mutex:
                    inside[0] -= 1
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=waiter) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not errors, errors
    assert most[0] == 1, "two waiters that both saw the lease expire both took it over"
    del killed


def test_a_part_whose_lease_was_taken_over_writes_no_part_record(s3, monkeypatch):
    """A holder that finds a newer lease before recording its part leaves no record naming its files."""
    import time

    import pyarrow as pa
    import pytest

    from pipeline.store.locks import LockLost
    from pipeline.store.shards import SPLIT_COLUMN, DatasetSpec, Part, PartInput, ShardSet

    env, fs = s3
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    spec = DatasetSpec(root="s3://datamill-test/lost-lease", source="t", dataset="d", version="v1",
                       schema=pa.schema([("x", pa.int64())]), config={"lost": 1}, license="-")
    shard_set = ShardSet(spec)
    part = Part("p0", (PartInput("in", "0" * 64),))
    lock = shard_set.location.full(f".locks/p0@{spec.config_hash}.lock")

    def read(part, rejects):
        yield pa.table({"x": [1, 2, 3], SPLIT_COLUMN: ["train"] * 3})
        newest = max(int(k.rsplit("/", 1)[-1]) for k in fs.ls(lock, detail=False, refresh=True))
        # Another host took the lease over while this one stalled.
        fs.pipe_file(f"{lock}/{newest + 1:012d}",
                     json.dumps({"token": "other", "state": "held", "expires": time.time() + 60}).encode())

    with pytest.raises(LockLost):
        shard_set.build_part(part, read)
    fs.invalidate_cache()
    assert shard_set.part_record(part) is None, "a part record written under a lost lease"
