"""Each model learns on fixture shards; a killed run resumes at its step and data position; two workers."""

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

from models.train import TrainConfig, evaluate, train

REPO = Path(__file__).parents[1]
SMALL = {
    "language_id": ("sentences", {"dim": 32, "vocab": 300}),
    "image_classifier": ("images", {"image_size": 32, "width": 8, "depth": 1}),
    "language_model": ("articles", {"seq_len": 24, "vocab": 300, "dim": 32, "layers": 1}),
    "translator": ("pairs", {"max_len": 16, "vocab": 300, "dim": 32, "layers": 1}),
}


def config(options, **kw) -> TrainConfig:
    base = {"steps": 16, "batch_size": 8, "eval_every": 8, "eval_batches": 2, "checkpoint_every": 8,
            "learning_rate": 3e-3, "options": options, "baseline_batches": 4}
    return TrainConfig(**(base | kw))


@pytest.mark.parametrize("model", sorted(SMALL))
def test_model_learns_and_reports(model, shards, tmp_path):
    dataset, options = SMALL[model]
    report = train(model, str(shards[dataset]), tmp_path, config(options))
    first, last = report["first_losses"], report["last_losses"]
    assert sum(last) / len(last) < sum(first) / len(first), f"{model}: loss did not fall ({first} → {last})"
    assert report["steps"] == 16 and report["data"]["version"] and report["data"]["config_hash"]
    assert (tmp_path / "model.keras").exists() and (tmp_path / "report.json").exists()
    assert list((tmp_path / "tensorboard").iterdir()), "TensorBoard events are written"
    primary = {"language_id": "accuracy", "image_classifier": "accuracy", "language_model": "perplexity",
               "translator": "chrf"}[model]
    assert primary in report["metrics"]
    if model in ("language_id", "image_classifier"):
        assert 0.0 <= report["baseline"]["knn_accuracy"] <= 1.0
    if model == "translator":
        assert len(report["translations"]) == 3


def test_evaluate_reloads_the_saved_model(shards, tmp_path):
    dataset, options = SMALL["language_id"]
    report = train("language_id", str(shards[dataset]), tmp_path, config(options))
    again = evaluate(tmp_path)
    assert again["accuracy"] == pytest.approx(report["metrics"]["accuracy"], abs=1e-6)


def test_optimizers_and_schedule(shards, tmp_path):
    dataset, options = SMALL["language_id"]
    for name in ("sgd", "adagrad"):
        report = train("language_id", str(shards[dataset]), tmp_path / name,
                       config(options, optimizer=name, schedule="constant", learning_rate=0.05, steps=8))
        assert report["config"]["optimizer"] == name and report["steps"] == 8


def traces(run: Path, worker: int = 0) -> dict[int, str]:
    lines = (run / f"trace-worker{worker}.jsonl").read_text().splitlines()
    return {json.loads(line)["step"]: json.loads(line)["batch"] for line in lines}


def test_killed_run_resumes_at_the_same_step_and_data_position(shards, tmp_path):
    dataset, options = SMALL["language_id"]
    settings = config(options, steps=30, checkpoint_every=5, eval_every=100, trace_batches=True)
    reference = tmp_path / "reference"
    train("language_id", str(shards[dataset]), reference, settings)
    killed = tmp_path / "killed"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    child = subprocess.Popen([sys.executable, "-m", "models.train", "--model", "language_id", "--data",
                              str(shards[dataset]), "--run-dir", str(killed), "--config",
                              json.dumps(settings.__dict__)], cwd=REPO, env=env)
    deadline = time.time() + 240
    while time.time() < deadline and not list((killed / "checkpoints").glob("ckpt-1[05]*.index")):
        time.sleep(0.05)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    saved = sorted(int(p.name.split("-")[1].split(".")[0]) for p in (killed / "checkpoints").glob("ckpt-*.index"))
    assert saved and 10 <= saved[-1] < 30, saved
    before = traces(killed)
    report = train("language_id", str(shards[dataset]), killed, settings, resume=True)
    assert report["resumed_from"] == saved[-1] and report["steps"] == 30
    after = traces(killed)
    want = traces(reference)
    assert {s: after[s] for s in range(saved[-1] + 1, 31)} == {s: want[s] for s in range(saved[-1] + 1, 31)}
    assert all(before[s] == want[s] for s in before), "the killed run saw the same data up to its death"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_workers_on_loopback(shards, tmp_path):
    dataset, options = SMALL["language_id"]
    settings = config(options, steps=6, checkpoint_every=3, eval_every=100, strategy="multiworker",
                      trace_batches=True, baseline_batches=1)
    ports = [free_port(), free_port()]
    run = tmp_path / "run"
    workers = []
    for index in range(2):
        tf_config = {"cluster": {"worker": [f"127.0.0.1:{p}" for p in ports]}, "task": {"type": "worker", "index": index}}
        env = {**os.environ, "PYTHONPATH": str(REPO), "TF_CONFIG": json.dumps(tf_config)}
        workers.append(subprocess.Popen(
            [sys.executable, "-m", "models.train", "--model", "language_id", "--data", str(shards[dataset]),
             "--run-dir", str(run), "--config", json.dumps(settings.__dict__)],
            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    outputs = [w.communicate(timeout=300) for w in workers]
    assert all(w.returncode == 0 for w in workers), [o[1][-2000:] for o in outputs]
    assert (run / "report.json").exists() and (run / "model.keras").exists()
    assert not (run / ".worker1" / "report.json").exists(), "only the chief writes the shared files"
    first, second = traces(run, 0), traces(run, 1)
    assert set(first) == set(second) == set(range(1, 7))
    assert all(first[s] != second[s] for s in first), "workers read different shards"
    assert (run / "positions" / "step-00000006-worker1.json").exists()


def test_cli_train_and_evaluate(shards, tmp_path):
    from tests.test_cli import datamill

    got = datamill("train", "language_id", "--data", str(shards["sentences"]), "--steps", "6", "--batch-size", "8",
                   "--run-dir", str(tmp_path / "run"), "-o", "dim=16", "-o", "vocab=300", "--eval-every", "3")
    assert got.returncode == 0, got.stderr[-2000:]
    assert "language_id: 6 steps; validation" in got.stdout and "baseline knn_accuracy" in got.stdout
    got = datamill("evaluate", str(tmp_path / "run"))
    assert got.returncode == 0 and "accuracy" in got.stdout, got.stderr[-2000:]
    got = datamill("train", "nope", "--data", str(shards["sentences"]))
    assert got.returncode == 1 and "unknown model" in got.stderr


def test_training_flow(prefect_harness, shards, tmp_path):
    from flows.train import train_flow

    summary = train_flow("language_id", str(shards["sentences"]), str(tmp_path / "run"), steps=4, batch_size=8,
                         options={"dim": 16, "vocab": 300})
    assert summary["steps"] == 4 and "accuracy" in summary["metrics"]


def test_mirrored_strategy(shards, tmp_path):
    dataset, options = SMALL["language_id"]
    report = train("language_id", str(shards[dataset]), tmp_path, config(options, steps=6, strategy="mirrored"))
    assert report["steps"] == 6 and report["config"]["strategy"] == "mirrored"
    assert (tmp_path / "positions" / "step-00000006-worker0.json").exists()
