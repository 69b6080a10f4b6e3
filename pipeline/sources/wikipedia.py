"""Wikipedia (any Wikimedia wiki) dumps → clean article text.

discover: ``<wiki>/<date>/dumpstatus.json`` (``latest`` = the newest run whose job is
done); the ``articlesmultistreamdump`` job when present, else ``articlesdump``; every
file verified against the sha1 (or md5) it publishes. Parts: a multistream file is cut
into runs of bz2 streams using its index, so one big chunk runs on several cores; a
single-stream file is one part. Pages outside namespace 0, redirects, empty, too large,
too slow or unparsable pages are dropped with their reason.
"""

from __future__ import annotations

import bz2
import json
import logging
import re
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import quote

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.formats.mediawiki import dump as mediawiki
from pipeline.formats.mediawiki import retention as retention
from pipeline.acquire.download import Downloader, RemoteFile
from pipeline.errors import ConfigError, DownloadError, SourceError, UpstreamNotReady
from pipeline.store.shards import SPLIT_COLUMN, DatasetSpec, Part, PartInput, Rejects
from pipeline.sources.base import DataRoot, LocalFiles, Release
from pipeline.store.splits import SplitAssigner
from pipeline.formats.mediawiki.guard import PageTimeout, markup_nodes, template_depth, time_limit
from pipeline.formats.mediawiki.wikitext import RESIDUE_PATTERN, CleanOptions, Siteinfo, clean

log = logging.getLogger(__name__)

BASE_URL = "https://dumps.wikimedia.org/"
LICENSE = ("CC BY-SA 4.0 (https://creativecommons.org/licenses/by-sa/4.0/) and GFDL. Attribution: each row "
           "carries the page URL and revision id; the page history lists the authors.")
ROW_LICENSE = "CC BY-SA 4.0"
JOBS = ("articlesmultistreamdump", "articlesdump")
_WIKI = re.compile(r"^[a-z][a-z0-9_]*(wiki|wiktionary|wikibooks|wikinews|wikiquote|wikisource|wikiversity|wikivoyage)$")
_DATE = re.compile(r"^\d{8}$")
_INDEX = re.compile(r"multistream-index")
SCHEMA = pa.schema([
    pa.field("id", pa.int64(), nullable=False), ("title", pa.string()), ("text", pa.string()), ("url", pa.string()),
    ("revision_id", pa.int64()), ("revision_timestamp", pa.timestamp("s", tz="UTC")), ("wiki", pa.string()),
    ("dump_date", pa.string()), ("license", pa.string()),
    # Prose retention: letter-words of `text`, the estimate of the page's prose words before cleaning,
    # and the repairs the cleaner made (e.g. "unclosed_ref"), so both can be audited page by page.
    ("words", pa.int32()), ("source_words", pa.int32()), ("repairs", pa.list_(pa.string())),
])
BATCH_PAGES = 500


def shard_stats(table: pa.Table) -> dict[str, int]:
    """Per-shard residue and prose-retention counters for the manifest."""
    return residue_stats(table) | retention.shard_stats(table)


def residue_stats(table: pa.Table) -> dict[str, int]:
    """How many pages of a shard still hold wiki markup (or HTML tags and entities) after cleaning."""
    hit = pc.match_substring_regex(table.column("text"), RESIDUE_PATTERN)
    return {"residue_pages": int(pc.sum(hit).as_py() or 0)}


def site_url(wiki: str) -> str:
    """``zh_yuewiki`` → ``https://zh-yue.wikipedia.org``, ``enwiktionary`` → ``https://en.wiktionary.org``."""
    match = _WIKI.match(wiki)
    project = match.group(1) if match else "wiki"
    lang = wiki[: -len(project)].replace("_", "-")
    return f"https://{lang}.{'wikipedia' if project == 'wiki' else project}.org"


