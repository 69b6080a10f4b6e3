"""WARC → text, documents/s per core: datamill (fastwarc + resiliparse) against datatrove (WarcReader + Trafilatura).

Both read the same generated .warc.gz (one gzip member per record: request, response,
metadata, as CommonCrawl writes them) and turn every HTML response into main-content
text. CPU time includes child processes (datatrove runs Trafilatura in a sandbox process).

    .venv/bin/python -m bench.commoncrawl_extract [--pages 3000]    (needs the `bench` extra: datatrove)
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
from pathlib import Path

from fastwarc.warc import WarcRecordType

from pipeline.sources.commoncrawl import CommonCrawl
from pipeline.formats.warc import Failure, iter_records
from tests.fixtures.commoncrawl_upstream import html_page, prose, response, warcinfo


def make_warc(path: Path, pages: int) -> int:
    rng = random.Random(9)
    size = 0
    with open(path, "wb") as out:
        out.write(warcinfo(rng, path.name))
        for i in range(pages):
            # A page like a real one: navigation, sidebars and a footer around a few paragraphs.
            body = prose(rng, "en", rng.randint(10, 40))
            sidebar = "".join(f"<li><a href='/tag/{j}'>Tag {j}</a></li>" for j in range(rng.randint(20, 80)))
            page = html_page(f"Article {i}", body).replace("<main>", f"<aside><ul>{sidebar}</ul></aside><main>")
            page = page.replace("</body>", "<script>var x = 1;" + "x++;" * rng.randint(50, 400) + "</script></body>")
            for member in response(rng, f"https://site{i % 50}.example/article/{i}", 200,
                                   "text/html; charset=utf-8", page.encode(), "eng"):
                out.write(member)
            size += len(page)
    return size


def datamill(path: Path) -> int:
    source = CommonCrawl(data_dir=path.parent, mode="warc")
    documents = 0
    for item in iter_records(path, source._warc_record, record_types=WarcRecordType.response):
        if not isinstance(item, Failure) and item["text"].strip():
            documents += 1
    return documents


def datatrove(path: Path) -> int:
    from datatrove.pipeline.extractors import Trafilatura
    from datatrove.pipeline.readers import WarcReader

    reader = WarcReader(str(path.parent), glob_pattern=path.name)
    extractor = Trafilatura(favour_precision=True, timeout=10.0)
    return sum(1 for doc in extractor.run(reader.run()) if doc.text.strip())


def cpu_seconds(fn, path: Path) -> tuple[float, int]:
    before = os.times()
    documents = fn(path)
    after = os.times()
    used = sum(getattr(after, f) - getattr(before, f)
               for f in ("user", "system", "children_user", "children_system"))
    return used, documents


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pages", type=int, default=3000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "CC-MAIN-bench-00000.warc.gz"
        html_bytes = make_warc(path, args.pages)
        print(f"input: {args.pages} HTML responses ({html_bytes / 1e6:.1f} MB of HTML), "
              f"{path.stat().st_size / 1e6:.1f} MB .warc.gz with request and metadata records")
        ours, ours_docs = cpu_seconds(datamill, path)
        theirs, their_docs = cpu_seconds(datatrove, path)
    print(f"datamill (fastwarc + resiliparse)     : {ours_docs / ours:8.1f} docs/s per core ({ours_docs} docs)")
    print(f"datatrove (WarcReader + Trafilatura)  : {their_docs / theirs:8.1f} docs/s per core ({their_docs} docs)")
    print(f"datamill / datatrove: {(ours_docs / ours) / (their_docs / theirs):.2f}x")


if __name__ == "__main__":
    main()
