"""Tatoeba's weekly exports → ``sentences`` and translation ``pairs`` datasets.

Steps, each cached on disk by the content hash of its inputs:

1. ``links`` → the translation graph: its edges spilled to disk as read, and per sentence
   id the smallest id of its connected component (label propagation over the spilled
   edges, one block at a time). Splits hash that component key, so every sentence linked
   by translation lands in the same split and nothing leaks.
2. ``sentences_detailed`` (or ``sentences``) → typed Arrow buckets of ``bucket_ids`` ids.
   Parts are these buckets, so a build runs them in parallel and resumes per bucket.
3. pairs: the edges in both directions partitioned by target bucket, then a two-hop
   bucketed hash join (target side, then source side), so memory stays at about one bucket
   (plus one int per sentence id for the labels) whatever the number of sentences.
"""

from __future__ import annotations

import logging
import re
from datetime import timezone
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipeline.formats import mysql_tsv
from pipeline.acquire.archives import open_export
from pipeline.acquire.download import Downloader, RemoteFile
from pipeline.errors import ConfigError, PermanentDownloadError, SourceError
from pipeline.store.shards import SPLIT_COLUMN, DatasetSpec, Part, PartInput, Rejects
from pipeline.sources.base import DataRoot, LocalFiles, Release
from pipeline.store.splits import SplitAssigner

log = logging.getLogger(__name__)

BASE_URL = "https://downloads.tatoeba.org/"
LICENSE = ("CC BY 2.0 FR (https://creativecommons.org/licenses/by/2.0/fr/): attribute each "
           "sentence to its Tatoeba username (https://tatoeba.org).")
ROW_LICENSE = "CC BY 2.0 FR"
FORMS = {"zst": ("{}.csv.zst", "{}.tar.bz2"), "bz2": ("{}.tar.bz2", "{}.csv.zst")}
DETAILED_COLUMNS = ["id", "lang", "text", "username", "created", "modified"]
BASIC_COLUMNS = ["id", "lang", "text"]
LINK_COLUMNS = ["sentence_id", "translation_id"]
_ID = r"^[0-9]{1,18}$"
_PAIR = re.compile(r"^[a-z_]{2,8}-[a-z_]{2,8}$")
# Export blocks parsed at once (a few are in flight): the parser's working set, the build's largest fixed cost.
BLOCK_BYTES = 4 << 20

SENTENCES_SCHEMA = pa.schema([
    pa.field("id", pa.int64(), nullable=False), ("lang", pa.string()),
    pa.field("text", pa.string(), nullable=False), ("username", pa.string()),
    ("created", pa.timestamp("s", tz="UTC")), ("modified", pa.timestamp("s", tz="UTC")),
    ("license", pa.string()),
])
PAIRS_SCHEMA = pa.schema([
    pa.field("source_id", pa.int64(), nullable=False), pa.field("target_id", pa.int64(), nullable=False),
    ("source_lang", pa.string()), ("target_lang", pa.string()),
    ("source_text", pa.string()), ("target_text", pa.string()),
    ("source_username", pa.string()), ("target_username", pa.string()), ("license", pa.string()),
])
_LOOKUP = ["id", "lang", "text", "username"]
_TARGET_LOOKUP = ["target_id", "target_lang", "target_text", "target_username"]
_EMPTY_LOOKUP = pa.table({c: pa.array([], t) for c, t in zip(_LOOKUP, [pa.int64()] + [pa.string()] * 3)})


def parse_pairs(spec: str) -> list[tuple[str, str]] | None:
    """``"all"`` → None (every pair present); ``"eng-fra,eng-jpn"`` → ordered language pairs."""
    if spec.strip() in ("", "all"):
        return None
    pairs = [p.strip() for p in spec.split(",") if p.strip()]
    for p in pairs:
        if not _PAIR.match(p):
            raise ConfigError(f"--pairs: expected src-tgt language codes like eng-fra, got {p!r}")
    return sorted({tuple(p.split("-", 1)) for p in pairs})  # type: ignore[misc]


