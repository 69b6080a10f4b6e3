"""Reasoning questions generated per core, into finished shards (manifest, card, plots) and by the generator alone.

The rate is rows per second of CPU time of this process (``time.process_time``: the machine is
shared, so wall time says more about the neighbours than about the code); wall time and the
load average are printed beside it. Builds the ``reasoning`` source with one worker (in this
process) at two sizes 10x apart (the cost per row must stay flat), after a 1,000-row build that
shows the fixed cost of a build (imports, manifest, card, plots), then times the generator
alone (no Parquet) at the same sizes, all families and ``between`` alone, on the same seed.
Each rate is printed as a ratio to the goal of 100,000 rows/s per core.

    .venv/bin/python -m bench.reasoning_generate [--rows 100000]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from pipeline import build as stages
from pipeline.reasoning.generate import Generator
from pipeline.reasoning.families import FAMILIES
from pipeline.store.shards import Rejects
from pipeline.sources.reasoning import CHUNK_ROWS, Reasoning
from pipeline.store.splits import SplitAssigner

GOAL = 100_000


def _clock() -> tuple[float, float]:
    return time.process_time(), time.perf_counter()


def _report(label: str, rows: int, started: tuple[float, float], extra: str = "") -> None:
    cpu, wall = (now - then for now, then in zip(_clock(), started))
    load = os.getloadavg()[0]
    print(f"{label}: {rows:>10,} rows, cpu {cpu:6.2f} s = {rows / cpu:>9,.0f} rows/s per core "
          f"({rows / cpu / GOAL:4.2f}x goal); wall {wall:6.2f} s; load {load:4.1f}{extra}", flush=True)


def into_shards(rows: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        source = Reasoning(Path(tmp), examples=rows, part_rows=rows)
        started = _clock()
        manifest = stages.build(source, Path(tmp), max_workers=1, progress=False)["questions"]
        drops = manifest["totals"]["drops"]
        redrawn = sum(drops.values())
        _report("into shards, 1 worker", rows, started,
                f"; redrawn {redrawn / rows:.3f} per row ({', '.join(f'{k} {v:,}' for k, v in drops.items())})")


def generator_only(rows: int, families: tuple[str, ...]) -> None:
    generator = Generator(families, 0, SplitAssigner(None, salt="bench"))
    rejects = Rejects("bench")
    generator.table(0, 0, 1000, rejects)  # interning, name table, held-out pairs: once per process
    started = _clock()
    for start in range(0, rows, CHUNK_ROWS):
        generator.table(0, start, min(CHUNK_ROWS, rows - start), rejects)
    label = "all families" if len(families) > 1 else families[0]
    _report(f"generator only ({label})", rows, started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    print(f"load average at start: {' '.join(f'{v:.2f}' for v in os.getloadavg())}", flush=True)
    sizes = (args.rows, args.rows * 10)
    into_shards(1_000)  # the fixed cost of a build (first imports, manifest, card, plots), shown apart
    for rows in sizes:
        into_shards(rows)
    for chosen in (tuple(FAMILIES), ("between",)):
        for rows in sizes:
            generator_only(rows, chosen)


if __name__ == "__main__":
    main()
