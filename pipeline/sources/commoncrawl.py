"""CommonCrawl WET/WARC files → filtered, deduplicated web text.

Stages, each cost linear in files (see ``pipeline.text.crawl_dedup``): per file (prepare, in
parallel) records are read with fastwarc, turned into text (WET conversion records as they
are; WARC responses with status 200 and an HTML payload through resiliparse),
language-identified offline, run through the quality preset, signed (exact hash + MinHash)
and shuffled into B bucket files; per bucket (in parallel) duplicate edges are found; once,
connected components over the edges alone give a drop table per file; then per file the
survivors are written as shards, each part reading its own file's drop table only.
"""

from __future__ import annotations

import gzip
import json
import logging
from datetime import datetime
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import urlsplit

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from fastwarc.warc import WarcRecordType

from pipeline.text import crawl_components as crawlcomponents
from pipeline.text import crawl_dedup as crawldedup
from pipeline.acquire.download import Downloader, RemoteFile
from pipeline.errors import ConfigError, SourceError
from pipeline.store.shards import SPLIT_COLUMN, DatasetSpec, Part, PartInput, Rejects
from pipeline.store.location import Location, UrlPath, data_path, materialize
from pipeline.sources.base import DataRoot, LocalFiles, Release
from pipeline.store.splits import SplitAssigner
from pipeline.store.files import cached_dir
from pipeline.text import dedup, html, langid, quality
from pipeline.formats.warc import Failure, iter_records, split_http

log = logging.getLogger(__name__)

BASE_URL = "https://data.commoncrawl.org/"
INDEX_URL = "https://index.commoncrawl.org/"
LICENSE = ("Common Crawl terms of use (https://commoncrawl.org/terms-of-use); the content of each page "
           "belongs to its owners. Rows carry the page URL and fetch date.")
SIGNALS = [("word_count", pa.int32()), ("mean_word_length", pa.float32()), ("alpha_fraction", pa.float32()),
           ("stop_words", pa.int32()), ("duplicate_line_fraction", pa.float32()), ("c4_lines_kept", pa.int32()),
           ("pii_replaced", pa.int32())]
SCHEMA = pa.schema([
    pa.field("id", pa.string(), nullable=False), ("url", pa.string()), ("domain", pa.string()), ("text", pa.string()),
    ("language", pa.string()), ("language_score", pa.float32()), ("crawl", pa.string()), ("source_file", pa.string()),
    ("fetch_date", pa.timestamp("s", tz="UTC")), *SIGNALS,
])


