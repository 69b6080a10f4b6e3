"""Is training input-bound? Step time fed by the stream against the same batches cached in memory.

Same model, same optimizer, same batches: first fed live from the Parquet stream (decode
and augmentation in the graph), then from a list of those batches already decoded in
memory. Bar: stream / cached ≤ 1.1x.

    .venv/bin/python -m bench.train_step [--steps 60]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from bench.stream import build_dataset  # noqa: E402
from models.tasks import ImageClassifier, LanguageModel  # noqa: E402
from models.train import TrainConfig, make_optimizer  # noqa: E402
from pipeline.features.stream import Stream  # noqa: E402


def step_function(task, network, optimizer):
    @tf.function
    def step(batch):
        inputs, targets = task.split(batch)
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(task.per_example_loss(targets, network(inputs, training=True)))
        optimizer.apply_gradients(zip(tape.gradient(loss, network.trainable_variables), network.trainable_variables))
        return loss
    return step


def seconds_per_step(step, batches, steps: int) -> float:
    iterator = iter(batches)
    for _ in range(5):  # trace and warm up
        float(step(next(iterator)))
    start = time.perf_counter()
    for _ in range(steps):
        float(step(next(iterator)))
    return (time.perf_counter() - start) / steps


def run(name: str, task, stream_kwargs: dict, steps: int) -> None:
    keras.utils.set_random_seed(0)
    network = task.build_model()
    step = step_function(task, network, make_optimizer(TrainConfig(steps=1000)))
    stream = Stream(feature=task.feature(train=True), epochs=None, **stream_kwargs, **task.stream_options)
    live = seconds_per_step(step, stream.dataset(), steps)
    cached_batches = list(Stream(feature=task.feature(train=True), epochs=None, **stream_kwargs,
                                 **task.stream_options).dataset().take(steps + 5))
    cached = seconds_per_step(step, cached_batches, steps)
    print(f"[{name}] {network.count_params():,} parameters, batch {stream_kwargs['batch_size']}: "
          f"stream {live * 1000:.1f} ms/step, cached {cached * 1000:.1f} ms/step, ratio {live / cached:.3f}x")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=60)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        images = Path(tmp) / "images"
        build_dataset(images, "images", 8000)
        task = ImageClassifier(str(images), {"image_size": 64, "width": 16, "depth": 1, "classes": 4})
        task.prepare(tmp)
        run("image classifier (ResNet, 64 px)", task, {"root": str(images), "batch_size": 64}, args.steps)
        text = Path(tmp) / "text"
        build_dataset(text, "text", 40000)
        task = LanguageModel(str(text), {"seq_len": 128, "vocab": 2000, "dim": 128, "layers": 2})
        task.prepare(tmp)
        run("language model (Transformer, 128 tokens)", task, {"root": str(text), "batch_size": 32}, args.steps)


if __name__ == "__main__":
    main()
