"""The generation-time solver: which ages are consistent with a batch of stated facts, by brute force.

Every person has a domain: the ages 1..99 still possible, a boolean row of 100 (index 0 unused).
Stated ages fix a domain; each relation (older, younger, K years older, twice as old, "in K
years X will be N") removes values that no value of the other person supports, swept until
nothing changes. A question has exactly one answer when the asked value's domain holds exactly
one value; an empty domain anywhere is a contradiction. The arrays cover a whole batch at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MAX_AGE = 99
VALUES = np.arange(MAX_AGE + 1)

UNIQUE, AMBIGUOUS, CONTRADICTORY = 0, 1, 2
STATUS = ("unique", "ambiguous", "contradictory")


@dataclass
class Relation:
    """Per row: person ``a`` relates to person ``b``; ``kind`` is one of the operators below."""

    kind: str  # "gt" (a older than b), "lt", "add" (a = b + k), "mul" (a = b * k)
    a: np.ndarray
    b: np.ndarray
    k: np.ndarray | None = None


class Domains:
    """The possible ages of P people in each of N rows."""

    def __init__(self, rows: int, people: int) -> None:
        self.d = np.ones((rows, people, MAX_AGE + 1), dtype=bool)
        self.d[:, :, 0] = False
        self.rows = np.arange(rows)

    def state(self, people: np.ndarray, ages: np.ndarray, where: np.ndarray | None = None) -> None:
        """Person ``people[i]`` is ``ages[i]`` (only in rows ``where``); out-of-range ages empty the domain."""
        rows = self.rows if where is None else self.rows[where]
        people, ages = np.asarray(people)[rows], np.asarray(ages)[rows]
        fixed = VALUES[None, :] == ages[:, None]
        self.d[rows, people] &= fixed

    def get(self, people: np.ndarray) -> np.ndarray:
        return self.d[self.rows, people]

    def narrow(self, people: np.ndarray, allowed: np.ndarray) -> None:
        self.d[self.rows, people] &= allowed

    def propagate(self, relations: list[Relation], sweeps: int = 4) -> None:
        for _ in range(sweeps):
            for r in relations:
                self.narrow(r.a, _supported(r, self.get(r.b), forward=True))
                self.narrow(r.b, _supported(r, self.get(r.a), forward=False))

    def contradictory(self) -> np.ndarray:
        """Rows where some person has no possible age (only people that occur are checked)."""
        return ~self.d.any(axis=2).all(axis=1)

    def verdict(self, asked: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(status, value) of the asked people's domains."""
        domain = self.get(asked)
        count = domain.sum(axis=1)
        status = np.where(count == 1, UNIQUE, np.where(count == 0, CONTRADICTORY, AMBIGUOUS))
        status = np.where(self.contradictory(), CONTRADICTORY, status)
        return status, domain.argmax(axis=1)


def _supported(r: Relation, other: np.ndarray, forward: bool) -> np.ndarray:
    """Values of one side for which some value of ``other`` (the other side's domain) satisfies ``r``."""
    n = len(other)
    if r.kind in ("gt", "lt"):
        present = other.any(axis=1)
        low = np.where(present, other.argmax(axis=1), MAX_AGE + 1)
        high = np.where(present, MAX_AGE - other[:, ::-1].argmax(axis=1), -1)
        older = (r.kind == "gt") == forward  # this side is the older one
        return VALUES[None, :] > low[:, None] if older else VALUES[None, :] < high[:, None]
    k = np.asarray(r.k)[:, None]
    if r.kind == "add":  # a = b + k
        source = VALUES[None, :] - k if forward else VALUES[None, :] + k
    elif r.kind == "mul":  # a = b * k
        if forward:
            source = np.where(VALUES[None, :] % k == 0, VALUES[None, :] // k, -1)
        else:
            source = VALUES[None, :] * k
    else:
        raise ValueError(f"unknown relation {r.kind!r}")
    inside = (source >= 1) & (source <= MAX_AGE)
    picked = np.take_along_axis(other, np.clip(source, 0, MAX_AGE), axis=1)
    return inside & picked & np.ones((n, 1), dtype=bool)


def rank_verdict(ages: np.ndarray, present: np.ndarray, rank: np.ndarray, oldest_first: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray]:
    """(status, person) for "who is the (rank+1)-th oldest/youngest": ambiguous when that age is tied."""
    keyed = np.where(present, np.where(oldest_first[:, None], -ages, ages), 10 ** 6)
    order = np.argsort(keyed, axis=1, kind="stable")
    person = np.take_along_axis(order, rank[:, None], axis=1)[:, 0]
    chosen = np.take_along_axis(ages, person[:, None], axis=1)[:, 0]
    ties = ((ages == chosen[:, None]) & present).sum(axis=1)
    return np.where(ties == 1, UNIQUE, AMBIGUOUS), person