class Tatoeba(LocalFiles):
    """The Tatoeba source (see the module docstring for the steps)."""

    name = "tatoeba"
    license = LICENSE
    datasets = ("sentences", "pairs")
    release_prefix = ""

    def __init__(self, data_dir: DataRoot | Path | str = "data", mirror: str | None = None, pairs: str = "all",
                 splits: dict[str, float] | None = None, compression: str = "zst",
                 bucket_ids: int = 1_000_000, target_shard_bytes: int = 256 << 20) -> None:
        if compression not in FORMS:
            raise ConfigError(f"--compression: choose zst or bz2, got {compression!r}")
        if bucket_ids < 1:
            raise ConfigError("--bucket-ids must be positive")
        self.data_dir = DataRoot.of(data_dir)
        self.base_url = (mirror or BASE_URL).rstrip("/") + "/"
        self.pairs_spec = pairs
        self.pairs = parse_pairs(pairs)
        self.assigner = SplitAssigner(splits, salt="tatoeba")
        self.compression = compression
        self.bucket_ids = bucket_ids
        self.target_shard_bytes = target_shard_bytes

    # -- discover -------------------------------------------------------------------

    def discover(self, downloader: Downloader, version: str | None = None) -> Release:
        sentences = self._find_export(downloader, ("sentences_detailed", "sentences"))
        links = self._find_export(downloader, ("links",))
        stamp = sentences[1].last_modified
        if stamp is None:
            raise SourceError(f"{sentences[1].url}: no Last-Modified header, cannot date the export")
        found = stamp.astimezone(timezone.utc).strftime("%Y-%m-%d")
        if version not in (None, "latest", found):
            raise SourceError(f"Tatoeba serves only its latest weekly export ({found}), not {version}")
        files = tuple(RemoteFile(p.url, p.url.rsplit("/", 1)[1], p.size) for _, p in (sentences, links))
        return Release(self.name, found, files, {
            "sentences_export": sentences[0], "links_export": "links",
            "last_modified": stamp.isoformat(), "base_url": self.base_url,
        })

    def _find_export(self, downloader: Downloader, exports: tuple[str, ...]):
        tried = []
        for export in exports:
            for form in FORMS[self.compression]:
                url = self.base_url + "exports/" + form.format(export)
                try:
                    return export, downloader.probe(url)
                except PermanentDownloadError:
                    tried.append(url)
        raise SourceError("no Tatoeba export found; tried: " + ", ".join(tried))

    def local_version(self, version: str | None) -> str | None:
        return None if version in (None, "latest") else version

    # -- datasets and parts -------------------------------------------------------------

    def spec(self, dataset: str, release: Release, shards_dir: Path) -> DatasetSpec:
        config: dict[str, Any] = {"splits": self.assigner.fractions, "split_key": "translation component",
                                  "bucket_ids": self.bucket_ids,
                                  "sentences_export": release.meta["sentences_export"]}
        if dataset == "pairs":
            config["pairs"] = self.pairs_spec if self.pairs is None else ["-".join(p) for p in self.pairs]
        schema = {"sentences": SENTENCES_SCHEMA, "pairs": PAIRS_SCHEMA}[dataset]
        return DatasetSpec(
            root=shards_dir / self.name / release.version / dataset, source=self.name, dataset=dataset,
            version=release.version, schema=schema, config=config, license=LICENSE,
            description={"sentences": "Tatoeba sentences with language, author and dates.",
                         "pairs": "Tatoeba translation pairs (source → target) with both texts."}[dataset],
            target_shard_bytes=self.target_shard_bytes, row_group_bytes=min(96 << 20, self.target_shard_bytes),
        )

    def parts(self, dataset: str, release: Release) -> list[Part]:
        sentences_file, links_file = (f.name for f in release.files)
        sha = release.meta["sha256"]
        inputs = (PartInput(sentences_file, sha[sentences_file]), PartInput(links_file, sha[links_file]))
        buckets = self._sentence_buckets(release)["buckets"]
        return [Part(f"b{b:05d}", inputs, {"bucket": b, "first": i == 0, "version": release.version})
                for i, b in enumerate(buckets)]

    def read_part(self, dataset: str, part: Part, rejects: Rejects) -> Iterator[pa.Table]:
        release = self.load_release(part.options["version"])
        if dataset == "sentences":
            yield from self._read_sentences(release, part, rejects)
        elif dataset == "pairs":
            yield from self._read_pairs(release, part, rejects)
        else:
            raise ConfigError(f"tatoeba has datasets {self.datasets}, not {dataset!r}")

    # -- sentences ----------------------------------------------------------------------

    def _read_sentences(self, release: Release, part: Part, rejects: Rejects) -> Iterator[pa.Table]:
        cache = self._sentence_buckets(release)
        if part.options["first"]:
            _replay_rejects(cache["rejects"], rejects)
        table = _load_bucket(cache["dir"], part.options["bucket"], rejects)
        yield self._finish(release, table, "id")

    def _finish(self, release: Release, table: pa.Table, key: str) -> pa.Table:
        """Add the licence and the split, hashed from the translation component of ``key``."""
        ids = table.column(key).to_numpy()
        labels = self._link_graph(release)["labels"]
        components = ids.copy()
        known = ids < len(labels)
        components[known] = labels[ids[known]]
        table = table.append_column("license", pa.array([ROW_LICENSE] * table.num_rows, pa.string()))
        return table.append_column(SPLIT_COLUMN, pa.array(self.assigner.of_ints(components), pa.string()))

    # -- pairs --------------------------------------------------------------------------

    def _read_pairs(self, release: Release, part: Part, rejects: Rejects) -> Iterator[pa.Table]:
        joined = self._pairs_by_source(release)
        if part.options["first"]:
            _replay_rejects(self._link_graph(release)["rejects"], rejects)
            _replay_rejects(joined["rejects"], rejects)
        bucket = part.options["bucket"]
        spill = joined["dir"] / f"src-{bucket:05d}.parquet"
        if not spill.exists():
            return
        sources = _load_bucket(self._sentence_buckets(release)["dir"], bucket, None)
        pairs = pq.read_table(spill).join(sources.select(_LOOKUP).rename_columns([f"source_{c}" for c in _LOOKUP]),
                                          keys="source_id", join_type="left outer")
        pairs = _drop_pairs(pairs, pc.is_null(pairs.column("source_text")), rejects, "dangling_link",
                            "the source sentence is not in the export")
        unknown = pc.or_(pc.is_null(pairs.column("source_lang")), pc.is_null(pairs.column("target_lang")))
        pairs = _drop_pairs(pairs, unknown, rejects, "unknown_language", "a sentence of this pair has no language")
        if self.pairs is not None:
            key = pc.binary_join_element_wise(pairs.column("source_lang"), pairs.column("target_lang"), "-")
            pairs = pairs.filter(pc.is_in(key, pa.array(["-".join(p) for p in self.pairs])))
        pairs = pairs.sort_by([("source_id", "ascending"), ("target_id", "ascending")])
        yield self._finish(release, pairs, "source_id")

    def _pairs_by_source(self, release: Release) -> dict[str, Any]:
        """Hop one of the join: attach the target side, spill rows by source bucket."""
        graph = self._link_graph(release)
        cache = self._sentence_buckets(release)
        key = f"pairs-{graph['key']}-{cache['key']}-{'_'.join('-'.join(p) for p in self.pairs or []) or 'all'}"
        wanted = None if self.pairs is None else pa.array(sorted({t for _, t in self.pairs}))

        def build(out: Path) -> None:
            by_target = _edges_by_target(graph["edges"], out / "by-target", self.bucket_ids)
            rejects = Rejects("links")
            with _SpillWriters(out, cache["buckets"], self.bucket_ids, rejects) as spill:
                for bucket in sorted(by_target):
                    edges = _unique_directed(np.fromfile(by_target[bucket], np.int64).reshape(-1, 2))
                    by_target[bucket].unlink()
                    links = pa.table({"source_id": edges[:, 0], "target_id": edges[:, 1]})
                    targets = _load_bucket(cache["dir"], int(bucket), None) if int(bucket) in cache["buckets"] \
                        else _EMPTY_LOOKUP
                    half = links.join(targets.select(_LOOKUP).rename_columns(_TARGET_LOOKUP),
                                      keys="target_id", join_type="left outer")
                    half = _drop_pairs(half, pc.is_null(half.column("target_text")), rejects, "dangling_link",
                                       "the target sentence is not in the export")
                    if wanted is not None:
                        half = half.filter(pc.fill_null(pc.is_in(half.column("target_lang"), wanted), False))
                    spill.write(half)
            (out / "by-target").rmdir()
            pq.write_table(rejects.table(), out / "rejects.parquet")

        out = self.cached(release, key, build)
        return {"dir": out, "rejects": out / "rejects.parquet"}

    # -- cached steps -------------------------------------------------------------------------

    def _link_graph(self, release: Release) -> dict[str, Any]:
        """The links as read (``edges.bin``: int64 pairs) and per-id component labels (smallest id in it)."""
        name = next(f.name for f in release.files if f.name.startswith("links"))
        key = f"links-{release.meta['sha256'][name][:16]}-v2"

        def build(out: Path) -> None:
            rejects = Rejects("links")
            size = 0
            with open(out / "edges.bin", "wb") as sink, \
                    open_export(self.raw_dir(release) / name, "links.csv") as stream:
                for edges, local in mysql_tsv.read_batches(stream, LINK_COLUMNS, BLOCK_BYTES, then=_typed_links):
                    rejects.extend(local)
                    sink.write(np.ascontiguousarray(edges, np.int64).tobytes())
                    size = max(size, int(edges.max()) + 1 if len(edges) else 0)
            np.save(out / "labels.npy", _component_labels(out / "edges.bin", size))
            pq.write_table(rejects.table(), out / "rejects.parquet")

        out = self.cached(release, key, build)
        return {"dir": out, "key": key, "labels": np.load(out / "labels.npy", mmap_mode="r"),
                "edges": out / "edges.bin", "rejects": out / "rejects.parquet"}

    def _sentence_buckets(self, release: Release) -> dict[str, Any]:
        """Parse the sentences export once into typed Parquet buckets of ``bucket_ids`` ids."""
        name = release.files[0].name
        export = release.meta["sentences_export"]
        key = f"sentences-{release.meta['sha256'][name][:16]}-{self.bucket_ids}"

        def build(out: Path) -> None:
            columns = DETAILED_COLUMNS if export == "sentences_detailed" else BASIC_COLUMNS
            rejects = Rejects("sentences")
            writers: dict[int, pq.ParquetWriter] = {}
            try:
                with open_export(self.raw_dir(release) / name, f"{export}.csv") as stream:
                    for typed, local in mysql_tsv.read_batches(stream, columns, BLOCK_BYTES, then=_typed_sentences):
                        rejects.extend(local)
                        buckets = pc.divide(typed.column("id"), self.bucket_ids).to_numpy()
                        for b in np.unique(buckets):
                            if b not in writers:
                                writers[b] = pq.ParquetWriter(out / f"bucket-{b:05d}.parquet", typed.schema)
                            writers[b].write_table(typed.filter(pa.array(buckets == b)))
            finally:
                for w in writers.values():
                    w.close()
            pq.write_table(rejects.table(), out / "rejects.parquet")

        out = self.cached(release, key, build)
        buckets = sorted(int(p.stem.split("-")[1]) for p in out.glob("bucket-*.parquet"))
        return {"dir": out, "key": key, "buckets": buckets, "rejects": out / "rejects.parquet"}


