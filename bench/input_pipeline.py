"""Input pipeline throughput per core: ImageNet-style images at 224 px and language-model tokens.

Images: shards of JPEGs stored as datamill's ImageNet shards store them (shorter side 256,
quality 90), fed through the stream and the image feature's train graph (JPEG decode +
random-resized crop to 224 + flip + normalize), on 1 core and on 2 cores (process affinity
and TF thread pools pinned), and the cores one GPU would need at 3,000 images/s. Text:
the language-model feature (tokenize + pack to 512 tokens) in tokens/s on one core.
Each measurement runs in its own process so the pinning holds.

    .venv/bin/python -m bench.input_pipeline [--images 3000] [--texts 20000]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

GPU_IMAGES_PER_SECOND = 3000


def build_images(root: Path, count: int) -> None:
    import io
    import random

    import numpy as np
    import pyarrow as pa

    from pipeline.store.shards import SPLIT_COLUMN, DatasetSpec, Part, PartInput, ShardSet
    from tests.fixtures.imagenet_upstream import SORTED, picture

    rng = random.Random(1)
    pool = []
    for i in range(100):
        out = io.BytesIO()
        picture(SORTED[i % 4], rng).resize((341, 256)).save(out, "JPEG", quality=90)
        pool.append(out.getvalue())
    schema = pa.schema([("image", pa.struct([("bytes", pa.binary()), ("path", pa.string())])), ("label", pa.int64())])
    spec = DatasetSpec(root=root, source="bench", dataset="images", version="v1", schema=schema, config={},
                       license="CC0", uncompressed_columns=("image",))
    parts = [Part(f"p{i}", (PartInput(f"p{i}", "0" * 64),), {"i": i}) for i in range(8)]

    def read(part, rejects):
        ids = np.arange(part.options["i"], count, 8)
        yield pa.table({"image": [{"bytes": pool[i % len(pool)], "path": f"{i}.JPEG"} for i in ids],
                        "label": ids % 4, SPLIT_COLUMN: ["train"] * len(ids)}, schema=schema.append(
                            pa.field(SPLIT_COLUMN, pa.string())))
    shard_set = ShardSet(spec)
    for part in parts:
        shard_set.build_part(part, read)
    shard_set.finalize(parts)


def build_text(root: Path, count: int) -> None:
    from bench.stream import build_dataset
    from pipeline.features.text import train_tokenizer

    build_dataset(root, "text", count)
    train_tokenizer(str(root), ["text"], vocab_size=8000)


def child(kind: str, root: str, cores: int) -> dict:
    """Runs pinned to ``cores`` CPUs: one full pass over the data, after a short warm-up."""
    os.sched_setaffinity(0, set(range(cores)))
    import tensorflow as tf

    tf.config.threading.set_inter_op_parallelism_threads(cores)
    tf.config.threading.set_intra_op_parallelism_threads(cores)
    from pipeline.features.image import ImageClassification
    from pipeline.features.stream import Stream
    from pipeline.features.text import PackedText, find_tokenizer, load_tokenizer

    if kind == "images":
        feature, batch = ImageClassification(224, train=True), 128
    else:
        feature, batch = PackedText(load_tokenizer(find_tokenizer(root)), 512), 32
    ds = Stream(root, feature, batch_size=batch, seed=1, epochs=2).dataset()
    options = tf.data.Options()
    options.threading.private_threadpool_size = cores
    ds = ds.with_options(options)
    iterator, units, started = iter(ds), 0, None
    for i, element in enumerate(iterator):
        if i == 3:
            started, units = time.perf_counter(), 0
        units += int(element["image"].shape[0]) if kind == "images" else int(tf.size(element["inputs"]))
    return {"per_second": units / (time.perf_counter() - started), "cores": cores}


def run(kind: str, root: Path, cores: int) -> dict:
    got = subprocess.run([sys.executable, "-m", "bench.input_pipeline", "--child", kind, str(root), str(cores)],
                         capture_output=True, text=True, check=True, cwd=Path(__file__).resolve().parents[1])
    return json.loads(got.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=3000)
    parser.add_argument("--texts", type=int, default=20000)
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child[0], args.child[1], int(args.child[2]))))
        return
    available = len(os.sched_getaffinity(0))
    with tempfile.TemporaryDirectory() as tmp:
        images, text = Path(tmp) / "images", Path(tmp) / "text"
        build_images(images, args.images)
        one = run("images", images, 1)["per_second"]
        print(f"images (JPEG decode + random-resized crop 224 + flip + normalize): 1 core {one:,.0f} images/s")
        if available >= 2:
            two = run("images", images, 2)["per_second"]
            print(f"  2 cores {two:,.0f} images/s ({two / one:.2f}x of 1 core)")
        print(f"  one GPU at {GPU_IMAGES_PER_SECOND:,} images/s needs ~{GPU_IMAGES_PER_SECOND / one:.0f} such cores")
        build_text(text, args.texts)
        tokens = run("text", text, 1)["per_second"]
        print(f"language model (tokenize + pack to 512): 1 core {tokens:,.0f} tokens/s")


if __name__ == "__main__":
    main()
