"""The MediaWiki XML readers: schema versions, siteinfo or not, corrupt streams, bombs."""

from __future__ import annotations

import bz2
import io

import pytest

from pipeline.formats.mediawiki import dump as mediawiki
from tests.fixtures.wikipedia_upstream import build_pages, header, page_xml


def document(version: float, siteinfo: bool) -> bytes:
    pages, _ = build_pages(5, seed=1, ugly=True)
    return (header("simplewiki", version, siteinfo) + "".join(page_xml(p) for p in pages) + "</mediawiki>\n").encode()


@pytest.mark.parametrize("version", [0.10, 0.11])
@pytest.mark.parametrize("siteinfo", [True, False])
def test_stream_reader_handles_both_schemas_with_or_without_siteinfo(version, siteinfo):
    records = list(mediawiki.read_stream(io.BytesIO(document(version, siteinfo))))
    sites = [r for r in records if isinstance(r, mediawiki.Siteinfo)]
    pages = [r for r in records if isinstance(r, mediawiki.Page)]
    assert len(sites) == (1 if siteinfo else 0)
    if siteinfo:
        assert sites[0].base_url == "https://simple.wikipedia.org" and sites[0].namespaces[14] == "Category"
    assert len(pages) == 13
    redirect = next(p for p in pages if p.title == "Old name")
    assert redirect.redirect and not pages[0].redirect
    assert {p.ns for p in pages} == {0, 1, 14}
    assert pages[0].revision_id == 1010 and pages[0].timestamp.isoformat() == "2026-10-11T12:00:00+00:00"
    assert "{{Infobox settlement" in pages[0].text


def test_truncated_xml_is_a_counted_failure_not_a_crash():
    data = document(0.11, True)
    records = list(mediawiki.read_stream(io.BytesIO(data[: len(data) // 2] + b"<<<garbage")))
    assert isinstance(records[-1], mediawiki.Failure) and records[-1].reason == "xml_error"
    assert any(isinstance(r, mediawiki.Page) for r in records)


def multistream(pages_per_stream: int = 4) -> tuple[bytes, list[int]]:
    pages, _ = build_pages(10, seed=2, ugly=False)
    streams, offsets, offset = [bz2.compress(header("simplewiki", 0.11, True).encode())], [], 0
    offset = len(streams[0])
    for start in range(0, len(pages), pages_per_stream):
        body = "".join(page_xml(p) for p in pages[start:start + pages_per_stream])
        if start + pages_per_stream >= len(pages):
            body += "</mediawiki>\n"
        streams.append(bz2.compress(body.encode()))
        offsets.append(offset)
        offset += len(streams[-1])
    return b"".join(streams), offsets


def test_multistream_ranges_read_each_stream_alone():
    data, offsets = multistream()
    everything = list(mediawiki.read_multistream(io.BytesIO(data), offsets, len(data), 1 << 20))
    assert [p.id for p in everything] == list(range(10, 20))
    middle = list(mediawiki.read_multistream(io.BytesIO(data), offsets[1:2], offsets[2], 1 << 20))
    assert [p.id for p in middle] == [14, 15, 16, 17]
    site = mediawiki.read_siteinfo_stream(data[: offsets[0]], 1 << 20)
    assert site.namespaces[6] == "File"


def test_corrupt_stream_costs_only_its_own_pages():
    data, offsets = multistream()
    broken = bytearray(data)
    broken[offsets[1] + 40] ^= 0xFF
    records = list(mediawiki.read_multistream(io.BytesIO(bytes(broken)), offsets, len(data), 1 << 20))
    failures = [r for r in records if isinstance(r, mediawiki.Failure)]
    assert len(failures) == 1 and failures[0].reason == "corrupt_stream" and failures[0].key == f"stream@{offsets[1]}"
    assert [r.id for r in records if isinstance(r, mediawiki.Page)] == [10, 11, 12, 13, 18, 19]


def test_decompression_bomb_stream_is_refused():
    bomb = bz2.compress(b"<page>" + b"a" * (8 << 20) + b"</page>")
    records = list(mediawiki.read_multistream(io.BytesIO(bomb), [0], len(bomb), max_stream_bytes=1 << 20))
    assert len(records) == 1 and records[0].reason == "too_large"