# -- helpers -------------------------------------------------------------------------------

def _typed_links(table: pa.Table, bad: list[mysql_tsv.BadRow]) -> tuple[np.ndarray, Rejects]:
    """One block of links.csv → (N, 2) int64 edges, and the block's rejects."""
    rejects = Rejects("links")
    _replay_bad(bad, rejects)
    ok = pc.and_(_valid_ids(table.column(0)), _valid_ids(table.column(1)))
    if not pc.all(ok).as_py():
        _reject_rows(table.filter(pc.invert(ok)), rejects, "bad_id")
        table = table.filter(ok)
    return np.stack([pc.cast(table.column(i), pa.int64()).to_numpy() for i in (0, 1)], axis=1), rejects


def _typed_sentences(table: pa.Table, bad: list[mysql_tsv.BadRow]) -> tuple[pa.Table, Rejects]:
    """One block of a sentences export → typed columns, and the block's rejects."""
    rejects = Rejects("sentences")
    _replay_bad(bad, rejects)
    ok_id = _valid_ids(table.column("id"))
    has_text = pc.fill_null(pc.greater(pc.binary_length(table.column("text")), 0), False)
    if not pc.all(pc.and_(ok_id, has_text)).as_py():
        _reject_rows(table.filter(pc.invert(ok_id)), rejects, "bad_id")
        _reject_rows(table.filter(pc.and_not(ok_id, has_text)), rejects, "empty_text")
        table = table.filter(pc.and_(ok_id, has_text))
    n = table.num_rows
    out = {"id": pc.cast(table.column("id"), pa.int64()), "lang": table.column("lang"),
           "text": table.column("text"),
           "username": table.column("username") if "username" in table.column_names else pa.nulls(n, pa.string())}
    for col in ("created", "modified"):
        if col in table.column_names:
            # The export's times are UTC; a cast to a UTC-tagged type only labels them.
            out[col] = pc.strptime(table.column(col), "%Y-%m-%d %H:%M:%S", "s",
                                   error_is_null=True).cast(pa.timestamp("s", tz="UTC"))
        else:
            out[col] = pa.nulls(n, pa.timestamp("s", tz="UTC"))
    return pa.table(out), rejects


