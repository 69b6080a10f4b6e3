"""Wikipedia text extraction per core: datamill against WikiExtractor on the same dump, same run.

Both read the same decompressed pages-articles XML from disk (the bz2 cost is the same
for both and left out), keep namespace-0 non-redirect pages, and turn wikitext into
plain text on one thread. Reports pages/s, wikitext MB/s and each tool's residue rate
(pages whose output still holds markup such as ``{{``, ``[[``, ``<ref``, ``'''``).

    .venv/bin/python -m bench.wikipedia_clean [--pages 1500]    (needs the `bench` extra: wikiextractor)
"""

from __future__ import annotations

import argparse
import io
import random
import tempfile
import time
from pathlib import Path

from bench.wiki_pages import article
from pipeline import mediawiki
from pipeline.wikitext import Siteinfo, clean, has_residue
from tests.fixtures.wikipedia_upstream import WikiPage, header, page_xml


def make_dump(path: Path, pages: int) -> int:
    rng = random.Random(3)
    body = 0
    with open(path, "w", encoding="utf-8") as out:
        out.write(header("enwiki", 0.11, True))
        for i in range(pages):
            text = article(rng, f"Place {i}")
            body += len(text.encode())
            out.write(page_xml(WikiPage(100 + i, f"Place {i}", text, revision_id=5000 + i)))
        out.write("</mediawiki>\n")
    return body


def datamill(path: Path) -> list[str]:
    site = Siteinfo("https://en.wikipedia.org")
    texts = []
    with open(path, "rb") as handle:
        for record in mediawiki.read_stream(handle):
            if isinstance(record, Siteinfo):
                site = record
            elif isinstance(record, mediawiki.Page) and record.ns == 0 and not record.redirect:
                texts.append(clean(record.text, site))
    return texts


def wikiextractor(path: Path) -> list[str]:
    from wikiextractor import WikiExtractor
    from wikiextractor.extract import Extractor
    from wikiextractor.WikiExtractor import collect_pages

    WikiExtractor.templateNamespace = "Template"  # what process_dump reads from <siteinfo> (key 10)
    texts = []
    with open(path, encoding="utf-8") as lines:
        for page_id, revid, title, page in collect_pages(lines):
            out = io.StringIO()
            Extractor(page_id, revid, "https://en.wikipedia.org/wiki/", title, page, to_text=True).extract(out)
            texts.append(out.getvalue())
    return texts


def timed(fn, path: Path) -> tuple[float, list[str]]:
    start = time.process_time()
    texts = fn(path)
    return time.process_time() - start, texts


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pages", type=int, default=1500)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "enwiki-pages-articles.xml"
        wikitext = make_dump(path, args.pages)
        print(f"input: {args.pages:,} generated enwiki-like pages, {wikitext / 1e6:.1f} MB of wikitext")
        results = {name: timed(fn, path) for name, fn in (("datamill", datamill), ("wikiextractor", wikiextractor))}
    for name, (seconds, texts) in results.items():
        residue = sum(map(has_residue, texts)) / max(1, len(texts))
        print(f"{name:14s}: {len(texts) / seconds:8.1f} pages/s  {wikitext / seconds / 1e6:6.2f} MB/s per core  "
              f"residue {residue:.2%}  ({len(texts)} pages, {seconds:.1f} s CPU)")
    ours, theirs = results["datamill"][0], results["wikiextractor"][0]
    print(f"datamill throughput / WikiExtractor: {theirs / ours:.2f}x")


if __name__ == "__main__":
    main()
