"""Reads MySQL ``SELECT ... INTO OUTFILE`` dumps (Tatoeba's exports) as Arrow batches.

The dialect: tab-separated, ``\\n``-terminated, no quoting, backslash escapes, NULL
written ``\\N``. MySQL itself escapes a tab, newline or backslash inside a value by
putting a backslash in front of the raw character; ``LOAD DATA`` also reads the letter
forms (``\\t``, ``\\n``, ``\\0``, ``\\r``, ``\\b``, ``\\Z``). Both are decoded here.

Speed comes from letting ``pyarrow.csv`` split fields (no escaping, no quoting) on
blocks that were first cut at record boundaries and had their rare raw escapes
rewritten into letter forms; values are unescaped afterwards, only where a backslash
occurs. Memory stays at a few blocks whatever the file size.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from typing import BinaryIO, Iterator

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

NULL = b"\\N"
_RAW_SPECIALS = re.compile(rb"\\[\s\S]|\r")
_ESCAPE = re.compile(rb"\\([\s\S])")
_LETTERS = {b"0": b"\0", b"b": b"\b", b"n": b"\n", b"r": b"\r", b"t": b"\t", b"Z": b"\x1a"}
_RAW_TO_LETTER = {b"\\\n": b"\\n", b"\\\t": b"\\t", b"\\\r": b"\\r", b"\r": b"\\r"}


@dataclass(frozen=True)
class BadRow:
    """A line that could not be read as a record: its first field, why, and the text."""

    key: str
    reason: str
    detail: str


def read_batches(stream: BinaryIO, columns: list[str], block_size: int = 16 << 20
                 ) -> Iterator[tuple[pa.Table, list[BadRow]]]:
    """Yield (string table with NULLs, bad rows) per block of the dump."""
    leftover = b""
    while True:
        chunk = stream.read(block_size)
        buffer = leftover + chunk
        if not buffer:
            return
        cut = len(buffer) if not chunk else _last_record_end(buffer)
        if cut <= 0:  # one record larger than a block: read on
            leftover = buffer
            continue
        block, leftover = buffer[:cut], buffer[cut:]
        yield _parse_block(block, columns)
        if not chunk:
            return


def _last_record_end(buffer: bytes) -> int:
    """Index just past the last newline that ends a record (not an escaped one)."""
    end = len(buffer)
    while True:
        nl = buffer.rfind(b"\n", 0, end)
        if nl < 0:
            return 0
        slashes = 0
        while nl - slashes - 1 >= 0 and buffer[nl - slashes - 1] == 0x5C:
            slashes += 1
        if slashes % 2 == 0:
            return nl + 1
        end = nl


def _parse_block(block: bytes, columns: list[str]) -> tuple[pa.Table, list[BadRow]]:
    if b"\r" in block or b"\\\n" in block or b"\\\t" in block:
        block = _RAW_SPECIALS.sub(lambda m: _RAW_TO_LETTER.get(m.group(0), m.group(0)), block)
    bad: list[BadRow] = []

    def on_invalid(row: pacsv.InvalidRow) -> str:
        text = row.text or ""
        bad.append(BadRow(text.split("\t", 1)[0][:64], "column_count",
                          f"expected {row.expected_columns} fields, got {row.actual_columns}: {text[:500]}"))
        return "skip"

    table = pacsv.read_csv(
        io.BytesIO(block),
        read_options=pacsv.ReadOptions(column_names=columns, block_size=4 << 20),
        parse_options=pacsv.ParseOptions(delimiter="\t", quote_char=False, escape_char=False,
                                         double_quote=False, newlines_in_values=False,
                                         ignore_empty_lines=True, invalid_row_handler=on_invalid),
        convert_options=pacsv.ConvertOptions(column_types={c: pa.binary() for c in columns},
                                             null_values=[], strings_can_be_null=False,
                                             quoted_strings_can_be_null=False),
    )
    table = pa.table({c: _unescape_column(table.column(c).combine_chunks()) for c in columns})
    return _to_utf8(table, bad)


def _unescape_column(column: pa.BinaryArray) -> pa.Array:
    is_null = pc.equal(column, pa.scalar(NULL, pa.binary()))
    column = pc.if_else(is_null, pa.scalar(None, pa.binary()), column)
    escaped = pc.fill_null(pc.match_substring(column, "\\"), False)
    if not pc.any(escaped).as_py():
        return column
    positions = pc.indices_nonzero(escaped)
    decoded = [unescape(v) for v in pc.take(column, positions).to_pylist()]
    return pc.replace_with_mask(column, escaped, pa.array(decoded, pa.binary()))


def unescape(value: bytes) -> bytes:
    """Decode MySQL's backslash escapes in one value (``\\X`` → X, letter forms → control chars)."""
    return _ESCAPE.sub(lambda m: _LETTERS.get(m.group(1), m.group(1)), value)


def _to_utf8(table: pa.Table, bad: list[BadRow]) -> tuple[pa.Table, list[BadRow]]:
    try:
        return table.cast(pa.schema([(c, pa.string()) for c in table.column_names])), bad
    except pa.ArrowInvalid:
        pass
    # Rare path: find the rows that are not valid UTF-8 and drop them with a reason.
    keep = []
    rows = table.to_pylist()
    first = table.column_names[0]
    for i, row in enumerate(rows):
        try:
            for value in row.values():
                if value is not None:
                    value.decode("utf-8")
            keep.append(i)
        except UnicodeDecodeError as err:
            key = (row[first] or b"").decode("utf-8", "replace")[:64]
            bad.append(BadRow(key, "invalid_utf8", f"{err}: {row!r}"[:500]))
    kept = table.take(pa.array(keep, pa.int64()))
    return kept.cast(pa.schema([(c, pa.string()) for c in table.column_names])), bad
