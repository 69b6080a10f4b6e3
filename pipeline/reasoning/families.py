"""The six question families: how each draws its facts, asks its question and is solved.

A family works on a batch: ``draw`` samples every random choice as NumPy arrays (ages,
offsets, phrasings, which person is asked), ``solve`` hands the stated facts to the solver
and returns each row's status and answer, ``key`` names the (age, age) combination that the
test split holds out, and ``render`` writes the question, the answer and the machine-checkable
facts (``Jack=12; Jane=10; Kate>Jane; Kate<Jack; ?Kate``) as phrase-id texts (see ``text``).
Person 0..P-1 are slots; a slot whose ``present`` is false takes no part in the question.

Draws are in range by construction where the facts allow it: an offset chain, a ratio and a
time shift are drawn among the values that keep every age in 1..99, with the same probabilities
that drawing freely and redrawing the out-of-range ones would give (see each ``draw``). What is
left to the solver to reject (a `between` gap of 1 or 3, equal ages in `difference`, ties in
`order`) is redrawn by the generator, and counted.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Callable

import numpy as np

from pipeline.reasoning import solver
from pipeline.reasoning.text import (AGE_STYLES, MAX_NUMBER, Text, age_sentence, blank_unless, cat, checked, num,
                                     phrases, pick, shuffled_join, when, years)

Draw = dict[str, np.ndarray]
Names = Callable[[int], np.ndarray]  # slot -> the batch's name segment ids in that slot
MAX_STEP = 20  # offset links: 1..20 years older or younger
MAX_SHIFT = 30  # time: in / ago 1..30 years


def _ages(rng, n: int, people: int) -> np.ndarray:
    return rng.integers(1, 100, size=(n, people))


def _distractors(rng, draw: Draw, first: int, last: int, at_most: int) -> None:
    """Slots first..last-1 are other people with stated ages: 0..at_most of them."""
    count = rng.integers(0, at_most + 1, size=len(draw["ages"]))
    for i, slot in enumerate(range(first, last)):
        draw["present"][:, slot] = count > i
    draw["style"] = rng.integers(0, AGE_STYLES, size=draw["ages"].shape)


def _stated(draw: Draw, slots) -> np.ndarray:
    """Rows whose stated ages in ``slots`` (where present) are all 1..99."""
    slots = list(slots)
    return solver.stated_ok(draw["ages"][:, slots], draw["present"][:, slots])


FACT_AGES = phrases([f"={v}; " for v in range(MAX_NUMBER + 1)], (MAX_NUMBER + 1,))  # "Jack" + "=12; "


def _fact_ages(names: Names, draw: Draw, slots) -> list[Text]:
    return [blank_unless(draw["present"][:, s], cat(names(s), FACT_AGES[checked(draw["ages"][:, s])]))
            for s in slots]


def _age_sentences(names: Names, draw: Draw, slots) -> list[Text]:
    return [blank_unless(draw["present"][:, s], age_sentence(names(s), draw["ages"][:, s], draw["style"][:, s]))
            for s in slots]


def _how_old(name: np.ndarray, style: np.ndarray) -> Text:
    return pick(style, [cat("How old is ", name, "?"), cat("What is ", name, "'s age?"), cat("What age is ", name, "?")])


def _weighted(rng, n: int, cdf: np.ndarray) -> np.ndarray:
    """Indices drawn with the probabilities whose cumulative sum is ``cdf``."""
    return np.minimum(np.searchsorted(cdf, rng.random(n), side="right"), len(cdf) - 1)


class Family:
    name: str
    people: int

    def draw(self, rng: np.random.Generator, n: int) -> Draw:
        raise NotImplementedError

    def solve(self, draw: Draw) -> tuple[np.ndarray, np.ndarray]:
        """(status, answer): the answer is an age, or a slot for questions answered by a name."""
        raise NotImplementedError

    def key(self, draw: Draw, answer: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def render(self, draw: Draw, answer: np.ndarray, names: Names, rng: np.random.Generator
               ) -> tuple[Text, Text, Text]:
        """(question, answer, facts) texts of the rows."""
        raise NotImplementedError

    def facts(self, draw: Draw, names: Names) -> Text:
        raise NotImplementedError


class Between(Family):
    """Given ages; T is older than L and younger than H (any order, several phrasings): T's age."""

    name, people = "between", 5  # 0 asked, 1 younger anchor, 2 older anchor, 3-4 other people

    def draw(self, rng, n):
        gap = rng.choice([1, 2, 3], size=n, p=[0.04, 0.92, 0.04])  # only a gap of 2 leaves one age
        ages = _ages(rng, n, self.people)
        ages[:, 1] = rng.integers(1, 100 - gap)
        ages[:, 2] = ages[:, 1] + gap
        draw = {"ages": ages, "present": np.ones((n, self.people), bool), "link": rng.integers(0, 5, n),
                "ask": rng.integers(0, 3, n)}
        _distractors(rng, draw, 3, 5, 1)
        return draw

    def solve(self, draw):
        ages = draw["ages"]
        return solver.between(ages[:, 1], ages[:, 2], _stated(draw, (3, 4)))

    def key(self, draw, answer):
        return draw["ages"][:, 1], draw["ages"][:, 2]

    def render(self, draw, answer, names, rng):
        t, lo, hi = names(0), names(1), names(2)
        link = pick(draw["link"], [cat(t, " is older than ", lo, ", and younger than ", hi, ". "),
                                   cat(t, " is older than ", lo, " but younger than ", hi, ". "),
                                   cat(t, " is younger than ", hi, " but older than ", lo, ". "),
                                   cat(t, " is younger than ", hi, ", and older than ", lo, ". "),
                                   cat(lo, " is younger than ", t, ", and ", hi, " is older than ", t, ". ")])
        question = shuffled_join([*_age_sentences(names, draw, (1, 2, 3, 4)), link], rng,
                                 _how_old(t, draw["ask"]))
        return question, num(answer)[:, None], self.facts(draw, names)

    def facts(self, draw, names):
        t = names(0)
        return cat(*_fact_ages(names, draw, (1, 2, 3, 4)), t, ">", names(1), "; ", t, "<", names(2), "; ?", t)


