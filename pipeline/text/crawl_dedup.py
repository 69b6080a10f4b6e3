"""Where CommonCrawl's dedup stages keep their files, and the stages themselves (map, bucket, components).

Every path is built from names (never listed or globbed), so the same code runs on a local
data root shared by Dask workers or on object storage (a ``UrlPath``: each file one PUT, read
back by name). Layout::

    <dataset>/_signatures/<key>/index.json         the files, in node order, and the settings
    <dataset>/_signatures/<key>/<file>/b<bucket>.parquet   (band, hash, doc) rows of one file in one bucket
    work/commoncrawl/<version>/dedup-<selection>/edges/b<bucket>.parquet   duplicate edges of one bucket
    work/commoncrawl/<version>/dedup-<selection>/drops/<file>.parquet      (doc, reason, detail) of one file
    work/commoncrawl/<version>/dedup-<selection>/_done.json                written last by the components step

The signatures live with the dataset so that a later build can ``--dedup-against`` it; the
edges and drop tables are scratch. The map, bucket and drop steps each touch one file or
one bucket; the components step reads the duplicate edges alone, in partitions of bounded
memory (``pipeline.text.crawl_components``).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipeline.text import crawl_components as crawlcomponents
from pipeline.errors import ConfigError, ShardError
from pipeline.store.location import Location, UrlPath, data_path
from pipeline.store.files import commit, temp_path, write_json_atomic
from pipeline.text import dedup

INDEX = "index.json"
LAYOUT = "file-bucket"  # index.json "layout": one object per (file, bucket); without it, one per file (row group b)
DROP_SCHEMA = pa.schema([("doc", pa.int32()), ("reason", pa.string()), ("detail", pa.string())])
EARLIER_BASE = -(1 << 58)  # earlier snapshot j's nodes: EARLIER_BASE * (j + 1) + (file << 32 | doc), all < 0


@dataclass(frozen=True)
class Selection:
    """One build's files (in node order), where its stages write, and the snapshots it dedups against."""

    signatures: Path | UrlPath  # <dataset>/_signatures/<key>
    work: Path | UrlPath  # work/commoncrawl/<version>/dedup-<selection>, under the data root workers share
    files: tuple[str, ...]  # signature folder name of each file, in selection order
    names: tuple[str, ...]  # the WET/WARC file names, same order
    buckets: int
    earlier: tuple[str, ...] = ()  # dataset folders of earlier builds

    def rows_path(self, folder: str, bucket: int, root: Path | UrlPath | None = None) -> Path | UrlPath:
        return bucket_path(root or self.signatures, folder, bucket)

    def edges_path(self, bucket: int) -> Path | UrlPath:
        return self.work / "edges" / f"b{bucket:05d}.parquet"

    def drops_path(self, index: int) -> Path | UrlPath:
        return self.work / "drops" / f"f{index:06d}.parquet"

    @property
    def done(self) -> Path | UrlPath:
        return self.work / "_done.json"


def signature_key(config_key: str, buckets: int) -> str:
    return f"{config_key}-b{buckets}"


def file_folder(name: str, sha256: str) -> str:
    return f"{name.split('.', 1)[0]}-{sha256[:12]}"


def bucket_path(selection_root: Path | UrlPath, folder: str, bucket: int) -> Path | UrlPath:
    return selection_root / folder / f"b{bucket:05d}.parquet"


# -- map: one file --------------------------------------------------------------------------------

def write_rows(selection_root: Path | UrlPath, folder: str, signatures: pa.Table, buckets: int) -> None:
    """Shuffle one file's signatures into one small object per bucket (skipped if present).

    A bucket task then reads one footer of one row group per file, whatever the bucket count (one
    file with a row group per bucket has a footer that grows with it, parsed by every bucket task).
    """
    if _exists(bucket_path(selection_root, folder, buckets - 1)):
        return
    for b, table in enumerate(dedup.shuffle(signatures, buckets)):  # the last written last: it marks them all done
        _write([table], bucket_path(selection_root, folder, b))  # an empty bucket is an empty table


def read_bucket(path: Path | UrlPath, bucket: int) -> pa.Table:
    """Bucket ``bucket`` of a file of the one-file layout (row group b = bucket b), as earlier builds wrote."""
    if isinstance(path, Path):
        return pq.ParquetFile(path).read_row_group(bucket)
    with _location(path).open(path.name) as handle:
        return pq.ParquetFile(handle).read_row_group(bucket)


# -- bucket: one bucket over every file -----------------------------------------------------------

