"""The generation-time solver: how many ages the stated facts allow for the asked value, in closed form.

Each family's facts are a small system (stated ages 1..99, "older than", "K years older",
"twice as old", "in K years X will be N"); for each such system the set of ages consistent
with it is an interval or a single value, so its size and its one member are computed per row
with a few NumPy operations over the whole batch (no per-person domain arrays). Only the stated
facts go in, never the ages the draw started from: the answer is what the facts imply. A row is
UNIQUE when exactly one value is possible, AMBIGUOUS when several are, CONTRADICTORY when none
(any stated age out of 1..99 included). ``tests/reasoning_checker.py`` checks the same rows by
brute force over every assignment of ages, sharing no code with this module.
"""

from __future__ import annotations

import numpy as np

MIN_AGE, MAX_AGE = 1, 99

UNIQUE, AMBIGUOUS, CONTRADICTORY = 0, 1, 2
STATUS = ("unique", "ambiguous", "contradictory")


def in_range(values: np.ndarray) -> np.ndarray:
    return (values >= MIN_AGE) & (values <= MAX_AGE)


def stated_ok(ages: np.ndarray, present: np.ndarray) -> np.ndarray:
    """Rows whose stated ages (where ``present``) all lie in 1..99."""
    return (in_range(ages) | ~present).all(axis=1)


def _status(count: np.ndarray, consistent: np.ndarray) -> np.ndarray:
    status = np.where(count == 1, UNIQUE, np.where(count == 0, CONTRADICTORY, AMBIGUOUS))
    return np.where(consistent, status, CONTRADICTORY)


def between(low: np.ndarray, high: np.ndarray, consistent: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """T > low and T < high: the ages max(low+1, 1) .. min(high-1, 99)."""
    first = np.maximum(low + 1, MIN_AGE)
    last = np.minimum(high - 1, MAX_AGE)
    return _status(np.maximum(last - first + 1, 0), consistent & in_range(low) & in_range(high)), first


def chain(start: np.ndarray, steps: np.ndarray, links: np.ndarray, consistent: np.ndarray
          ) -> tuple[np.ndarray, np.ndarray]:
    """Person 0 is ``start``, person i = person i-1 + steps[i-1] for i = 1..links: the last person's age.

    Every person on the chain is then fixed; the row is consistent only if all of them are 1..99.
    """
    values = start[:, None] + np.cumsum(steps, axis=1)
    used = np.arange(steps.shape[1])[None, :] < links[:, None]
    ok = consistent & in_range(start) & (in_range(values) | ~used).all(axis=1)
    answer = values[np.arange(len(start)), links - 1]
    return np.where(ok, UNIQUE, CONTRADICTORY), answer


def scaled(known: np.ndarray, factor: np.ndarray, known_is_bigger: np.ndarray, consistent: np.ndarray
           ) -> tuple[np.ndarray, np.ndarray]:
    """bigger = smaller * factor with one side known: the other side (a whole age 1..99, or none)."""
    answer = np.where(known_is_bigger, known // factor, known * factor)
    whole = ~known_is_bigger | (known % factor == 0)
    ok = consistent & in_range(known) & whole & in_range(answer)
    return np.where(ok, UNIQUE, CONTRADICTORY), answer


def shifted(now: np.ndarray, offset: np.ndarray, consistent: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """X's age now is ``now`` (derived from a statement); the question asks for now + offset (1..99)."""
    answer = now + offset
    ok = consistent & in_range(now) & in_range(answer)
    return np.where(ok, UNIQUE, CONTRADICTORY), answer


def difference(older: np.ndarray, younger: np.ndarray, consistent: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """How much older X (stated) is than Y (stated): none if X is not the older one."""
    ok = consistent & in_range(older) & in_range(younger) & (older > younger)
    return np.where(ok, UNIQUE, CONTRADICTORY), older - younger


def rank_verdict(ages: np.ndarray, present: np.ndarray, rank: np.ndarray, oldest_first: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray]:
    """(status, person) for "who is the (rank+1)-th oldest/youngest": ambiguous when that age is tied."""
    keyed = np.where(present, np.where(oldest_first[:, None], -ages, ages), 10 ** 6)
    order = np.argsort(keyed, axis=1, kind="stable")
    person = np.take_along_axis(order, rank[:, None], axis=1)[:, 0]
    chosen = np.take_along_axis(ages, person[:, None], axis=1)[:, 0]
    ties = ((ages == chosen[:, None]) & present).sum(axis=1)
    status = np.where(ties == 1, UNIQUE, AMBIGUOUS)
    return np.where(stated_ok(ages, present), status, CONTRADICTORY), person
