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
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import BinaryIO, Callable, Iterator, TypeVar

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

NULL = b"\\N"
T = TypeVar("T")
_ESCAPE = re.compile(rb"\\([\s\S])")
_LETTERS = {b"0": b"\0", b"b": b"\b", b"n": b"\n", b"r": b"\r", b"t": b"\t", b"Z": b"\x1a"}


@dataclass(frozen=True)
class BadRow:
    """A line that could not be read as a record: its first field, why, and the text."""

    key: str
    reason: str
    detail: str


def read_batches(stream: BinaryIO, columns: list[str], block_size: int = 16 << 20, workers: int = 2,
                 then: Callable[[pa.Table, list[BadRow]], T] | None = None,
                 max_record_bytes: int = 64 << 20) -> Iterator[T]:
    """Yield ``then(table, bad_rows)`` per block of the dump, in file order.

    ``table`` has one string column per name (NULLs decoded); ``bad_rows`` are the lines
    that could not be read. Blocks are parsed on ``workers`` threads (Arrow releases the
    GIL), with at most ``workers + 1`` blocks in memory; a record longer than
    ``max_record_bytes`` is skipped and reported, never held whole.
    """
    finish = then or (lambda table, bad: (table, bad))
    empty = pa.table({c: pa.array([], pa.string()) for c in columns})
    with ThreadPoolExecutor(max(1, workers), thread_name_prefix="tsv") as pool:
        pending: deque[Future] = deque()
        for block in _blocks(stream, block_size, max_record_bytes):
            if isinstance(block, BadRow):
                pending.append(pool.submit(finish, empty, [block]))
            else:
                pending.append(pool.submit(lambda b: finish(*_parse_block(b, columns)), block))
            if len(pending) > workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def _blocks(stream: BinaryIO, block_size: int, max_record_bytes: int) -> Iterator[bytes | BadRow]:
    """Cut the stream into blocks that end at record boundaries (a giant record becomes a BadRow)."""
    leftover = b""
    while True:
        chunk = stream.read(block_size)
        buffer = leftover + chunk if leftover else chunk
        if not buffer:
            return
        if len(leftover) >= block_size:  # we were reading on through one long record: is it too long?
            first = _first_record_end(buffer)
            if first > max_record_bytes or (first < 0 and not chunk and len(buffer) > max_record_bytes):
                key = buffer[:64].split(b"\t", 1)[0].decode("utf-8", "replace")
                yield BadRow(key, "too_large", f"a record of more than {max_record_bytes:,} bytes was skipped")
                buffer = buffer[first:] if first > 0 else b""
                if not buffer and not chunk:
                    return
        cut = len(buffer) if not chunk else _last_record_end(buffer)
        if cut <= 0 and len(buffer) > max_record_bytes:
            key = buffer[:64].split(b"\t", 1)[0].decode("utf-8", "replace")
            yield BadRow(key, "too_large", f"a record of more than {max_record_bytes:,} bytes was skipped")
            leftover = _skip_record(stream, block_size)
            continue
        if cut <= 0:  # one record larger than a block: read on
            leftover = buffer
            continue
        yield buffer[:cut]
        leftover = buffer[cut:]
        if not chunk:
            return


def _skip_record(stream: BinaryIO, block_size: int) -> bytes:
    """Read past the rest of an oversized record; returns what follows its end."""
    previous = b""
    while chunk := stream.read(block_size):
        data = previous[-64:] + chunk
        end = _first_record_end(data)
        if end >= 0:
            return data[end:]
        previous = data
    return b""


def _first_record_end(buffer: bytes) -> int:
    start = 0
    while (nl := buffer.find(b"\n", start)) >= 0:
        slashes = 0
        while nl - slashes - 1 >= 0 and buffer[nl - slashes - 1] == 0x5C:
            slashes += 1
        if slashes % 2 == 0:
            return nl + 1
        start = nl + 1
    return -1


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
    bad: list[BadRow] = []
    table = _fast_split(block, columns)
    if table is None:
        block = _letter_escapes(block)
        try:
            table = _split_fields(block, columns, _collect_invalid(bad))
        except pa.ArrowInvalid:
            # pyarrow gives up on a malformed line it cannot even show us (bytes that are not UTF-8):
            # split this block line by line instead.
            bad.clear()
            table = _split_lines(block, columns, bad)
    # Each NULL the reader produced came from one whole-field "\N", one backslash each; if
    # that accounts for every backslash in the block, no value needs unescaping.
    nulls = sum(table.column(c).null_count for c in columns)
    if bad or block.count(b"\\") != nulls:
        table = pa.table({c: _unescape_column(table.column(c).combine_chunks()) for c in columns})
    return _to_utf8(table, bad)


