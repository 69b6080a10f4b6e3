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
memory (``pipeline.crawlcomponents``).
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
import pyarrow.parquet as pq

from pipeline import crawlcomponents
from pipeline.errors import ConfigError, ShardError
from pipeline.location import Location, UrlPath, data_path
from pipeline.storage import commit, temp_path, write_json_atomic
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
    (``pipeline.crawlcomponents``); no step holds every edge, nor any document that has no duplicate.
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
    earlier_names = [earlier_index(root_, selection.buckets) for root_ in selection.earlier]
    written = dropped = 0
    for p in range(parts if rows else 0):
        nodes, keepers, exact = crawlcomponents.dropped(root, last, p)
        mine = nodes >= 0
        nodes, keepers, exact = nodes[mine], keepers[mine], exact[mine]
        dropped += len(nodes)
        written += _write_drops(selection, nodes, keepers, exact, earlier_names)
    shutil.rmtree(root, ignore_errors=True)
    summary = {"edges": rows, "dropped": dropped, "files_with_drops": written, "partitions": parts, "rounds": last}
    _write_json(selection.done, summary)
    return summary


def _write_drops(selection: Selection, nodes: np.ndarray, keepers: np.ndarray, exact: np.ndarray,
                 earlier_names: list[dict[str, Any]]) -> int:
    """One drop table per file among ``nodes`` (a partition holds whole files); returns the tables written."""
    order = np.argsort(nodes)
    nodes, keepers, exact = nodes[order], keepers[order], exact[order]
    files = nodes >> 32
    bounds = np.flatnonzero(np.diff(files)) + 1
    written = 0
    for lo, hi in zip(np.r_[0, bounds], np.r_[bounds, len(nodes)]):
        if lo == hi:
            continue
        rows = [_drop(int(n), int(k), bool(e), selection, earlier_names) for n, k, e in
                zip(nodes[lo:hi], keepers[lo:hi], exact[lo:hi])]
        table = pa.table({"doc": [r[0] for r in rows], "reason": [r[1] for r in rows],
                          "detail": [r[2] for r in rows]}, schema=DROP_SCHEMA)
        _write([table], selection.drops_path(int(files[lo])))
        written += 1
    return written


def _drop(node: int, keeper: int, exact: bool, selection: Selection,
          earlier: list[dict[str, Any]]) -> tuple[int, str, str]:
    kind = "exact" if exact else "near"
    if keeper >= 0:
        return (node & 0xFFFFFFFF, f"{kind}_duplicate",
                f"{kind} duplicate of file {selection.names[keeper >> 32]} record {keeper & 0xFFFFFFFF}")
    j = (-keeper - 1) >> 58  # earlier snapshot j's nodes are -(j + 1) << 58 plus a local node
    local = keeper + ((j + 1) << 58)
    index = earlier[j]
    return (node & 0xFFFFFFFF, "in_earlier_crawl",
            f"{kind} duplicate of {index['version']} file {index['names'][local >> 32]} record {local & 0xFFFFFFFF}")


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


