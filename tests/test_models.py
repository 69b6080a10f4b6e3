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

import numpy as np
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


def two_workers(data: str, run: Path, settings: TrainConfig, resume: bool = False) -> None:
    """One MultiWorkerMirroredStrategy run on two local processes."""
    ports = [free_port(), free_port()]
    workers = []
    for index in range(2):
        tf_config = {"cluster": {"worker": [f"127.0.0.1:{p}" for p in ports]}, "task": {"type": "worker", "index": index}}
        env = {**os.environ, "PYTHONPATH": str(REPO), "TF_CONFIG": json.dumps(tf_config)}
        workers.append(subprocess.Popen(
            [sys.executable, "-m", "models.train", "--model", "language_id", "--data", data,
             "--run-dir", str(run), "--config", json.dumps(settings.__dict__)] + (["--resume"] if resume else []),
            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    outputs = [w.communicate(timeout=300) for w in workers]
    assert all(w.returncode == 0 for w in workers), [o[1][-2000:] for o in outputs]


def test_two_workers_on_loopback(shards, tmp_path):
    dataset, options = SMALL["language_id"]
    settings = config(options, steps=6, checkpoint_every=3, eval_every=100, strategy="multiworker",
                      trace_batches=True, baseline_batches=1)
    run = tmp_path / "run"
    two_workers(str(shards[dataset]), run, settings)
    assert (run / "report.json").exists() and (run / "model.keras").exists()
    assert not (run / ".worker1" / "report.json").exists(), "only the chief writes the shared files"
    first, second = traces(run, 0), traces(run, 1)
    assert set(first) == set(second) == set(range(1, 7))
    assert all(first[s] != second[s] for s in first), "workers read different shards"
    assert (run / "positions" / "step-00000006-worker1.json").exists()
    # Stopped at step 3, then resumed: both workers go on with the data the uninterrupted run saw.
    stopped = tmp_path / "stopped"
    two_workers(str(shards[dataset]), stopped, TrainConfig(**{**settings.__dict__, "steps": 3}))
    two_workers(str(shards[dataset]), stopped, settings, resume=True)
    for worker in (0, 1):
        want, got = traces(run, worker), traces(stopped, worker)
        assert {s: got[s] for s in (4, 5, 6)} == {s: want[s] for s in (4, 5, 6)}, f"worker {worker} resumed elsewhere"


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


TWO_REPLICAS = """
import json, sys
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from models.train import TrainConfig, train
for job in json.loads(sys.argv[1]):
    report = train(job["model"], job["data"], job["run_dir"], TrainConfig(**job["config"]), resume=job["resume"])
    print(json.dumps({"steps": report["steps"], "replicas": report.get("replicas")}))
"""


def test_resume_under_two_replicas_continues_the_data(shards, tmp_path):
    dataset, options = SMALL["language_id"]
    base = config(options, steps=12, checkpoint_every=3, eval_every=100, strategy="mirrored", trace_batches=True,
                  baseline_batches=1).__dict__
    job = {"model": "language_id", "data": str(shards[dataset]), "resume": False}
    jobs = [{**job, "run_dir": str(tmp_path / "reference"), "config": base},
            {**job, "run_dir": str(tmp_path / "stopped"), "config": {**base, "steps": 6}},
            {**job, "run_dir": str(tmp_path / "stopped"), "config": base, "resume": True}]
    got = subprocess.run([sys.executable, "-c", TWO_REPLICAS, json.dumps(jobs)], cwd=REPO, capture_output=True,
                         text=True, timeout=400, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert got.returncode == 0, got.stderr[-3000:]
    reports = [json.loads(line) for line in got.stdout.splitlines() if line.startswith("{")]
    assert [r["replicas"] for r in reports] == [2, 2, 2]
    want, after = traces(tmp_path / "reference"), traces(tmp_path / "stopped")
    assert {s: after[s] for s in range(7, 13)} == {s: want[s] for s in range(7, 13)}, "resumed on the same data"


def copy_as_version(source_root: Path, root: Path, version: str, keep: float = 1.0, splits=None) -> Path:
    """The same rows (or the first ``keep`` of them, of ``splits``) committed as another data version."""
    from pipeline.store.shards import SPLIT_COLUMN, DatasetSpec, Part, PartInput, ShardSet, manifest_schema, read_split
    from pipeline.features.stream import list_shards

    manifest = list_shards(str(source_root), "train")[1]
    schema = manifest_schema(manifest)
    spec = DatasetSpec(root=root, source=manifest["source"], dataset=manifest["dataset"], version=version,
                       schema=schema, config={"copy": version}, license="CC BY 2.0 FR", target_shard_bytes=8_000)
    shard_set = ShardSet(spec)
    part = Part("all", (PartInput(version, "0" * 64),))

    def read(part, rejects):
        for split in splits or manifest["splits"]:
            table = read_split(source_root, split)
            table = table.slice(0, int(table.num_rows * keep))
            yield table.append_column(SPLIT_COLUMN, __import__("pyarrow").array([split] * table.num_rows))
    shard_set.build_part(part, read)
    shard_set.finalize([part])
    return root


def test_a_new_data_version_starts_a_new_run(shards, tmp_path):
    from models.runs import run_for
    from pipeline.errors import ConfigError

    dataset, options = SMALL["language_id"]
    old = copy_as_version(shards[dataset], tmp_path / "v1", "2026-11-21")
    new = copy_as_version(shards[dataset], tmp_path / "v2", "2026-11-28", keep=0.9)
    settings = config(options, steps=6, eval_every=100, baseline_batches=1)
    first = train("language_id", str(old), run_for(tmp_path / "runs", "language_id", str(old), settings), settings,
                  resume=True)
    assert first["data"]["version"] == "2026-11-21" and first["steps"] == 6
    # The weekly build passes resume=True: on the new version it must train a new model, from scratch.
    target = run_for(tmp_path / "runs", "language_id", str(new), settings)
    assert target != run_for(tmp_path / "runs", "language_id", str(old), settings)
    second = train("language_id", str(new), target, settings, resume=True)
    assert second["data"]["version"] == "2026-11-28" and second["resumed_from"] is None
    assert len(second["first_losses"]) == 5
    with pytest.raises(ConfigError, match="other data"):
        train("language_id", str(new), run_for(tmp_path / "runs", "language_id", str(old), settings), settings,
              resume=True)
    again = train("language_id", str(old), run_for(tmp_path / "runs", "language_id", str(old), settings), settings,
                  resume=True)
    assert again["finished"] and again["first_losses"] == first["first_losses"], "a finished run is not retrained"


def test_init_from_fine_tunes_only_under_the_same_vocabulary(shards, tmp_path):
    from pipeline.errors import ConfigError

    dataset, options = SMALL["language_id"]
    settings = config(options, steps=40, eval_every=100, baseline_batches=1, learning_rate=1e-2)
    first = train("language_id", str(shards[dataset]), tmp_path / "a", settings)
    tuned = train("language_id", str(shards[dataset]), tmp_path / "b", config(options, steps=4, eval_every=100,
                  baseline_batches=1, learning_rate=1e-3), init_from=tmp_path / "a")
    assert tuned["init_from"] == str(tmp_path / "a") and tuned["resumed_from"] is None
    assert tuned["first_losses"][0] < first["first_losses"][0] - 0.1, "it starts from the trained weights"
    other = config({**options, "vocab": 200}, steps=2, eval_every=100, baseline_batches=1)
    with pytest.raises(ConfigError, match="tokens differ"):
        train("language_id", str(shards[dataset]), tmp_path / "c", other, init_from=tmp_path / "a")
    with pytest.raises(ConfigError, match="other config"):
        train("language_id", str(shards[dataset]), tmp_path / "a", other, resume=True)


def test_mixed_precision_keeps_logits_and_loss_in_float32(shards, tmp_path):
    import keras

    from models.registry import TASKS
    from models.train import make_optimizer, precision_policy

    dataset, options = SMALL["translator"]
    task = TASKS["translator"](str(shards[dataset]), options)
    task.prepare(tmp_path)
    with precision_policy(True):
        assert keras.mixed_precision.global_policy().name == "mixed_bfloat16", "no GPU here: bfloat16"
        network = task.build_model()
        assert not isinstance(make_optimizer(config(options, mixed_precision=True)),
                              keras.optimizers.LossScaleOptimizer), "bfloat16 needs no loss scaling"
    assert network.output.dtype == "float32" and keras.mixed_precision.global_policy().name == "float32"
    report = train("translator", str(shards[dataset]), tmp_path / "run",
                   config(options, steps=4, eval_every=100, mixed_precision=True, jit_compile=True))
    assert report["steps"] == 4 and all(np.isfinite(report["first_losses"]))


def test_evaluation_uses_the_whole_split_and_the_same_split_rule(shards, tmp_path):
    dataset, options = SMALL["language_id"]
    no_validation = copy_as_version(shards[dataset], tmp_path / "data", "2026-11-21", splits=["train", "test"])
    report = train("language_id", str(no_validation), tmp_path / "run",
                   config(options, steps=4, eval_every=100, eval_batches=0, baseline_batches=1))
    assert report["evaluated_on"] == "test"
    assert evaluate(tmp_path / "run")["accuracy"] == pytest.approx(report["metrics"]["accuracy"], abs=1e-6)


def test_knn_baseline_sample_is_class_balanced():
    from models.baselines import balanced_sample

    sorted_batches = [{"label": np.full(10, label), "x": np.arange(10) + 10 * label} for label in range(8)
                      for _ in range(10)]  # 100 rows of each class, one class after another
    xs, ys = balanced_sample(iter(sorted_batches), lambda b: np.asarray(b["x"])[:, None], classes=8, per_class=5)
    assert np.bincount(ys).tolist() == [5] * 8 and len(xs) == 40


def test_cli_train_from_an_experiment_file(shards, tmp_path):
    from tests.test_cli import datamill

    experiment = tmp_path / "exp.toml"
    experiment.write_text(f"""model = "language_id"\ndata = "{shards['sentences']}"\nsteps = 50\nbatch_size = 8
seed = 3\neval_every = 100\nbaseline_batches = 1\n[options]\ndim = 16\nvocab = 300\n""")
    got = datamill("train", "--config", str(experiment), "--steps", "3", "--run-dir", str(tmp_path / "run"),
                   "--eval-batches", "all")
    assert got.returncode == 0, got.stderr[-2000:]
    assert "language_id: 3 steps; validation" in got.stdout
    saved = json.loads((tmp_path / "run" / "report.json").read_text())["config"]
    assert saved["seed"] == 3 and saved["eval_batches"] == 0 and saved["options"]["dim"] == 16
    again = datamill("train", "--config", str(experiment), "--steps", "3", "--run-dir", str(tmp_path / "run"))
    assert again.returncode == 0 and "already finished at step 3" in again.stdout, again.stderr[-2000:]
