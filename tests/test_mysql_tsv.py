"""The MySQL INTO OUTFILE reader: every escape form, NULLs, bad rows, block boundaries."""

from __future__ import annotations

import io

import pytest

from pipeline.formats import mysql_tsv
from tests.fixtures.tatoeba_upstream import escape, generate

COLUMNS = ["id", "lang", "text"]


def read_all(data: bytes, block_size: int = 1 << 20, columns=COLUMNS):
    rows, bad = [], []
    for table, b in mysql_tsv.read_batches(io.BytesIO(data), columns, block_size):
        rows += table.to_pylist()
        bad += b
    return rows, bad


@pytest.mark.parametrize("text", [
    'plain', 'quotes "double" and \'single\'', "tab\tinside", "new\nline", "back\\slash", "ends with \\",
    "\\N", "N", "\\", "\\\\t", "mixed \\\t and \t\n", "nul\0byte", "carriage\rreturn", "ünïcödé 日本語",
])
def test_round_trip_of_mysql_escaping(text):
    line = f"1\teng\t{escape(text)}\n".encode()
    rows, bad = read_all(line)
    assert bad == []
    assert rows == [{"id": "1", "lang": "eng", "text": text}]


def test_null_and_letter_escapes():
    rows, _ = read_all(b"1\t\\N\ta\\tb\\nc\\0d\\\\e\\Zf\\rg\n2\t\\N\t\\N\n")
    assert rows[0] == {"id": "1", "lang": None, "text": "a\tb\nc\0d\\e\x1af\rg"}
    assert rows[1] == {"id": "2", "lang": None, "text": None}


def test_bad_rows_are_reported_not_raised():
    rows, bad = read_all(b"1\teng\tok\n2\tonly-two\n3\teng\t\xff\xfe\n4\teng\tfine\n")
    assert [r["id"] for r in rows] == ["1", "4"]
    assert sorted((b.key, b.reason) for b in bad) == [("2", "column_count"), ("3", "invalid_utf8")]


def test_missing_final_newline():
    rows, _ = read_all(b"1\teng\ta\n2\teng\tb")
    assert [r["text"] for r in rows] == ["a", "b"]


@pytest.mark.parametrize("block_size", [7, 13, 64, 1000])
def test_block_boundaries_never_change_the_result(block_size):
    detailed, _, _, _ = generate(groups=20, seed=3, ugly=True)
    columns = ["id", "lang", "text", "username", "created", "modified"]
    whole = read_all(detailed, 1 << 20, columns)
    assert read_all(detailed, block_size, columns) == whole
    assert len(whole[0]) > 80


def test_a_giant_record_is_skipped_with_a_reason_not_held():
    data = b"1\teng\tok\n2\teng\t" + b"x" * 5000 + b"\n3\teng\tafter\n"
    rows, bad = [], []
    for table, b in mysql_tsv.read_batches(io.BytesIO(data), COLUMNS, block_size=256, max_record_bytes=1000):
        rows += table.to_pylist()
        bad += b
    assert [r["id"] for r in rows] == ["1", "3"]
    assert [(b.key, b.reason) for b in bad] == [("2", "too_large")]
