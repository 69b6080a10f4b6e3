"""Wikipedia end to end against the local server: dumpstatus, jobs, verification, parts, cleaning."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from pipeline import build
from pipeline.acquire.download import RetryPolicy
from pipeline.errors import ChecksumMismatch, ConfigError, UpstreamNotReady
from pipeline.store.shards import load_manifest, read_split
from pipeline.sources.wikipedia import Wikipedia, site_url
from tests.fixtures.wikipedia_upstream import build_pages

FAST = RetryPolicy(attempts=2, base=0.01, cap=0.02)


@pytest.fixture(scope="module")
def expected():
    return build_pages(40, seed=5, ugly=True)[1]


def make(server, data: Path, **kw) -> Wikipedia:
    return Wikipedia(data_dir=data, mirror=server.url + "wikimedia/", max_page_bytes=100_000, **kw)


def articles(data: Path, version: str) -> Path:
    return data / "shards" / "wikipedia" / version / "articles"


@pytest.fixture(scope="module")
def built(server, tmp_path_factory) -> Path:
    data = tmp_path_factory.mktemp("wiki")
    build.build(make(server, data, pages_per_part=200), data, progress=False, policy=FAST, max_workers=2)
    return data


def test_latest_skips_unfinished_runs_and_uses_the_multistream_job(built):
    release = build.load_release(built, "wikipedia", prefix="simplewiki-")
    assert release.version == "simplewiki-20261101"
    assert release.meta["job"] == "articlesmultistreamdump"
    assert all(f.checksum.startswith("sha1:") for f in release.files)


def test_articles_are_clean_and_complete(built, expected):
    rows = {r["id"]: r for r in read_split(articles(built, "simplewiki-20261101")).to_pylist()}
    assert set(rows) == set(expected.articles)
    for page_id, phrases in expected.must_keep.items():
        for phrase in phrases:
            assert phrase in rows[page_id]["text"], (page_id, phrase)
    for row in rows.values():
        for junk in expected.must_drop:
            assert junk not in row["text"], (row["title"], junk)
    star = next(r for r in rows.values() if r["title"].startswith("Star Wars:"))
    assert star["url"] == "https://simple.wikipedia.org/wiki/Star_Wars:_Episode_IV_%E2%80%93_A_New_Hope"
    assert rows[10]["revision_id"] == 1010 and rows[10]["license"] == "CC BY-SA 4.0"
    assert rows[10]["dump_date"] == "20261101" and rows[10]["wiki"] == "simplewiki"


def test_drops_and_residue_are_in_the_manifest(built, expected):
    manifest = load_manifest(articles(built, "simplewiki-20261101"))
    assert manifest["totals"]["drops"] == expected.drops
    assert all("residue_pages" in s["stats"] for s in manifest["shards"])
    assert manifest["totals"]["stats"]["residue_pages"] == 0
    assert len(manifest["parts"]) == 3, "50 pages at 10 per stream, 2 streams per part"
    rejects = pq.read_table(articles(built, "simplewiki-20261101") / manifest["parts"]["f000-r00002"]["rejects"])
    assert "redirect" in rejects.column("reason").to_pylist()
    assert "residue" in (articles(built, "simplewiki-20261101") / "README.md").read_text()


def test_single_stream_dump_without_siteinfo_schema_010(server, tmp_path, expected, built):
    build.build(make(server, tmp_path, wiki="dewiki", date="20261101"), tmp_path, progress=False, policy=FAST)
    release = build.load_release(tmp_path, "wikipedia", prefix="dewiki-")
    assert release.meta["job"] == "articlesdump"
    rows = read_split(articles(tmp_path, "dewiki-20261101")).to_pylist()
    assert {r["id"] for r in rows} == set(expected.articles)
    assert rows[0]["url"].startswith("https://de.wikipedia.org/wiki/")
    multistream = read_split(articles(built, "simplewiki-20261101"), columns=["id", "text"]).sort_by("id")
    single = read_split(articles(tmp_path, "dewiki-20261101"), columns=["id", "text"]).sort_by("id")
    assert single.equals(multistream), "both readers must give the same text"


def test_mirror_without_hashes_falls_back_to_sha1sums(server, tmp_path):
    release = build.discover(make(server, tmp_path, wiki="frwiki", date="20261101"), policy=FAST)
    assert all(f.checksum and f.checksum.startswith("sha1:") for f in release.files)


def test_unfinished_job_is_refused(server, tmp_path):
    with pytest.raises(UpstreamNotReady, match="in-progress"):
        build.discover(make(server, tmp_path, date="20261120"), policy=FAST)
    with pytest.raises(UpstreamNotReady, match="failed"):
        build.discover(make(server, tmp_path, wiki="itwiki", date="20261101"), policy=FAST)


def test_checksum_mismatch_stops_before_sharding(server, tmp_path):
    with pytest.raises(ChecksumMismatch, match="sha1 mismatch"):
        build.build(make(server, tmp_path, wiki="enwiki", date="20261101"), tmp_path, progress=False, policy=FAST)
    run = tmp_path / "raw" / "wikipedia" / "enwiki-20261101"
    assert (run / "enwiki-20261101-pages-articles-multistream.xml.bz2.bad").exists()
    assert not (run / "enwiki-20261101-pages-articles-multistream.xml.bz2").exists()
    assert not (tmp_path / "shards").exists()


def test_bad_options_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="--wiki"):
        Wikipedia(data_dir=tmp_path, wiki="en.wikipedia")
    with pytest.raises(ConfigError, match="--date"):
        Wikipedia(data_dir=tmp_path, date="2026-11-01")


def test_site_urls():
    assert site_url("zh_yuewiki") == "https://zh-yue.wikipedia.org"
    assert site_url("enwiktionary") == "https://en.wiktionary.org"


def test_residue_stats_count_pages_with_markup():
    import pyarrow as pa

    from pipeline.sources.wikipedia import residue_stats

    table = pa.table({"text": ["clean text", "left {{over", "a [[link", "fine", "x '''bold", 'a <div class="x"> b',
                               "a <span>b", "x &amp; y", "3 < 4 > 2, R&D"]})
    assert residue_stats(table) == {"residue_pages": 6}


def test_cli_builds_a_wiki_by_name_and_date(server, tmp_path):
    from tests.test_cli import datamill

    got = datamill("build", "wikipedia", "--wiki", "dewiki", "--date", "20261101", "--data-dir", str(tmp_path),
                   "--mirror", server.url + "wikimedia/", "--max-page-mb", "0.1", "--quiet")
    assert got.returncode == 0, got.stderr
    assert "wikipedia/articles dewiki-20261101: 43 rows" in got.stdout
    got = datamill("shard", "wikipedia", "--wiki", "dewiki", "--data-dir", str(tmp_path), "--max-page-mb", "0.1",
                   "--quiet")
    assert got.returncode == 0 and "43 rows" in got.stdout, got.stderr
    got = datamill("download", "wikipedia", "--wiki", "itwiki", "--date", "20261101", "--data-dir", str(tmp_path),
                   "--mirror", server.url + "wikimedia/")
    assert got.returncode == 1 and "failed" in got.stderr and "not done" in got.stderr


def test_card_has_a_text_length_histogram(built):
    import re

    root = articles(built, "simplewiki-20261101")
    plot = re.search(r"\((_plots/[^)]*text_length\.png)\)", (root / "README.md").read_text())
    assert plot and (root / plot.group(1)).exists()


def test_prose_retention_is_in_the_manifest_and_the_card(built, expected):
    root = articles(built, "simplewiki-20261101")
    manifest = load_manifest(root)
    totals = manifest["totals"]["stats"]
    assert totals["words"] > 0.95 * totals["source_words"] > 1000
    assert all({"words", "source_words", "reduced_pages"} <= set(s["stats"]) for s in manifest["shards"])
    card = (root / "README.md").read_text()
    assert "## Prose retention" in card and "| id | title | words | estimated | kept |" in card
    rows = read_split(root, columns=["id", "words", "source_words", "repairs"]).to_pylist()
    broken = next(r for r in rows if r["id"] == 52)  # "Broken template" ends in an unclosed <ref>
    assert broken["repairs"] == ["unclosed_ref"] and totals["repaired_unclosed_ref"] == 1


# -- guards: work units decide, the wall clock only catches what they miss ------------------------

def _page(page_id: int, title: str, text: str):
    from pipeline.formats.mediawiki.dump import Page

    return Page(page_id, title, 0, False, page_id + 1000, None, text)


def _run_pages(source: Wikipedia, pages) -> tuple[list[dict], "Rejects"]:
    from pipeline.store.shards import Rejects
    from pipeline.sources.base import Release
    from pipeline.formats.mediawiki.wikitext import Siteinfo

    release = Release("wikipedia", "simplewiki-20261101", (), {"date": "20261101"})
    rejects = Rejects("p0")
    rows = [r for p in pages if (r := source._article(p, Siteinfo("https://simple.wikipedia.org"), release, rejects))]
    return rows, rejects


def test_deep_or_huge_markup_is_refused_by_work_units_not_by_time(tmp_path):
    source = Wikipedia(data_dir=tmp_path, max_template_depth=6, max_page_nodes=500, max_page_seconds=0)
    deep = "Words here. " + "{{a|" * 7 + "x" + "}}" * 7
    busy = "Words. " + "[[a]] " * 501
    fine = "Words here. {{a|{{b|{{c|x}}}}}} " + "[[a]] " * 100
    rows, rejects = _run_pages(source, [_page(1, "Deep", deep), _page(2, "Busy", busy), _page(3, "Fine", fine)])
    assert [r["id"] for r in rows] == [3]
    assert dict(rejects.counts) == {"too_deep": 1, "too_complex": 1}
    assert source.spec("articles", _release(), tmp_path).config["max_template_depth"] == 6


def _release():
    from pipeline.sources.base import Release

    return Release("wikipedia", "simplewiki-20261101", (), {"date": "20261101", "job": "articlesmultistreamdump"})


@pytest.mark.parametrize("in_thread", [False, True])
def test_a_stuck_page_is_interrupted_counted_and_the_worker_goes_on(tmp_path, monkeypatch, in_thread):
    import threading
    import time

    import pipeline.sources.wikipedia as wikipedia

    real = wikipedia.clean

    def clean(text, *args, **kwargs):
        while "STUCK" in text:  # pure Python that never returns, as a pathological page would
            time.sleep(0.001)
        return real(text, *args, **kwargs)

    monkeypatch.setattr(wikipedia, "clean", clean)
    source = Wikipedia(data_dir=tmp_path, max_page_seconds=0.3)
    pages = [_page(1, "Before", "One sentence."), _page(2, "Stuck", "STUCK forever"), _page(3, "After", "Two.")]
    result = {}
    if in_thread:
        worker = threading.Thread(target=lambda: result.update(out=_run_pages(source, pages)))
        worker.start()
        worker.join(10)
        assert not worker.is_alive()
        rows, rejects = result["out"]
    else:
        rows, rejects = _run_pages(source, pages)
    assert [r["id"] for r in rows] == [1, 3]
    assert dict(rejects.counts) == {"too_slow": 1}
    time.sleep(0.4)  # no late interrupt may land after the page is done


def test_template_depth_and_markup_nodes_are_linear_scans():
    from pipeline.formats.mediawiki.guard import markup_nodes, template_depth

    assert template_depth("{{a|{{b|{{c}}}}}} {{d}} }}") == 3
    assert markup_nodes("[[a]] {{b|c}} <div> '''d''' &amp;") == 7


# -- enwiki's real layout: numbered multistream files, each with its own index -----------------------

@pytest.fixture(scope="module")
def numbered(upstream):
    from tests.fixtures.wikipedia_upstream import write_numbered_dump

    return write_numbered_dump(upstream / "wikimedia", "enwiki", "20261120")


def test_plan_lists_the_numbered_files_and_not_the_recombined_copy(server, tmp_path, numbered):
    from pipeline.plan import make_plan

    source = make(server, tmp_path, wiki="enwiki", date="20261120")
    release = build.discover(source, policy=FAST)
    names = [f.name for f in release.files]
    assert len(names) == 8 and all(re_numbered(n) for n in names), names
    plan = make_plan(source, release, tmp_path, build.downloader(source, tmp_path, policy=FAST, progress=False))
    assert plan.files == 8 and plan.download_bytes == sum(f.size for f in release.files)


def re_numbered(name: str) -> bool:
    import re

    return re.fullmatch(r"enwiki-20261120-pages-articles-multistream(-index)?\d\.(xml|txt)-p\d+p\d+\.bz2", name) is not None


def test_build_over_numbered_multistream_files(server, tmp_path, numbered):
    source = make(server, tmp_path, wiki="enwiki", date="20261120", pages_per_part=100)
    build.build(source, tmp_path, progress=False, policy=FAST, max_workers=2)
    root = articles(tmp_path, "enwiki-20261120")
    rows = {r["id"]: r for r in read_split(root).to_pylist()}
    assert set(rows) == set(numbered.articles)
    for page_id, phrases in numbered.must_keep.items():
        assert all(p in rows[page_id]["text"] for p in phrases), page_id
    manifest = load_manifest(root)
    assert manifest["totals"]["drops"] == numbered.drops
    parts = manifest["parts"]
    assert len(parts) == 3 + 3 + 2 + 3, "each file (12, 14, 10, 12 pages) cut into runs of one 5-page stream"
    for part in parts.values():
        data, index = (i["name"] for i in part["inputs"])
        assert index == data.replace("multistream", "multistream-index", 1).replace(".xml-", ".txt-")
    assert not (tmp_path / "raw" / "wikipedia" / "enwiki-20261120" / "enwiki-20261120-pages-articles-multistream.xml.bz2").exists()


def test_card_shows_word_totals_as_counts_not_rates_of_rows():
    from pipeline.reports import _quality

    manifest = {"totals": {"rows": 10, "stats": {"residue_pages": 1, "source_words": 520, "words": 500}},
                "shards": [{"file": "train/a.parquet", "rows": 10,
                            "stats": {"residue_pages": 1, "source_words": 520, "words": 500}}]}
    table = _quality(manifest)
    assert "| all | 10 | 1 (10.00%) | 520 | 500 |" in table
    assert "5000" not in table and "5200" not in table