def bucket_edges(selection: Selection, bucket: int) -> Path:
    """Duplicate edges among this build's rows (and earlier snapshots' rows) of one bucket."""
    out = selection.edges_path(bucket)
    if _exists(out):
        return out
    sources = [((i << 32), selection.rows_path(folder, bucket), False) for i, folder in enumerate(selection.files)]
    for j, root in enumerate(selection.earlier):
        index = earlier_index(root, selection.buckets)
        base = data_path(index["root"])
        if index.get("layout") == LAYOUT:
            sources += [(EARLIER_BASE * (j + 1) + (i << 32), selection.rows_path(folder, bucket, base), False)
                        for i, folder in enumerate(index["files"])]
        else:
            sources += [(EARLIER_BASE * (j + 1) + (i << 32), base / f"{folder}.parquet", True)
                        for i, folder in enumerate(index["files"])]
    edges = dedup.candidate_edges((node, read_bucket(path, bucket) if one_file else _read_small(path))
                                  for node, path, one_file in sources)
    _write([edges], out)
    return out


# -- components: the duplicate edges only ---------------------------------------------------------

def resolve(selection: Selection, memory_bytes: int = 1 << 30,
            mapper: crawlcomponents.Mapper | None = None) -> dict[str, Any]:
    """Connected components over every bucket's edges → one drop table per file with drops; then _done.json.

    The edges are processed in partitions sized so that one partition's step fits ``memory_bytes``
    (``pipeline.text.crawl_components``); no step holds every edge, nor any document that has no duplicate.
    """
    if _exists(selection.done):
        return _read_json(selection.done)
    for bucket in range(selection.buckets):  # buckets a runner did not run in parallel run here
        bucket_edges(selection, bucket)
    paths = [selection.edges_path(b) for b in range(selection.buckets)]
    rows = sum(_num_rows(path) for path in paths)
    parts = crawlcomponents.partitions_for(rows, memory_bytes)
    files = len(selection.files)
    # The partitions are scratch: beside the work folder on local disk (shared by a host's workers, so ``mapper``
    # may spread the steps), else a local temp folder this process alone reads.
    if isinstance(selection.work, Path):
        root = selection.work / "components"
    else:
        root, mapper = Path(tempfile.mkdtemp(prefix="datamill-components-")), None
    crawlcomponents.split((_read_table(path) for path in paths), root, files, parts)  # a bucket at a time
    last = crawlcomponents.propagate(root, files, parts, mapper) if rows else 0
    earlier_names = [_names(earlier_index(root_, selection.buckets)) for root_ in selection.earlier]
    run = mapper if mapper and parts > 1 else (lambda f, *iterables: list(map(f, *iterables)))
    counts = run(partition_drops, [selection] * parts, [root] * parts, [last] * parts, range(parts),
                 [earlier_names] * parts) if rows else []
    dropped, written = sum(c[0] for c in counts), sum(c[1] for c in counts)
    shutil.rmtree(root, ignore_errors=True)
    summary = {"edges": rows, "dropped": dropped, "files_with_drops": written, "partitions": parts, "rounds": last}
    _write_json(selection.done, summary)
    return summary


def partition_drops(selection: Selection, root: Path, round_: int, p: int,
                    earlier: list[dict[str, Any]]) -> tuple[int, int]:
    """Partition p's drop tables, one per file with drops (a partition holds whole files): (dropped, written)."""
    nodes, keepers, exact = crawlcomponents.dropped(root, round_, p)
    mine = nodes >= 0
    nodes, keepers, exact = nodes[mine], keepers[mine], exact[mine]
    order = np.argsort(nodes)
    nodes, keepers, exact = nodes[order], keepers[order], exact[order]
    table = drop_table(nodes, keepers, exact, selection.names, earlier)
    files = nodes >> 32
    bounds = np.flatnonzero(np.diff(files)) + 1
    written = 0
    for lo, hi in zip(np.r_[0, bounds], np.r_[bounds, len(nodes)]):
        if lo < hi:
            _write([table.slice(lo, hi - lo)], selection.drops_path(int(files[lo])))
            written += 1
    return len(nodes), written


def drop_table(nodes: np.ndarray, keepers: np.ndarray, exact: np.ndarray, names: tuple[str, ...] | list[str],
               earlier: list[dict[str, Any]]) -> pa.Table:
    """(doc, reason, detail) of each dropped node, column-wise: the detail names the kept copy's file and record.

    ``earlier[j]`` holds earlier snapshot j's ``version`` and file ``names``.
    """
    ours = keepers >= 0
    j = np.where(ours, -1, (-keepers - 1) >> 58)  # earlier snapshot j's nodes are -(j + 1) << 58 plus a local node
    local = keepers + ((j + 1) << 58)
    lists = [list(names)] + [list(index["names"]) for index in earlier]  # this build's names, then each earlier's
    offsets = np.cumsum([0] + [len(names_) for names_ in lists])
    every_name = pa.array([n for names_ in lists for n in names_], pa.string())
    name = every_name.take(pa.array(offsets[j + 1] + (local >> 32)))
    prefix = pa.array([""] + [f"{index['version']} " for index in earlier], pa.string()).take(pa.array(j + 1))
    kind = pa.array(exact.astype(np.int8))
    reason = pa.array(["near_duplicate", "exact_duplicate", "in_earlier_crawl"]).take(
        pa.array(np.where(ours, exact.astype(np.int8), 2)))
    detail = pc.binary_join_element_wise(pa.array(["near", "exact"]).take(kind), " duplicate of ", prefix, "file ",
                                         name, " record ", pc.cast(pa.array(local & 0xFFFFFFFF), pa.string()), "")
    return pa.table({"doc": pa.array((nodes & 0xFFFFFFFF).astype(np.int32)), "reason": reason, "detail": detail},
                    schema=DROP_SCHEMA)


