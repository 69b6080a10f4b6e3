"""Which feature suits which dataset, and how to show a batch of it to a person."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from pipeline.errors import ConfigError
from pipeline.features import Columns
from pipeline.features.image import ImageClassification
from pipeline.features.stream import list_shards
from pipeline.features.text import PackedText, TranslationPairs, decode, find_tokenizer, load_tokenizer

KINDS = ("auto", "columns", "lm", "pairs", "images")


def default_kind(manifest: dict[str, Any]) -> str:
    return {("wikipedia", "articles"): "lm", ("tatoeba", "pairs"): "pairs",
            ("imagenet", "classification"): "images"}.get((manifest["source"], manifest["dataset"]), "columns")


def feature_for(root: str, split: str, kind: str = "auto", *, seq_len: int = 128, max_len: int = 32,
                image_size: int = 224, train: bool = True, columns: list[str] | None = None):
    """(feature, manifest) for a dataset; text features load the tokenizer trained on this data version."""
    if kind not in KINDS:
        raise ConfigError(f"--feature: choose from {', '.join(KINDS)}, not {kind!r}")
    _, manifest = list_shards(root, split)
    kind = default_kind(manifest) if kind == "auto" else kind
    if kind == "columns":
        return Columns.from_manifest(manifest, columns), manifest
    if kind == "images":
        return ImageClassification(image_size, train=train), manifest
    tokenizer = load_tokenizer(find_tokenizer(root))
    if kind == "lm":
        return PackedText(tokenizer, seq_len, (columns or ["text"])[0]), manifest
    return TranslationPairs(tokenizer, max_len), manifest


def describer(feature) -> Callable[[dict[str, Any], int], str]:
    """A function that renders example ``i`` of a batch as one readable line."""
    if isinstance(feature, PackedText):
        return lambda b, i: f"inputs: {decode(feature.tokenizer, np.asarray(b['inputs'][i]))!r}"
    if isinstance(feature, TranslationPairs):
        return lambda b, i: (f"{decode(feature.tokenizer, np.asarray(b['encoder_inputs'][i]))!r} → "
                             f"{decode(feature.tokenizer, np.asarray(b['targets'][i]))!r}")
    if isinstance(feature, ImageClassification):
        return lambda b, i: (f"image {tuple(np.asarray(b['image'][i]).shape)} "
                             f"mean {float(np.mean(b['image'][i])):+.3f}, label {int(b['label'][i])}")

    def columns(b, i):
        values = {k: (v[i].decode() if isinstance(v[i], bytes) else v[i]) for k, v in
                  ((k, np.asarray(v)) for k, v in b.items())}
        return ", ".join(f"{k}={v!r}" for k, v in values.items())
    return columns


class StreamCursor:
    """Examples of a stream one at a time, with a position that resumes at the very next example.

    A stream position is a batch boundary; the cursor adds how many examples of the next batch
    were already shown, so ``--take N --save-position F`` then ``--resume F --take M`` prints
    exactly the continuation.
    """

    def __init__(self, root: str, feature, *, saved: dict[str, Any] | None = None, **options: Any) -> None:
        from pipeline.features.stream import Stream

        saved = saved or {}
        self.skip = int(saved.get("examples_into_batch", 0))
        self.stream = Stream(root, feature, start=saved.get("stream"), **options)
        self.batches, self.into = 0, self.skip

    def examples(self, take: int):
        """(batch as NumPy, index) for the next ``take`` examples."""
        if take <= 0:
            return
        shown = 0
        for batch in self.stream.dataset():
            arrays = {k: v.numpy() for k, v in batch.items()}
            size = int(next(iter(arrays.values())).shape[0])
            for i in range(self.into, size):
                yield arrays, i
                shown, self.into = shown + 1, i + 1
                if shown >= take:
                    if self.into == size:
                        self.batches, self.into = self.batches + 1, 0
                    return
            self.batches, self.into = self.batches + 1, 0

    def position(self) -> dict[str, Any]:
        return {"stream": self.stream.position(self.batches), "examples_into_batch": self.into}


def to_json(batch: dict[str, Any], i: int) -> dict[str, Any]:
    """Example ``i`` of a batch as JSON values (text as UTF-8; other bytes as base64)."""
    import base64

    def value(v):
        if isinstance(v, bytes):
            try:
                return v.decode("utf-8")
            except UnicodeDecodeError:
                return {"base64": base64.b64encode(v).decode()}
        return v.tolist() if isinstance(v, np.ndarray) else (v.item() if isinstance(v, np.generic) else v)
    return {k: value(np.asarray(v)[i] if not isinstance(v, (bytes, str)) else v) for k, v in batch.items()}
