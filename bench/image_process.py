"""Image throughput per core: datamill's decode + validate + resize + encode against a plain Pillow loop.

The plain loop (decode, convert to RGB, resize the shorter side to 256, encode JPEG q90)
is the practical limit: it validates nothing and handles no quirk. Both run on one thread
over the same generated photo-like JPEGs (ImageNet's typical ~500x375 and some larger),
in the same run.

    .venv/bin/python -m bench.image_process [--images 400]
"""

from __future__ import annotations

import argparse
import io
import random
import time

import numpy as np
from PIL import Image, ImageFilter

from pipeline.formats.images import ImageOptions, process


def photo(rng: random.Random) -> bytes:
    """A photo-like JPEG: smooth shapes plus sensor-like noise, so it compresses like a photo."""
    width, height = rng.choice([(500, 375), (500, 333), (375, 500), (640, 480), (1024, 768), (2048, 1536)])
    base = np.random.default_rng(rng.randint(0, 10**9)).integers(0, 255, (height // 16 + 1, width // 16 + 1, 3))
    image = Image.fromarray(base.astype(np.uint8)).resize((width, height), Image.Resampling.BICUBIC)
    noise = np.random.default_rng(rng.randint(0, 10**9)).normal(0, 12, (height, width, 3))
    image = Image.fromarray(np.clip(np.asarray(image) + noise, 0, 255).astype(np.uint8)).filter(ImageFilter.SMOOTH)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=92)
    return out.getvalue()


def plain_pillow(data: bytes) -> bytes:
    image = Image.open(io.BytesIO(data)).convert("RGB")
    width, height = image.size
    scale = 256 / min(width, height)
    image = image.resize((round(width * scale), round(height * scale)), Image.Resampling.BICUBIC)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    return out.getvalue()


def datamill(data: bytes) -> bytes:
    return process(data, ImageOptions(size=256, quality=90)).data


def rate(fn, images: list[bytes]) -> float:
    start = time.process_time()
    for data in images:
        fn(data)
    return len(images) / (time.process_time() - start)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=400)
    args = parser.parse_args()
    rng = random.Random(7)
    images = [photo(rng) for _ in range(args.images)]
    print(f"input: {len(images)} generated JPEGs, {sum(map(len, images)) / 1e6:.1f} MB, "
          f"sizes 375x500 to 2048x1536")
    rate(datamill, images[:20]), rate(plain_pillow, images[:20])  # warm up
    typical = [d for d in images if max(Image.open(io.BytesIO(d)).size) <= 500]
    for label, subset in (("all sizes", images), (f"<=500 px only ({len(typical)})", typical)):
        ours, theirs = rate(datamill, subset), rate(plain_pillow, subset)
        print(f"[{label}] datamill (decode + validate + draft + resize + encode): {ours:7.1f} images/s per core")
        print(f"[{label}] plain Pillow (decode + resize + encode)                : {theirs:7.1f} images/s per core")
        print(f"[{label}] datamill / plain Pillow: {ours / theirs:.2f}x")


if __name__ == "__main__":
    main()
