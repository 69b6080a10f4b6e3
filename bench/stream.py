"""Feeding tf.data from Parquet shards: datamill's stream against TFRecord (the TFDS format) and Hugging Face.

Same data, same run, batch 256, shuffled, for a text dataset and an image dataset:

- datamill: the manifest's Parquet files read in place (window shuffle of 16 batches);
- TFRecord: the rows converted to tf.train.Example files first (conversion timed apart),
  then TFRecordDataset with parallel reads, a shuffle buffer of the same size, batched parsing;
- Hugging Face: load_dataset("parquet") (which builds its Arrow cache), then to_tf_dataset
  for text; for images (a binary column, which to_tf_dataset refuses) its numpy batch
  iterator into from_generator.

End to end = rows / (conversion or cache time + first pass); warm = a second pass.
Extra disk = what each needs beside the Parquet shards.

    .venv/bin/python -m bench.stream [--text-rows 200000] [--image-rows 20000]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from pipeline.features import Columns  # noqa: E402
from pipeline.features.stream import Stream  # noqa: E402
from pipeline.store.shards import SPLIT_COLUMN, DatasetSpec, Part, PartInput, ShardSet  # noqa: E402

BATCH, WINDOW = 256, 16
WORDS = "the of and in to was is for on as with by at from city river war film team season album school".split()


def build_dataset(root: Path, kind: str, rows: int) -> list[str]:
    """A datamill dataset (manifest and all) of ``rows`` rows, in 8 parts."""
    rng = random.Random(1)
    if kind == "text":
        schema = pa.schema([("id", pa.int64()), ("text", pa.string())])
        pool = None
    else:
        from tests.fixtures.imagenet_upstream import SORTED, jpeg, picture

        schema = pa.schema([("id", pa.int64()), ("image", pa.binary()), ("label", pa.int64())])
        pool = [(jpeg(picture(SORTED[i % 4], rng).resize((128, 128))), i % 4) for i in range(400)]
    spec = DatasetSpec(root, "bench", kind, "v1", schema, {"kind": kind}, "CC0", target_shard_bytes=32 << 20,
                       uncompressed_columns=("image",))
    per_part = rows // 8
    parts = [Part(f"p{i}", (PartInput(f"p{i}", "0" * 64),), {"i": i}) for i in range(8)]

    def read(part, rejects):
        start = part.options["i"] * per_part
        ids = np.arange(start, start + per_part)
        if kind == "text":  # every text its own, so the data compresses like real text, not like a pool
            words = np.random.default_rng(part.options["i"]).integers(0, len(WORDS), size=(per_part, 100))
            columns = {"id": ids, "text": [" ".join(WORDS[w] for w in row[: 40 + row[0] * 5]) for row in words]}
        else:
            columns = {"id": ids, "image": [pool[i % len(pool)][0] for i in ids],
                       "label": [pool[i % len(pool)][1] for i in ids]}
        yield pa.table({**columns, SPLIT_COLUMN: ["train"] * per_part})

    shard_set = ShardSet(spec)
    for part in parts:
        shard_set.build_part(part, read)
    manifest = shard_set.finalize(parts)
    return [str(root / s["file"]) for s in manifest["shards"]]


def disk(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def drain(ds) -> int:
    rows = 0
    for batch in ds:
        first = batch[next(iter(batch))] if isinstance(batch, dict) else batch[0]
        rows += int(first.shape[0])
    return rows


def timed(fn):
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def datamill(root: Path, columns: list[str], types: dict[str, str]):
    def dataset():
        return Stream(str(root), Columns(columns, types), batch_size=BATCH, window_batches=WINDOW, seed=1).dataset()
    return 0.0, 0, dataset


def tfrecord(files: list[str], work: Path, kind: str):
    import tensorflow as tf

    def convert() -> list[str]:
        out = []
        for i, path in enumerate(files):
            target = str(work / f"part-{i:05d}.tfrecord")
            with tf.io.TFRecordWriter(target) as writer:
                for batch in pq.ParquetFile(path).iter_batches(batch_size=4096):
                    data = batch.to_pydict()
                    for j in range(batch.num_rows):
                        feature = {"id": tf.train.Feature(int64_list=tf.train.Int64List(value=[data["id"][j]]))}
                        if kind == "text":
                            feature["text"] = tf.train.Feature(bytes_list=tf.train.BytesList(value=[data["text"][j].encode()]))
                        else:
                            feature["image"] = tf.train.Feature(bytes_list=tf.train.BytesList(value=[data["image"][j]]))
                            feature["label"] = tf.train.Feature(int64_list=tf.train.Int64List(value=[data["label"][j]]))
                        writer.write(tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString())
            out.append(target)
        return out

    seconds, records = timed(convert)
    spec = {"id": tf.io.FixedLenFeature([], tf.int64)}
    spec |= {"text": tf.io.FixedLenFeature([], tf.string)} if kind == "text" else {
        "image": tf.io.FixedLenFeature([], tf.string), "label": tf.io.FixedLenFeature([], tf.int64)}

    def dataset():
        ds = tf.data.TFRecordDataset(records, num_parallel_reads=4)
        ds = ds.shuffle(BATCH * WINDOW, seed=1).batch(BATCH, drop_remainder=True)
        return ds.map(lambda x: tf.io.parse_example(x, spec), num_parallel_calls=tf.data.AUTOTUNE).prefetch(
            tf.data.AUTOTUNE)
    return seconds, disk(work), dataset


def huggingface(files: list[str], work: Path, kind: str):
    import datasets
    import tensorflow as tf

    seconds, table = timed(lambda: datasets.load_dataset("parquet", data_files=files, split="train",
                                                         cache_dir=str(work)))
    if kind == "text":
        def dataset():
            return table.to_tf_dataset(columns=["id", "text"], batch_size=BATCH, shuffle=True, drop_remainder=True)
    else:
        numpy = table.with_format("numpy", columns=["id", "image", "label"])
        signature = {"id": tf.TensorSpec((None,), tf.int64), "image": tf.TensorSpec((None,), tf.string),
                     "label": tf.TensorSpec((None,), tf.int64)}

        def dataset():
            def batches():
                for batch in numpy.shuffle(seed=1).iter(batch_size=BATCH, drop_last_batch=True):
                    yield batch
            return tf.data.Dataset.from_generator(batches, output_signature=signature).prefetch(tf.data.AUTOTUNE)
    return seconds, disk(work), dataset


def warm_up_tensorflow() -> None:
    """TF's one-off start-up (threads, kernels) must not be charged to whichever tool runs first."""
    import tensorflow as tf

    drain(tf.data.Dataset.from_tensor_slices({"x": np.arange(1024)}).batch(256).map(lambda b: b))


