"""Wikipedia from the Enterprise HTML dumps: discovery, streaming the tar.gz, slices, Wikipedia box removal."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline import build
from pipeline.acquire.download import RetryPolicy
from pipeline.errors import UpstreamNotReady
from pipeline.store.shards import load_manifest, read_split
from pipeline.sources.wikipedia_html import WikipediaHTML
from pipeline.formats.mediawiki.html import article_text
from tests.fixtures.wikipedia_html_upstream import html_name, write_html_dump

FAST = RetryPolicy(attempts=2, base=0.01, cap=0.02)


@pytest.fixture(scope="module")
def expected(upstream):
    mirror = upstream / "wikimedia"
    got = write_html_dump(mirror, "simplewiki", "20261101")
    write_html_dump(mirror, "dewiki", "20261120")  # a newer run without simplewiki in it
    return got


def make(server, data: Path, **kw) -> WikipediaHTML:
    return WikipediaHTML(data_dir=data, mirror=server.url + "wikimedia/", max_page_bytes=100_000, **kw)


def articles(data: Path) -> Path:
    return data / "shards" / "wikipedia_html" / "simplewiki-20261101" / "articles"


@pytest.fixture(scope="module")
def built(server, expected, tmp_path_factory) -> Path:
    data = tmp_path_factory.mktemp("wikihtml")
    build.build(make(server, data, slices=3), data, progress=False, policy=FAST, max_workers=2)
    return data


def test_latest_is_the_newest_run_that_has_the_wiki(server, tmp_path, expected):
    release = build.discover(make(server, tmp_path), policy=FAST)
    assert release.version == "simplewiki-20261101" and [f.name for f in release.files] == [html_name("simplewiki", "20261101")]
    assert release.files[0].url.endswith("/other/enterprise_html/runs/20261101/simplewiki-NS0-20261101-ENTERPRISE-HTML.json.tar.gz")
    with pytest.raises(UpstreamNotReady, match="no Enterprise HTML dump"):
        build.discover(make(server, tmp_path, date="20261120"), policy=FAST)


def test_articles_are_the_rendered_prose_without_boxes(built, expected):
    rows = {r["id"]: r for r in read_split(articles(built)).to_pylist()}
    assert set(rows) == set(expected.articles)
    for page_id, phrases in expected.must_keep.items():
        for phrase in phrases:
            assert phrase in rows[page_id]["text"], (page_id, phrase, rows[page_id]["text"])
    for row in rows.values():
        for junk in expected.must_drop:
            assert junk not in row["text"], (row["title"], junk)
    assert rows[10]["revision_id"] == 1010 and rows[10]["url"] == "https://simple.wikipedia.org/wiki/Arden"
    assert rows[10]["wiki"] == "simplewiki" and rows[10]["license"] == "CC BY-SA 4.0"
    assert rows[10]["revision_timestamp"].isoformat() == "2026-10-11T12:00:00+00:00"
    assert rows[10]["source_words"] >= rows[10]["words"] > 30


def test_slices_cover_every_article_once_and_drops_are_counted(built, expected):
    manifest = load_manifest(articles(built))
    assert sorted(manifest["parts"]) == ["f000-s000", "f000-s001", "f000-s002"]
    assert manifest["totals"]["rows"] == len(expected.articles)
    assert manifest["totals"]["drops"] == expected.drops
    assert manifest["config"]["format"] == "enterprise_html"
    assert "## Prose retention" in (articles(built) / "README.md").read_text()


def test_the_dump_is_streamed_not_extracted(built):
    raw = built / "raw" / "wikipedia_html" / "simplewiki-20261101"
    assert not [p for p in raw.rglob("*.ndjson")]


def test_same_schema_as_the_xml_format_page_by_page(built, server, tmp_path_factory):
    from pipeline.sources.wikipedia import Wikipedia

    data = tmp_path_factory.mktemp("wikixml")
    build.build(Wikipedia(data_dir=data, mirror=server.url + "wikimedia/", date="20261101", max_page_bytes=100_000),
                data, progress=False, policy=FAST)
    xml = read_split(data / "shards" / "wikipedia" / "simplewiki-20261101" / "articles").sort_by("id")
    html = read_split(articles(built)).sort_by("id")
    assert xml.schema.equals(html.schema)
    assert xml.column("id").to_pylist() == html.column("id").to_pylist()


def test_wikipedia_boxes_references_and_figures_go_lists_and_scripts_stay():
    page = ("<html><body><section><table class='infobox'><tr><td>Box words</td></tr></table>"
            "<div role='note' class='hatnote'>For other uses, see X.</div>"
            "<p>Lead <b>sentence</b> here.<sup class='mw-ref reference'><a>[1]</a></sup> Area 5&nbsp;km<sup>2</sup>; "
            "water is H<sub>2</sub>O.</p><ul><li>An item of a list.</li></ul>"
            "<figure><img/><figcaption>Caption words</figcaption></figure>"
            "<div class='navbox' role='navigation'>Nav words</div>"
            "<div class='mw-references-wrap'><ol class='references'><li>Cited work</li></ol></div></section></body></html>")
    text, source = article_text(page)
    assert text == "Lead sentence here. Area 5 km²; water is H₂O.\n\nAn item of a list."
    assert source >= 8 + 5 + 2 + 2 + 5  # counted before removal: the text and list, the box, the refs, the hatnote


def test_a_truncated_archive_keeps_what_came_before_and_counts_the_rest(tmp_path, expected, upstream):
    from pipeline.store.shards import Rejects
    from pipeline.sources.wikipedia_html import _lines

    whole = (upstream / "wikimedia" / "other/enterprise_html/runs/20261101" / html_name("simplewiki", "20261101")).read_bytes()
    cut = tmp_path / "cut.json.tar.gz"
    cut.write_bytes(whole[: len(whole) * 2 // 3])
    rejects = Rejects("p0")
    lines = list(_lines(cut, rejects))
    assert 0 < len(lines) < 45 and dict(rejects.counts) == {"corrupt_archive": 1}


def test_records_outside_namespace_0_or_without_an_id_are_dropped(tmp_path):
    from pipeline.store.shards import Rejects
    from pipeline.sources.base import Release

    source = WikipediaHTML(data_dir=tmp_path)
    release = Release("wikipedia_html", "simplewiki-20261101", (), {"date": "20261101"})
    rejects = Rejects("p0")
    body = {"html": "<html><body><p>Some words here.</p></body></html>"}
    assert source._html_article({"identifier": 5, "name": "Talk:X", "namespace": {"identifier": 1},
                                 "article_body": body}, release, rejects) is None
    assert source._html_article({"name": "No id", "article_body": body}, release, rejects) is None
    row = source._html_article({"identifier": 6, "name": "X", "article_body": body}, release, rejects)
    assert row["text"] == "Some words here." and row["words"] == 3
    assert dict(rejects.counts) == {"namespace": 1, "bad_record": 1}
