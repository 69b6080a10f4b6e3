"""Split assignment: deterministic, stable across instances, close to the asked fractions."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.errors import ConfigError
from pipeline.store.splits import SplitAssigner, parse_splits


def test_same_key_same_split_across_instances_and_call_styles():
    a, b = SplitAssigner(salt="x"), SplitAssigner(salt="x")
    keys = np.arange(0, 50_000, 7)
    assert list(a.of_ints(keys)) == list(b.of_ints(keys))
    assert [a.of_key(int(k)) for k in keys[:200]] == list(a.of_ints(keys[:200]))
    assert a.of_key("page-12") == b.of_key("page-12")


def test_salt_changes_the_assignment():
    keys = np.arange(10_000)
    assert list(SplitAssigner(salt="x").of_ints(keys)) != list(SplitAssigner(salt="y").of_ints(keys))


def test_fractions_are_respected():
    names = SplitAssigner({"train": 0.8, "validation": 0.1, "test": 0.1}).of_ints(np.arange(200_000))
    share = {n: float(np.mean(names == n)) for n in ("train", "validation", "test")}
    assert share["train"] == pytest.approx(0.8, abs=0.01)
    assert share["test"] == pytest.approx(0.1, abs=0.01)


def test_parse_splits():
    assert parse_splits("train=0.9,test=0.1") == {"train": 0.9, "test": 0.1}
    for bad in ("train=0.5", "train", "train=x,test=1", ""):
        with pytest.raises(ConfigError):
            parse_splits(bad)


def test_split_order_and_number_formatting_do_not_change_the_assignment():
    keys = np.arange(200_000)
    default = SplitAssigner(salt="x").of_ints(keys)
    for spec in ("test=0.01,validation=0.01,train=0.98", "validation=0.010,train=0.9800,test=1e-2"):
        reordered = SplitAssigner(parse_splits(spec), salt="x")
        assert list(reordered.of_ints(keys)) == list(default), spec
        assert [reordered.of_key(f"k{i}") for i in range(500)] == [SplitAssigner(salt="x").of_key(f"k{i}")
                                                                    for i in range(500)]


def test_config_hash_is_canonical_and_still_sees_row_changing_options():
    import pyarrow as pa

    from pipeline.store.shards import DatasetSpec

    def spec(config):
        return DatasetSpec(root="x", source="s", dataset="d", version="v", schema=pa.schema([("id", pa.int64())]),
                           config=config, license="CC0")

    base = spec({"splits": SplitAssigner().fractions, "n": 1})
    reordered = spec({"splits": SplitAssigner(parse_splits("test=0.01,validation=0.01,train=0.98")).fractions,
                      "n": 1.0})
    assert base.config_hash == reordered.config_hash
    assert spec({"splits": SplitAssigner(parse_splits("train=0.8,validation=0.1,test=0.1")).fractions,
                 "n": 1}).config_hash != base.config_hash
    assert spec({"splits": SplitAssigner().fractions, "n": 2}).config_hash != base.config_hash
