"""The ``reasoner``: a byte-level Transformer that reads a question and writes its answer, greedily.

Encoder: one embedding per byte at full resolution (every digit and letter keeps its own
position, so the decoder can read an age digit by digit: a strided convolution that fused
neighbouring bytes learned numbers as wholes and failed on held-out ages), learned positions,
pre-norm Transformer blocks. ``-o stride=3 kernel=6 norm=post`` gives the older strided,
post-norm network. Decoder: pre-norm blocks over the answer bytes with cross-attention to the
encoder; answers (numbers and names alike) come out byte by byte until EOS. It trains in the
shared loop (defaults: ``models.reasoner_recipe``); each evaluation measures exact match on
validation and on a fixed sample of the test split (unseen names, held-out ages), and the
run's report carries that curve against examples seen.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable

import keras
import numpy as np
from keras import layers, ops

from models.layers import TokenAndPosition, decoder_block, encoder_block
from models.reasoner_blocks import pre_decoder_block, pre_encoder_block
from models.tasks import Task, masked_sequence_loss
from pipeline.features.reasoning import (BOS, EOS, FAMILY_NAMES, QuestionAnswer, byte_matrix, decode_bytes,
                                         numbers_reversed)

SEED_QUESTION = "Jack is 12 years old. Jane is 10. Kate is older than Jane, and younger than Jack. How old is Kate?"


@keras.saving.register_keras_serializable("datamill")
class LearnedPositions(layers.Layer):
    """Adds a learned vector per position (the encoder's positions after the strided convolution)."""

    def __init__(self, length: int, dim: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.length, self.dim = length, dim

    def build(self, input_shape) -> None:
        self.table = self.add_weight(shape=(self.length, self.dim), initializer="glorot_uniform", name="table")

    def call(self, x):
        return x + self.table[None, : ops.shape(x)[1]]

    def get_config(self):
        return {**super().get_config(), "length": self.length, "dim": self.dim}


@keras.saving.register_keras_serializable("datamill")
class DigitPositions(layers.Layer):
    """Adds a learned vector for each byte's place within its number, counted from the last digit.

    Byte positions alone do not say which digit of "12" is the units: that depends on where the
    number ends. Abacus embeddings (McLeish et al. 2024) give each digit its index within its
    number; counting from the end (units = 1, tens = 2; 0 = not a digit) lines up the places of
    numbers of different lengths, so "units + 1" is one rule for every age.
    """

    def __init__(self, dim: int, places: int = 4, **kwargs) -> None:
        super().__init__(**kwargs)
        self.dim, self.places = dim, places

    def build(self, input_shape) -> None:
        self.table = self.add_weight(shape=(self.places + 1, self.dim), initializer="glorot_uniform", name="table")

    def call(self, x, ids):
        return x + ops.take(self.table, digit_places(ids, self.places), axis=0)

    def get_config(self):
        return {**super().get_config(), "dim": self.dim, "places": self.places}


@keras.saving.register_keras_serializable("datamill")
class DecoderInputs(layers.Layer):
    """What the decoder is fed of the answer it has written so far.

    ``digits=False``: the digits it wrote are hidden (training and answering alike), so each digit
    of a number is read from the question, not guessed from the digit before it: fed back, a
    decoder learns which digits followed which in training answers and fails on an answer never
    seen (a held-out "79" written "29"). Names are fed back as they are. ``rate``: in training only,
    each fed byte (not BOS) is hidden with this probability (word dropout, Bowman et al. 2016).
    """

    def __init__(self, rate: float = 0.0, digits: bool = True, hidden: int = 3, **kwargs) -> None:
        super().__init__(**kwargs)
        self.rate, self.digits, self.hidden = rate, digits, hidden
        self.seed = keras.random.SeedGenerator(0)

    def call(self, ids, training=None):
        hide = ops.zeros_like(ids, dtype="bool")
        if not self.digits:
            hide = (ids >= 48) & (ids <= 57)
        if training and self.rate:
            hide = hide | (keras.random.uniform(ops.shape(ids), seed=self.seed) < self.rate)
        return ops.where(hide & (ids != BOS), ops.full_like(ids, self.hidden), ids)

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "digits": self.digits, "hidden": self.hidden}


def digit_places(ids, places: int):
    """[B, L] byte ids → each byte's place in its number from the last digit (1 = units), 0 elsewhere.

    Places beyond ``places`` share the last one.
    """
    digit = ops.cast((ids >= 48) & (ids <= 57), "int32")
    place = digit
    for _ in range(places - 1):
        place = digit * (1 + ops.pad(place[:, 1:], [[0, 0], [0, 1]]))
    return place


class Reasoner(Task):
    """Question bytes → answer bytes; exact match per family, beside a k-NN baseline on character n-grams."""

    def __post_init__(self) -> None:
        self.primary, self.mode = "exact_match", "max"
        self.max_len = self.option("max_len", 144)
        self.answer_len = self.option("answer_len", 12)
        self.reversed = bool(self.option("reverse_numbers", False))
        self.curve: list[dict[str, Any]] = []

    def prepare(self, run_dir) -> None:
        self.run_dir = Path(run_dir)
        self.test_sample = load_rows(self.data, "test", self.option("test_sample", 600))

    def vocabulary(self) -> dict[str, Any]:
        return {"bytes": 256}

    def feature(self, train: bool):
        return QuestionAnswer(self.max_len, self.answer_len, self.reversed)

    def build_model(self) -> keras.Model:
        dim, heads = self.option("dim", 64), self.option("heads", 4)
        stride, kernel = self.option("stride", 1), self.option("kernel", 1)
        ff, dropout, pre = dim * self.option("ff", 2), self.option("dropout", 0.0), self.option("norm", "pre") == "pre"
        question = keras.Input((self.max_len,), dtype="int32", name="question")
        if stride > 1 or kernel > 1:
            x = layers.Embedding(256, self.option("embed", 32))(question)
            x = layers.Conv1D(dim, kernel, strides=stride, padding="same", activation="gelu")(x)
        else:
            x = layers.Embedding(256, dim)(question)
        if self.option("digit_places", 0) and stride == 1:
            x = DigitPositions(dim, self.option("digit_places", 0))(x, question)
        x = LearnedPositions(-(-self.max_len // stride), dim)(x)
        for _ in range(self.option("layers", 2)):
            x = pre_encoder_block(x, dim, heads, ff, dropout) if pre else encoder_block(x, dim, heads, ff, dropout)
        if pre:
            x = layers.LayerNormalization(epsilon=1e-6)(x)
        encoder = keras.Model(question, x, name="encoder")
        memory = keras.Input(x.shape[1:], name="memory")
        answer = keras.Input((self.answer_len,), dtype="int32", name="decoder_inputs")
        fed = DecoderInputs(self.option("token_dropout", 0.0), self.option("feed_digits", True), name="fed_answer")
        y = TokenAndPosition(256, self.answer_len, dim)(fed(answer))
        for _ in range(self.option("decoder_layers", 1)):
            y = pre_decoder_block(y, memory, dim, heads, ff, dropout) if pre else \
                decoder_block(y, dim, heads, ff, dropout, memory)
        if pre:
            y = layers.LayerNormalization(epsilon=1e-6)(y)
        decoder = keras.Model([memory, answer], layers.Dense(256)(y), name="decoder")
        q = keras.Input((self.max_len,), dtype="int32", name="question")
        a = keras.Input((self.answer_len,), dtype="int32", name="decoder_inputs")
        return keras.Model([q, a], decoder([encoder(q), a]), name="reasoner")

    def split(self, batch):
        return (batch["question"], batch["decoder_inputs"]), batch["targets"]

    def per_example_loss(self, targets, outputs):
        return masked_sequence_loss(targets, outputs)

    # -- answering ------------------------------------------------------------------------

    def answer(self, model, questions: list[str], batch: int = 256) -> list[str]:
        """Greedy answers, encoding each question once and decoding byte by byte."""
        out: list[str] = []
        for start in range(0, len(questions), batch):
            out += self.answer_ids(model, byte_matrix(questions[start: start + batch], self.max_len))
        return out

    def answer_ids_batched(self, model, question_ids: np.ndarray, batch: int = 256) -> list[str]:
        return [a for start in range(0, len(question_ids), batch)
                for a in self.answer_ids(model, question_ids[start: start + batch])]

    def answer_ids(self, model, question_ids: np.ndarray) -> list[str]:
        encode, decode = self._compiled(model)
        memory = encode(question_ids)
        tokens = np.zeros((len(question_ids), self.answer_len), np.int32)
        tokens[:, 0] = BOS
        done = np.zeros(len(question_ids), bool)
        for position in range(self.answer_len - 1):
            step = np.asarray(decode(memory, tokens))[:, position].argmax(-1)
            tokens[:, position + 1] = np.where(done, 0, step)
            done |= step == EOS
            if done.all():
                break
        return self._reading_order([decode_bytes(row[1:]) for row in tokens])

    def _reading_order(self, answers: list[str]) -> list[str]:
        """Answers as they are read: numbers the model wrote units first turned back."""
        return numbers_reversed(answers) if self.reversed else answers

    def _compiled(self, model):
        """Graph-compiled encoder and decoder calls (eager Keras calls cost more than the math here)."""
        import tensorflow as tf

        if getattr(self, "_compiled_for", None) is not model:
            encoder, decoder = model.get_layer("encoder"), model.get_layer("decoder")
            self._encode = tf.function(lambda q: encoder(q, training=False), reduce_retracing=True)
            self._decode = tf.function(lambda m, t: decoder([m, t], training=False), reduce_retracing=True)
            self._compiled_for = model
        return (lambda q: self._encode(tf.constant(q, tf.int32)),
                lambda m, t: self._decode(m, tf.constant(t, tf.int32)))

    # -- evaluation -----------------------------------------------------------------------

    def evaluate(self, model, batches: Iterable[dict]) -> dict[str, float]:
        batches = list(batches)
        metrics: dict[str, float] = {}
        if batches:
            losses = [float(ops.mean(self.per_example_loss(b["targets"], model((b["question"], b["decoder_inputs"]),
                                                                               training=False)))) for b in batches]
            predicted = self.answer_ids_batched(model, np.concatenate([np.asarray(b["question"]) for b in batches]))
            truth = self._reading_order([decode_bytes(row) for b in batches for row in np.asarray(b["targets"])])
            families = np.concatenate([np.asarray(b["family"]) for b in batches])
            metrics = {"loss": float(np.mean(losses)), **exact_match(predicted, truth, families)}
        if self.test_sample is not None:
            questions, answers, families = self.test_sample
            scores = exact_match(self.answer(model, questions), answers, families)
            metrics.update({f"test_{k}": v for k, v in scores.items()})
        self.curve.append(metrics)
        return metrics

    def baseline(self, train_batches, validation_batches) -> dict[str, float]:
        from models.reasoner_knn import NgramKNN

        train = [(decode_bytes(q), self._reading_order([decode_bytes(t)])[0]) for b in train_batches
                 for q, t in zip(np.asarray(b["question"]), np.asarray(b["targets"]))]
        if not train or self.test_sample is None:
            return {}
        knn = NgramKNN([q for q, _ in train], [a for _, a in train])
        questions, answers, families = self.test_sample
        scores = exact_match(knn.predict(questions), answers, families)
        return {f"knn_test_{k}": v for k, v in scores.items()}

    def extras(self, model) -> dict[str, Any]:
        extras: dict[str, Any] = {"seed_question": SEED_QUESTION, "seed_answer": self.answer(model, [SEED_QUESTION])[0]}
        plot = self.plot_curve()
        if plot is not None:
            extras["curve_plot"] = plot
        return extras

    def plot_curve(self) -> str | None:
        """Exact match (test sample) against training examples seen, as ``accuracy.png`` in the run."""
        from models.reasoner_knn import plot_accuracy

        seen, entries = self.curve_points()
        return plot_accuracy(self.run_dir / "accuracy.png", seen, entries) if seen else None

    def curve_points(self) -> tuple[list[int], list[dict[str, Any]]]:
        """(examples seen, metrics) at each evaluation: the loop's history, which the newest position
        file keeps across resumes, plus this process's final evaluation at the step training stopped
        (the newest position file's: a time limit or early stop ends before the steps asked for)."""
        saved = self.run_dir / "config.json"  # written by the loop once the run starts
        batch = json.loads(saved.read_text()).get("batch_size") if saved.exists() else None
        positions = sorted((self.run_dir / "positions").glob("step-*-worker0.json"))
        if not positions or not batch:
            return [], []
        points = [(h["step"], h) for h in json.loads(positions[-1].read_text())["state"]["history"]]
        last = int(positions[-1].name.split("-")[1])
        if self.curve and (not points or points[-1][0] < last):
            points.append((last, self.curve[-1]))
        return [s * batch for s, _ in points], [h for _, h in points]


def exact_match(predicted: list[str], truth: list[str], families: np.ndarray) -> dict[str, float]:
    """Overall and per-family share of answers exactly right."""
    right = np.asarray([p == t for p, t in zip(predicted, truth)], bool)
    families = np.asarray(families)
    scores = {"exact_match": float(right.mean()) if len(right) else float("nan")}
    for index, name in enumerate(FAMILY_NAMES):
        mine = families == index
        if mine.any():
            scores[f"exact_match_{name}"] = float(right[mine].mean())
    return scores


def load_rows(root: str, split: str, limit: int | None) -> tuple[list[str], list[str], np.ndarray] | None:
    """(questions, answers, family indices) of the first ``limit`` rows of a split (None: no such split)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from pipeline.errors import ShardError
    from pipeline.features.reasoning import _family_index
    from pipeline.features.stream import list_shards

    try:
        shards, _ = list_shards(root, split)
    except ShardError:
        return None
    import fsspec

    tables, have = [], 0
    for shard in sorted(shards, key=lambda s: s.url):
        fs, path = fsspec.core.url_to_fs(shard.url)
        with fs.open(path, "rb") as handle:
            table = pq.read_table(handle, columns=["question", "answer", "family"])
        tables.append(table)
        have += table.num_rows
        if limit is not None and have >= limit:
            break
    table = pa.concat_tables(tables)
    if limit is not None:
        table = table.slice(0, limit)
    return (table.column("question").to_pylist(), table.column("answer").to_pylist(),
            _family_index(table.column("family")))
