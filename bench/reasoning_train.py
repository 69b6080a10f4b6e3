"""The reasoner's training speed and its accuracy against examples seen.

Times, on a built reasoning dataset, the input stream alone (Parquet → feature → tf.data), the
recipe's train step alone (default options, batch 128, one real batch repeated), and, given a
finished run, the whole loop as that run measured it (examples over its training seconds, which
include evaluations and checkpoints); then prints the run's test exact match at each evaluation
against the training examples seen by then (the curve in the run's ``accuracy.png``).

    .venv/bin/python -m bench.reasoning_train --data data/shards/reasoning/seed0/questions [--run data/runs/reasoner]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def stream_speed(data: str, batch_size: int, batches: int) -> float:
    from models.reasoner import Reasoner
    from pipeline.features.stream import Stream

    stream = Stream(data, Reasoner(data, {}).feature(True), split="train", batch_size=batch_size, seed=0, epochs=None)
    iterator = iter(stream.dataset())
    next(iterator)
    started = time.perf_counter()
    for _ in range(batches):
        next(iterator)
    return batches * batch_size / (time.perf_counter() - started)


def step_speed(data: str, batch_size: int, steps: int) -> float:
    import tensorflow as tf

    from models.reasoner import Reasoner, load_rows
    from models.train import TrainConfig, _train_step, make_optimizer

    task = Reasoner(data, {})
    network = task.build_model()
    optimizer = make_optimizer(TrainConfig(steps=1000, learning_rate=0.002))
    optimizer.build(network.trainable_variables)
    step = _train_step(tf.distribute.get_strategy(), task, network, optimizer, TrainConfig(batch_size=batch_size))
    questions, answers, families = load_rows(data, "train", batch_size)
    import pyarrow as pa

    from pipeline.features.reasoning import FAMILY_NAMES

    batch = task.feature(True).arrays(pa.table({"question": questions, "answer": answers,
                                                "family": [FAMILY_NAMES[i] for i in families]}))
    batch = {k: tf.constant(v) for k, v in batch.items()}
    step(batch)
    started = time.perf_counter()
    for _ in range(steps):
        step(batch)
    return steps * batch_size / (time.perf_counter() - started)


def curve(run: Path) -> None:
    report = json.loads((run / "report.json").read_text())
    batch = report["config"]["batch_size"]
    seconds = report.get("training_seconds", report["seconds"])
    print(f"run {run}: {report['steps']} steps x {batch} = {report['steps'] * batch:,} examples seen "
          f"in {seconds:.0f} s of training (the last process of the run): {report['steps'] * batch / seconds:,.0f} "
          f"examples/s in the loop{', stopped by its time limit' if report.get('time_limit_reached') else ''}")
    for entry in report["history"]:
        families = {k.replace("test_exact_match_", ""): v for k, v in entry.items() if k.startswith("test_exact_match_")}
        print(f"  {entry['step'] * batch:>10,} examples: test exact match {entry.get('test_exact_match', float('nan')):.1%}  "
              + "  ".join(f"{k} {v:.0%}" for k, v in families.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--run", type=Path)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=10)
    args = parser.parse_args()
    print(f"input stream alone, batch {args.batch_size}: {stream_speed(args.data, args.batch_size, 200):,.0f} examples/s",
          flush=True)
    print(f"train step alone, batch {args.batch_size}: {step_speed(args.data, args.batch_size, args.steps):,.0f} "
          "examples/s", flush=True)
    if args.run:
        curve(args.run)


if __name__ == "__main__":
    main()
