"""Whole batches of questions as rows of phrase ids, turned into Arrow strings by one byte gather.

Every piece of text a question can hold (template words, numbers, names) is a *segment* in one
table, interned once. A batch's text is an int32 matrix ``[rows, width]`` of segment ids (0 is
the empty segment, so rows of different lengths pad with it): concatenating is stacking columns,
picking a phrasing per row is indexing, shuffling sentences is a gather of column blocks. Only
``to_arrow`` touches bytes: the rows' segments are copied into one buffer by a single NumPy
gather and wrapped as a ``pa.StringArray``. No Python runs per row, and no per-piece string
kernels run over the batch (the cost of the earlier Arrow-kernel rendering).
"""

from __future__ import annotations

import threading
from typing import Sequence, Union

import numpy as np
import pyarrow as pa

Text = np.ndarray  # [rows, width] int32 segment ids
Piece = Union[str, np.ndarray]  # a literal, a [rows] column of segment ids, or a Text
EMPTY = 0
MAX_NUMBER = 999

_lock = threading.Lock()
_segments: list[bytes] = [b""]
_ids: dict[str, int] = {"": EMPTY}
_tables: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}


def lit(text: str) -> int:
    """The segment id of a literal (interned on first use)."""
    found = _ids.get(text)
    if found is not None:
        return found
    with _lock:
        if text not in _ids:
            _ids[text] = len(_segments)
            _segments.append(text.encode())
        return _ids[text]


def intern_many(texts: Sequence[str]) -> int:
    """Interns a block of strings under consecutive ids (the first one returned): a name list."""
    with _lock:
        base = len(_segments)
        _segments.extend(t.encode() for t in texts)
        return base


NUMBERS = intern_many([str(v) for v in range(MAX_NUMBER + 1)])


def _table() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(start, length, bytes) of every segment interned so far."""
    count = len(_segments)
    table = _tables.get(count)
    if table is None:
        with _lock:
            segments = _segments[:count]
            lengths = np.fromiter((len(s) for s in segments), np.int32, count)
            starts = np.concatenate([[0], np.cumsum(lengths, dtype=np.int64)[:-1]]).astype(np.int32)
            table = (starts, lengths, np.frombuffer(b"".join(segments), np.uint8))
            _tables.clear()
            _tables[count] = table
    return table


def num(values: np.ndarray) -> np.ndarray:
    """Segment ids of the numbers (0..999)."""
    return (NUMBERS + checked(values)).astype(np.int32)


def _as_text(piece: Piece, rows: int) -> Text:
    if isinstance(piece, str):
        return np.full((rows, 1), lit(piece), np.int32)
    piece = np.asarray(piece, dtype=np.int32)
    return piece[:, None] if piece.ndim == 1 else piece


def _rows(pieces: Sequence[Piece]) -> int:
    for piece in pieces:
        if not isinstance(piece, str):
            return len(piece)
    raise ValueError("a text needs at least one column piece to know its rows")


def cat(*pieces: Piece) -> Text:
    """Row-wise concatenation of literals, id columns and texts."""
    rows = _rows(pieces)
    return np.hstack([_as_text(p, rows) for p in pieces])


def _pad(text: Text, width: int) -> Text:
    if text.shape[1] == width:
        return text
    return np.pad(text, ((0, 0), (0, width - text.shape[1])), constant_values=EMPTY)


def pick(choice: np.ndarray, variants: Sequence[Piece]) -> Text:
    """Row i takes ``variants[choice[i]]``'s row i."""
    rows = len(choice)
    texts = [_as_text(v, rows) for v in variants]
    if len(texts) == 1:
        return texts[0]
    width = max(t.shape[1] for t in texts)
    stacked = np.stack([_pad(t, width) for t in texts])  # [variants, rows, width]
    return stacked[np.asarray(choice, dtype=np.intp), np.arange(rows)]


def when(condition: np.ndarray, yes: Piece, no: Piece) -> Text:
    return pick(np.asarray(condition, dtype=np.int8), [no, yes])


