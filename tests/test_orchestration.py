"""Orchestration: the build flow from one config file, and a scheduled run on a real Prefect server."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from pipeline.config import load_config, resolve_dataset
from pipeline.errors import ConfigError
from pipeline.store.shards import load_manifest

REPO = Path(__file__).parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_config(path: Path, server, data: Path, train: bool = False, wikipedia: bool = True) -> Path:
    text = f"""
data_dir = "{data}"
workers = 1

[sources.tatoeba]
mirror = "{server.url}tatoeba/"
bucket_ids = 100
splits = "train=0.8,validation=0.1,test=0.1"
"""
    if wikipedia:
        text += f"""
[sources.wikipedia]
mirror = "{server.url}wikimedia/"
wiki = "simplewiki"
date = "20261101"
max_page_mb = 0.1

[features."wikipedia/articles"]
vocab = 300
"""
    if train:
        text += """
[train.language_id]
data = "tatoeba/sentences"
steps = 4
batch_size = 8
options = { dim = 16, vocab = 300 }
"""
    path.write_text(text)
    return path


def test_config_errors_name_the_problem(tmp_path):
    (tmp_path / "bad.toml").write_text("[sources.nope]\n")
    with pytest.raises(ConfigError, match="unknown source"):
        load_config(tmp_path / "bad.toml")
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.toml")


def test_build_flow_sources_features_training(prefect_harness, server, tmp_path):
    from flows.build import build_flow

    data = tmp_path / "data"
    config = write_config(tmp_path / "datamill.toml", server, data, train=True)
    result = build_flow(config=str(config))
    assert result["sources"]["tatoeba"]["sentences"]["rows"] == 246
    assert result["sources"]["wikipedia"]["articles"]["version"] == "simplewiki-20261101"
    assert "_features/tokenizer-bpe300-" in result["tokenizers"]["wikipedia/articles"]
    assert result["models"]["language_id"]["steps"] == 4
    assert load_manifest(resolve_dataset(data, "tatoeba/pairs"))["totals"]["rows"] > 0


@pytest.mark.timeout(420)  # its own waits (server start 120 s, first run 240 s) outlast the 300 s default
def test_scheduled_run_on_a_real_prefect_server(server, tmp_path):
    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    base = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    base |= {"PREFECT_HOME": str(tmp_path / "prefect-home"), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
             "PREFECT_UI_ENABLED": "false", "PYTHONPATH": str(REPO)}
    prefect = Path(sys.executable).parent / "prefect"
    started = subprocess.Popen([str(prefect), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
                               env=base, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    served = None
    try:
        _wait(lambda: requests.get(f"{api}/health", timeout=2).ok, 120, "the Prefect server to start")
        data = tmp_path / "data"
        config = write_config(tmp_path / "datamill.toml", server, data, wikipedia=False)
        served = subprocess.Popen([sys.executable, "-m", "pipeline.cli", "serve", "--config", str(config),
                                   "--every", "5"], env=base | {"PREFECT_API_URL": api}, cwd=REPO,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

        def completed() -> bool:
            deployments = requests.post(f"{api}/deployments/filter", json={}, timeout=5).json()
            ids = [d["id"] for d in deployments if d["name"] == "tatoeba-scheduled"]
            if not ids:
                return False
            runs = requests.post(f"{api}/flow_runs/filter", timeout=5, json={
                "deployments": {"id": {"any_": ids}},
                "flow_runs": {"state": {"type": {"any_": ["COMPLETED"]}}}}).json()
            return bool(runs)

        _wait(completed, 240, "a scheduled tatoeba run to complete")
        assert load_manifest(data / "shards/tatoeba/2026-11-21/sentences")["totals"]["rows"] == 246
        # The whole build (sources → tokenizers → training) is deployed on its own weekly schedule too.
        from pipeline.cli import WEEKLY_BUILD

        deployments = requests.post(f"{api}/deployments/filter", json={}, timeout=5).json()
        build = [d for d in deployments if d["name"] == "build-all"]
        assert build, [d["name"] for d in deployments]
        assert WEEKLY_BUILD in json.dumps(build[0]["schedules"])
        # Runs every 5 s of a build that takes longer: never two at once, the late ones skipped.
        for deployment in deployments:
            assert deployment["global_concurrency_limit"]["limit"] == 1, deployment["name"]
            assert deployment["concurrency_options"]["collision_strategy"] == "CANCEL_NEW"
        assert build[0]["parameters"]["config"] == str(config.resolve())
    finally:
        for process in (served, started):
            if process is not None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()


def _wait(check, seconds: float, what: str) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            if check():
                return
        except (requests.RequestException, json.JSONDecodeError, KeyError):
            pass
        time.sleep(1)
    raise AssertionError(f"timed out waiting for {what}")


def test_plan_and_the_disk_check(server, tmp_path, monkeypatch):
    from tests.test_cli import datamill

    got = datamill("plan", "wikipedia", "--wiki", "simplewiki", "--date", "20261101", "--data-dir", str(tmp_path),
                   "--mirror", server.url + "wikimedia/")
    assert got.returncode == 0, got.stderr
    assert "simplewiki-20261101: 2 files" in got.stdout and "to download:" in got.stdout and "time:" in got.stdout
    got = datamill("plan", "commoncrawl", "--data-dir", str(tmp_path), "--mirror", server.url + "commoncrawl/")
    assert got.returncode == 0 and "2 files" in got.stdout, got.stderr

    import shutil
    from collections import namedtuple

    from pipeline import build
    from pipeline.sources.tatoeba import Tatoeba

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10**6, 10**6, 100))
    source = Tatoeba(data_dir=tmp_path, mirror=server.url + "tatoeba/")
    with pytest.raises(ConfigError, match="not enough disk"):
        build.download(source, tmp_path, progress=False)
    assert not (tmp_path / "raw" / "tatoeba").exists() or not any((tmp_path / "raw" / "tatoeba").rglob("*.zst"))
    build.download(source, tmp_path, progress=False, ignore_disk_check=True)
