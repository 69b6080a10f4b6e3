"""Tatoeba parse speed: datamill's MySQL-TSV reader against a plain pyarrow.csv read of the same file.

pyarrow.csv is the practical limit: it splits fields in C++ but does not decode MySQL's
escapes or NULLs correctly. Both read the same uncompressed sentences_detailed TSV from
the page cache, in the same run.

    .venv/bin/python -m bench.tatoeba_parse [--rows 2000000] [--repeat 3]   (or: make bench)
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv

import zstandard

from pipeline.formats import mysql_tsv
from pipeline.acquire.archives import open_decompressed
from pipeline.sources.tatoeba import DETAILED_COLUMNS, _typed_sentences
from tests.fixtures.tatoeba_upstream import escape

WORDS = "the a cat dog house runs sees wants I you we they red blue big small \"quoted\" it's".split()


def make_tsv(path: Path, rows: int, escape_every: int = 1_000_000) -> None:
    rng = random.Random(1)
    with open(path, "w", encoding="utf-8") as out:
        for i in range(1, rows + 1):
            text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 14))).capitalize() + "."
            if i % escape_every == 0:  # raw escaped tabs are rare upstream (Tatoeba normalizes whitespace)
                text += "\twith a tab\\and a backslash"
            lang = None if i % 997 == 0 else rng.choice(["eng", "fra", "deu", "jpn", "spa", "rus"])
            user = None if i % 7 == 0 else f"user{i % 4000}"
            stamp = "0000-00-00 00:00:00" if i % 11 == 0 else f"2019-0{1 + i % 9}-1{i % 9} 10:2{i % 9}:00"
            out.write("\t".join([str(i), escape(lang), escape(text), escape(user), escape(stamp), escape(stamp)]) + "\n")


def datamill_parse(path: Path) -> int:
    rows = 0
    with open_decompressed(path) as stream:
        for table, _ in mysql_tsv.read_batches(stream, DETAILED_COLUMNS, then=_typed_sentences):
            rows += table.num_rows
    return rows


def pyarrow_read(path: Path) -> int:
    table = pacsv.read_csv(
        pa.input_stream(str(path), compression="zstd" if path.suffix == ".zst" else None), read_options=pacsv.ReadOptions(column_names=DETAILED_COLUMNS),
        parse_options=pacsv.ParseOptions(delimiter="\t", quote_char=False, escape_char="\\", newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(column_types={c: pa.string() for c in DETAILED_COLUMNS}))
    return table.num_rows


def best_of(fn, path: Path, repeat: int) -> tuple[float, int]:
    best, rows = float("inf"), 0
    for _ in range(repeat):
        start = time.perf_counter()
        rows = fn(path)
        best = min(best, time.perf_counter() - start)
    return best, rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--escape-every", type=int, default=1_000_000,
                        help="one raw escaped tab every N rows (each forces its block onto the careful path)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "sentences_detailed.csv"
        make_tsv(path, args.rows, args.escape_every)
        zst = path.with_suffix(".csv.zst")
        with open(path, "rb") as src, open(zst, "wb") as dst:
            zstandard.ZstdCompressor(level=10).copy_stream(src, dst)
        size = path.stat().st_size
        print(f"input: {args.rows:,} rows, {size / 1e6:.0f} MB TSV, {zst.stat().st_size / 1e6:.0f} MB as .csv.zst "
              f"(sentences_detailed layout)")
        for label, source in (("plain TSV", path), (".csv.zst", zst)):
            ours, rows_ours = best_of(datamill_parse, source, args.repeat)
            anchor, rows_anchor = best_of(pyarrow_read, source, args.repeat)
            assert rows_ours == rows_anchor == args.rows, (rows_ours, rows_anchor)
            print(f"[{label}] datamill mysql_tsv + typing : {rows_ours / ours:12,.0f} rows/s  {size / ours / 1e6:7.1f} MB/s")
            print(f"[{label}] pyarrow.csv plain read      : {rows_anchor / anchor:12,.0f} rows/s  {size / anchor / 1e6:7.1f} MB/s")
            print(f"[{label}] datamill speed / pyarrow.csv: {anchor / ours:.2f}x")

if __name__ == "__main__":
    main()
