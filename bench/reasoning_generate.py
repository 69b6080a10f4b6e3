"""Reasoning questions generated per second on one core, into finished shards (manifest, card, plots).

Builds the ``reasoning`` source with one worker at two sizes 10x apart (the cost per row must
stay flat), and times the generator alone (no Parquet) beside it, on the same seed.

    .venv/bin/python -m bench.reasoning_generate [--rows 20000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from pipeline import build as stages
from pipeline.reasoning.generate import Generator
from pipeline.shards import Rejects
from pipeline.sources.reasoning import Reasoning
from pipeline.splits import SplitAssigner


def into_shards(rows: int) -> tuple[float, dict]:
    with tempfile.TemporaryDirectory() as tmp:
        source = Reasoning(Path(tmp), examples=rows, part_rows=rows)
        started = time.perf_counter()
        manifest = stages.build(source, Path(tmp), max_workers=1, progress=False)["questions"]
        return time.perf_counter() - started, manifest


def generator_only(rows: int, families: tuple[str, ...]) -> float:
    generator = Generator(families, 0, SplitAssigner(None, salt="bench"))
    rejects = Rejects("bench")
    started = time.perf_counter()
    for start in range(0, rows, 32768):
        generator.table(0, start, min(32768, rows - start), rejects)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000)
    args = parser.parse_args()
    for rows in (args.rows, args.rows * 10):
        seconds, manifest = into_shards(rows)
        drops = manifest["totals"]["drops"]
        print(f"into shards, 1 worker: {rows:>9,} rows in {seconds:6.2f} s = {rows / seconds:>9,.0f} rows/s "
              f"(redrawn: {', '.join(f'{k} {v:,}' for k, v in drops.items())})", flush=True)
    families = ("between", "offset", "ratio", "order", "difference", "time")
    for chosen in (families, ("between",)):
        seconds = generator_only(args.rows * 10, chosen)
        print(f"generator only ({'all families' if len(chosen) > 1 else chosen[0]}): "
              f"{args.rows * 10 / seconds:,.0f} rows/s", flush=True)


if __name__ == "__main__":
    main()
