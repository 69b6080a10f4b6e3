"""The six question families: how each draws its facts, asks its question and is solved.

A family works on a batch: ``draw`` samples every random choice as NumPy arrays (ages,
offsets, phrasings, which person is asked), ``solve`` hands the stated facts to the solver
and returns each row's status and answer, ``key`` names the (age, age) combination that the
test split holds out, and ``render`` writes the question, the answer and the machine-checkable
facts (``Jack=12; Jane=10; Kate>Jane; Kate<Jack; ?Kate``) with Arrow kernels.
Person 0..P-1 are slots; a slot whose ``present`` is false takes no part in the question.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.reasoning.solver import AMBIGUOUS, CONTRADICTORY, UNIQUE, Domains, Relation, rank_verdict
from pipeline.reasoning.text import AGE_STYLES, age_sentence, blank_unless, cat, num, pick, shuffled_join, years

Draw = dict[str, np.ndarray]
Names = Callable[[int], pa.Array]  # slot -> the batch's names in that slot


def _ages(rng, n: int, people: int) -> np.ndarray:
    return rng.integers(1, 100, size=(n, people))


def _distractors(rng, draw: Draw, first: int, last: int, at_most: int) -> None:
    """Slots first..last-1 are other people with stated ages: 0..at_most of them."""
    count = rng.integers(0, at_most + 1, size=len(draw["ages"]))
    for i, slot in enumerate(range(first, last)):
        draw["present"][:, slot] = count > i
    draw["style"] = rng.integers(0, AGE_STYLES, size=draw["ages"].shape)


def _state_present(domains: Domains, draw: Draw, slots) -> None:
    n = len(draw["ages"])
    for slot in slots:
        domains.state(np.full(n, slot), draw["ages"][:, slot], where=draw["present"][:, slot])


def _fact_ages(names: Names, draw: Draw, slots) -> list[pa.Array]:
    return [blank_unless(draw["present"][:, s], cat(names(s), "=", num(draw["ages"][:, s]), "; ")) for s in slots]


def _age_sentences(names: Names, draw: Draw, slots) -> list[pa.Array]:
    return [blank_unless(draw["present"][:, s], age_sentence(names(s), draw["ages"][:, s], draw["style"][:, s]))
            for s in slots]


def _how_old(name: pa.Array, style: np.ndarray) -> pa.Array:
    return pick(style, [cat("How old is ", name, "?"), cat("What is ", name, "'s age?"), cat("What age is ", name, "?")])


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
               ) -> tuple[pa.Array, pa.Array, pa.Array]:
        raise NotImplementedError

    def facts(self, draw: Draw, names: Names) -> pa.Array:
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
        n = len(draw["ages"])
        domains = Domains(n, self.people)
        _state_present(domains, draw, (1, 2, 3, 4))
        zero, one, two = (np.full(n, i) for i in range(3))
        domains.propagate([Relation("gt", zero, one), Relation("lt", zero, two)], sweeps=1)
        return domains.verdict(zero)

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
        return question, num(answer), self.facts(draw, names)

    def facts(self, draw, names):
        t = names(0)
        return cat(*_fact_ages(names, draw, (1, 2, 3, 4)), t, ">", names(1), "; ", t, "<", names(2), "; ?", t)


class Offset(Family):
    """A chain of 2-4 people, "X is K years older/younger than Y", one age given: the last one's age."""

    name, people = "offset", 5  # 0..3 the chain (0 known), 4 another person

    def draw(self, rng, n):
        length = rng.integers(2, 5, n)
        steps = rng.integers(1, 21, (n, 3)) * rng.choice([-1, 1], (n, 3))
        steps[np.arange(3)[None, :] + 2 > length[:, None]] = 0
        ages = _ages(rng, n, self.people)
        ages[:, 1:4] = ages[:, :1] + np.cumsum(steps, axis=1)
        present = np.ones((n, self.people), bool)
        present[:, 1:4] = np.arange(1, 4)[None, :] < length[:, None]
        draw = {"ages": ages, "present": present, "steps": steps, "length": length,
                "form": rng.integers(0, 2, (n, 3)), "ask": rng.integers(0, 3, n)}
        _distractors(rng, draw, 4, 5, 1)
        return draw

    def solve(self, draw):
        n = len(draw["ages"])
        domains = Domains(n, self.people)
        _state_present(domains, draw, (0, 4))
        links = [Relation("add", np.full(n, i), np.full(n, i - 1), draw["steps"][:, i - 1]) for i in range(1, 4)]
        domains.propagate(links, sweeps=3)
        return domains.verdict(draw["length"] - 1)

    def key(self, draw, answer):
        return draw["ages"][:, 0], answer

    def _link(self, names, draw, i):
        step, form = draw["steps"][:, i - 1], draw["form"][:, i - 1]
        k = years(np.abs(step))
        up = pa.array(step > 0)
        later, earlier = names(i), names(i - 1)
        forward = cat(later, " is ", k, pc.if_else(up, " older than ", " younger than "), earlier, ". ")
        backward = cat(earlier, " is ", k, pc.if_else(up, " younger than ", " older than "), later, ". ")
        return blank_unless(draw["present"][:, i], pick(form, [forward, backward]))

    def render(self, draw, answer, names, rng):
        asked = self._asked(draw, names)
        sentences = [*_age_sentences(names, draw, (0, 4)), *(self._link(names, draw, i) for i in range(1, 4))]
        return shuffled_join(sentences, rng, _how_old(asked, draw["ask"])), num(answer), self.facts(draw, names)

    def _asked(self, draw, names):
        return pick(draw["length"] - 2, [names(1), names(2), names(3)])

    def facts(self, draw, names):
        links = []
        for i in range(1, 4):
            step = draw["steps"][:, i - 1]
            sign = pc.if_else(pa.array(step >= 0), "+", "-")
            links.append(blank_unless(draw["present"][:, i],
                                      cat(names(i), "=", names(i - 1), sign, num(np.abs(step)), "; ")))
        return cat(*_fact_ages(names, draw, (0, 4)), *links, "?", self._asked(draw, names))


