"""The four model tasks: what each trains on, its network, its loss and its evaluation.

Every task feeds the one training loop in ``models/train.py``: it names its stream feature,
builds a Keras model, splits a batch into (inputs, targets), gives a per-example loss, and
evaluates on validation batches (plus, for classification, a k-NN baseline on the same
features, so the deep model can be judged against something simple).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Iterable

import keras
import numpy as np
from keras import layers, ops

from models import baselines
from models.layers import TokenAndPosition, decoder_block, encoder_block, padding_mask
from models.metrics import chrf
from pipeline.features.image import ImageClassification
from pipeline.features.text import (BOS, EOS, LabelledText, PackedText, TranslationPairs, decode,
                                    ensure_tokenizer, label_values, load_tokenizer)


@dataclass
class Task:
    """Base: options common to all tasks; subclasses fill in the rest."""

    data: str
    options: dict[str, Any] = field(default_factory=dict)
    primary: str = "loss"  # the validation metric early stopping watches
    mode: str = "min"
    stream_options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """Subclasses set their metric and defaults here."""

    def option(self, name: str, default: Any) -> Any:
        return self.options.get(name, default)

    def prepare(self, run_dir) -> None:
        """Anything the task must derive from the data before training (tokenizer, label set)."""

    def describe(self) -> dict[str, Any]:
        return {"task": type(self).__name__, "data": self.data, "options": self.options}

    def vocabulary(self) -> dict[str, Any]:
        """What ids the network's inputs and outputs mean (a run can only be fine-tuned under the same)."""
        tokenizer = getattr(self, "tokenizer", None)
        if tokenizer is None:
            return {}
        import hashlib
        import json

        vocab = json.dumps(sorted(tokenizer.get_vocab().items()))
        return {"tokens": hashlib.sha256(vocab.encode()).hexdigest()[:16]}

    def per_example_loss(self, targets, outputs):
        loss = keras.losses.sparse_categorical_crossentropy(targets, outputs, from_logits=True)
        return ops.mean(loss, axis=tuple(range(1, len(loss.shape)))) if len(loss.shape) > 1 else loss

    def baseline(self, train_batches: Iterable[dict], validation_batches: Iterable[dict]) -> dict[str, float]:
        return {}

    def classification_metrics(self, model, batches: Iterable[dict], inputs: str) -> dict[str, float]:
        """Mean loss and accuracy of a classifier whose batches hold ``inputs`` and ``label``."""
        losses, correct, total = [], 0, 0
        for batch in batches:
            logits = model(batch[inputs], training=False)
            losses.append(float(ops.mean(self.per_example_loss(batch["label"], logits))))
            correct += int(np.sum(np.argmax(np.asarray(logits), -1) == np.asarray(batch["label"])))
            total += len(batch["label"])
        return {"loss": float(np.mean(losses)) if losses else float("nan"), "accuracy": correct / max(1, total)}

    def extras(self, model) -> dict[str, Any]:
        return {}


class ImageClassifier(Task):
    """A small ResNet on ImageNet-style shards; reports accuracy, and a k-NN baseline on pixels."""

    def __post_init__(self) -> None:
        self.primary, self.mode = "accuracy", "max"
        self.size = self.option("image_size", 64)
        self.classes = self.option("classes", None)
        # Every file is read at once (the stream's default): a few rows each keeps memory at
        # about files x 16 images.
        self.stream_options = {"read_rows": 16}

    def prepare(self, run_dir) -> None:
        if self.classes is None:
            import json

            import fsspec

            fs, base = fsspec.core.url_to_fs(self.data)
            with fs.open(f"{base.rstrip('/')}/classes.json", "r") as handle:
                self.classes = len(json.load(handle))

    def feature(self, train: bool):
        return ImageClassification(self.size, train=train)

    def build_model(self) -> keras.Model:
        width, depth = self.option("width", 16), self.option("depth", 2)
        inputs = keras.Input((self.size, self.size, 3))
        x = layers.Conv2D(width, 3, padding="same", use_bias=False)(inputs)
        x = layers.Activation("relu")(layers.BatchNormalization()(x))
        for stage in range(3):
            for block in range(depth):
                x = _residual(x, width * 2**stage, stride=2 if block == 0 and stage > 0 else 1)
        x = layers.GlobalAveragePooling2D()(x)
        return keras.Model(inputs, layers.Dense(self.classes, dtype="float32")(x), name="resnet")

    def split(self, batch):
        return batch["image"], batch["label"]

    def evaluate(self, model, batches: Iterable[dict]) -> dict[str, float]:
        return self.classification_metrics(model, batches, "image")

    def vocabulary(self) -> dict[str, Any]:
        return {"classes": self.classes}

    def baseline(self, train_batches, validation_batches) -> dict[str, float]:
        def pixels(b):  # the same normalized pixels the network sees, shrunk to 16x16
            return np.asarray(keras.ops.image.resize(b["image"], (16, 16)))
        per_class = self.option("knn_per_class", 20)
        train_x, train_y = baselines.balanced_sample(train_batches, pixels, self.classes, per_class)
        test_x, test_y = baselines.balanced_sample(validation_batches, pixels, self.classes, 1 << 30)
        return {"knn_accuracy": baselines.knn_accuracy(train_x, train_y, test_x, test_y)}