class _SpillWriters:
    """One Parquet file of half-joined pairs per source bucket (links to no bucket are dropped)."""

    SCHEMA = pa.schema([("source_id", pa.int64()), ("target_id", pa.int64()), ("target_lang", pa.string()),
                        ("target_text", pa.string()), ("target_username", pa.string())])

    def __init__(self, out: Path, buckets: list[int], bucket_ids: int, rejects: Rejects) -> None:
        self.out, self.buckets, self.bucket_ids, self.rejects = out, set(buckets), bucket_ids, rejects
        self.writers: dict[int, pq.ParquetWriter] = {}

    def __enter__(self) -> "_SpillWriters":
        return self

    def __exit__(self, *exc) -> None:
        for writer in self.writers.values():
            writer.close()

    def write(self, half: pa.Table) -> None:
        src_buckets = pc.divide(half.column("source_id"), self.bucket_ids).to_numpy()
        for bucket in map(int, np.unique(src_buckets)):
            rows = half.filter(pa.array(src_buckets == bucket))
            if bucket not in self.buckets:
                _drop_pairs(rows, pa.array(np.ones(rows.num_rows, bool)), self.rejects, "dangling_link",
                            "the source sentence is not in the export")
                continue
            if bucket not in self.writers:
                self.writers[bucket] = pq.ParquetWriter(self.out / f"src-{bucket:05d}.parquet", self.SCHEMA)
            self.writers[bucket].write_table(rows.select(self.SCHEMA.names).cast(self.SCHEMA))


