"""Per-record lineage between two versions of a dataset: added, changed, removed, by stable id and content hash."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipeline.shards import shard_paths
from pipeline.storage import commit, temp_path

# Stable id and content columns per (source, dataset); datasets not listed get no lineage.
LINEAGE = {
    ("tatoeba", "sentences"): (["id"], ["lang", "text", "username"]),
    ("tatoeba", "pairs"): (["source_id", "target_id"], ["source_text", "target_text"]),
    ("wikipedia", "articles"): (["id"], ["title", "text"]),
    ("commoncrawl", "text"): (["url"], ["text"]),
}
LINEAGE_FILE = "_lineage.parquet"


def previous_version(root: Path, prefix: str = "") -> Path | None:
    """The newest other finished version of the same dataset (``.../<source>/<version>/<dataset>``)."""
    dataset, version_dir = root.name, root.parent
    candidates = sorted(p.parent for p in version_dir.parent.glob(f"{prefix}*/{dataset}/_manifest.json")
                        if p.parent.parent.name < version_dir.name)
    return candidates[-1] if candidates else None


def _fingerprints(root: Path, keys: list[str], content: list[str]) -> pa.Table:
    """(keys, hash of the content columns) per row, reading a batch at a time: only ids and hashes stay."""
    pieces = []
    for path in shard_paths(root):
        for batch in pq.ParquetFile(path).iter_batches(batch_size=8192, columns=keys + content):
            columns = [batch.column(c).to_pylist() for c in content]
            digests = [hashlib.blake2b("\x1f".join("" if v is None else str(v) for v in row).encode(),
                                       digest_size=8).hexdigest() for row in zip(*columns)]
            pieces.append(pa.Table.from_batches([batch.select(keys)]).append_column("hash", pa.array(digests, pa.string())))
    if not pieces:
        return pa.table({**{k: pa.array([], pa.int64()) for k in keys}, "hash": pa.array([], pa.string())})
    return pa.concat_tables(pieces)


def compare(previous: Path, current: Path, source: str, dataset: str) -> dict[str, Any] | None:
    """Counts of added/changed/removed/unchanged records; the ids and their change go to ``_lineage.parquet``."""
    if (source, dataset) not in LINEAGE:
        return None
    keys, content = LINEAGE[(source, dataset)]
    old = _fingerprints(previous, keys, content).rename_columns(keys + ["old"])
    new = _fingerprints(current, keys, content).rename_columns(keys + ["new"])
    joined = old.join(new, keys=keys, join_type="full outer")
    change = pc.case_when(
        pc.make_struct(pc.is_null(joined.column("old")), pc.is_null(joined.column("new")),
                       pc.not_equal(joined.column("old"), joined.column("new"))),
        "added", "removed", "changed", "unchanged")
    table = joined.select(keys).append_column("change", change)
    changed = table.filter(pc.not_equal(table.column("change"), "unchanged"))
    target = current / LINEAGE_FILE
    tmp = temp_path(target)
    pq.write_table(changed, tmp, compression="zstd")
    commit(tmp, target)
    counts = {name: int(pc.sum(pc.equal(change, name)).as_py() or 0) for name in ("added", "changed", "removed", "unchanged")}
    return {"previous": previous.parent.name, **counts, "table": LINEAGE_FILE}
