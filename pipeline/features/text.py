"""Text features: a subword tokenizer trained from a dataset's shards, packed LM sequences, padded pairs.

The tokenizer (byte-pair encoding with `tokenizers`) is saved next to the shards under
``_features/``, its name carrying the data's version and config hash, so a rebuilt
dataset never silently pairs with an old vocabulary. Encoding runs a window at a time
(``encode_batch``: Rust, multi-threaded).
"""

from __future__ import annotations

import json
from typing import Iterator

import fsspec
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.errors import ConfigError, ShardError
from pipeline.features import fixed_batches

SPECIALS = ["[PAD]", "[UNK]", "[BOS]", "[EOS]"]
PAD, UNK, BOS, EOS = range(4)


def _texts(root: str, columns: list[str], split: str, sample_bytes: int) -> Iterator[str]:
    from pipeline.features.stream import list_shards

    shards, _ = list_shards(root, split)
    fs = fsspec.core.url_to_fs(str(root))[0]
    seen = 0
    for shard in shards:
        with fs.open(fsspec.core.url_to_fs(shard.url)[1], "rb") as handle:
            for batch in pq.ParquetFile(handle).iter_batches(batch_size=2048, columns=columns):
                for column in columns:
                    for text in batch.column(column).to_pylist():
                        if text:
                            seen += len(text)
                            yield text
                if seen >= sample_bytes:
                    return


def tokenizer_path(root: str, manifest: dict, vocab_size: int) -> str:
    return f"{str(root).rstrip('/')}/_features/tokenizer-bpe{vocab_size}-{manifest['version']}-{manifest['config_hash']}.json"