class Ratio(Family):
    """"X is twice / three times / half as old as Y", one age given: the other one."""

    name, people = "ratio", 4  # 0 known, 1 asked, 2-3 other people

    def draw(self, rng, n):
        draw = {"ages": _ages(rng, n, self.people), "present": np.ones((n, self.people), bool),
                "relation": rng.integers(0, 3, n), "asked_is_subject": rng.random(n) < 0.5,
                "phrase": rng.integers(0, 2, n), "ask": rng.integers(0, 3, n)}
        _distractors(rng, draw, 2, 4, 2)
        return draw

    def _sides(self, draw):
        subject = np.where(draw["asked_is_subject"], 1, 0)
        return subject, 1 - subject

    def solve(self, draw):
        n = len(draw["ages"])
        domains = Domains(n, self.people)
        _state_present(domains, draw, (0, 2, 3))
        subject, other = self._sides(draw)
        half = draw["relation"] == 2
        factor = np.where(half, 2, draw["relation"] + 2)
        # twice/three times: subject = other * k; half: other = subject * 2
        relation = Relation("mul", np.where(half, other, subject), np.where(half, subject, other), factor)
        domains.propagate([relation], sweeps=1)
        return domains.verdict(np.ones(n, int))

    def key(self, draw, answer):
        return draw["ages"][:, 0], answer

    def render(self, draw, answer, names, rng):
        subject, other = self._sides(draw)
        x = pick(subject, [names(0), names(1)])
        y = pick(other, [names(0), names(1)])
        phrasings = [[cat(x, " is twice as old as ", y, ". "), cat(x, " is two times as old as ", y, ". ")],
                     [cat(x, " is three times as old as ", y, ". "), cat(x, "'s age is three times ", y, "'s. ")],
                     [cat(x, " is half as old as ", y, ". "), cat(x, " is half the age of ", y, ". ")]]
        relation = pick(draw["relation"], [pick(draw["phrase"], p) for p in phrasings])
        question = shuffled_join([*_age_sentences(names, draw, (0, 2, 3)), relation], rng,
                                 _how_old(names(1), draw["ask"]))
        return question, num(answer), self.facts(draw, names)

    def facts(self, draw, names):
        subject, other = self._sides(draw)
        x = pick(subject, [names(0), names(1)])
        y = pick(other, [names(0), names(1)])
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
        return rank_verdict(draw["ages"], draw["present"], rank // 2, rank % 2 == 0)

    def key(self, draw, answer):
        ages, rank = draw["ages"], draw["rank"]
        keyed = np.where(draw["present"], np.where((rank % 2 == 0)[:, None], -ages, ages), 10 ** 6)
        order = np.argsort(keyed, axis=1, kind="stable")
        runner_up = np.take_along_axis(order, (rank // 2 + 1)[:, None], axis=1)[:, 0]
        rows = np.arange(len(ages))
        return ages[rows, answer], ages[rows, runner_up]

    def render(self, draw, answer, names, rng):
        words = pick(draw["rank"], [pa.array(["oldest"] * len(answer)), pa.array(["youngest"] * len(answer)),
                                    pa.array(["second oldest"] * len(answer)),
                                    pa.array(["second youngest"] * len(answer))])
        ask = pick(draw["phrase"], [cat("Who is the ", words, "?"), cat("Which of them is the ", words, "?")])
        question = shuffled_join(_age_sentences(names, draw, range(self.people)), rng, ask)
        return question, pick(answer, [names(s) for s in range(self.people)]), self.facts(draw, names)

    def facts(self, draw, names):
        rank = pa.array(np.asarray(RANKS, dtype=object)[draw["rank"]].tolist(), pa.string())
        return cat(*_fact_ages(names, draw, range(self.people)), "?", rank)


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
        n = len(draw["ages"])
        domains = Domains(n, self.people)
        _state_present(domains, draw, range(self.people))
        status_x, x = domains.verdict(np.zeros(n, int))
        status_y, y = domains.verdict(np.ones(n, int))
        status = np.maximum(status_x, status_y)
        # The question says X is the older one: equal ages contradict it.
        return np.where((status == UNIQUE) & (x <= y), CONTRADICTORY, status), x - y

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
        return question, num(answer), self.facts(draw, names)

    def facts(self, draw, names):
        return cat(*_fact_ages(names, draw, range(self.people)), "?", names(0), "-", names(1))


class Time(Family):
    """"In K years X will be N" / "K years ago X was N": X's age now; or X's age in K years / K years ago."""

    name, people = "time", 3  # 0 asked, 1-2 other people

    def draw(self, rng, n):
        draw = {"ages": _ages(rng, n, self.people), "present": np.ones((n, self.people), bool),
                "form": rng.integers(0, 4, n), "k": rng.integers(1, 31, n), "phrase": rng.integers(0, 2, n)}
        _distractors(rng, draw, 1, 3, 2)
        return draw

    def _stated_and_offset(self, draw):
        """(the age now implied by the statement, the offset the question adds to it)."""
        form, k, value = draw["form"], draw["k"], draw["ages"][:, 0]
        now = np.choose(form, [value - k, value + k, value, value])
        return now, np.choose(form, [0 * k, 0 * k, k, -k])

    def solve(self, draw):
        n = len(draw["ages"])
        domains = Domains(n, self.people)
        _state_present(domains, draw, (1, 2))
        now, offset = self._stated_and_offset(draw)
        domains.state(np.zeros(n, int), now)
        status, age = domains.verdict(np.zeros(n, int))
        answer = age + offset
        return np.where((status == UNIQUE) & ((answer < 1) | (answer > 99)), CONTRADICTORY, status), answer

    def key(self, draw, answer):
        return draw["ages"][:, 0], answer

    def render(self, draw, answer, names, rng):
        x, n, k = names(0), num(draw["ages"][:, 0]), years(draw["k"])
        phrase = draw["phrase"]
        statement = pick(draw["form"], [
            pick(phrase, [cat("In ", k, ", ", x, " will be ", n, ". "), cat(x, " will be ", n, " in ", k, ". ")]),
            pick(phrase, [cat(k, " ago, ", x, " was ", n, ". "), cat(x, " was ", n, " ", k, " ago. ")]),
            age_sentence(x, draw["ages"][:, 0], draw["style"][:, 0]),
            age_sentence(x, draw["ages"][:, 0], draw["style"][:, 0])])
        ask = pick(draw["form"], [pick(phrase, [cat("How old is ", x, " now?"), cat("How old is ", x, " today?")]),
                                  pick(phrase, [cat("How old is ", x, " now?"), cat("How old is ", x, " today?")]),
                                  cat("How old will ", x, " be in ", k, "?"),
                                  cat("How old was ", x, " ", k, " ago?")])
        question = shuffled_join([statement, *_age_sentences(names, draw, (1, 2))], rng, ask)
        return question, num(answer), self.facts(draw, names)

    def facts(self, draw, names):
        x, n, k = names(0), num(draw["ages"][:, 0]), num(draw["k"])
        statement = pick(draw["form"], [cat(x, "+", k, "=", n, "; ?", x), cat(x, "-", k, "=", n, "; ?", x),
                                        cat(x, "=", n, "; ?", x, "+", k), cat(x, "=", n, "; ?", x, "-", k)])
        return cat(*_fact_ages(names, draw, (1, 2)), statement)


FAMILIES: dict[str, Family] = {f.name: f for f in (Between(), Offset(), Ratio(), Order(), Difference(), Time())}
