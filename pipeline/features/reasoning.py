"""Question → answer as bytes: the reasoning model's feature (raw UTF-8 bytes in, answer bytes out).

No tokenizer: a question is its bytes (id = byte value, 0 = padding), cut at ``max_len``; the
answer is ``BOS answer`` for the decoder and ``answer EOS`` as targets, padded to ``answer_len``.
The family travels as an index so evaluation can report accuracy per family.
"""

from __future__ import annotations

from typing import Iterator

import numpy as np
import pyarrow as pa

from pipeline.reasoning.families import FAMILIES

PAD, BOS, EOS = 0, 1, 2
FAMILY_NAMES = tuple(FAMILIES)


def byte_matrix(values: pa.Array | pa.ChunkedArray | list[str], length: int, offset: int = 0) -> np.ndarray:
    """[rows, length] int32 of each string's UTF-8 bytes starting at column ``offset``, zero-padded, cut."""
    if isinstance(values, list):
        values = pa.array(values, pa.string())
    array = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    array = array.cast(pa.large_binary())
    _, offsets_buffer, data_buffer = array.buffers()
    offsets = np.frombuffer(offsets_buffer, np.int64)[array.offset: array.offset + len(array) + 1]
    data = np.frombuffer(data_buffer, np.uint8) if data_buffer is not None else np.zeros(1, np.uint8)
    lengths = np.minimum(np.diff(offsets), length - offset)
    columns = np.arange(length - offset)[None, :]
    index = np.minimum(offsets[:-1, None] + columns, max(len(data) - 1, 0))
    out = np.zeros((len(array), length), np.int32)
    out[:, offset:] = np.where(columns < lengths[:, None], data[index] if len(data) else 0, PAD)
    return out


def encode_answers(answers, length: int) -> tuple[np.ndarray, np.ndarray]:
    """(decoder inputs ``BOS a…``, targets ``a… EOS``), both [rows, length]."""
    body = byte_matrix(answers, length)
    inputs = np.concatenate([np.full((len(body), 1), BOS, np.int32), body[:, :-1]], axis=1)
    ends = np.minimum((body != PAD).sum(axis=1), length - 1)
    targets = body.copy()
    targets[np.arange(len(body)), ends] = EOS
    return inputs, targets


def decode_bytes(row: np.ndarray) -> str:
    """Bytes up to the first EOS or padding, as text."""
    values = bytearray()
    for value in row:
        if value in (PAD, EOS):
            break
        values.append(int(value))
    return values.decode("utf-8", "replace")


def numbers_reversed(answers):
    """Answers that are numbers, digits last to first (``"12"`` → ``"21"``); names as they are.

    Written units first, a number's first output digit is the units digit, which depends only on
    the units digits read (and the tens on the units' carry): the order in which small Transformers
    learn arithmetic that holds for numbers they have not seen (Lee et al. 2023, "reversed" format).
    The same function turns them back.
    """
    import pyarrow.compute as pc

    if isinstance(answers, list):
        return [a[::-1] if a.isdigit() else a for a in answers]
    return pc.if_else(pc.match_substring_regex(answers, "^[0-9]+$"), pc.utf8_reverse(answers), answers)


class QuestionAnswer:
    """The reasoning feature: ``question`` [B, max_len], ``decoder_inputs``/``targets`` [B, answer_len], ``family``."""

    columns = ["question", "answer", "family"]

    def __init__(self, max_len: int = 144, answer_len: int = 12, reverse_numbers: bool = False) -> None:
        self.max_len, self.answer_len, self.reverse_numbers = max_len, answer_len, reverse_numbers

    def arrays(self, table: pa.Table) -> dict[str, np.ndarray]:
        answers = table.column("answer")
        if self.reverse_numbers:
            answers = numbers_reversed(answers)
        inputs, targets = encode_answers(answers, self.answer_len)
        family = _family_index(table.column("family"))
        return {"question": byte_matrix(table.column("question"), self.max_len), "decoder_inputs": inputs,
                "targets": targets, "family": family}

    def batches(self, window: pa.Table, batch_size: int, rng: np.random.Generator) -> Iterator[dict[str, np.ndarray]]:
        for start in range(0, window.num_rows - window.num_rows % batch_size, batch_size):
            yield self.arrays(window.slice(start, batch_size))

    def signature(self, batch_size: int) -> dict:
        import tensorflow as tf

        return {"question": tf.TensorSpec((batch_size, self.max_len), tf.int32),
                "decoder_inputs": tf.TensorSpec((batch_size, self.answer_len), tf.int32),
                "targets": tf.TensorSpec((batch_size, self.answer_len), tf.int32),
                "family": tf.TensorSpec((batch_size,), tf.int32)}

    def graph(self, ds, batch_size: int):
        return ds


def _family_index(column) -> np.ndarray:
    import pyarrow.compute as pc

    return pc.index_in(column, value_set=pa.array(FAMILY_NAMES)).to_numpy(zero_copy_only=False).astype(np.int32)