def blank_unless(present: np.ndarray, text: Text) -> Text:
    """``text`` where ``present``, nothing elsewhere (an absent distractor's sentence)."""
    return np.where(np.asarray(present, dtype=bool)[:, None], text, EMPTY).astype(np.int32)


def phrases(texts: Sequence[str], shape: tuple[int, ...]) -> np.ndarray:
    """A precomputed phrase table: the texts interned, their ids shaped ``shape`` (looked up per row by index)."""
    return (intern_many(texts) + np.arange(len(texts), dtype=np.int32)).reshape(shape)


_NUMBERS = range(MAX_NUMBER + 1)
YEARS = phrases([f"{v} year" if v == 1 else f"{v} years" for v in _NUMBERS], (len(_NUMBERS),))
_AGE_TAILS = (" is {}. ", " is {} years old. ", " is aged {}. ", "'s age is {}. ", " has just turned {}. ")
AGE_TAILS = phrases([(" is 1 year old. " if v == 1 and "years" in t else t.format(v)) for t in _AGE_TAILS
                     for v in _NUMBERS], (len(_AGE_TAILS), len(_NUMBERS)))
AGE_STYLES = len(_AGE_TAILS)


def checked(values: np.ndarray) -> np.ndarray:
    """The values as int64, refused outside 0..999 (the numbers a phrase table holds)."""
    values = np.asarray(values, dtype=np.int64)
    if values.size and (values.min() < 0 or values.max() > MAX_NUMBER):
        raise ValueError(f"{values.min()}..{values.max()} is outside 0..{MAX_NUMBER}")
    return values


def years(values: np.ndarray) -> np.ndarray:
    """"1 year" / "K years" (one phrase id per row)."""
    return YEARS[checked(values)]


def shuffled_join(sentences: Sequence[Text], rng: np.random.Generator, tail: Text) -> Text:
    """Sentences (each ending in a space, or empty) in a random order per row, then ``tail``."""
    rows = len(sentences[0])
    width = max(s.shape[1] for s in sentences)
    stacked = np.stack([_pad(s, width) for s in sentences], axis=1)  # [rows, sentences, width]
    order = np.argsort(rng.random((rows, len(sentences))), axis=1)
    shuffled = stacked[np.arange(rows)[:, None], order].reshape(rows, -1)
    return np.hstack([shuffled, tail])


def age_sentence(names: np.ndarray, ages: np.ndarray, style: np.ndarray) -> Text:
    """"Jack is 12.", "Jack is 12 years old.", "Jack is aged 12.", "Jack's age is 12.", "Jack has just turned 12."."""
    return cat(names, AGE_TAILS[np.asarray(style), checked(ages)])


def byte_lengths(text: Text) -> np.ndarray:
    """Each row's length in bytes (characters: every segment is ASCII)."""
    return _table()[1][text].sum(axis=1)


def to_arrow(text: Text) -> pa.StringArray:
    """The rows as one Arrow string array: a single gather of the segments' bytes (int32 indices: half the traffic)."""
    starts, lengths, data = _table()
    rows = len(text)
    sizes = lengths[text]
    offsets = np.zeros(rows + 1, np.int64)
    np.cumsum(sizes.sum(axis=1), out=offsets[1:])
    total = int(offsets[-1])
    if total >= 2 ** 31 or len(data) >= 2 ** 31:
        raise ValueError("to_arrow: over 2 GiB of text in one batch; render smaller batches")
    sizes = sizes.ravel()
    dest = np.cumsum(sizes, dtype=np.int32)
    dest -= sizes
    shift = starts[text.ravel()]
    shift -= dest  # each segment's bytes move by (its start in the table - its place in the output)
    source = np.repeat(shift, sizes)
    source += np.arange(total, dtype=np.int32)
    return pa.StringArray.from_buffers(rows, pa.py_buffer(offsets.astype(np.int32)), pa.py_buffer(data[source]))
