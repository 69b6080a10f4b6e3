"""Wikipedia from the Wikimedia Enterprise HTML dumps: articles as MediaWiki itself rendered them.

discover: ``other/enterprise_html/runs/<date>/<wiki>-NS0-<date>-ENTERPRISE-HTML.json.tar.gz``
(``latest`` = the newest run that has the wiki's file); the listing's size when it shows one,
no checksum (none is published). The file is a gzipped tar of ``<wiki>_<N>.ndjson`` files
and is read as a stream (tar stream mode over gzip), never extracted. A gzip stream cannot
be entered in the middle, so parallel parts are *slices*: every part streams the whole file
and keeps the articles whose line number falls on its residue (decompression is cheap next
to HTML parsing). Rows have the XML format's schema, so both can be compared page by page.
"""

from __future__ import annotations

import json
import re
import tarfile
from datetime import datetime
from pathlib import Path
from typing import Any, Iterator

from pipeline.acquire.download import Downloader, RemoteFile
from pipeline.errors import UpstreamNotReady
from pipeline.store.shards import DatasetSpec, Part, PartInput, Rejects
from pipeline.sources.base import Release
from pipeline.sources.wikipedia import ROW_LICENSE, SCHEMA, Wikipedia, shard_stats
from pipeline.formats.mediawiki.guard import PageTimeout, time_limit
from pipeline.formats.mediawiki.html import article_text
from pipeline.formats.mediawiki.retention import card_section, words

RUNS = "other/enterprise_html/runs"
SLICE_BYTES = 2 << 30  # one slice per this much compressed input, when not given


def dump_name(wiki: str, date: str) -> str:
    return f"{wiki}-NS0-{date}-ENTERPRISE-HTML.json.tar.gz"


class WikipediaHTML(Wikipedia):
    """One wiki's Enterprise HTML dump (see the module docstring)."""

    name = "wikipedia_html"

    def __init__(self, *args: Any, slices: int = 0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.slices = slices

    def discover(self, downloader: Downloader, version: str | None = None) -> Release:
        date = (version or self.date).removeprefix(self.release_prefix)
        runs = f"{self.base_url}{RUNS}/"
        dates = [date] if date != "latest" else sorted(set(re.findall(r'href="(\d{8})/?"', self._listing(downloader, runs))),
                                                       reverse=True)[:6]
        name = ""
        for candidate in dates:
            name = dump_name(self.wiki, candidate)
            size = self._listed(downloader, f"{runs}{candidate}/", name)
            if size is not False:
                remote = RemoteFile(f"{runs}{candidate}/{name}", name, size or None, None)
                return Release(self.name, f"{self.wiki}-{candidate}", (remote,),
                               {"wiki": self.wiki, "date": candidate, "job": "enterprise_html", "base_url": self.base_url})
        raise UpstreamNotReady(f"{self.wiki}: no Enterprise HTML dump {name or dump_name(self.wiki, date)} "
                               f"under {runs} (runs tried: {', '.join(dates) or 'none'})")

    def _listing(self, downloader: Downloader, url: str) -> str:
        return downloader.get_bytes(url).decode("utf-8", "replace")

    def _listed(self, downloader: Downloader, url: str, name: str) -> int | None | bool:
        """The file's size from the run's listing (None when not shown), or False when it is not there."""
        try:
            listing = self._listing(downloader, url)
        except Exception:  # noqa: BLE001 - a run directory that is missing or unreadable has no dump for us
            return False
        found = re.search(rf'href="{re.escape(name)}"[^\n]*?(\d+)\s*$', listing, re.M)
        if found:
            return int(found.group(1))
        return None if f'href="{name}"' in listing else False

    def spec(self, dataset: str, release: Release, shards_dir: Path) -> DatasetSpec:
        base = super().spec(dataset, release, shards_dir)
        config = {k: v for k, v in base.config.items() if k not in ("keep_math", "max_template_depth", "max_page_nodes")}
        config |= {"format": "enterprise_html", "slices": self._slices(release), "cleaner": "resiliparse + wikihtml v1"}
        return DatasetSpec(
            root=shards_dir / self.name / release.version / dataset, source=self.name, dataset=dataset,
            version=release.version, schema=SCHEMA, config=config, license=base.license,
            description=(f"Plain-text articles of {self.wiki} from the MediaWiki-rendered HTML "
                         f"(Wikimedia Enterprise dump {release.meta['date']})."),
            target_shard_bytes=self.target_shard_bytes, row_group_bytes=base.row_group_bytes,
            stats=shard_stats, card_section=card_section,
        )

    def _slices(self, release: Release) -> int:
        if self.slices > 0:
            return self.slices
        size = release.files[0].size or 0
        return max(1, min(64, -(-size // SLICE_BYTES)))

    def parts(self, dataset: str, release: Release, *args: Any) -> list[Part]:
        name, count = release.files[0].name, self._slices(release)
        inputs = (PartInput(name, release.meta["sha256"][name]),)
        return [Part(f"f000-s{k:03d}", inputs, {"file": name, "version": release.version, "slice": [k, count]})
                for k in range(count)]

    def _rows(self, release: Release, part: Part, path: Path, rejects: Rejects) -> Iterator[dict[str, Any]]:
        mine, count = part.options["slice"]
        for number, line in enumerate(_lines(path, rejects)):
            if number % count != mine:
                continue
            try:
                record = json.loads(line)
            except ValueError as err:
                rejects.add(f"line {number}", "bad_record", f"not JSON: {err}")
                continue
            row = self._html_article(record, release, rejects)
            if row is not None:
                yield row

    def _html_article(self, record: dict[str, Any], release: Release, rejects: Rejects) -> dict[str, Any] | None:
        page_id, title = record.get("identifier"), str(record.get("name", ""))
        html = (record.get("article_body") or {}).get("html") or ""
        if not isinstance(page_id, int):
            rejects.add(title[:200], "bad_record", "no integer identifier")
            return None
        if (record.get("namespace") or {}).get("identifier", 0) != 0:
            rejects.add(page_id, "namespace", f"ns {record['namespace'].get('identifier')}: {title}")
            return None
        if len(html.encode()) > self.max_page_bytes:
            rejects.add(page_id, "too_large", f"{title}: {len(html.encode())} bytes of HTML")
            return None
        try:
            with time_limit(self.max_page_seconds):
                text, source_words = article_text(html)
        except PageTimeout:
            rejects.add(page_id, "too_slow", f"{title}: interrupted after {self.max_page_seconds}s")
            return None
        if not text:
            rejects.add(page_id, "empty", title)
            return None
        return {"id": page_id, "title": title, "text": text, "url": record.get("url"),
                "revision_id": (record.get("version") or {}).get("identifier"),
                "revision_timestamp": _timestamp(record.get("date_modified")),
                "wiki": (record.get("is_part_of") or {}).get("identifier") or self.wiki,
                "dump_date": release.meta["date"], "license": ROW_LICENSE,
                "words": words(text), "source_words": source_words, "repairs": []}


def _lines(path: Path, rejects: Rejects) -> Iterator[bytes]:
    """Every line of every ``.ndjson`` member, streamed out of the gzipped tar."""
    try:
        with tarfile.open(path, mode="r|gz") as archive:
            for member in archive:
                if not member.isfile() or not member.name.endswith(".ndjson"):
                    continue
                handle = archive.extractfile(member)
                if handle is not None:
                    yield from handle
    except (tarfile.TarError, OSError, EOFError) as err:
        rejects.add(path.name, "corrupt_archive", f"the rest of the file is unreadable: {err}")


def _timestamp(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")) if value else None
    except ValueError:
        return None
