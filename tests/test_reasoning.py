"""The reasoning source: every answer unique (checked independently), shards reproducible, splits disjoint."""

from __future__ import annotations

import re

import numpy as np
import pyarrow.compute as pc
import pytest

from pipeline import build as stages
from pipeline.errors import ConfigError
from pipeline.reasoning.families import FAMILIES
from pipeline.reasoning import generate
from pipeline.reasoning.generate import Generator, _slot_names, heldout_pairs
from pipeline.reasoning.names import COMMON, pools
from pipeline.reasoning.solver import UNIQUE
from pipeline.reasoning.text import to_arrow
from pipeline.store.shards import Rejects, load_manifest, read_split
from pipeline.sources.reasoning import Reasoning
from pipeline.store.splits import SplitAssigner
from tests.reasoning_checker import single_answer, solutions

ALL = ("between", "offset", "ratio", "order", "difference", "time")


def _rows(n: int, families=ALL, seed: int = 0, splits=None):
    rejects = Rejects("t")
    table = Generator(families, seed, SplitAssigner(splits, salt="t")).table(0, 0, n, rejects)
    return table, rejects


def test_every_answer_is_the_only_one_by_brute_force():
    table, rejects = _rows(2000)
    rows = table.to_pylist()
    assert {r["family"] for r in rows} == set(ALL)
    for row in rows:
        assert solutions(row["facts"]) == {row["answer"]}, row
        for name in re.findall(r"[A-Z][A-Za-z]+", row["facts"]):
            assert name in row["question"], (name, row)
    # the redraws were counted, and a rejected draw really has no single answer
    assert set(rejects.counts) <= {"ambiguous", "contradictory", "too_long"} and rejects.counts["contradictory"]
    rejected = rejects.table().to_pylist()
    assert rejects.counts["ambiguous"]
    for reject in [r for r in rejected if r["reason"] != "too_long"][:300]:
        assert single_answer(reject["detail"]) is None, reject


def _free(family: str, draw: dict, rng) -> dict:
    """The draw with the facts the generator builds in range (chains, ratios, shifts) drawn freely instead."""
    n = len(draw["ages"])
    ages = draw["ages"]
    ages[:, :3] = rng.integers(0, 102, (n, 3))  # stated ages a little out of range too
    if family == "offset":
        steps = rng.integers(1, 21, (n, 3)) * rng.choice([-1, 1], (n, 3))
        draw["steps"] = np.where(np.arange(3)[None, :] < (draw["length"] - 1)[:, None], steps, 0)
    if family == "time":
        draw["k"] = rng.integers(1, 31, n)
    if family == "ratio":
        draw["relation"] = rng.integers(0, 3, n)
    if family == "between":
        ages[:, 2] = ages[:, 1] + rng.integers(-1, 5, n)
    return draw


@pytest.mark.parametrize("family", ALL)
def test_the_solver_agrees_with_brute_force_on_free_draws(family):
    """Drawn freely, many facts have no single answer: the solver must say so exactly when brute force does."""
    rng = np.random.default_rng(7)
    generator = Generator(ALL, 0, SplitAssigner(None, salt="t"))
    chosen = FAMILIES[family]
    draw = _free(family, chosen.draw(rng, 300), rng)
    status, answer = chosen.solve(draw)
    names = _slot_names(generator._names(rng, np.zeros(300, bool), chosen.people))
    facts = to_arrow(chosen.facts(draw, names)).to_pylist()
    named = family == "order"
    verdicts = set()
    for i, row_facts in enumerate(facts):
        expected = single_answer(row_facts)
        verdicts.add(expected is None)
        if status[i] == UNIQUE:
            got = to_arrow(names(int(answer[i]))[i:i + 1, None]).to_pylist()[0] if named else str(answer[i])
            assert expected == got, row_facts
        else:
            assert expected is None, row_facts
    assert verdicts == {True, False}  # both kinds of row were checked


def test_the_seed_question_shape_is_generated():
    table, _ = _rows(20000, families=("between",))  # the exact seed shape is ~1 row in 2,500
    questions = table.column("question").to_pylist()
    assert any(re.fullmatch(r"\w+ is \d+ years old\. \w+ is \d+\. \w+ is older than \w+, and younger than \w+\. "
                            r"How old is \w+\?", q) for q in questions)
    assert any(" but older than " in q for q in questions) and any(" is aged " in q for q in questions)


def test_test_split_uses_unseen_names_and_heldout_pairs():
    table, _ = _rows(6000, families=("between",))
    split = table.column("_split").to_numpy(zero_copy_only=False)
    names = [set(re.findall(r"[A-Z][A-Za-z]+", f)) for f in table.column("facts").to_pylist()]
    test_names = set().union(*(n for n, s in zip(names, split) if s == "test"))
    other_names = set().union(*(n for n, s in zip(names, split) if s != "test"))
    assert test_names and other_names and not test_names & other_names
    train_pool, test_pool = pools()
    assert not set(train_pool) & set(test_pool) and set(COMMON) <= set(train_pool)
    held = heldout_pairs()
    for facts, s in zip(table.column("facts").to_pylist(), split):
        low, high = (int(v) for v in re.findall(r"=(\d+);", facts)[:2])  # the two anchors come first
        assert held[low, high] == (s == "test"), facts


def _build(tmp_path, **options):
    source = Reasoning(tmp_path, examples=2000, part_rows=800, **options)
    return stages.build(source, tmp_path, max_workers=1, progress=False)["questions"]