class CommonCrawl(LocalFiles):
    """A crawl's WET or WARC files (a selection or all of them) → one dataset, ``text``."""

    name = "commoncrawl"
    license = LICENSE
    datasets = ("text",)
    release_prefix = "CC-MAIN-"

    def __init__(self, data_dir: DataRoot | Path | str = "data", mirror: str | None = None, crawl: str | None = None,
                 mode: str = "wet", max_files: int | None = None, files: list[str] | None = None,
                 languages: str = "en", filters: str = "gopher", pii: bool = False, min_language_score: float = 0.5,
                 index_url: str | None = None, splits: dict[str, float] | None = None,
                 target_shard_bytes: int = 256 << 20, dedup_buckets: int = 16,
                 dedup_against: str | list[str] | None = None, bad_words: str | None = None,
                 dedup_memory_mb: int = 1024) -> None:
        if mode not in ("wet", "warc"):
            raise ConfigError(f"--mode: wet or warc, not {mode!r}")
        if crawl is not None and not crawl.startswith("CC-MAIN-"):
            raise ConfigError(f"--crawl: expected CC-MAIN-YYYY-WW, got {crawl!r}")
        self.data_dir = DataRoot.of(data_dir)
        self.base_url = (mirror or BASE_URL).rstrip("/") + "/"
        self.index_url = (index_url or (self.base_url if mirror else INDEX_URL)).rstrip("/") + "/"
        self.crawl, self.mode = crawl, mode
        self.max_files, self.files = max_files, files
        self.languages = None if languages in ("all", "") else sorted({l.strip() for l in languages.split(",")})
        self.preset = quality.preset(filters, pii, bad_words)
        if dedup_buckets < 1:
            raise ConfigError(f"--dedup-buckets: at least 1, not {dedup_buckets}")
        self.buckets = dedup_buckets
        if dedup_memory_mb < 1:
            raise ConfigError(f"--dedup-memory-mb: at least 1, not {dedup_memory_mb}")
        self.dedup_memory = dedup_memory_mb << 20  # one components partition's working set (not in the config)
        against = [dedup_against] if isinstance(dedup_against, str) else list(dedup_against or [])
        self.dedup_against = tuple(str(data_path(a)) for a in against)
        self.min_language_score = min_language_score
        self.assigner = SplitAssigner(splits, salt="commoncrawl")
        self.target_shard_bytes = target_shard_bytes

    def local_version(self, version: str | None) -> str | None:
        return None if version in (None, "latest") else version

    def config(self) -> dict[str, Any]:
        """The options that shape the rows (the bucket count and memory do not: they only partition the work)."""
        earlier = [{"dataset": a, "signatures": crawldedup.latest_key(a)} for a in self.dedup_against]
        return {**self._extract_config(), "dedup_against": earlier}

    def _extract_config(self) -> dict[str, Any]:
        return {"mode": self.mode, "languages": self.languages or "all", "min_language_score": self.min_language_score,
                "language_hint_odds": langid.HINT_ODDS, "filters": self.preset.describe(),
                "splits": self.assigner.fractions, "split_key": "url",
                "dedup": {"exact": "blake2b-64 of normalized text", "minhash": {
                    "shingle_words": dedup.SHINGLE_WORDS, "permutations": dedup.NUM_PERM, "bands": dedup.BANDS,
                    "rows": dedup.ROWS}, "keeper": "earliest file in selection order, then earliest record; "
                                                  "a document an earlier build holds is never kept twice"}}

    def config_key(self) -> str:
        import hashlib

        return hashlib.sha256(json.dumps(self._extract_config(), sort_keys=True).encode()).hexdigest()[:12]

    # -- discover -----------------------------------------------------------------------

    def discover(self, downloader: Downloader, version: str | None = None) -> Release:
        crawl = version if version not in (None, "latest") else self.crawl
        if crawl is None:
            crawls = json.loads(downloader.get_bytes(self.index_url + "collinfo.json"))
            if not crawls:
                raise SourceError(f"{self.index_url}collinfo.json lists no crawls")
            crawl = sorted(c["id"] for c in crawls)[-1]
        listing = downloader.get_bytes(f"{self.base_url}crawl-data/{crawl}/{self.mode}.paths.gz")
        paths = [p for p in gzip.decompress(listing).decode().splitlines() if p.strip()]
        if self.files:
            wanted = set(self.files)
            paths = [p for p in paths if p in wanted or p.rsplit("/", 1)[-1] in wanted]
        if self.max_files is not None:
            paths = paths[: self.max_files]
        if not paths:
            raise SourceError(f"{crawl}: no {self.mode} files selected")
        files = tuple(RemoteFile(self.base_url + p, p.rsplit("/", 1)[-1]) for p in paths)
        return Release(self.name, crawl, files, {"crawl": crawl, "mode": self.mode, "paths": paths})

    # -- stages -----------------------------------------------------------------------------

    def spec(self, dataset: str, release: Release, shards_dir: Path) -> DatasetSpec:
        if dataset != "text":
            raise ConfigError(f"commoncrawl has the dataset 'text', not {dataset!r}")
        return DatasetSpec(root=shards_dir / self.name / release.version / dataset, source=self.name,
                           dataset=dataset, version=release.version, schema=SCHEMA, config=self.config(),
                           license=LICENSE, description=self._description(release),
                           target_shard_bytes=self.target_shard_bytes,
                           row_group_bytes=min(96 << 20, self.target_shard_bytes))

    def _description(self, release: Release) -> str:
        described = self.preset.describe()
        skipped = "; ".join(f"{rule} is skipped for {why}" for rule, why in described["skipped"].items())
        return (f"Web text from {release.version} ({self.mode} files), filtered ({self.preset.name}) and "
                f"deduplicated (exact and MinHash, earliest copy kept"
                f"{', and against ' + ', '.join(self.dedup_against) if self.dedup_against else ''}). "
                f"Stop words per language: {', '.join(described['stop_words'])}. {skipped}.")

    def task_releases(self, release: Release, groups: list[list[str]]) -> list[Release]:
        """Per task, the release narrowed to that task's files: a mapped task is sent its own file's details
        only, so what each task is sent (and walks) stays the same size however many files the crawl has."""
        sha, paths = release.meta.get("sha256", {}), release.meta.get("paths")
        at = {f.name: i for i, f in enumerate(release.files)}
        rest = {k: v for k, v in release.meta.items() if k not in ("sha256", "paths")}

        def narrowed(names: list[str]) -> Release:
            meta = {**rest, "sha256": {n: sha[n] for n in names if n in sha}}
            if paths is not None:
                meta["paths"] = [paths[at[n]] for n in names]
            return Release(release.source, release.version, tuple(release.files[at[n]] for n in names), meta)

        return [narrowed(list(names)) for names in groups]

    def prepare_units(self, dataset: str, release: Release) -> list[str]:
        return [f.name for f in release.files]

    def prepare_unit(self, dataset: str, release: Release, unit: str) -> str:
        """Map: extract, identify, filter and sign one file, then shuffle its signatures into bucket files."""
        sha = release.meta["sha256"][unit]
        extracted = self._extract(release.version, unit, sha)
        folder = crawldedup.file_folder(unit, sha)
        crawldedup.write_rows(self._selection_root(release.version), folder,
                              pq.read_table(extracted / "signatures.parquet"), self.buckets)
        return str(extracted)

    def reduce_units(self, dataset: str, release: Release) -> list[int]:
        return list(range(self.buckets))

    def reduce_unit(self, dataset: str, release: Release, unit: int) -> str:
        """Candidates of one bucket: duplicate edges among every file's rows of that bucket."""
        return str(crawldedup.bucket_edges(self._selection(release), int(unit)))

    def reduce(self, dataset: str, release: Release) -> str:
        """Components over the duplicate edges → a drop table per file (buckets not yet done run here)."""
        selection = self._selection(release)
        crawldedup.resolve(selection, self.dedup_memory, crawlcomponents.dask_mapper())
        crawldedup.write_index(selection, release.version, self._extract_config()["dedup"])
        return str(selection.work)

    def write_extras(self, dataset: str, release: Release, root: Path) -> None:
        """The committed snapshot's signatures become the ones a later ``--dedup-against`` reads."""
        crawldedup.point_latest(root, crawldedup.signature_key(self.config_key(), self.buckets))

    def parts(self, dataset: str, release: Release) -> list[Part]:
        sha = release.meta["sha256"]
        work = str(self._selection(release).work)
        return [Part(f"f{i:05d}", (PartInput(f.name, sha[f.name]),),
                     {"file": f.name, "index": i, "version": release.version, "sha256": sha[f.name], "dedup": work})
                for i, f in enumerate(release.files)]

    def read_part(self, dataset: str, part: Part, rejects: Rejects) -> Iterator[pa.Table]:
        options = part.options
        extracted = self._extract(options["version"], options["file"], options["sha256"])
        replay = pq.read_table(extracted / "rejects.parquet")
        for rid, reason, detail in zip(*(replay.column(c).to_pylist() for c in ("id", "reason", "detail"))):
            rejects.add(rid, reason, detail)
        docs = pq.read_table(extracted / "docs.parquet")
        drops = crawldedup.drops_for(options["dedup"], options["index"])
        if drops.num_rows:
            gone = pc.is_in(docs.column("doc"), drops.column("doc"))
            dropped = docs.filter(gone).select(["id", "doc"]).join(drops, "doc").sort_by("doc")
            for rid, reason, detail in zip(*(dropped.column(c).to_pylist() for c in ("id", "reason", "detail"))):
                rejects.add(rid, reason, detail)
            docs = docs.filter(pc.invert(gone))
        splits = self.assigner.of_key_array(docs.column("url").to_pylist())
        yield docs.drop_columns(["doc"]).append_column(SPLIT_COLUMN, pa.array(splits, pa.string()))

    # -- cached steps ----------------------------------------------------------------------------

    def _dataset_root(self, version: str) -> Path | UrlPath:
        return self.data_dir.shards / self.name / version / "text"

    def _selection_root(self, version: str) -> Path | UrlPath:
        return self._dataset_root(version) / "_signatures" / crawldedup.signature_key(self.config_key(), self.buckets)

    def _selection(self, release: Release) -> crawldedup.Selection:
        """This build's files in node order; its scratch folder is named by their contents and the config."""
        sha = release.meta["sha256"]
        folders = tuple(crawldedup.file_folder(f.name, sha[f.name]) for f in release.files)
        earlier = json.dumps(self.config()["dedup_against"], sort_keys=True)
        key = dedup.hash64("|".join((self.config_key(), str(self.buckets), earlier) + folders).encode())
        work = self.data_dir.work(self.name, release.version) / f"dedup-{key:016x}"
        return crawldedup.Selection(self._selection_root(release.version), work, folders,
                                    tuple(f.name for f in release.files), self.buckets, self.dedup_against)

    def _extract(self, version: str, name: str, sha256: str) -> Path:
        key = f"extract-{sha256[:16]}-{self.config_key()}"

        def build(out: Path) -> None:
            rejects, pending, docs_ids, exact, bands = Rejects(name), [], [], [], []
            handle = self._wet_record if self.mode == "wet" else self._warc_record
            wanted = WarcRecordType.conversion if self.mode == "wet" else WarcRecordType.response
            schema = SCHEMA.append(pa.field("doc", pa.int32()))
            with pq.ParquetWriter(out / "docs.parquet", schema, compression="zstd") as docs:
                for item in iter_records(self._raw_file(version, name), handle, record_types=wanted):
                    if isinstance(item, Failure):
                        rejects.add(item.key, item.reason, item.detail)
                        continue
                    row = self._filter(item, rejects, version, name)
                    if row is None:
                        continue
                    row["doc"] = len(docs_ids)
                    digest, band_hashes = dedup.signature(row["text"])
                    docs_ids.append(row["doc"])
                    exact.append(digest)
                    bands.append(band_hashes)
                    pending.append(row)
                    if len(pending) >= 1000:  # texts go to disk as they come; only signatures stay in memory
                        docs.write_table(pa.Table.from_pylist(pending, schema=schema))
                        pending = []
                docs.write_table(pa.Table.from_pylist(pending, schema=schema))
            pq.write_table(rejects.table(), out / "rejects.parquet")
            pq.write_table(dedup.signature_table(docs_ids, exact, bands), out / "signatures.parquet")

        return cached_dir(self.data_dir.host_work(self.name, version), key, build)

    def _raw_file(self, version: str, name: str) -> Path:
        """This host's copy of one raw file (with an s3:// root: fetched from the bucket once, that file alone)."""
        local = self.data_dir.local_raw(self.name, version) / name
        if self.data_dir.remote:
            local.parent.mkdir(parents=True, exist_ok=True)
            materialize(Location(self.data_dir.raw(self.name, version)), name, local)
        return local

    def _wet_record(self, record, block: bytes) -> dict[str, Any]:
        headers = record.headers
        return {"id": _stable_id(record), "url": headers.get("WARC-Target-URI"), "date": headers.get("WARC-Date"),
                "hint": headers.get("WARC-Identified-Content-Language"),
                "text": block.decode("utf-8", errors="replace"), "reason": None}

    def _warc_record(self, record, block: bytes) -> dict[str, Any]:
        headers = record.headers
        item = {"id": _stable_id(record), "url": headers.get("WARC-Target-URI"), "date": headers.get("WARC-Date"),
                "hint": headers.get("WARC-Identified-Content-Language"), "text": "", "reason": None}
        status, http_headers, body = split_http(block)
        content_type = http_headers.get("content-type")
        if status is None:
            item["reason"] = "bad_http"
        elif status != 200:
            item["reason"] = f"http_{status}"
        elif html.looks_binary(body):
            item["reason"] = "binary"
        elif not html.is_html(content_type, headers.get("WARC-Identified-Payload-Type"), body):
            item["reason"] = "not_html"
        else:
            text, encoding = html.decode(body, content_type)
            item["text"], item["encoding"] = html.main_text(text), encoding
        return item

    def _filter(self, item: dict[str, Any], rejects: Rejects, crawl: str, source_file: str) -> dict[str, Any] | None:
        record_id = item["id"] or f"{source_file}:{item['url']}"
        if item["reason"]:
            rejects.add(record_id, item["reason"], item["url"] or "")
            return None
        text = item["text"].strip()
        if not text:
            rejects.add(record_id, "empty", item["url"] or "")
            return None
        language, score = langid.identify(text, item["hint"])
        if self.languages is not None and (language not in self.languages or score < self.min_language_score):
            rejects.add(record_id, "language", f"{language} ({score:.2f}): {item['url']}")
            return None
        text, reason, signals = self.preset.apply(text, language)
        if reason:
            rejects.add(record_id, reason, item["url"] or "")
            return None
        url = item["url"] or ""
        host = (urlsplit(url).hostname or "").lower()
        return {"id": record_id, "url": url, "domain": host.removeprefix("www."), "text": text, "language": language,
                "language_score": score, "crawl": crawl, "source_file": source_file,
                "fetch_date": _date(item["date"]), **{name: signals.get(name) for name, _ in SIGNALS}}


def _stable_id(record) -> str | None:
    """The record's WARC-Record-ID; without one, its URL and payload digest (the same page fetched the same)."""
    if record.record_id:
        return record.record_id
    headers = record.headers
    digest = headers.get("WARC-Payload-Digest") or headers.get("WARC-Block-Digest")
    url = headers.get("WARC-Target-URI")
    return f"{url}#{digest}" if url and digest else None


def _date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
