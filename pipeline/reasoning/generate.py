"""Batches of reasoning rows: families per row, names from the row's split pool, redraws counted.

Row ``i`` of a build is fixed by (seed, part, i): its split comes from a hash of its id, its
family from the part's random stream. Each family draws its rows as arrays; the solver's
verdict sends ambiguous and contradictory draws back to be drawn again (each one counted,
with its facts, as a reject); a test row must use a held-out (age, age) combination and a
train or validation row must not, so those are drawn again too (silently: that is sampling,
not a bad question). Questions longer than ``max_chars`` are redrawn and counted.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from typing import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.errors import ConfigError
from pipeline.reasoning.families import FAMILIES, Family
from pipeline.reasoning.names import pools
from pipeline.reasoning.solver import STATUS, UNIQUE
from pipeline.shards import SPLIT_COLUMN, Rejects
from pipeline.splits import SplitAssigner

SCHEMA = pa.schema([pa.field("id", pa.int64(), nullable=False), pa.field("family", pa.string(), nullable=False),
                    pa.field("question", pa.string(), nullable=False), pa.field("answer", pa.string(), nullable=False),
                    pa.field("facts", pa.string(), nullable=False)])
HELDOUT_PERCENT = 10
MAX_ROUNDS = 2000


@lru_cache(maxsize=1)
def heldout_pairs() -> np.ndarray:
    """[100, 100] bool: the (age, age) combinations only the test split uses."""
    table = np.zeros((100, 100), bool)
    for a in range(100):
        for b in range(100):
            digest = hashlib.blake2b(f"{a},{b}".encode(), digest_size=4, person=b"pairs").digest()
            table[a, b] = int.from_bytes(digest, "big") % 100 < HELDOUT_PERCENT
    return table


@lru_cache(maxsize=1)
def name_table() -> tuple[pa.Array, int, int]:
    """(every name as one Arrow array, train pool size, test pool size): the train pool comes first."""
    train, test = pools()
    return pa.array(train + test, pa.string()), len(train), len(test)


@dataclass(frozen=True)
class Generator:
    families: tuple[str, ...]
    seed: int
    assigner: SplitAssigner
    max_chars: int = 144

    def __post_init__(self) -> None:
        unknown = [f for f in self.families if f not in FAMILIES]
        if unknown or not self.families:
            raise ConfigError(f"--families: choose from {', '.join(FAMILIES)}, not {', '.join(unknown) or 'none'}")
        if "test" not in self.assigner.names:
            raise ConfigError("--splits: the reasoning source needs a test split (it holds out names and ages)")

    def table(self, part: int, start: int, count: int, rejects: Rejects) -> pa.Table:
        """Rows ``start .. start+count-1`` of the build, as one table with a split column."""
        rng = np.random.default_rng([self.seed, part, start])
        ids = np.arange(start, start + count, dtype=np.int64)
        splits = self.assigner.indices_of_ints(ids)
        test = splits == list(self.assigner.names).index("test")
        family_of = rng.integers(0, len(self.families), count)
        pieces, order = [], []
        for f, name in enumerate(self.families):
            rows = np.flatnonzero(family_of == f)
            if len(rows):
                pieces.append(self._family_rows(FAMILIES[name], rng, ids[rows], test[rows], rejects))
                order.append(rows)
        table = pa.concat_tables(pieces)
        table = table.take(pa.array(np.argsort(np.concatenate(order), kind="stable")))
        split_names = pa.array(np.asarray(self.assigner.names, dtype=object)[splits].tolist(), pa.string())
        return table.append_column(SPLIT_COLUMN, split_names)

    def _family_rows(self, family: Family, rng: np.random.Generator, ids: np.ndarray, test: np.ndarray,
                     rejects: Rejects) -> pa.Table:
        """Draw rounds until every row has a question; each round draws several candidates per pending row.

        Drawing ahead (more candidates where fewer are accepted, e.g. test rows, which need a
        held-out pair) keeps the rounds few: the fixed cost of a round's kernels dominates small ones.
        """
        done: list[tuple[np.ndarray, pa.Table]] = []
        pending = np.arange(len(ids))
        rate = {False: 0.7, True: 0.05}  # acceptance per draw, learned as rounds go
        for attempt in range(MAX_ROUNDS):
            if not len(pending):
                break
            per_row = np.where(test[pending], int(np.ceil(1.5 / rate[True])), int(np.ceil(1.2 / rate[False])))
            owners = np.repeat(pending, np.minimum(per_row, 64))
            accepted, rows, good = self._attempt(family, rng, owners, ids[owners], test[owners], attempt, rejects)
            for flag in (False, True):
                drawn = test[owners] == flag
                if drawn.any():
                    rate[flag] = max(0.01, float(good[drawn].mean()))
            if len(accepted):
                done.append((owners[accepted], rows))
            pending = np.setdiff1d(pending, owners[accepted])
        else:
            raise ConfigError(f"{family.name}: could not draw {len(pending)} rows in {MAX_ROUNDS} rounds")
        positions = np.concatenate([p for p, _ in done])
        table = pa.concat_tables([t for _, t in done])
        return table.take(pa.array(np.argsort(positions, kind="stable")))

    def _attempt(self, family: Family, rng, owners, ids, test, attempt: int, rejects: Rejects):
        """One round of candidates: (the accepted ones, one per owner row; their rendered rows; the good mask)."""
        n = len(ids)
        draw = family.draw(rng, n)
        names = self._names(rng, test, family.people, draw["present"])
        status, answer = family.solve(draw)
        first, second = family.key(draw, answer)
        inside = (first >= 0) & (first < 100) & (second >= 0) & (second < 100)
        held = heldout_pairs()[np.clip(first, 0, 99), np.clip(second, 0, 99)] & inside
        good = (status == UNIQUE) & (held == test)
        bad = np.flatnonzero(status != UNIQUE)
        if len(bad):
            self._reject(family, draw, names, bad, ids, status, attempt, rejects)
        keep = np.flatnonzero(good)
        keep = keep[np.unique(owners[keep], return_index=True)[1]]  # the first good candidate of each row
        if not len(keep):
            return keep, pa.table({}), good
        sub = {k: v[keep] for k, v in draw.items()}
        question, answer_text, facts = family.render(sub, answer[keep], _slot_names(names[keep]), rng)
        long = pc.greater(pc.utf8_length(question), self.max_chars).to_numpy(zero_copy_only=False)
        if long.any():
            rejects.add_many((f"{i}#{attempt}" for i in ids[keep][long]), "too_long",
                             pc.filter(question, pa.array(long)).to_pylist())
        fits = ~long
        table = pa.table({"id": pa.array(ids[keep][fits]), "family": pa.array([family.name] * int(fits.sum()),
                                                                              pa.string()),
                          "question": question.filter(pa.array(fits)), "answer": answer_text.filter(pa.array(fits)),
                          "facts": facts.filter(pa.array(fits))})
        return keep[fits], table, good

    def _reject(self, family, draw, names, bad, ids, status, attempt, rejects: Rejects) -> None:
        sub = {k: v[bad] for k, v in draw.items()}
        facts = family.facts(sub, _slot_names(names[bad])).to_pylist()
        for reason_code in np.unique(status[bad]):
            mine = status[bad] == reason_code
            rejects.add_many((f"{i}#{attempt}" for i in ids[bad][mine]), STATUS[int(reason_code)],
                             (f for f, m in zip(facts, mine) if m))

    def _names(self, rng, test: np.ndarray, people: int, present: np.ndarray) -> np.ndarray:
        """Distinct names per row, from the test pool for test rows and the train pool otherwise."""
        _, train_size, test_size = name_table()
        size = np.where(test, test_size, train_size)[:, None]
        offset = np.where(test, train_size, 0)[:, None]
        names = offset + (rng.random((len(test), people)) * size).astype(np.int64)
        while True:
            ordered = np.sort(names, axis=1)
            clash = np.flatnonzero((ordered[:, 1:] == ordered[:, :-1]).any(axis=1))
            if not len(clash):
                return names
            names[clash] = offset[clash] + (rng.random((len(clash), people)) * size[clash]).astype(np.int64)


def _slot_names(names: np.ndarray):
    table = name_table()[0]
    return lambda slot: table.take(pa.array(names[:, slot]))


def parse_families(spec: str | Sequence[str] | None) -> tuple[str, ...]:
    """``"between,order"`` (or ``all``/None) → the families, in the canonical order."""
    if spec is None or spec == "all" or spec == ["all"]:
        return tuple(FAMILIES)
    items = spec.split(",") if isinstance(spec, str) else [x for s in spec for x in s.split(",")]
    wanted = {s.strip() for s in items if s.strip()}
    unknown = sorted(wanted - set(FAMILIES))
    if unknown or not wanted:
        raise ConfigError(f"--families: choose from {', '.join(FAMILIES)} (or all), not {', '.join(unknown) or 'none'}")
    return tuple(f for f in FAMILIES if f in wanted)