def run(kind: str, rows: int, base: Path) -> None:
    root = base / kind / "dataset"
    files = build_dataset(root, kind, rows)
    columns = ["id", "text"] if kind == "text" else ["id", "image", "label"]
    types = {"id": "int64", "text": "string", "image": "binary", "label": "int64"}
    parquet_mb = sum(Path(f).stat().st_size for f in files) / 1e6  # the snapshot's shards (not packed-away work files)
    print(f"\n[{kind}] {rows:,} rows, {len(files)} Parquet shards, {parquet_mb:.0f} MB")
    results = {}
    for name, make in (("datamill", lambda: datamill(root, columns, types)),
                       ("tfrecord", lambda: tfrecord(files, _fresh(base / kind / "tfrecord"), kind)),
                       ("huggingface", lambda: huggingface(files, _fresh(base / kind / "hf"), kind))):
        prepare, extra, dataset = make()
        first, n = timed(lambda: drain(dataset()))
        warm, _ = timed(lambda: drain(dataset()))
        results[name] = (n / (prepare + first), n / warm, prepare, extra)
        print(f"  {name:12s} end to end {n / (prepare + first):9,.0f} ex/s   warm {n / warm:9,.0f} ex/s   "
              f"prep {prepare:6.1f} s   extra disk {extra / 1e6:7.0f} MB")
    ours = results["datamill"]
    for other in ("tfrecord", "huggingface"):
        print(f"  datamill / {other}: end to end {ours[0] / results[other][0]:.2f}x, warm {ours[1] / results[other][1]:.2f}x")


def _fresh(path: Path) -> Path:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--text-rows", type=int, default=200_000)
    parser.add_argument("--image-rows", type=int, default=20_000)
    args = parser.parse_args()
    warm_up_tensorflow()
    with tempfile.TemporaryDirectory() as tmp:
        run("text", args.text_rows, Path(tmp))
        run("images", args.image_rows, Path(tmp))


if __name__ == "__main__":
    main()
