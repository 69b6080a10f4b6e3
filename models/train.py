"""The one training loop: any task, fed by the streams, checkpointed with its data position.

Checkpoints hold the model, the optimizer and the step; beside each, every worker writes
its stream positions, so a killed run resumes at the same step *and* the same next batch.
TensorBoard logs, validation metrics, early stopping, the final ``model.keras`` and a JSON
report (data version, config, metrics, baseline) come with every run. tf.distribute:
the default strategy, MirroredStrategy on one host, MultiWorkerMirroredStrategy across
hosts (one process per worker, ``TF_CONFIG`` set).

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
    eval_batches: int = 20
    patience: int = 5  # evaluations without improvement before early stopping
    log_every: int = 10
    seed: int = 0
    mixed_precision: bool = False
    strategy: str = "default"  # default, mirrored or multiworker
    trace_batches: bool = False  # write a fingerprint of every consumed batch (for resume checks)
    baseline_batches: int = 20
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
    return keras.optimizers.LossScaleOptimizer(optimizer) if config.mixed_precision else optimizer


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
        from pipeline.storage import write_json_atomic

        write_json_atomic(self.dir / name, data)


def train(model: str, data: str, run_dir: str | Path, config: TrainConfig | None = None,
          resume: bool = False) -> dict[str, Any]:
    """Train ``model`` on the dataset at ``data``; returns (and writes) the run's report."""
    import keras
    import tensorflow as tf

    from models.tasks import TASKS
    from pipeline.errors import ConfigError
    from pipeline.features.stream import Stream, list_shards

    config = config or TrainConfig()
    if model not in TASKS:
        raise ConfigError(f"unknown model {model!r}; choose from {', '.join(TASKS)}")
    strategy = make_strategy(config.strategy)
    worker = int(getattr(getattr(strategy, "cluster_resolver", None), "task_id", 0) or 0)
    run = _Run(Path(run_dir), worker)
    if resume and (run.dir / "config.json").exists():
        saved = json.loads((run.dir / "config.json").read_text())
        known = {f.name for f in fields(TrainConfig)}
        config = TrainConfig(**{**{k: v for k, v in saved.items() if k in known}, "steps": config.steps,
                                "strategy": config.strategy})
    elif run.chief:
        run.write_json("config.json", {**asdict(config), "model": model, "data": str(data)})
    if config.mixed_precision:
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
    keras.utils.set_random_seed(config.seed)
    task = TASKS[model](str(data), dict(config.options))
    task.prepare(run.dir)
    with strategy.scope():
        network = task.build_model()
        optimizer = make_optimizer(config)
        step = tf.Variable(0, dtype=tf.int64, trainable=False)
    checkpoint = tf.train.Checkpoint(model=network, optimizer=optimizer, step=step)
    manager = tf.train.CheckpointManager(checkpoint, run.checkpoints, max_to_keep=3)
    positions, state = {}, {"best": None, "bad_evals": 0, "history": []}
    resumed_from = None
    if resume and manager.latest_checkpoint:
        checkpoint.restore(manager.latest_checkpoint)
        resumed_from = int(step.numpy())
        saved = json.loads(run.position_file(resumed_from).read_text())
        positions, state = saved["streams"], saved["state"]
        log.info("resumed at step %d", resumed_from)

    streams: dict[int, Stream] = {}

    def make_dataset(context):
        stream = Stream.for_input_context(
            context, root=str(data), feature=task.feature(train=True), split="train",
            batch_size=context.get_per_replica_batch_size(config.batch_size), seed=config.seed, epochs=None,
            start=positions.get(str(context.input_pipeline_id)), **task.stream_options)
        streams[context.input_pipeline_id] = stream
        return stream.dataset()

    dataset = strategy.distribute_datasets_from_function(make_dataset)

    @tf.function
    def train_step(batch):
        def replica_step(batch):
            inputs, targets = task.split(batch)
            with tf.GradientTape() as tape:
                outputs = network(inputs, training=True)
                per_example = tf.cast(task.per_example_loss(targets, outputs), tf.float32)
                loss = tf.nn.compute_average_loss(per_example, global_batch_size=config.batch_size)
                scaled = optimizer.scale_loss(loss) if config.mixed_precision else loss
            gradients = tape.gradient(scaled, network.trainable_variables)
            optimizer.apply_gradients(zip(gradients, network.trainable_variables))
            return loss
        return strategy.reduce("SUM", strategy.run(replica_step, args=(batch,)), axis=None)

    splits = list_shards(str(data), "train")[1]["splits"]
    validation = "validation" if "validation" in splits else ("test" if "test" in splits else None)

    def validation_batches(limit: int, train_split: bool = False):
        if validation is None and not train_split:
            return []
        # Small evaluation batches: a small validation split still yields whole batches.
        size = min(config.batch_size, 8)
        stream = Stream(str(data), task.feature(train=False), split="train" if train_split else validation,
                        batch_size=size, seed=config.seed, shuffle=train_split, epochs=1, **task.stream_options)
        return list(stream.dataset().take(limit * max(1, config.batch_size // size)))

    writer = tf.summary.create_file_writer(str(run.dir / "tensorboard")) if run.chief else tf.summary.create_noop_writer()
    trace = open(run.dir / f"trace-worker{worker}.jsonl", "a") if config.trace_batches else None
    started, consumed, losses = time.time(), 0, []
    iterator = iter(dataset)
    stopped_early = False

    def save(at: int) -> None:
        record = {"streams": {str(i): s.position(consumed) for i, s in streams.items()}, "state": state}
        from pipeline.storage import write_json_atomic

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
            metrics = task.evaluate(network, validation_batches(config.eval_batches))
            state["history"].append({"step": at, "train_loss": float(sum(losses[-config.log_every:]) /
                                                                     len(losses[-config.log_every:])), **metrics})
            with writer.as_default():
                for name, value in metrics.items():
                    tf.summary.scalar(f"validation/{name}", value, step=at)
            stopped_early = _early_stop(state, metrics.get(task.primary), task.mode, config.patience)
        if at % config.checkpoint_every == 0 or at == config.steps or stopped_early:
            save(at)
        if stopped_early:
            log.info("early stopping at step %d", at)
            break
    if trace is not None:
        trace.close()
    return _finish(task, network, run, config, model, data, state, losses, resumed_from, stopped_early,
                   started, validation_batches, int(step.numpy()))


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
            stopped_early, started, validation_batches, steps: int) -> dict[str, Any]:
    from pipeline.features.stream import list_shards

    manifest = list_shards(str(data), "train")[1]
    metrics = task.evaluate(network, validation_batches(config.eval_batches))
    report = {
        "model": model, "task": task.describe(),
        "data": {"root": str(data), "source": manifest["source"], "dataset": manifest["dataset"],
                 "version": manifest["version"], "config_hash": manifest["config_hash"]},
        "config": asdict(config), "steps": steps,
        "resumed_from": resumed_from, "stopped_early": stopped_early, "metrics": metrics,
        "first_losses": losses[:5], "last_losses": losses[-5:], "history": state["history"],
        "seconds": round(time.time() - started, 1), "parameters": int(network.count_params()),
    }
    if run.chief:
        baseline = task.baseline(validation_batches(config.baseline_batches, train_split=True),
                                 validation_batches(config.eval_batches))
        if baseline:
            report["baseline"] = baseline
        report.update(task.extras(network))
        network.save(run.dir / "model.keras")
        run.write_json("report.json", report)
    return report


def _fingerprint(strategy, batch) -> str:
    """A short hash of the local part of a batch, to prove which data a step consumed."""
    first = batch[sorted(batch)[0]]
    local = strategy.experimental_local_results(first)[0]
    return hashlib.sha1(local.numpy().tobytes()).hexdigest()[:16]


def evaluate(run_dir: str | Path) -> dict[str, Any]:
    """Reload a finished run's model and measure it again on the validation split."""
    import keras

    from models.layers import CUSTOM_OBJECTS
    from models.tasks import TASKS
    from pipeline.features.stream import Stream

    run_dir = Path(run_dir)
    report = json.loads((run_dir / "report.json").read_text())
    config = TrainConfig(**report["config"])
    task = TASKS[report["model"]](report["data"]["root"], dict(config.options))
    task.prepare(run_dir)
    network = keras.models.load_model(run_dir / "model.keras", custom_objects=CUSTOM_OBJECTS)
    size = min(config.batch_size, 8)
    stream = Stream(report["data"]["root"], task.feature(train=False), split="validation", batch_size=size,
                    seed=config.seed, shuffle=False, epochs=1, **task.stream_options)
    return task.evaluate(network, list(stream.dataset().take(config.eval_batches * max(1, config.batch_size // size))))


def main() -> None:
    parser = argparse.ArgumentParser(description="Train a datamill model (one process per worker).")
    parser.add_argument("--model", required=True)
    parser.add_argument("--data", required=True)
    parser.add_argument("--run-dir", required=True)
    parser.add_argument("--config", help="JSON of TrainConfig fields")
    parser.add_argument("--resume", action="store_true")
    args = parser.parse_args()
    config = TrainConfig(**json.loads(args.config)) if args.config else TrainConfig()
    report = train(args.model, args.data, args.run_dir, config, resume=args.resume)
    print(json.dumps({"metrics": report["metrics"], "steps": report["steps"]}))


if __name__ == "__main__":
    main()
