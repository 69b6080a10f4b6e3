"""gc and a build at once: a build never commits a snapshot that lists a file gc has just removed."""

from __future__ import annotations

import pyarrow as pa
import pytest

from pipeline.errors import ShardError
from pipeline.store.shards import SPLIT_COLUMN, DatasetSpec, Part, PartInput, ShardSet
from pipeline.store.snapshots import list_snapshots


def _read(part, rejects):
    yield pa.table({"x": list(range(50)), SPLIT_COLUMN: ["train"] * 50})


def test_a_commit_refuses_a_manifest_whose_file_vanished(tmp_path):
    spec = DatasetSpec(root=tmp_path, source="t", dataset="d", version="v1", schema=pa.schema([("x", pa.int64())]),
                       config={"race": 1}, license="-")
    shard_set = ShardSet(spec)
    part = Part("p0", (PartInput("in", "0" * 64),))
    shard_set.build_part(part, _read)
    manifest = shard_set.prepare([part])
    # Between reading the records and committing, a gc (or anything) removed a listed file.
    shard_set.location.remove(manifest["shards"][0]["file"])
    with pytest.raises(ShardError, match="missing"):
        shard_set.commit(manifest)
    assert list_snapshots(shard_set.location) == [], "a snapshot listing a missing file was committed"