def _names(index: dict[str, Any]) -> dict[str, Any]:
    return {"version": index["version"], "names": index["names"]}


def drops_for(selection_work: Path | str, index: int) -> pa.Table:
    """The drop table of one file (empty when none of its documents is a duplicate)."""
    selection_work = data_path(selection_work)
    if not _exists(selection_work / "_done.json"):
        raise ShardError(f"{selection_work}: the dedup components step has not finished (run the reduce first)")
    path = selection_work / "drops" / f"f{index:06d}.parquet"
    return _read_table(path) if _exists(path) else DROP_SCHEMA.empty_table()


# -- the index kept with a snapshot ---------------------------------------------------------------

def write_index(selection: Selection, version: str, settings: dict[str, Any]) -> None:
    _write_json(selection.signatures / INDEX, {
        "version": version, "buckets": selection.buckets, "layout": LAYOUT, "files": list(selection.files),
        "names": list(selection.names), "settings": settings})


def earlier_index(dataset_dir: str | Path, buckets: int) -> dict[str, Any]:
    """The signature index an earlier build left in its dataset folder (``_signatures/latest.json`` names it)."""
    root = data_path(dataset_dir)
    pointer = root / "_signatures" / "latest.json"
    if not _exists(pointer):
        raise ConfigError(f"--dedup-against: {root} holds no signatures (build it with this version of datamill)")
    key = _read_json(pointer)["key"]
    index = _read_json(root / "_signatures" / key / INDEX)
    if index["buckets"] != buckets:
        raise ConfigError(f"--dedup-against: {root} was bucketed into {index['buckets']} buckets; "
                          f"use --dedup-buckets {index['buckets']}")
    index["root"] = str(root / "_signatures" / key)
    return index


def point_latest(dataset_dir: Path | str, key: str) -> None:
    _write_json(data_path(dataset_dir) / "_signatures" / "latest.json", {"key": key})


def latest_key(dataset_dir: Path | str) -> str | None:
    """The signature key an earlier build's ``_signatures/latest.json`` names, if it has one."""
    pointer = data_path(dataset_dir) / "_signatures" / "latest.json"
    return _read_json(pointer)["key"] if _exists(pointer) else None


# -- files by name, on local disk (atomic rename, fsync) or object storage (one PUT each) ------------

def _location(path: UrlPath) -> Location:
    return Location(path.parent)


def _exists(path: Path | UrlPath) -> bool:
    return path.exists() if isinstance(path, Path) else _location(path).exists(path.name)


def _read_table(path: Path | UrlPath) -> pa.Table:
    if isinstance(path, Path):
        return pq.read_table(path)
    with _location(path).open(path.name) as handle:
        return pq.read_table(handle)


def _read_small(path: Path | UrlPath) -> pa.Table:
    """A small Parquet object whole: one GET on object storage."""
    if isinstance(path, Path):
        return pq.read_table(path)
    return pq.read_table(pa.BufferReader(_location(path).read_bytes(path.name)))


def _num_rows(path: Path | UrlPath) -> int:
    if isinstance(path, Path):
        return pq.ParquetFile(path).metadata.num_rows
    with _location(path).open(path.name) as handle:
        return pq.ParquetFile(handle).metadata.num_rows


def _read_json(path: Path | UrlPath) -> Any:
    return json.loads(path.read_text()) if isinstance(path, Path) else _location(path).read_json(path.name)


def _write_json(path: Path | UrlPath, obj: Any) -> None:
    if isinstance(path, Path):
        write_json_atomic(path, obj)
    else:
        _location(path).write_json(path.name, obj)


def _write(tables: list[pa.Table], final: Path | UrlPath) -> None:
    """One Parquet file, a row group per table (an empty table is an empty row group)."""
    if isinstance(final, Path):
        tmp = temp_path(final)
        with pq.ParquetWriter(tmp, tables[0].schema, compression="zstd") as writer:
            for table in tables:
                writer.write_table(table)
        commit(tmp, final)
        return
    sink = pa.BufferOutputStream()
    with pq.ParquetWriter(sink, tables[0].schema, compression="zstd") as writer:
        for table in tables:
            writer.write_table(table)
    _location(final).write_bytes(final.name, sink.getvalue().to_pybytes())


