"""Shuffle quality against speed on class-sorted shards: datamill's stream vs TFRecord vs Hugging Face.

Shards one class per file (as ImageNet's per-synset tars give), ``--classes`` classes of
~``--rows-per-class`` rows (small parts: the commit packs them into a few files, classes in
part order before scattering). For each reader, at batch 256 with a shuffle buffer of 16
batches: rows/s, mean distinct labels per batch against the
i.i.d. expectation, and the share of classes seen in the first 10% of the epoch.

- datamill: ``Stream`` (every file read at once, proportionally; a window of 16 batches);
- TFRecord (TFDS style): one file per class, ``interleave(cycle_length=16)`` over shuffled
  files, then ``shuffle(4096)``; and ``tfrecord-all``: every file interleaved at once, the
  closest TFRecord gets to equal shuffle quality;
- Hugging Face: ``load_dataset("parquet")`` then ``to_tf_dataset(shuffle=True)`` (a full
  index shuffle: i.i.d. by construction, random access).

    .venv/bin/python -m bench.class_mix [--classes 1000 --rows-per-class 100]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402

from pipeline.store.shards import SPLIT_COLUMN, DatasetSpec, Part, PartInput, ShardSet  # noqa: E402

BATCH, WINDOW = 256, 16


def build(root: Path, classes: int, per_class: int) -> list[str]:
    """One part (one file) per class; a 1 KB payload per row so reading costs something."""
    schema = pa.schema([("id", pa.int64()), ("label", pa.int64()), ("payload", pa.binary())])
    spec = DatasetSpec(root=root, source="bench", dataset="sorted", version="v1", schema=schema, config={},
                       license="CC0", uncompressed_columns=("payload",))
    shard_set, parts = ShardSet(spec), []
    sizes = np.random.default_rng(0).integers(per_class // 2, per_class * 3 // 2 + 1, classes)
    first = 0
    for label, size in enumerate(sizes):
        part = Part(f"c{label:05d}", (PartInput(f"c{label}", "0" * 64),))
        ids = np.arange(first, first + size)
        first += size

        def read(part, rejects, ids=ids, label=label):
            yield pa.table({"id": ids, "label": np.full(len(ids), label), "payload": [b"x" * 1024] * len(ids),
                            SPLIT_COLUMN: ["train"] * len(ids)})
        shard_set.build_part(part, read)
        parts.append(part)
    manifest = shard_set.finalize(parts)
    return [str(root / s["file"]) for s in manifest["shards"]]


def quality(labels: list[np.ndarray], classes: int) -> tuple[float, float]:
    distinct = float(np.mean([len(np.unique(b)) for b in labels]))
    early = len(np.unique(np.concatenate(labels[: max(1, len(labels) // 10)]))) / classes
    return distinct, early


def measure(name: str, dataset, classes: int) -> None:
    started, labels = time.perf_counter(), []
    for batch in dataset:
        labels.append(np.asarray(batch["label"]))
    seconds = time.perf_counter() - started
    rows = sum(len(b) for b in labels)
    distinct, early = quality(labels, classes)
    iid = classes * (1 - (1 - 1 / classes) ** BATCH)
    print(f"  {name:13s} {rows / seconds:9,.0f} rows/s   distinct labels/batch {distinct:6.1f} "
          f"({distinct / iid:4.0%} of i.i.d. {iid:.1f})   classes in first 10%: {early:4.0%}")


def datamill(root: Path):
    from pipeline.features import Columns
    from pipeline.features.stream import Stream

    return Stream(str(root), Columns(["id", "label"], {"id": "int64", "label": "int64"}), batch_size=BATCH,
                  window_batches=16, seed=1).dataset()


def tfrecord(files: list[str], work: Path, cycle: int = 16):
    import pyarrow.parquet as pq
    import tensorflow as tf

    records = sorted(str(p) for p in work.glob("*.tfrecord"))
    if records:  # converted already (the second configuration)
        return _tfrecord_dataset(records, cycle)
    for i, path in enumerate(files):
        records.append(str(work / f"{i:05d}.tfrecord"))
        with tf.io.TFRecordWriter(records[-1]) as writer:
            table = pq.read_table(path).to_pydict()
            for j in range(len(table["id"])):
                feature = {k: tf.train.Feature(int64_list=tf.train.Int64List(value=[table[k][j]]))
                           for k in ("id", "label")}
                feature["payload"] = tf.train.Feature(bytes_list=tf.train.BytesList(value=[table["payload"][j]]))
                writer.write(tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString())
    return _tfrecord_dataset(records, cycle)


def _tfrecord_dataset(records: list[str], cycle: int):
    import tensorflow as tf

    spec = {"id": tf.io.FixedLenFeature([], tf.int64), "label": tf.io.FixedLenFeature([], tf.int64),
            "payload": tf.io.FixedLenFeature([], tf.string)}
    ds = tf.data.Dataset.from_tensor_slices(records).shuffle(len(records), seed=1)
    ds = ds.interleave(tf.data.TFRecordDataset, cycle_length=cycle, num_parallel_calls=tf.data.AUTOTUNE,
                       deterministic=True)
    ds = ds.shuffle(BATCH * WINDOW, seed=1).batch(BATCH, drop_remainder=True)
    return ds.map(lambda x: tf.io.parse_example(x, spec), num_parallel_calls=tf.data.AUTOTUNE).prefetch(2)


def huggingface(files: list[str], work: Path):
    import datasets

    table = datasets.load_dataset("parquet", data_files=files, split="train", cache_dir=str(work))
    return table.to_tf_dataset(columns=["id", "label"], batch_size=BATCH, shuffle=True, drop_remainder=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--classes", type=int, default=1000)
    parser.add_argument("--rows-per-class", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        files = build(base / "sorted", args.classes, args.rows_per_class)
        print(f"{args.classes} classes, one file each, {args.rows_per_class} rows per class on average, batch {BATCH}")
        for name, make in (("datamill", lambda: datamill(base / "sorted")),
                           ("tfrecord", lambda: tfrecord(files, _mkdir(base / "tfrecord"))),
                           ("tfrecord-all", lambda: tfrecord(files, _mkdir(base / "tfrecord"), len(files))),
                           ("huggingface", lambda: huggingface(files, _mkdir(base / "hf")))):
            measure(name, make(), args.classes)


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


if __name__ == "__main__":
    main()
