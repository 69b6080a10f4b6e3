"""The one training loop: any task, fed by the streams, checkpointed with its data position.

Checkpoints hold the model, the optimizer and the step; beside each, every worker writes
its stream positions, so a killed run resumes at the same step *and* the same next batch.
TensorBoard logs, validation metrics, early stopping, the final ``model.keras`` and a JSON
report (data version, config, metrics, baseline) come with every run. tf.distribute:
the default strategy, MirroredStrategy on one host, MultiWorkerMirroredStrategy across
hosts (one process per worker, ``TF_CONFIG`` set).

A run directory belongs to one task, data snapshot and config (``models.runs``).

    python -m models.train --model translator --data DATASET_DIR --run-dir runs/x --steps 2000 [--resume]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

log = logging.getLogger(__name__)


@dataclass
class TrainConfig:
    steps: int = 1000
    batch_size: int = 32
    optimizer: str = "adam"  # adam, sgd (with momentum) or adagrad
    learning_rate: float = 1e-3
    momentum: float = 0.9
    schedule: str = "cosine"  # cosine (with warmup) or constant
    warmup_steps: int = -1  # -1: a tenth of the steps, at most 500
    checkpoint_every: int = 100
    eval_every: int = 200
    eval_batches: int = 20  # 0: the whole split (--eval-batches all)
    patience: int = 5  # evaluations without improvement before early stopping
    log_every: int = 10
    seed: int = 0
    mixed_precision: bool = False  # float16 + loss scaling on a GPU, bfloat16 elsewhere
    jit_compile: bool = False  # XLA-compile the train step
    strategy: str = "default"  # default, mirrored or multiworker
    trace_batches: bool = False  # write a fingerprint of every consumed batch (for resume checks)
    baseline_batches: int = 200  # at most this many train batches feed the class-balanced k-NN sample
    max_minutes: float = 0.0  # >0: training stops (and finishes: evaluation, model, report) after this many minutes
    options: dict[str, Any] = field(default_factory=dict)  # task options (widths, lengths, vocab...)


def make_strategy(name: str):
    import tensorflow as tf

    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multiworker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    from pipeline.errors import ConfigError

    raise ConfigError(f"--strategy: choose default, mirrored or multiworker, not {name!r}")


def make_optimizer(config: TrainConfig):
    import keras

    from pipeline.errors import ConfigError

    warmup = config.warmup_steps if config.warmup_steps >= 0 else min(500, config.steps // 10)
    rate: Any = config.learning_rate
    if config.schedule == "cosine":
        rate = keras.optimizers.schedules.CosineDecay(
            0.0 if warmup else config.learning_rate, max(1, config.steps - warmup), alpha=0.05,
            warmup_target=config.learning_rate if warmup else None, warmup_steps=warmup)
    elif config.schedule != "constant":
        raise ConfigError(f"--schedule: cosine or constant, not {config.schedule!r}")
    optimizers = {"adam": lambda: keras.optimizers.Adam(rate),
                  "sgd": lambda: keras.optimizers.SGD(rate, momentum=config.momentum),
                  "adagrad": lambda: keras.optimizers.Adagrad(rate)}
    if config.optimizer not in optimizers:
        raise ConfigError(f"--optimizer: choose adam, sgd or adagrad, not {config.optimizer!r}")
    optimizer = optimizers[config.optimizer]()
    # float16 gradients underflow without loss scaling; bfloat16 has float32's range and needs none.
    return keras.optimizers.LossScaleOptimizer(optimizer) if config.mixed_precision and \
        mixed_policy() == "mixed_float16" else optimizer


class _Run:
    """Paths and files of one run directory (the chief writes the shared ones)."""

    def __init__(self, run_dir: Path, worker: int) -> None:
        self.dir, self.worker = run_dir, worker
        self.chief = worker == 0
        # Non-chief workers must save too (checkpoints are collective), but to their own place.
        self.checkpoints = run_dir / ("checkpoints" if self.chief else f".worker{worker}/checkpoints")
        self.positions = run_dir / "positions"
        for path in (self.dir, self.checkpoints, self.positions):
            path.mkdir(parents=True, exist_ok=True)

    def position_file(self, step: int) -> Path:
        return self.positions / f"step-{step:08d}-worker{self.worker}.json"

    def write_json(self, name: str, data: Any) -> None:
        from pipeline.store.files import write_json_atomic

        write_json_atomic(self.dir / name, data)


def train(model: str, data: str, run_dir: str | Path, config: TrainConfig | None = None,
          resume: bool = False, init_from: str | Path | None = None) -> dict[str, Any]:
    """Train ``model`` on the dataset at ``data``; returns (and writes) the run's report.

    The run directory belongs to one task, data snapshot and config (``models.runs``): resuming
    it on other data is refused, a finished run is returned as it is (``report["finished"]``),
    and ``init_from`` starts this run from another run's weights (same vocabularies only).
    """
    import keras
    import tensorflow as tf

    from models import runs
    from models.evaluation import Evaluation
    from models.registry import TASKS
    from pipeline.errors import ConfigError
    from pipeline.features.stream import Stream

    config = config or TrainConfig()
    if model not in TASKS:
        raise ConfigError(f"unknown model {model!r}; choose from {', '.join(TASKS)}")
    strategy = make_strategy(config.strategy)
    worker = int(getattr(getattr(strategy, "cluster_resolver", None), "task_id", 0) or 0)
    run = _Run(Path(run_dir), worker)
    has_checkpoint = tf.train.latest_checkpoint(str(run.checkpoints)) is not None
    saved_identity = runs.read_identity(run.dir)
    if init_from is not None and has_checkpoint:
        raise ConfigError(f"--init-from starts a new run, but {run.dir} already holds one")
    if init_from is not None and (Path(init_from) / "labels.json").exists() and run.chief:
        (run.dir / "labels.json").write_text((Path(init_from) / "labels.json").read_text())
    keras.utils.set_random_seed(config.seed)
    task = TASKS[model](str(data), dict(config.options))
    task.prepare(run.dir)
    wanted = runs.identity(model, str(data), config, task.vocabulary())
    runs.check_same_run(run.dir, saved_identity, wanted, has_checkpoint)
    finished = _finished_report(run, config)
    if finished is not None:
        return finished
    if has_checkpoint and not resume:
        raise ConfigError(f"{run.dir} already holds this run, unfinished: pass --resume to continue it, or choose "
                          "another --run-dir")
    if init_from is not None:
        runs.check_vocabulary(Path(init_from), runs.read_identity(Path(init_from)), wanted["vocabulary"])
    if run.chief:
        run.write_json("run.json", {**wanted, "init_from": str(init_from) if init_from else None})
        run.write_json("config.json", {**asdict(config), "model": model, "data": str(data)})
    with strategy.scope(), precision_policy(config.mixed_precision):
        network = task.build_model()
        optimizer = make_optimizer(config)
        optimizer.build(network.trainable_variables)  # variables made here, not lazily inside a replica
        step = tf.Variable(0, dtype=tf.int64, trainable=False)
    checkpoint = tf.train.Checkpoint(model=network, optimizer=optimizer, step=step)
    manager = tf.train.CheckpointManager(checkpoint, run.checkpoints, max_to_keep=3)
    positions, state = {}, {"best": None, "bad_evals": 0, "history": []}
    resumed_from = None
    if has_checkpoint:
        checkpoint.restore(manager.latest_checkpoint)
        resumed_from = int(step.numpy())
        saved = json.loads(run.position_file(resumed_from).read_text())
        positions, state = saved["streams"], saved["state"]
        log.info("resumed at step %d", resumed_from)
    elif init_from is not None:
        tf.train.Checkpoint(model=network).restore(runs.latest_checkpoint(Path(init_from))).expect_partial()
        log.info("initialized from %s", init_from)

    streams: dict[int, Stream] = {}
    # Each step takes one batch per replica; a host's input pipeline feeds its replicas.
    per_step = max(1, strategy.num_replicas_in_sync // max(1, _input_pipelines(strategy)))

    def make_dataset(context):
        stream = Stream.for_input_context(
            context, root=str(data), feature=task.feature(train=True), split="train",
            batch_size=context.get_per_replica_batch_size(config.batch_size), seed=config.seed, epochs=None,
            start=positions.get(str(context.input_pipeline_id)), **task.stream_options)
        streams[context.input_pipeline_id] = stream
        return stream.dataset()

    dataset = strategy.distribute_datasets_from_function(make_dataset)
    train_step = _train_step(strategy, task, network, optimizer, config)
    evaluation = Evaluation(str(data), task, config)
    writer = tf.summary.create_file_writer(str(run.dir / "tensorboard")) if run.chief else tf.summary.create_noop_writer()
    trace = open(run.dir / f"trace-worker{worker}.jsonl", "a") if config.trace_batches else None
    started, consumed, losses = time.time(), 0, []
    iterator = iter(dataset)
    stopped_early = timed_out = False

    def save(at: int) -> None:
        record = {"streams": {str(i): s.position(consumed * per_step) for i, s in streams.items()}, "state": state}
        from pipeline.store.files import write_json_atomic

        write_json_atomic(run.position_file(at), record)  # before the checkpoint: a checkpoint always has one
        manager.save(checkpoint_number=at)

    while int(step.numpy()) < config.steps:
        batch = next(iterator)
        if trace is not None:
            trace.write(json.dumps({"step": int(step.numpy()) + 1, "batch": _fingerprint(strategy, batch)}) + "\n")
            trace.flush()
        loss = float(train_step(batch))
        step.assign_add(1)
        consumed += 1
        losses.append(loss)
        at = int(step.numpy())
        if at % config.log_every == 0:
            with writer.as_default():
                tf.summary.scalar("train/loss", loss, step=at)
                tf.summary.scalar("train/learning_rate", float(optimizer.learning_rate), step=at)
        if at % config.eval_every == 0 or at == config.steps:
            metrics = task.evaluate(network, evaluation.batches())
            recent = losses[-config.log_every:]
            state["history"].append({"step": at, "train_loss": float(sum(recent) / len(recent)), **metrics})
            with writer.as_default():
                for name, value in metrics.items():
                    tf.summary.scalar(f"validation/{name}", value, step=at)
            stopped_early = _early_stop(state, metrics.get(task.primary), task.mode, config.patience)
        timed_out = config.max_minutes > 0 and time.time() - started >= config.max_minutes * 60
        if at % config.checkpoint_every == 0 or at == config.steps or stopped_early or timed_out:
            save(at)
        if stopped_early or timed_out:
            log.info("%s at step %d", "early stopping" if stopped_early else "time limit reached", at)
            break
    if trace is not None:
        trace.close()
    return _finish(task, network, run, config, model, data, state, losses, resumed_from, stopped_early,
                   started, evaluation, int(step.numpy()), strategy.num_replicas_in_sync, init_from, timed_out)


def _input_pipelines(strategy) -> int:
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None:
        return 1
    return max(1, len(resolver.cluster_spec().as_dict().get("worker", [])) or 1)


def _finished_report(run: _Run, config: TrainConfig) -> dict[str, Any] | None:
    """The report of a run that already reached its steps (or stopped early): nothing is retrained."""
    path = run.dir / "report.json"
    if not path.exists():
        return None
    report = json.loads(path.read_text())
    # A run cut by its time limit continues only when asked for more steps than it was given.
    timed_out = report.get("time_limit_reached") and config.steps <= report["config"]["steps"]
    if report["steps"] < config.steps and not report.get("stopped_early") and not timed_out:
        return None  # asked for more steps: the run continues from its last checkpoint
    log.info("%s already finished at step %d; reporting it, not retraining", run.dir, report["steps"])
    return {**report, "finished": True}


def precision_policy(mixed: bool):
    """float16 with loss scaling on GPUs, bfloat16 (no scaling needed) elsewhere; restored afterwards."""
    import contextlib

    import keras

    @contextlib.contextmanager
    def policy():
        before = keras.mixed_precision.global_policy()
        keras.mixed_precision.set_global_policy(mixed_policy() if mixed else "float32")
        try:
            yield
        finally:
            keras.mixed_precision.set_global_policy(before)
    return policy()


def mixed_policy() -> str:
    import tensorflow as tf

    return "mixed_float16" if tf.config.list_physical_devices("GPU") else "mixed_bfloat16"


def _train_step(strategy, task, network, optimizer, config: TrainConfig):
    import keras
    import tensorflow as tf

    scaling = isinstance(optimizer, keras.optimizers.LossScaleOptimizer)

    def replica_step(batch):
        inputs, targets = task.split(batch)
        with tf.GradientTape() as tape:
            outputs = tf.cast(network(inputs, training=True), tf.float32)  # logits and loss in float32
            per_example = tf.cast(task.per_example_loss(targets, outputs), tf.float32)
            loss = tf.nn.compute_average_loss(per_example, global_batch_size=config.batch_size)
            scaled = optimizer.scale_loss(loss) if scaling else loss
        gradients = tape.gradient(scaled, network.trainable_variables)
        optimizer.apply_gradients(zip(gradients, network.trainable_variables))
        return loss

    @tf.function(jit_compile=config.jit_compile or None)
    def step(batch):
        return strategy.reduce("SUM", strategy.run(replica_step, args=(batch,)), axis=None)
    return step


def _early_stop(state: dict[str, Any], value: float | None, mode: str, patience: int) -> bool:
    if value is None:
        return False
    better = state["best"] is None or (value > state["best"] if mode == "max" else value < state["best"])
    if better:
        state["best"], state["bad_evals"] = value, 0
    else:
        state["bad_evals"] += 1
    return state["bad_evals"] >= patience


def _finish(task, network, run: _Run, config: TrainConfig, model: str, data: str, state, losses, resumed_from,
            stopped_early, started, evaluation, steps: int, replicas: int, init_from, timed_out: bool = False
            ) -> dict[str, Any]:
    from models.runs import data_identity

    training_seconds = round(time.time() - started, 1)
    metrics = task.evaluate(network, evaluation.batches())
    report = {
        "model": model, "task": task.describe(), "data": {"root": str(data), **data_identity(str(data))},
        "config": asdict(config), "steps": steps, "finished": False, "evaluated_on": evaluation.split,
        "resumed_from": resumed_from, "init_from": str(init_from) if init_from else None,
        "stopped_early": stopped_early, "time_limit_reached": timed_out, "metrics": metrics, "replicas": replicas,
        "first_losses": losses[:5], "last_losses": losses[-5:], "history": state["history"],
        "seconds": round(time.time() - started, 1), "training_seconds": training_seconds, "parameters": int(network.count_params()),
    }
    if run.chief:
        baseline = task.baseline(evaluation.train_sample(), evaluation.batches())
        if baseline:
            report["baseline"] = baseline
        report.update(task.extras(network))
        network.save(run.dir / "model.keras")
        run.write_json("report.json", report)
    return report


def _fingerprint(strategy, batch) -> str:
    """A short hash of this worker's part of a batch (every replica's), to prove which data a step consumed."""
    first = batch[sorted(batch)[0]]
    digest = hashlib.sha1()
    for local in strategy.experimental_local_results(first):
        digest.update(local.numpy().tobytes())
    return digest.hexdigest()[:16]


def evaluate(run_dir: str | Path, eval_batches: int | None = None) -> dict[str, Any]:
    """Reload a finished run's model and measure it again, on the split training evaluated on."""
    import keras

    from models.evaluation import Evaluation
    from models.layers import CUSTOM_OBJECTS
    from models.registry import TASKS

    run_dir = Path(run_dir)
    report = json.loads((run_dir / "report.json").read_text())
    known = {f.name for f in fields(TrainConfig)}
    config = TrainConfig(**{k: v for k, v in report["config"].items() if k in known})
    if eval_batches is not None:
        config.eval_batches = eval_batches
    task = TASKS[report["model"]](report["data"]["root"], dict(config.options))
    task.prepare(run_dir)
    network = keras.models.load_model(run_dir / "model.keras", custom_objects=CUSTOM_OBJECTS)
    return task.evaluate(network, Evaluation(report["data"]["root"], task, config).batches())


def main() -> None:
    parser = argparse.ArgumentParser(description="Train a datamill model (one process per worker).")
    parser.add_argument("--model", required=True)
    parser.add_argument("--data", required=True)
    parser.add_argument("--run-dir", required=True)
    parser.add_argument("--config", help="JSON of TrainConfig fields")
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--init-from", help="a run directory whose weights this new run starts from")
    args = parser.parse_args()
    config = TrainConfig(**json.loads(args.config)) if args.config else TrainConfig()
    report = train(args.model, args.data, args.run_dir, config, resume=args.resume, init_from=args.init_from)
    print(json.dumps({"metrics": report["metrics"], "steps": report["steps"]}))


if __name__ == "__main__":
    main()