def test_shards_are_byte_identical_for_a_seed_and_config(tmp_path):
    first = _build(tmp_path / "a")
    second = _build(tmp_path / "b")
    digests = lambda m: [(s["split"], s["rows"], s["sha256"]) for s in m["shards"]]  # noqa: E731
    assert digests(first) == digests(second) and first["config_hash"] == second["config_hash"]
    assert first["totals"]["rows"] == 2000 and len(first["parts"]) == 3
    other = _build(tmp_path / "c", seed=1)
    assert digests(other) != digests(first)
    root = tmp_path / "c" / "shards" / "reasoning" / "seed1" / "questions"
    assert set(pc.unique(read_split(root, columns=["family"]).column("family")).to_pylist()) == set(ALL)
    assert set(load_manifest(root)["totals"]["drops"]) <= {"ambiguous", "contradictory", "too_long"}
    narrower = Reasoning(tmp_path / "d", examples=2000, families="between,order")
    assert narrower.spec("questions", narrower.discover(None), tmp_path).config_hash != first["config_hash"]
    table, _ = _rows(500, families=("between", "order"))
    assert set(table.column("family").to_pylist()) == {"between", "order"}


def test_bad_options_are_refused(tmp_path):
    with pytest.raises(ConfigError, match="--families"):
        Reasoning(tmp_path, families="between,telepathy")
    with pytest.raises(ConfigError, match="test split"):
        Reasoning(tmp_path, splits={"train": 0.9, "validation": 0.1})
    with pytest.raises(ConfigError, match="--mirror"):
        Reasoning(tmp_path, mirror="http://example.com/")


def test_ids_are_unique_and_in_order():
    table, _ = _rows(5000)
    ids = table.column("id").to_numpy()
    assert np.array_equal(ids, np.arange(5000))


def _histogram(values: np.ndarray, size: int = 200) -> np.ndarray:
    return np.bincount(np.clip(values, 0, size - 1), minlength=size) / len(values)


@pytest.mark.parametrize("family", ["offset", "ratio", "time"])
def test_draws_in_range_by_construction_have_the_mix_of_free_draws_redrawn(family):
    """Drawing in range by construction must give what drawing freely and keeping the unique draws gives."""
    rng = np.random.default_rng(11)
    chosen = FAMILIES[family]
    built = chosen.draw(rng, 200_000)
    status, answer = chosen.solve(built)
    assert (status == 0).all()  # nothing left for the solver to reject
    free = _free(family, chosen.draw(rng, 600_000), rng)
    if family != "between":
        free["ages"][:, 1:3] = built["ages"][:1, 1:3]  # only slot 0's stated age is drawn freely here
    free_status, free_answer = chosen.solve(free)
    kept = free_status == 0
    assert 0.2 < kept.mean() < 0.95  # free draws really do need redraws
    for column in ("known age", "answer", "detail"):
        def values(draw, answers, rows):
            if column == "known age":
                return draw["ages"][rows, 0]
            if column == "answer":
                return answers[rows]
            extra = {"offset": lambda d: np.abs(d["steps"]).sum(axis=1), "ratio": lambda d: d["relation"],
                     "time": lambda d: d["k"]}[family]
            return extra(draw)[rows]
        ours = _histogram(values(built, answer, slice(None)))
        theirs = _histogram(values(free, free_answer, kept))
        assert 0.5 * np.abs(ours - theirs).sum() < 0.025, column


def _heldout_key(family: str, facts: str, answer: str) -> tuple[int, int]:
    """The (age, age) combination a row's split is decided on, read back from its facts and answer."""
    ages = {name: int(age) for name, age in re.findall(r"([A-Z][A-Za-z]*)=(\d+);", facts)}
    query = facts.rsplit("?", 1)[1]
    if family == "between":
        low, high = re.findall(r"=(\d+);", facts)[:2]
        return int(low), int(high)
    if family in ("offset", "ratio"):
        return int(re.findall(r"=(\d+);", facts)[0]), int(answer)
    if family == "time":
        return int(re.search(r"=(\d+); \?", facts).group(1)), int(answer)  # "X+5=20; ?X", "X=20; ?X+5"
    if family == "difference":
        older, younger = query.split("-")
        return ages[older], ages[younger]
    ranked = sorted(ages.values(), reverse=query.endswith("oldest"))
    rank = 1 if query.startswith("second") else 0
    return ages[answer], ranked[rank + 1]


def test_every_family_holds_out_its_age_pairs_for_the_test_split():
    table, _ = _rows(20_000, splits={"train": 0.6, "validation": 0.1, "test": 0.3})
    held = heldout_pairs()
    seen = set()
    for row in table.to_pylist():
        first, second = _heldout_key(row["family"], row["facts"], row["answer"])
        assert held[first, second] == (row["_split"] == "test"), row
        seen.add((row["family"], row["_split"] == "test"))
    assert seen == {(f, t) for f in ALL for t in (False, True)}


def test_rejects_count_redraws_not_the_candidates_drawn_ahead(monkeypatch):
    # a sequential redraw loop would have drawn only the candidates before a row's accepted one:
    # drawing more of them ahead per round must not change how many rejects are counted
    families = ("between", "order", "difference")
    _, usual = _rows(4000, families, seed=5)
    monkeypatch.setattr(generate, "DRAW_AHEAD", 3.0)
    _, wide = _rows(4000, families, seed=5)
    for rejects in (usual, wide):
        ids = rejects.table().column("id").to_pylist()
        assert len(ids) == len(set(ids)) == sum(rejects.counts.values())
    for reason in ("ambiguous", "contradictory"):
        assert usual.counts[reason] > 50
        assert 0.7 < wide.counts[reason] / usual.counts[reason] < 1.4, (reason, usual.counts, wide.counts)
