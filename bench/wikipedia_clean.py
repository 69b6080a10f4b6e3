"""Wikipedia text extraction per core, both formats: datamill (wikitext, HTML) against WikiExtractor, same pages, same run.

Every generated page exists as wikitext (in a pages-articles XML file all wikitext tools read
from disk, decompressed: bz2 costs them the same) and as the HTML MediaWiki renders for it
(the Enterprise dump's ``article_body.html``). On one thread, CPU time measured, it reports:

- pages/s per core for datamill's wikitext cleaner, datamill's HTML stage and WikiExtractor;
- words retained: for each page, the share of the HTML text's words (as a multiset) that the
  wikitext output also has, summed over pages — the HTML text is what MediaWiki rendered, so
  this is what a wikitext cleaner drops (goal ≥ 98%);
- residue: pages whose output still holds markup (wiki syntax, HTML tags, entities; goal ≤ 1%),
  and of those, the pages whose MediaWiki-rendered text has none (text a page shows on purpose,
  such as a literal ``{{`` inside ``<nowiki>``, reads as residue in both and is not a cleaner's fault);
- the same at a tenth of the pages, so the per-page cost is seen to stay flat.

    .venv/bin/python -m bench.wikipedia_clean [--pages 1500]    (needs the `bench` extra: wikiextractor)
"""

from __future__ import annotations

import argparse
import io
import random
import tempfile
import time
from collections import Counter
from pathlib import Path

from bench.wiki_pages import article
from pipeline.formats.mediawiki import dump as mediawiki
from pipeline.formats.mediawiki.html import article_text
from pipeline.formats.mediawiki.retention import _WORD
from pipeline.formats.mediawiki.wikitext import Siteinfo, clean, has_residue
from tests.fixtures.wikipedia_upstream import WikiPage, header, page_xml


def make_dump(path: Path, pages: int) -> tuple[int, list[str]]:
    rng = random.Random(3)
    body, htmls = 0, []
    with open(path, "w", encoding="utf-8") as out:
        out.write(header("enwiki", 0.11, True))
        for i in range(pages):
            text, html = article(rng, f"Place {i}")
            body += len(text.encode())
            htmls.append(html)
            out.write(page_xml(WikiPage(100 + i, f"Place {i}", text, revision_id=5000 + i)))
        out.write("</mediawiki>\n")
    return body, htmls


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


def datamill_html(htmls: list[str]) -> list[str]:
    return [article_text(html)[0] for html in htmls]


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


def timed(fn, arg) -> tuple[float, list[str]]:
    start = time.process_time()
    texts = fn(arg)
    return time.process_time() - start, texts


def retained(texts: list[str], reference: list[str]) -> float:
    """Share of the reference's words (per page, as multisets) that ``texts`` also has."""
    kept = total = 0
    for ours, theirs in zip(texts, reference):
        want = Counter(_WORD.findall(theirs))
        kept += sum((Counter(_WORD.findall(ours)) & want).values())
        total += sum(want.values())
    return kept / max(1, total)


def run(pages: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "enwiki-pages-articles.xml"
        wikitext, htmls = make_dump(path, pages)
        html_mb = sum(len(h.encode()) for h in htmls) / 1e6
        print(f"\ninput: {pages:,} generated enwiki-like pages, {wikitext / 1e6:.1f} MB of wikitext, {html_mb:.1f} MB of HTML")
        results = {"datamill wikitext": timed(datamill, path), "datamill html": timed(datamill_html, htmls),
                   "wikiextractor": timed(wikiextractor, path)}
    reference = results["datamill html"][1]
    for name, (seconds, texts) in results.items():
        residue = sum(map(has_residue, texts)) / max(1, len(texts))
        beyond = sum(has_residue(t) and not has_residue(r) for t, r in zip(texts, reference)) / max(1, len(texts))
        share = "(reference)" if name == "datamill html" else f"{retained(texts, reference):.2%}"
        print(f"{name:18s}: {len(texts) / seconds:8.1f} pages/s per core  {seconds * 1e3 / len(texts):6.2f} ms/page  "
              f"words retained vs HTML {share:>11s}  residue {residue:.2%} ({beyond:.2%} beyond MediaWiki's own)  "
              f"({len(texts)} pages, {seconds:.1f} s CPU)")
    ours, theirs = results["datamill wikitext"][0], results["wikiextractor"][0]
    print(f"datamill wikitext throughput / WikiExtractor: {theirs / ours:.2f}x; "
          f"HTML stage / wikitext cleaner: {ours / results['datamill html'][0]:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pages", type=int, default=1500)
    args = parser.parse_args()
    for pages in (max(1, args.pages // 10), args.pages):
        run(pages)


if __name__ == "__main__":
    main()