def _drop_pairs(pairs: pa.Table, mask, rejects: Rejects, reason: str, detail: str) -> pa.Table:
    """Reject the pairs where ``mask`` holds (keyed ``source->target``) and return the rest."""
    if not pc.any(mask).as_py():
        return pairs
    bad = pairs.filter(mask)
    keys = (f"{a}->{b}" for a, b in zip(bad.column("source_id").to_pylist(), bad.column("target_id").to_pylist()))
    rejects.add_many(keys, reason, [detail] * bad.num_rows)
    return pairs.filter(pc.invert(mask))


def _valid_ids(column: pa.ChunkedArray | pa.Array) -> pa.Array:
    """True where the value is a non-negative integer id (fast cast first, a regex only if it fails)."""
    try:
        return pc.fill_null(pc.greater_equal(pc.cast(column, pa.int64()), 0), False)
    except pa.ArrowInvalid:
        return pc.fill_null(pc.match_substring_regex(column, _ID), False)


def _load_bucket(directory: Path, bucket: int, rejects: Rejects | None) -> pa.Table:
    """One bucket sorted by id, duplicates of an id dropped (and counted when asked)."""
    table = pq.read_table(directory / f"bucket-{bucket:05d}.parquet").sort_by("id")
    ids = table.column("id").to_numpy()
    dup = np.zeros(len(ids), dtype=bool)
    dup[1:] = ids[1:] == ids[:-1]
    if dup.any():
        if rejects is not None:
            for i in np.flatnonzero(dup):
                rejects.add(int(ids[i]), "duplicate_id", "a sentence with this id came earlier in the export")
        table = table.filter(pa.array(~dup))
    return table


