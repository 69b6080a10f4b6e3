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

from pipeline.errors import ConfigError
from pipeline.reasoning.families import FAMILIES, Family
from pipeline.reasoning.names import pools
from pipeline.reasoning.solver import STATUS, UNIQUE
from pipeline.reasoning.text import Text, byte_lengths, intern_many, to_arrow
from pipeline.store.shards import SPLIT_COLUMN, Rejects
from pipeline.store.splits import SplitAssigner

SCHEMA = pa.schema([pa.field("id", pa.int64(), nullable=False), pa.field("family", pa.string(), nullable=False),
                    pa.field("question", pa.string(), nullable=False), pa.field("answer", pa.string(), nullable=False),
                    pa.field("facts", pa.string(), nullable=False)])
HELDOUT_PERCENT = 10
MAX_ROUNDS = 2000
DRAW_AHEAD = 1.0  # candidates drawn per pending row and round, as a multiple of the expected draws to one good


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
def name_table() -> tuple[int, int, int]:
    """(the first name's segment id, train pool size, test pool size): the train pool comes first."""
    train, test = pools()
    return intern_many(train + test), len(train), len(test)


Texts = tuple[Text, Text, Text]  # question, answer, facts


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
        placed: list[tuple[np.ndarray, Texts]] = []
        for f, name in enumerate(self.families):
            rows = np.flatnonzero(family_of == f)
            if len(rows):
                placed += [(rows[at], texts) for at, texts in
                           self._family_rows(FAMILIES[name], rng, ids[rows], test[rows], rejects)]
        question, answer, facts = (to_arrow(_place(count, [(rows, texts[i]) for rows, texts in placed]))
                                   for i in range(3))
        family = pa.array(self.families, pa.string()).take(pa.array(family_of.astype(np.int32)))
        split = pa.array(self.assigner.names, pa.string()).take(pa.array(splits.astype(np.int32)))
        return pa.Table.from_arrays([pa.array(ids), family, question, answer, facts, split],
                                    schema=SCHEMA.append(pa.field(SPLIT_COLUMN, pa.string())))

    def _family_rows(self, family: Family, rng: np.random.Generator, ids: np.ndarray, test: np.ndarray,
                     rejects: Rejects) -> list[tuple[np.ndarray, Texts]]:
        """Draw rounds until every row has a question; each round draws several candidates per pending row.

        Drawing ahead (more candidates where fewer are accepted, e.g. test rows, which need a
        held-out pair) keeps the rounds few: the fixed cost of a round's operations dominates small ones.
        Returns (the family's rows, their texts) per round.
        """
        done: list[tuple[np.ndarray, Texts]] = []
        pending = np.arange(len(ids))
        rate = {False: 0.7, True: 0.05}  # acceptance per draw, learned as rounds go
        for attempt in range(MAX_ROUNDS):
            if not len(pending):
                break
            per_row = np.where(test[pending], int(np.ceil(DRAW_AHEAD * 1.5 / rate[True])),
                               int(np.ceil(DRAW_AHEAD * 1.2 / rate[False])))
            owners = np.repeat(pending, np.minimum(per_row, 64))
            accepted, texts, good = self._attempt(family, rng, owners, ids[owners], test[owners], attempt, rejects)
            for flag in (False, True):
                drawn = test[owners] == flag
                if drawn.any():
                    rate[flag] = max(0.01, float(good[drawn].mean()))
            if len(accepted):
                done.append((owners[accepted], texts))
            pending = np.setdiff1d(pending, owners[accepted])
        else:
            raise ConfigError(f"{family.name}: could not draw {len(pending)} rows in {MAX_ROUNDS} rounds")
        return done

    def _attempt(self, family: Family, rng, owners, ids, test, attempt: int, rejects: Rejects):
        """One round of candidates: (the accepted ones, one per owner row; their texts; the good mask)."""
        draw = family.draw(rng, len(ids))
        status, answer = family.solve(draw)
        first, second = family.key(draw, answer)
        inside = (first >= 0) & (first < 100) & (second >= 0) & (second < 100)
        held = heldout_pairs()[np.clip(first, 0, 99), np.clip(second, 0, 99)] & inside
        good = (status == UNIQUE) & (held == test)
        keep = np.flatnonzero(good)
        keep = keep[np.unique(owners[keep], return_index=True)[1]]  # the first good candidate of each row
        bad = np.flatnonzero(status != UNIQUE)
        names = self._names(rng, test[np.concatenate([keep, bad])], family.people)
        # owners are sorted, so a row's candidates are contiguous, in draw order: count a bad one only
        # if it comes before its row's kept one, as a sequential redraw loop would have drawn it
        first = np.searchsorted(owners, owners)  # each candidate's row's first candidate
        stop = np.full(len(owners), len(owners))
        stop[first[keep]] = keep
        counted = bad < stop[first[bad]]
        if counted.any():
            self._reject(family, draw, names[len(keep):][counted], bad[counted], bad[counted] - first[bad[counted]],
                         ids, status, attempt, rejects)
        if not len(keep):
            return keep, None, good
        sub = {k: v[keep] for k, v in draw.items()}
        question, answer_text, facts = family.render(sub, answer[keep], _slot_names(names[:len(keep)]), rng)
        long = byte_lengths(question) > self.max_chars
        if long.any():
            rejects.add_many((f"{i}#{attempt}.{c}" for i, c in zip(ids[keep][long], (keep - first[keep])[long])),
                             "too_long", to_arrow(question[long]).to_pylist())
        fits = ~long
        return keep[fits], (question[fits], answer_text[fits], facts[fits]), good

    def _reject(self, family, draw, names, bad, candidate, ids, status, attempt, rejects: Rejects) -> None:
        """Record the bad candidates, as "row id#round.candidate" (the candidate's place among its row's)."""
        sub = {k: v[bad] for k, v in draw.items()}
        facts = to_arrow(family.facts(sub, _slot_names(names))).to_pylist()
        for reason_code in np.unique(status[bad]):
            mine = status[bad] == reason_code
            rejects.add_many((f"{i}#{attempt}.{c}" for i, c in zip(ids[bad][mine], candidate[mine])),
                             STATUS[int(reason_code)], (f for f, m in zip(facts, mine) if m))

    def _names(self, rng, test: np.ndarray, people: int) -> np.ndarray:
        """Distinct names per row (indices into the name list): the test pool for test rows, else the train pool."""
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
    first = name_table()[0]
    return lambda slot: (first + names[:, slot]).astype(np.int32)


def _place(count: int, pieces: list[tuple[np.ndarray, Text]]) -> Text:
    """One text of ``count`` rows from texts of some rows each (the rows given), padded to one width."""
    width = max(t.shape[1] for _, t in pieces)
    out = np.zeros((count, width), np.int32)
    for rows, text in pieces:
        out[rows, :text.shape[1]] = text
    return out


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