def _fast_split(block: bytes, columns: list[str]) -> pa.Table | None:
    """Split fields assuming no raw escapes, or None when the block needs the careful path.

    A raw escaped TAB adds a field and a raw escaped newline cuts a record in two (the
    first half then ends in a backslash), so either shows up as a column-count error or
    as a last field ending in a backslash; a bare CR is looked for directly.
    """
    if b"\r" in block:
        return None
    try:
        table = _split_fields(block, columns, None)
    except pa.ArrowInvalid:
        return None
    if pc.any(pc.ends_with(table.column(columns[-1]), b"\\")).as_py():
        return None
    return table


def _letter_escapes(block: bytes) -> bytes:
    """Rewrite MySQL's raw escapes (backslash + TAB/LF/CR) and bare CRs into letter forms.

    They are rare, so each is found with a C-speed ``find`` and checked for parity: a
    raw character after an even run of backslashes is a real separator, not an escape.
    """
    edits: list[tuple[int, int, bytes]] = []
    for raw, letter in ((b"\t", b"\\t"), (b"\n", b"\\n"), (b"\r", b"\\r")):
        at = block.find(b"\\" + raw)
        while at >= 0:
            if _run_of_backslashes(block, at) % 2:
                edits.append((at, 2, letter))
            at = block.find(b"\\" + raw, at + 2)
    at = block.find(b"\r")
    while at >= 0:
        if at == 0 or _run_of_backslashes(block, at - 1) % 2 == 0:
            edits.append((at, 1, b"\\r"))
        at = block.find(b"\r", at + 1)
    if not edits:
        return block
    pieces, start = [], 0
    for at, length, replacement in sorted(edits):
        pieces += [block[start:at], replacement]
        start = at + length
    pieces.append(block[start:])
    return b"".join(pieces)


def _run_of_backslashes(block: bytes, end: int) -> int:
    """How many backslashes end at index ``end`` (inclusive)."""
    run = 0
    while end - run >= 0 and block[end - run] == 0x5C:
        run += 1
    return run


def _split_fields(block: bytes, columns: list[str], on_invalid) -> pa.Table:
    return pacsv.read_csv(
        io.BytesIO(block),
        read_options=pacsv.ReadOptions(column_names=columns, block_size=4 << 20),
        parse_options=pacsv.ParseOptions(delimiter="\t", quote_char=False, escape_char=False,
                                         double_quote=False, newlines_in_values=False,
                                         ignore_empty_lines=True, invalid_row_handler=on_invalid),
        convert_options=pacsv.ConvertOptions(column_types={c: pa.binary() for c in columns},
                                             null_values=["\\N"], strings_can_be_null=True,
                                             quoted_strings_can_be_null=False),
    )


def _split_lines(block: bytes, columns: list[str], bad: list[BadRow]) -> pa.Table:
    """The slow path: one line at a time; lines with the wrong number of fields become BadRows."""
    values: list[list[bytes | None]] = [[] for _ in columns]
    for line in block.split(b"\n"):
        if not line:
            continue
        fields = line.split(b"\t")
        if len(fields) != len(columns):
            bad.append(BadRow(fields[0][:64].decode("utf-8", "replace"), "column_count",
                              f"expected {len(columns)} fields, got {len(fields)}: "
                              f"{line[:500].decode('utf-8', 'replace')}"))
            continue
        for column, value in zip(values, fields):
            column.append(None if value == NULL else value)
    return pa.table({name: pa.array(column, pa.binary()) for name, column in zip(columns, values)})


def _collect_invalid(bad: list[BadRow]):
    def on_invalid(row: pacsv.InvalidRow) -> str:
        text = row.text or ""
        bad.append(BadRow(text.split("\t", 1)[0][:64], "column_count",
                          f"expected {row.expected_columns} fields, got {row.actual_columns}: {text[:500]}"))
        return "skip"
    return on_invalid


def _unescape_column(column: pa.BinaryArray) -> pa.Array:
    """Decode the values that still hold a backslash (NULLs were already taken by the reader)."""
    escaped = pc.fill_null(pc.match_substring(column, "\\"), False)
    if not pc.any(escaped).as_py():
        return column
    decoded = [unescape(v) for v in pc.filter(column, escaped).to_pylist()]
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