def _unique_directed(edges: np.ndarray) -> np.ndarray:
    """Directed links (both directions already present) once each, without self-links, sorted."""
    edges = edges[edges[:, 0] != edges[:, 1]]
    return np.unique(edges, axis=0) if len(edges) else edges


EDGE_BLOCK = 1 << 18  # edges per block read back from a spill file (4 MB)


def _edge_blocks(path: Path) -> Iterator[np.ndarray]:
    """A spill file of int64 (a, b) pairs, one block at a time (plain reads: no mapping grows the RSS)."""
    with open(path, "rb") as f:
        while True:
            block = np.fromfile(f, np.int64, 2 * EDGE_BLOCK)
            if not len(block):
                return
            yield block.reshape(-1, 2)


def _component_labels(edges: Path, size: int) -> np.ndarray:
    """label[id] = smallest id in id's connected component of the link graph in ``edges``.

    Min-label propagation with hooking and pointer jumping, over the spilled edges one block at
    a time: memory is the label array (one int per id) plus a block. Labels only fall, each is
    always an id of the same component, and the passes end when every edge's two ends agree.
    """
    dtype = np.int32 if size < 2**31 else np.int64
    labels = np.arange(size, dtype=dtype)
    changed = True
    while changed:
        changed = False
        for block in _edge_blocks(edges):
            a, b = labels[block[:, 0]], labels[block[:, 1]]
            if np.array_equal(a, b):
                continue
            changed = True
            low = np.minimum(a, b)
            np.minimum.at(labels, a, low)  # hook both current roots onto the smaller one
            np.minimum.at(labels, b, low)
            np.minimum.at(labels, block[:, 0], low)
            np.minimum.at(labels, block[:, 1], low)
        while True:  # pointer jumping: every id straight to its root
            jumped = labels[labels]
            if np.array_equal(jumped, labels):
                break
            labels = jumped
    return labels


def _edges_by_target(edges: Path, out: Path, bucket_ids: int) -> dict[int, Path]:
    """Every link in both directions, appended to one raw file per target bucket (a block at a time)."""
    out.mkdir()
    files: dict[int, Path] = {}
    for block in _edge_blocks(edges):
        both = np.concatenate([block, block[:, ::-1]])
        both = both[np.argsort(both[:, 1] // bucket_ids, kind="stable")]
        buckets = both[:, 1] // bucket_ids
        for bucket in map(int, np.unique(buckets)):
            lo, hi = np.searchsorted(buckets, [bucket, bucket + 1])
            files.setdefault(bucket, out / f"t{bucket:05d}.bin")
            with open(files[bucket], "ab") as f:
                f.write(np.ascontiguousarray(both[lo:hi]).tobytes())
    return files


def _replay_bad(bad: list[mysql_tsv.BadRow], rejects: Rejects) -> None:
    for row in bad:
        rejects.add(row.key, row.reason, row.detail)


def _reject_rows(table: pa.Table, rejects: Rejects, reason: str) -> None:
    if table.num_rows:
        for row in table.to_pylist():
            rejects.add(row[table.column_names[0]], reason, str(row)[:500])


def _replay_rejects(path: Path, rejects: Rejects) -> None:
    """Carry the drops of a cached step into the first part's rejects (counted once)."""
    table = pq.read_table(path)
    for rid, reason, detail in zip(*(table.column(c).to_pylist() for c in ("id", "reason", "detail"))):
        rejects.add(rid, reason, detail)