class Wikipedia(LocalFiles):
    """One wiki's article dump (see the module docstring)."""

    name = "wikipedia"
    license = LICENSE
    datasets = ("articles",)

    def __init__(self, data_dir: DataRoot | Path | str = "data", mirror: str | None = None, wiki: str = "simplewiki",
                 date: str = "latest", splits: dict[str, float] | None = None, target_shard_bytes: int = 256 << 20,
                 pages_per_part: int = 20_000, max_page_bytes: int = 2 << 20, max_page_seconds: float = 20.0,
                 max_stream_bytes: int = 256 << 20, keep_math: bool = False, max_template_depth: int = 40,
                 max_page_nodes: int = 250_000) -> None:
        if not _WIKI.match(wiki):
            raise ConfigError(f"--wiki: expected a dump name like enwiki, simplewiki or zh_yuewiki, got {wiki!r}")
        if date != "latest" and not _DATE.match(date):
            raise ConfigError(f"--date: expected YYYYMMDD or latest, got {date!r}")
        self.data_dir = DataRoot.of(data_dir)
        self.base_url = (mirror or BASE_URL).rstrip("/") + "/"
        self.wiki, self.date = wiki, date
        self.assigner = SplitAssigner(splits, salt="wikipedia")
        self.target_shard_bytes = target_shard_bytes
        self.pages_per_part = max(100, pages_per_part)
        self.max_page_bytes, self.max_page_seconds = max_page_bytes, max_page_seconds
        self.max_template_depth, self.max_page_nodes = max_template_depth, max_page_nodes
        self.max_stream_bytes = max_stream_bytes
        self.options = CleanOptions(keep_math=keep_math)
        self.release_prefix = f"{wiki}-"
        self._sites: dict[str, Siteinfo] = {}

    def local_version(self, version: str | None) -> str | None:
        date = version or self.date
        if date in (None, "latest"):
            return None
        return date if date.startswith(self.release_prefix) else f"{self.wiki}-{date}"

    # -- discover -------------------------------------------------------------------

    def discover(self, downloader: Downloader, version: str | None = None) -> Release:
        date = (version or self.date).removeprefix(self.release_prefix)
        if date == "latest":
            return self._newest_finished(downloader)
        status = self._status(downloader, date)
        job_name, job = self._pick_job(status, date)
        if job.get("status") != "done":
            raise UpstreamNotReady(f"{self.wiki} {date}: job {job_name} is {job.get('status')!r}, not done; "
                                   f"pick a finished run or wait")
        return self._release(downloader, date, job_name, job)

    def _newest_finished(self, downloader: Downloader) -> Release:
        listing = downloader.get_bytes(f"{self.base_url}{self.wiki}/").decode("utf-8", "replace")
        dates = sorted(set(re.findall(r'href="(\d{8})/?"', listing)), reverse=True)
        for date in dates[:6]:
            try:
                status = self._status(downloader, date)
                job_name, job = self._pick_job(status, date)
            except (DownloadError, SourceError) as err:
                log.info("%s %s: skipped (%s)", self.wiki, date, err)
                continue
            if job.get("status") == "done":
                return self._release(downloader, date, job_name, job)
        raise UpstreamNotReady(f"{self.wiki}: no finished article dump among the newest runs {dates[:6]}")

    def _status(self, downloader: Downloader, date: str) -> dict[str, Any]:
        raw = downloader.get_bytes(f"{self.base_url}{self.wiki}/{date}/dumpstatus.json")
        try:
            return json.loads(raw)
        except json.JSONDecodeError as err:
            raise SourceError(f"{self.wiki} {date}: dumpstatus.json is not JSON: {err}") from err

    def _pick_job(self, status: dict[str, Any], date: str) -> tuple[str, dict[str, Any]]:
        jobs = status.get("jobs", {})
        for name in JOBS:
            if name in jobs:
                return name, jobs[name]
        raise SourceError(f"{self.wiki} {date}: dumpstatus.json has neither of the jobs {', '.join(JOBS)}")

    def _release(self, downloader: Downloader, date: str, job_name: str, job: dict[str, Any]) -> Release:
        entries = job.get("files", {})
        if not entries:
            raise SourceError(f"{self.wiki} {date}: job {job_name} lists no files")
        published = self._published_hashes(downloader, date) if not any(
            e.get("sha1") or e.get("md5") for e in entries.values()) else {}
        files = []
        for name in sorted(entries):
            entry = entries[name]
            digest = (f"sha1:{entry['sha1']}" if entry.get("sha1") else
                      f"md5:{entry['md5']}" if entry.get("md5") else published.get(name))
            files.append(RemoteFile(f"{self.base_url}{self.wiki}/{date}/{name}", name, entry.get("size"), digest))
        return Release(self.name, f"{self.wiki}-{date}", tuple(files),
                       {"wiki": self.wiki, "date": date, "job": job_name, "base_url": self.base_url})

    def _published_hashes(self, downloader: Downloader, date: str) -> dict[str, str]:
        """Mirrors may drop the hashes from dumpstatus.json; the sha1sums file still has them."""
        url = f"{self.base_url}{self.wiki}/{date}/{self.wiki}-{date}-sha1sums.txt"
        try:
            text = downloader.get_bytes(url).decode()
        except DownloadError:
            log.warning("%s %s: no checksums published; verifying sizes only", self.wiki, date)
            return {}
        return {name: f"sha1:{digest}" for digest, name in
                (line.split(None, 1) for line in text.splitlines() if line.strip())}

    # -- parts ------------------------------------------------------------------------

    def spec(self, dataset: str, release: Release, shards_dir: Path) -> DatasetSpec:
        if dataset != "articles":
            raise ConfigError(f"wikipedia has the dataset 'articles', not {dataset!r}")
        config = {"wiki": self.wiki, "job": release.meta["job"], "splits": self.assigner.fractions,
                  "split_key": "page id", "pages_per_part": self.pages_per_part,
                  "max_page_bytes": self.max_page_bytes, "max_page_seconds": self.max_page_seconds,
                  "max_template_depth": self.max_template_depth, "max_page_nodes": self.max_page_nodes,
                  "keep_math": self.options.keep_math, "cleaner": "mwparserfromhell v1"}
        return DatasetSpec(
            root=shards_dir / self.name / release.version / dataset, source=self.name, dataset=dataset,
            version=release.version, schema=SCHEMA, config=config, license=LICENSE,
            description=f"Plain-text articles (namespace 0, no redirects) of {self.wiki}, dump {release.meta['date']}.",
            target_shard_bytes=self.target_shard_bytes, row_group_bytes=min(96 << 20, self.target_shard_bytes),
            stats=shard_stats, card_section=retention.card_section,
        )

    def parts(self, dataset: str, release: Release) -> list[Part]:
        sha = release.meta["sha256"]
        data = [f.name for f in release.files if not _INDEX.search(f.name) and f.name.endswith(".bz2")]
        parts = []
        for number, name in enumerate(data):
            index = _index_for(name, release)
            inputs = (PartInput(name, sha[name]),) + ((PartInput(index, sha[index]),) if index else ())
            base = {"file": name, "version": release.version}
            if index is None:
                parts.append(Part(f"f{number:03d}", inputs, base))
                continue
            offsets = self._offsets(release, index)
            per_part = max(1, self.pages_per_part // 100)
            for run, first in enumerate(range(0, len(offsets), per_part)):
                parts.append(Part(f"f{number:03d}-r{run:05d}", inputs,
                                  {**base, "index": index, "streams": [first, min(first + per_part, len(offsets))]}))
        return parts

    def _offsets(self, release: Release, index: str) -> np.ndarray:
        """The sorted start offsets of the page streams, from the index (cached as .npy)."""
        cache = self.data_dir.host_work(self.name, release.version) / f"{index}.offsets.npy"
        if cache.exists():
            return np.load(cache)
        offsets = set()
        with bz2.open(self.raw_dir(release) / index, "rt", encoding="utf-8", errors="replace") as lines:
            for line in lines:
                head = line.split(":", 1)[0]  # offset:page_id:title — titles may hold colons
                if head.isdigit():
                    offsets.add(int(head))
        array = np.array(sorted(offsets), dtype=np.int64)
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(".tmp.npy")
        np.save(tmp, array)
        tmp.replace(cache)
        return array

    # -- reading ----------------------------------------------------------------------

    def read_part(self, dataset: str, part: Part, rejects: Rejects) -> Iterator[pa.Table]:
        release = self.load_release(part.options["version"])
        path = self.raw_dir(release) / part.options["file"]
        batch: list[dict[str, Any]] = []
        for row in self._rows(release, part, path, rejects):
            batch.append(row)
            if len(batch) >= BATCH_PAGES:
                yield self._table(batch)
                batch = []
        if batch:
            yield self._table(batch)

    def _rows(self, release: Release, part: Part, path: Path, rejects: Rejects) -> Iterator[dict[str, Any]]:
        site = Siteinfo(site_url(self.wiki))
        with open(path, "rb") as handle:
            if "index" in part.options:
                offsets = self._offsets(release, part.options["index"])
                first, stop = part.options["streams"]
                end = int(offsets[stop]) if stop < len(offsets) else path.stat().st_size
                site = self._siteinfo(handle, path, int(offsets[0])) or site
                records = mediawiki.read_multistream(handle, [int(o) for o in offsets[first:stop]], end,
                                                     self.max_stream_bytes)
            else:
                records = mediawiki.read_stream(bz2.BZ2File(handle))
            for record in records:
                if isinstance(record, Siteinfo):
                    site = record if record.base_url else Siteinfo(site.base_url, record.namespaces)
                elif isinstance(record, mediawiki.Failure):
                    rejects.add(record.key, record.reason, record.detail)
                else:
                    row = self._article(record, site, release, rejects)
                    if row is not None:
                        yield row

    def _siteinfo(self, handle, path: Path, first_offset: int) -> Siteinfo | None:
        if path.name not in self._sites and first_offset > 0:
            handle.seek(0)
            try:
                site = mediawiki.read_siteinfo_stream(handle.read(first_offset), self.max_stream_bytes)
            except Exception as err:  # noqa: BLE001 - a bad header costs the localized prefixes only
                log.warning("%s: unreadable siteinfo stream (%s); using defaults", path.name, err)
                site = None
            if site is not None:
                self._sites[path.name] = site
        return self._sites.get(path.name)

    def _article(self, page: mediawiki.Page, site: Siteinfo, release: Release,
                 rejects: Rejects) -> dict[str, Any] | None:
        if page.ns != 0:
            rejects.add(page.id, "namespace", f"ns {page.ns}: {page.title}")
            return None
        if page.redirect:
            rejects.add(page.id, "redirect", page.title)
            return None
        refused = self._refused(page.text)
        if refused is not None:
            rejects.add(page.id, refused[0], f"{page.title}: {refused[1]}")
            return None
        counts: dict[str, int] = {}
        try:
            with time_limit(self.max_page_seconds):
                text = clean(page.text, site, self.options, counts)
        except PageTimeout:
            rejects.add(page.id, "too_slow", f"{page.title}: interrupted after {self.max_page_seconds}s")
            return None
        except Exception as err:  # noqa: BLE001 - one page's failure must not stop the file
            rejects.add(page.id, "parse_error", f"{page.title}: {type(err).__name__}: {err}")
            return None
        if not text:
            rejects.add(page.id, "empty", page.title)
            return None
        title_path = quote(page.title.replace(" ", "_"), safe="/:()'!,")
        return {"id": page.id, "title": page.title, "text": text,
                "url": f"{site.base_url or site_url(self.wiki)}/wiki/{title_path}",
                "revision_id": page.revision_id, "revision_timestamp": page.timestamp,
                "wiki": self.wiki, "dump_date": release.meta["date"], "license": ROW_LICENSE,
                "words": retention.words(text), "source_words": retention.prose_words(page.text),
                "repairs": [name for name, n in sorted(counts.items()) for _ in range(n)]}

    def _refused(self, text: str) -> tuple[str, str] | None:
        """The deterministic limits, in work units: bytes, template nesting, markup nodes."""
        size = len(text.encode())
        if size > self.max_page_bytes:
            return "too_large", f"{size} bytes"
        if (depth := template_depth(text)) > self.max_template_depth:
            return "too_deep", f"templates nested {depth} deep"
        if (nodes := markup_nodes(text)) > self.max_page_nodes:
            return "too_complex", f"{nodes} markup nodes"
        return None

    def _table(self, rows: list[dict[str, Any]]) -> pa.Table:
        table = pa.Table.from_pylist(rows, schema=SCHEMA)
        splits = self.assigner.of_ints(table.column("id").to_numpy())
        return table.append_column(SPLIT_COLUMN, pa.array(splits, pa.string()))


def _index_for(data_name: str, release: Release) -> str | None:
    """``...-multistream3.xml-p1p9.bz2`` ↔ ``...-multistream-index3.txt-p1p9.bz2``."""
    if "multistream" not in data_name:
        return None
    wanted = re.sub(r"multistream(\d*)\.xml", r"multistream-index\1.txt", data_name)
    return wanted if any(f.name == wanted for f in release.files) else None