class LanguageModel(Task):
    """A small Transformer decoder on Wikipedia/CommonCrawl text; reports perplexity."""

    def __post_init__(self) -> None:
        self.primary, self.mode = "perplexity", "min"
        self.seq_len = self.option("seq_len", 64)

    def prepare(self, run_dir) -> None:
        self.tokenizer = load_tokenizer(ensure_tokenizer(self.data, ["text"], self.option("vocab", 2000)))

    def feature(self, train: bool):
        return PackedText(self.tokenizer, self.seq_len)

    def build_model(self) -> keras.Model:
        dim, heads, blocks = self.option("dim", 64), self.option("heads", 4), self.option("layers", 2)
        vocab = self.tokenizer.get_vocab_size()
        ids = keras.Input((self.seq_len,), dtype="int32")
        x = TokenAndPosition(vocab, self.seq_len, dim)(ids)
        for _ in range(blocks):
            x = decoder_block(x, dim, heads, dim * 4, self.option("dropout", 0.1))
        return keras.Model(ids, layers.Dense(vocab, dtype="float32")(x), name="transformer_lm")

    def split(self, batch):
        return batch["inputs"], batch["targets"]

    def evaluate(self, model, batches) -> dict[str, float]:
        losses = [float(ops.mean(self.per_example_loss(b["targets"], model(b["inputs"], training=False))))
                  for b in batches]
        loss = float(np.mean(losses)) if losses else float("nan")
        return {"loss": loss, "perplexity": math.exp(min(loss, 50.0))}


class Translator(Task):
    """A Transformer encoder–decoder on Tatoeba pairs; reports chrF and greedy translations."""

    def __post_init__(self) -> None:
        self.primary, self.mode = "chrf", "max"
        self.max_len = self.option("max_len", 24)

    def prepare(self, run_dir) -> None:
        self.tokenizer = load_tokenizer(ensure_tokenizer(self.data, ["source_text", "target_text"],
                                                         self.option("vocab", 1000)))

    def feature(self, train: bool):
        return TranslationPairs(self.tokenizer, self.max_len)

    def build_model(self) -> keras.Model:
        dim, heads, blocks = self.option("dim", 64), self.option("heads", 4), self.option("layers", 2)
        dropout, vocab = self.option("dropout", 0.1), self.tokenizer.get_vocab_size()
        source = keras.Input((self.max_len,), dtype="int32", name="encoder_inputs")
        target = keras.Input((self.max_len,), dtype="int32", name="decoder_inputs")
        mask = padding_mask(source)
        memory = TokenAndPosition(vocab, self.max_len, dim)(source)
        for _ in range(blocks):
            memory = encoder_block(memory, dim, heads, dim * 4, dropout, mask)
        x = TokenAndPosition(vocab, self.max_len, dim)(target)
        for _ in range(blocks):
            x = decoder_block(x, dim, heads, dim * 4, dropout, memory, mask)
        return keras.Model([source, target], layers.Dense(vocab, dtype="float32")(x), name="transformer_translator")

    def split(self, batch):
        return (batch["encoder_inputs"], batch["decoder_inputs"]), batch["targets"]

    def per_example_loss(self, targets, outputs):
        return masked_sequence_loss(targets, outputs)

    def translate(self, model, sources: np.ndarray) -> list[str]:
        """Greedy decoding, one token at a time, for a batch of padded source ids."""
        decoder = np.zeros_like(sources)
        decoder[:, 0] = BOS
        done = np.zeros(len(sources), bool)
        for position in range(self.max_len - 1):
            logits = np.asarray(model([sources, decoder], training=False))
            next_ids = logits[:, position].argmax(-1)
            decoder[:, position + 1] = np.where(done, 0, next_ids)
            done |= next_ids == EOS
            if done.all():
                break
        return [decode(self.tokenizer, row[1:][: int(np.argmax(row[1:] == EOS)) or None]) for row in decoder]

    def evaluate(self, model, batches) -> dict[str, float]:
        losses, hypotheses, references = [], [], []
        for b in batches:
            logits = model([b["encoder_inputs"], b["decoder_inputs"]], training=False)
            losses.append(float(ops.mean(self.per_example_loss(b["targets"], logits))))
            hypotheses += self.translate(model, np.asarray(b["encoder_inputs"]))
            references += [decode(self.tokenizer, row) for row in np.asarray(b["targets"])]
        return {"loss": float(np.mean(losses)) if losses else float("nan"), "chrf": chrf(hypotheses, references)}

    def extras(self, model) -> dict[str, Any]:
        sentences = self.option("examples", ["I see the red cat.", "We want the blue ball.", "They take the black hat."])
        ids = np.zeros((len(sentences), self.max_len), np.int32)
        for row, encoding in enumerate(self.tokenizer.encode_batch(sentences, add_special_tokens=False)):
            ids[row, : min(len(encoding.ids), self.max_len)] = encoding.ids[: self.max_len]
        return {"translations": dict(zip(sentences, self.translate(model, ids)))}