@lru_cache(maxsize=None)
def _chains(links: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every chain of ``links`` steps (±1..20 each): (steps, cdf, lowest, highest partial sum incl. 0).

    A chain whose partial sums span s years leaves 99 - s starting ages that keep everyone 1..99;
    drawing chains with that weight, then a start among those ages, is drawing start and steps
    uniformly and redrawing the out-of-range ones (without the redraws).
    """
    values = np.concatenate([-np.arange(MAX_STEP, 0, -1), np.arange(1, MAX_STEP + 1)])
    steps = np.stack(np.meshgrid(*[values] * links, indexing="ij"), axis=-1).reshape(-1, links)
    sums = np.cumsum(steps, axis=1)
    lowest, highest = np.minimum(sums.min(axis=1), 0), np.maximum(sums.max(axis=1), 0)
    weight = (solver.MAX_AGE - solver.MIN_AGE + 1 - (highest - lowest)).astype(np.float64)
    return steps, np.cumsum(weight) / weight.sum(), lowest, highest


class Offset(Family):
    """A chain of 2-4 people, "X is K years older/younger than Y", one age given: the last one's age."""

    name, people = "offset", 5  # 0..3 the chain (0 known), 4 another person

    def draw(self, rng, n):
        length = rng.integers(2, 5, n)
        steps = np.zeros((n, 3), np.int64)
        start = np.zeros(n, np.int64)
        for links in (1, 2, 3):
            rows = np.flatnonzero(length - 1 == links)
            table, cdf, lowest, highest = _chains(links)
            chosen = _weighted(rng, len(rows), cdf)
            steps[rows, :links] = table[chosen]
            room = solver.MAX_AGE - solver.MIN_AGE + 1 - (highest[chosen] - lowest[chosen])
            start[rows] = solver.MIN_AGE - lowest[chosen] + (rng.random(len(rows)) * room).astype(np.int64)
        ages = _ages(rng, n, self.people)
        ages[:, 0] = start
        ages[:, 1:4] = start[:, None] + np.cumsum(steps, axis=1)
        present = np.ones((n, self.people), bool)
        present[:, 1:4] = np.arange(1, 4)[None, :] < length[:, None]
        draw = {"ages": ages, "present": present, "steps": steps, "length": length,
                "form": rng.integers(0, 2, (n, 3)), "ask": rng.integers(0, 3, n)}
        _distractors(rng, draw, 4, 5, 1)
        return draw

    def solve(self, draw):
        return solver.chain(draw["ages"][:, 0], draw["steps"], draw["length"] - 1, _stated(draw, (4,)))

    def key(self, draw, answer):
        return draw["ages"][:, 0], answer

    def _link(self, names, draw, i):
        step, form = draw["steps"][:, i - 1], draw["form"][:, i - 1]
        k = years(np.abs(step))
        up = step > 0
        later, earlier = names(i), names(i - 1)
        forward = cat(later, " is ", k, when(up, " older than ", " younger than "), earlier, ". ")
        backward = cat(earlier, " is ", k, when(up, " younger than ", " older than "), later, ". ")
        return blank_unless(draw["present"][:, i], pick(form, [forward, backward]))

    def render(self, draw, answer, names, rng):
        asked = self._asked(draw, names)
        sentences = [*_age_sentences(names, draw, (0, 4)), *(self._link(names, draw, i) for i in range(1, 4))]
        return (shuffled_join(sentences, rng, _how_old(asked, draw["ask"])), num(answer)[:, None],
                self.facts(draw, names))

    def _asked(self, draw, names):
        return pick(draw["length"] - 2, [names(1), names(2), names(3)])

    def facts(self, draw, names):
        links = []
        for i in range(1, 4):
            step = draw["steps"][:, i - 1]
            links.append(blank_unless(draw["present"][:, i],
                                      cat(names(i), "=", names(i - 1), when(step >= 0, "+", "-"), num(np.abs(step)),
                                          "; ")))
        return cat(*_fact_ages(names, draw, (0, 4)), *links, "?", self._asked(draw, names))


# Free draws of (relation, known age) keep 49, 33 and 49 of the 99 known ages for twice, three
# times and half: drawing the relation with those weights keeps the old mix without the redraws.
RATIO_FACTORS = np.array([2, 3, 2])
RATIO_CDF = np.cumsum(solver.MAX_AGE // RATIO_FACTORS) / (solver.MAX_AGE // RATIO_FACTORS).sum()


class Ratio(Family):
    """"X is twice / three times / half as old as Y", one age given: the other one."""

    name, people = "ratio", 4  # 0 known, 1 asked, 2-3 other people

    def draw(self, rng, n):
        relation = _weighted(rng, n, RATIO_CDF)
        draw = {"ages": _ages(rng, n, self.people), "present": np.ones((n, self.people), bool),
                "relation": relation, "asked_is_subject": rng.random(n) < 0.5,
                "phrase": rng.integers(0, 2, n), "ask": rng.integers(0, 3, n)}
        factor = RATIO_FACTORS[relation]
        smaller = 1 + (rng.random(n) * (solver.MAX_AGE // factor)).astype(np.int64)
        known_is_bigger = self._known_is_bigger(draw)
        draw["ages"][:, 0] = np.where(known_is_bigger, smaller * factor, smaller)
        draw["ages"][:, 1] = np.where(known_is_bigger, smaller, smaller * factor)
        _distractors(rng, draw, 2, 4, 2)
        return draw

    def _sides(self, draw):
        subject = np.where(draw["asked_is_subject"], 1, 0)
        return subject, 1 - subject

    def _known_is_bigger(self, draw):
        # twice/three times: the subject is the bigger one; half: the other one is
        subject_is_bigger = draw["relation"] != 2
        return subject_is_bigger != draw["asked_is_subject"]

    def solve(self, draw):
        return solver.scaled(draw["ages"][:, 0], RATIO_FACTORS[draw["relation"]], self._known_is_bigger(draw),
                             _stated(draw, (2, 3)))

    def key(self, draw, answer):
        return draw["ages"][:, 0], answer

    def _xy(self, draw, names):
        subject, other = self._sides(draw)
        return pick(subject, [names(0), names(1)]), pick(other, [names(0), names(1)])

    def render(self, draw, answer, names, rng):
        x, y = self._xy(draw, names)
        phrasings = [[cat(x, " is twice as old as ", y, ". "), cat(x, " is two times as old as ", y, ". ")],
                     [cat(x, " is three times as old as ", y, ". "), cat(x, "'s age is three times ", y, "'s. ")],
                     [cat(x, " is half as old as ", y, ". "), cat(x, " is half the age of ", y, ". ")]]
        relation = pick(draw["relation"], [pick(draw["phrase"], p) for p in phrasings])
        question = shuffled_join([*_age_sentences(names, draw, (0, 2, 3)), relation], rng,
                                 _how_old(names(1), draw["ask"]))
        return question, num(answer)[:, None], self.facts(draw, names)

    def facts(self, draw, names):
        x, y = self._xy(draw, names)
        relation = pick(draw["relation"], [cat(x, "=", y, "*2; "), cat(x, "=", y, "*3; "), cat(x, "*2=", y, "; ")])
        return cat(*_fact_ages(names, draw, (0, 2, 3)), relation, "?", names(1))


RANKS = ("oldest", "youngest", "second_oldest", "second_youngest")


class Order(Family):
    """3-5 people with ages: who is the oldest / youngest / second oldest / second youngest (a name)."""

    name, people = "order", 5

    def draw(self, rng, n):
        count = rng.integers(3, 6, n)
        return {"ages": _ages(rng, n, self.people), "present": np.arange(self.people)[None, :] < count[:, None],
                "style": rng.integers(0, AGE_STYLES, (n, self.people)), "rank": rng.integers(0, 4, n),
                "phrase": rng.integers(0, 2, n)}

    def solve(self, draw):
        rank = draw["rank"]
        return solver.rank_verdict(draw["ages"], draw["present"], rank // 2, rank % 2 == 0)

    def key(self, draw, answer):
        ages, rank = draw["ages"], draw["rank"]
        keyed = np.where(draw["present"], np.where((rank % 2 == 0)[:, None], -ages, ages), 10 ** 6)
        order = np.argsort(keyed, axis=1, kind="stable")
        runner_up = np.take_along_axis(order, (rank // 2 + 1)[:, None], axis=1)[:, 0]
        rows = np.arange(len(ages))
        return ages[rows, answer], ages[rows, runner_up]

    def render(self, draw, answer, names, rng):
        words = pick(draw["rank"], ["oldest", "youngest", "second oldest", "second youngest"])
        ask = pick(draw["phrase"], [cat("Who is the ", words, "?"), cat("Which of them is the ", words, "?")])
        question = shuffled_join(_age_sentences(names, draw, range(self.people)), rng, ask)
        return question, pick(answer, [names(s) for s in range(self.people)]), self.facts(draw, names)

    def facts(self, draw, names):
        return cat(*_fact_ages(names, draw, range(self.people)), "?", pick(draw["rank"], list(RANKS)))


class Difference(Family):
    """Two ages (and other people): how much older is X than Y (or younger, or the age difference)."""

    name, people = "difference", 4  # 0 the older one, 1 the younger, 2-3 other people

    def draw(self, rng, n):
        ages = _ages(rng, n, self.people)
        ages[:, :2] = np.sort(ages[:, :2], axis=1)[:, ::-1]  # equal ages stay: the solver rejects them
        draw = {"ages": ages, "present": np.ones((n, self.people), bool), "ask": rng.integers(0, 6, n)}
        _distractors(rng, draw, 2, 4, 2)
        return draw

    def solve(self, draw):
        return solver.difference(draw["ages"][:, 0], draw["ages"][:, 1], _stated(draw, (2, 3)))

    def key(self, draw, answer):
        return draw["ages"][:, 0], draw["ages"][:, 1]

    def render(self, draw, answer, names, rng):
        x, y = names(0), names(1)
        ask = pick(draw["ask"], [cat("How much older is ", x, " than ", y, "?"),
                                 cat("How many years older is ", x, " than ", y, "?"),
                                 cat("How much younger is ", y, " than ", x, "?"),
                                 cat("How many years younger is ", y, " than ", x, "?"),
                                 cat("What is the age difference between ", x, " and ", y, "?"),
                                 cat("What is the age difference between ", y, " and ", x, "?")])
        question = shuffled_join(_age_sentences(names, draw, range(self.people)), rng, ask)
        return question, num(answer)[:, None], self.facts(draw, names)

    def facts(self, draw, names):
        return cat(*_fact_ages(names, draw, range(self.people)), "?", names(0), "-", names(1))


# Free draws of (k, stated age) keep 99 - k stated ages for a shift of k (in every form):
# drawing k with that weight, then the stated age among those, gives the old mix without redraws.
SHIFTS = np.arange(1, MAX_SHIFT + 1)
SHIFT_CDF = np.cumsum(solver.MAX_AGE - SHIFTS) / (solver.MAX_AGE - SHIFTS).sum()


class Time(Family):
    """"In K years X will be N" / "K years ago X was N": X's age now; or X's age in K years / K years ago."""

    name, people = "time", 3  # 0 asked, 1-2 other people
    # form 0 "in K years X will be N", 1 "K years ago X was N", 2 "X is N: in K years?", 3 "X is N: K years ago?"

    def draw(self, rng, n):
        form, k = rng.integers(0, 4, n), SHIFTS[_weighted(rng, n, SHIFT_CDF)]
        draw = {"ages": _ages(rng, n, self.people), "present": np.ones((n, self.people), bool),
                "form": form, "k": k, "phrase": rng.integers(0, 2, n)}
        lowest = np.where((form == 0) | (form == 3), k + 1, 1)  # N - k must stay >= 1, or N + k <= 99
        draw["ages"][:, 0] = lowest + (rng.random(n) * (solver.MAX_AGE - k)).astype(np.int64)
        _distractors(rng, draw, 1, 3, 2)
        return draw

    def solve(self, draw):
        form, k, value = draw["form"], draw["k"], draw["ages"][:, 0]
        now = np.choose(form, [value - k, value + k, value, value])
        return solver.shifted(now, np.choose(form, [0 * k, 0 * k, k, -k]), _stated(draw, (1, 2)))

    def key(self, draw, answer):
        return draw["ages"][:, 0], answer

    def render(self, draw, answer, names, rng):
        x, n, k = names(0), num(draw["ages"][:, 0]), years(draw["k"])
        phrase = draw["phrase"]
        now = pick(phrase, [cat("How old is ", x, " now?"), cat("How old is ", x, " today?")])
        stated = age_sentence(x, draw["ages"][:, 0], draw["style"][:, 0])
        statement = pick(draw["form"], [
            pick(phrase, [cat("In ", k, ", ", x, " will be ", n, ". "), cat(x, " will be ", n, " in ", k, ". ")]),
            pick(phrase, [cat(k, " ago, ", x, " was ", n, ". "), cat(x, " was ", n, " ", k, " ago. ")]),
            stated, stated])
        ask = pick(draw["form"], [now, now, cat("How old will ", x, " be in ", k, "?"),
                                  cat("How old was ", x, " ", k, " ago?")])
        question = shuffled_join([statement, *_age_sentences(names, draw, (1, 2))], rng, ask)
        return question, num(answer)[:, None], self.facts(draw, names)

    def facts(self, draw, names):
        x, n, k = names(0), num(draw["ages"][:, 0]), num(draw["k"])
        statement = pick(draw["form"], [cat(x, "+", k, "=", n, "; ?", x), cat(x, "-", k, "=", n, "; ?", x),
                                        cat(x, "=", n, "; ?", x, "+", k), cat(x, "=", n, "; ?", x, "-", k)])
        return cat(*_fact_ages(names, draw, (1, 2)), statement)


FAMILIES: dict[str, Family] = {f.name: f for f in (Between(), Offset(), Ratio(), Order(), Difference(), Time())}