def train_tokenizer(root: str, columns: list[str], vocab_size: int = 8000, split: str = "train",
                    sample_bytes: int = 200 << 20) -> str:
    """Train a BPE tokenizer on (a sample of) the split's text and save it beside the shards."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

    from pipeline.features.stream import list_shards

    _, manifest = list_shards(root, split)
    missing = [c for c in columns if c not in {f["name"] for f in manifest["schema"]}]
    if missing:
        raise ConfigError(f"--columns: {root} has no column(s) {', '.join(missing)}")
    tokenizer = Tokenizer(models.BPE(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.NFKC()
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
    tokenizer.decoder = decoders.Metaspace()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIALS, min_frequency=2,
                                  show_progress=False)
    tokenizer.train_from_iterator(_texts(root, columns, split, sample_bytes), trainer)
    path = tokenizer_path(root, manifest, vocab_size)
    fs, target = fsspec.core.url_to_fs(path)
    fs.makedirs(target.rsplit("/", 1)[0], exist_ok=True)
    with fs.open(target + ".tmp", "w") as handle:
        handle.write(tokenizer.to_str())
    fs.mv(target + ".tmp", target)
    return path


def load_tokenizer(path: str):
    from tokenizers import Tokenizer

    fs, target = fsspec.core.url_to_fs(path)
    with fs.open(target, "r") as handle:
        return Tokenizer.from_str(handle.read())


def ensure_tokenizer(root: str, columns: list[str], vocab_size: int) -> str:
    """The tokenizer of this data version, trained now if there is none yet."""
    try:
        return find_tokenizer(root, vocab_size)
    except ShardError:
        return train_tokenizer(root, columns, vocab_size)


def find_tokenizer(root: str, vocab_size: int | None = None) -> str:
    """The tokenizer trained on this exact version and config of the dataset."""
    from pipeline.features.stream import list_shards

    manifest = list_shards(root, next(iter(_splits(root))))[1]
    fs, base = fsspec.core.url_to_fs(f"{str(root).rstrip('/')}/_features")
    pattern = f"tokenizer-bpe{vocab_size or '*'}-{manifest['version']}-{manifest['config_hash']}.json"
    found = sorted(fs.glob(f"{base}/{pattern}"))
    if not found:
        raise ShardError(f"{root}: no tokenizer for this version of the data; run `datamill features {root}` first")
    protocol = fsspec.core.split_protocol(str(root))[0]
    return f"{protocol}://{found[-1]}" if protocol else found[-1]


def _splits(root: str) -> list[str]:
    fs, base = fsspec.core.url_to_fs(str(root))
    with fs.open(f"{base.rstrip('/')}/_manifest.json", "rb") as handle:
        return list(json.load(handle)["splits"])


class PackedText:
    """Language modelling: texts → tokens joined by [EOS] → rows of ``seq_len + 1`` → (inputs, targets).

    Packing stays inside a window (its last partial row is dropped), which keeps windows
    independent and the stream exactly resumable.
    """

    def __init__(self, tokenizer, seq_len: int = 128, column: str = "text") -> None:
        self.tokenizer, self.seq_len, self.columns = tokenizer, seq_len, [column]

    def batches(self, window: pa.Table, batch_size: int, rng) -> Iterator[dict[str, np.ndarray]]:
        encoded = self.tokenizer.encode_batch([t or "" for t in window.column(self.columns[0]).to_pylist()],
                                              add_special_tokens=False)
        ids = np.fromiter((i for e in encoded for i in (*e.ids, EOS)), dtype=np.int32)
        rows = len(ids) // (self.seq_len + 1)
        packed = ids[: rows * (self.seq_len + 1)].reshape(rows, self.seq_len + 1)
        yield from fixed_batches({"inputs": packed[:, :-1], "targets": packed[:, 1:]}, batch_size)

    def signature(self, batch_size: int) -> dict:
        import tensorflow as tf

        spec = tf.TensorSpec((batch_size, self.seq_len), tf.int32)
        return {"inputs": spec, "targets": spec}

    def graph(self, ds, batch_size: int):
        return ds


class TranslationPairs:
    """Translation: source and target ids, padded to ``max_len``; longer pairs are left out."""

    def __init__(self, tokenizer, max_len: int = 32, source: str = "source_text", target: str = "target_text") -> None:
        self.tokenizer, self.max_len, self.columns = tokenizer, max_len, [source, target]

    def encode(self, texts: list[str]) -> list[list[int]]:
        return [e.ids for e in self.tokenizer.encode_batch([t or "" for t in texts], add_special_tokens=False)]

    def batches(self, window: pa.Table, batch_size: int, rng) -> Iterator[dict[str, np.ndarray]]:
        sources = self.encode(window.column(self.columns[0]).to_pylist())
        targets = self.encode(window.column(self.columns[1]).to_pylist())
        keep = [i for i, (s, t) in enumerate(zip(sources, targets))
                if 0 < len(s) <= self.max_len and 0 < len(t) < self.max_len]
        encoder = np.zeros((len(keep), self.max_len), np.int32)
        decoder = np.zeros((len(keep), self.max_len), np.int32)
        labels = np.zeros((len(keep), self.max_len), np.int32)
        for row, i in enumerate(keep):
            s, t = sources[i], targets[i]
            encoder[row, : len(s)] = s
            decoder[row, : len(t) + 1] = [BOS, *t]
            labels[row, : len(t) + 1] = [*t, EOS]
        yield from fixed_batches({"encoder_inputs": encoder, "decoder_inputs": decoder, "targets": labels}, batch_size)

    def signature(self, batch_size: int) -> dict:
        import tensorflow as tf

        spec = tf.TensorSpec((batch_size, self.max_len), tf.int32)
        return {"encoder_inputs": spec, "decoder_inputs": spec, "targets": spec}

    def graph(self, ds, batch_size: int):
        return ds


def decode(tokenizer, ids) -> str:
    return tokenizer.decode([int(i) for i in ids if int(i) not in (PAD, BOS, EOS)])


class LabelledText:
    """Classification of short texts (e.g. language identification): padded ids and a label index."""

    def __init__(self, tokenizer, labels: list[str], max_len: int = 48, text: str = "text", label: str = "lang") -> None:
        self.tokenizer, self.labels, self.max_len = tokenizer, labels, max_len
        self.index = {name: i for i, name in enumerate(labels)}
        self.columns = [text, label]

    def batches(self, window: pa.Table, batch_size: int, rng) -> Iterator[dict[str, np.ndarray]]:
        labels = window.column(self.columns[1]).to_pylist()
        keep = [i for i, name in enumerate(labels) if name in self.index]
        texts = window.column(self.columns[0]).take(pa.array(keep, pa.int64())).to_pylist()
        tokens = np.zeros((len(keep), self.max_len), np.int32)
        for row, encoding in enumerate(self.tokenizer.encode_batch([t or "" for t in texts], add_special_tokens=False)):
            ids = encoding.ids[: self.max_len]
            tokens[row, : len(ids)] = ids
        label = np.array([self.index[labels[i]] for i in keep], np.int64)
        yield from fixed_batches({"tokens": tokens, "label": label}, batch_size)

    def signature(self, batch_size: int) -> dict:
        import tensorflow as tf

        return {"tokens": tf.TensorSpec((batch_size, self.max_len), tf.int32),
                "label": tf.TensorSpec((batch_size,), tf.int64)}

    def graph(self, ds, batch_size: int):
        return ds


def label_values(root: str, column: str, split: str = "train", min_count: int = 1) -> list[str]:
    """The distinct values of a label column (sorted), counted over the split; rare ones left out."""
    from collections import Counter

    from pipeline.features.stream import list_shards

    shards, _ = list_shards(root, split)
    fs = fsspec.core.url_to_fs(str(root))[0]
    counts: Counter[str] = Counter()
    for shard in shards:
        with fs.open(fsspec.core.url_to_fs(shard.url)[1], "rb") as handle:
            counts.update(v for v in pq.read_table(handle, columns=[column]).column(column).to_pylist() if v)
    return sorted(name for name, n in counts.items() if n >= min_count)