class LanguageIdentifier(Task):
    """Which language a sentence is in, on Tatoeba sentences; reports accuracy and a k-NN baseline."""

    def __post_init__(self) -> None:
        self.primary, self.mode = "accuracy", "max"
        self.max_len = self.option("max_len", 48)

    def prepare(self, run_dir) -> None:
        import json
        from pathlib import Path

        self.tokenizer = load_tokenizer(ensure_tokenizer(self.data, ["text"], self.option("vocab", 2000)))
        saved = Path(run_dir) / "labels.json"
        if saved.exists():  # a resumed run keeps the label order it started with
            self.labels = json.loads(saved.read_text())
        else:
            self.labels = label_values(self.data, "lang", min_count=self.option("min_count", 1))
            saved.write_text(json.dumps(self.labels))

    def feature(self, train: bool):
        return LabelledText(self.tokenizer, self.labels, self.max_len)

    def build_model(self) -> keras.Model:
        dim = self.option("dim", 64)
        tokens = keras.Input((self.max_len,), dtype="int32")
        x = layers.Embedding(self.tokenizer.get_vocab_size(), dim, mask_zero=False)(tokens)
        x = layers.Conv1D(dim, 3, padding="same", activation="relu")(x)
        x = layers.Conv1D(dim, 3, padding="same", activation="relu")(x)
        x = layers.GlobalMaxPooling1D()(x)
        x = layers.Dense(dim, activation="relu")(x)
        return keras.Model(tokens, layers.Dense(len(self.labels), dtype="float32")(x), name="language_id")

    def split(self, batch):
        return batch["tokens"], batch["label"]

    def evaluate(self, model, batches) -> dict[str, float]:
        return self.classification_metrics(model, batches, "tokens")

    def baseline(self, train_batches, validation_batches) -> dict[str, float]:
        vocab, per_class = self.tokenizer.get_vocab_size(), self.option("knn_per_class", 20)

        def bags(b):
            return baselines.bag_of_tokens(np.asarray(b["tokens"]), vocab)
        train = baselines.balanced_sample(train_batches, bags, len(self.labels), per_class)
        test = baselines.balanced_sample(validation_batches, bags, len(self.labels), 1 << 30)
        return {"knn_accuracy": baselines.knn_accuracy(*train, *test)}

    def vocabulary(self) -> dict[str, Any]:
        return {**super().vocabulary(), "labels": list(self.labels)}


def masked_sequence_loss(targets, outputs):
    """Mean token cross-entropy per example over the non-padding (non-zero) targets."""
    loss = keras.losses.sparse_categorical_crossentropy(targets, outputs, from_logits=True)
    mask = ops.cast(ops.not_equal(targets, 0), loss.dtype)
    return ops.sum(loss * mask, axis=1) / ops.maximum(ops.sum(mask, axis=1), 1.0)


def _residual(x, width: int, stride: int):
    shortcut = x
    y = layers.Conv2D(width, 3, strides=stride, padding="same", use_bias=False)(x)
    y = layers.Activation("relu")(layers.BatchNormalization()(y))
    y = layers.BatchNormalization()(layers.Conv2D(width, 3, padding="same", use_bias=False)(y))
    if stride != 1 or shortcut.shape[-1] != width:
        shortcut = layers.BatchNormalization()(layers.Conv2D(width, 1, strides=stride, use_bias=False)(x))
    return layers.Activation("relu")(y + shortcut)
