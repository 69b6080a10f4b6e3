"""CommonCrawl end to end on a generated crawl: WET and WARC, filters, languages, dedup across files."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from pipeline import build
from pipeline.acquire.download import RetryPolicy
from pipeline.store.shards import load_manifest, read_split
from pipeline.sources.commoncrawl import CommonCrawl
from pipeline.text import dedup, quality
from tests.fixtures.commoncrawl_upstream import CRAWL, write_warc, write_wet

FAST = RetryPolicy(attempts=2, base=0.01, cap=0.02)


def make(server, data: Path, **kw) -> CommonCrawl:
    return CommonCrawl(data_dir=data, mirror=server.url + "commoncrawl/", **kw)


def text_dir(data: Path) -> Path:
    return data / "shards" / "commoncrawl" / CRAWL / "text"


@pytest.fixture(scope="module")
def wet(server, tmp_path_factory):
    data = tmp_path_factory.mktemp("wet")
    build.build(make(server, data), data, progress=False, policy=FAST, max_workers=2)
    return data, write_wet(tmp_path_factory.mktemp("expected-wet"))


def rejects(data: Path) -> list[dict]:
    root = text_dir(data)
    return [r for p in sorted((root / "_rejects").glob("*.parquet")) for r in pq.read_table(p).to_pylist()]


def test_newest_crawl_and_kept_pages(wet):
    data, expected = wet
    release = build.load_release(data, "commoncrawl")
    assert release.version == CRAWL and len(release.files) == 2
    rows = read_split(text_dir(data)).to_pylist()
    assert {r["url"] for r in rows} == expected.kept_urls
    assert all(r["language"] == "en" and r["crawl"] == CRAWL and r["word_count"] >= 50 for r in rows)
    assert {r["domain"] for r in rows} >= {"site1.example"}, "www. is not part of the domain"
    assert len({r["id"] for r in rows}) == len(rows)


def test_the_card_says_which_rules_other_languages_skip(wet):
    data, _ = wet
    card = (text_dir(data) / "README.md").read_text()
    assert "gopher:word_count is skipped for languages written without spaces" in card
    assert "Stop words per language: de, en" in card and '"unspaced_languages"' in card


def test_duplicates_across_files_are_dropped_deterministically(wet, server, tmp_path):
    data, expected = wet
    reasons = {}
    for row in rejects(data):
        reasons.setdefault(row["reason"], []).append(row)
    assert len(reasons["exact_duplicate"]) == len(expected.exact_duplicate_urls) == 2
    assert len(reasons["near_duplicate"]) == len(expected.near_duplicate_urls) == 2
    assert all("duplicate of file" in r["detail"] for r in reasons["exact_duplicate"] + reasons["near_duplicate"])
    again = tmp_path / "again"
    build.build(make(server, again), again, progress=False, policy=FAST, max_workers=1)
    first, second = load_manifest(text_dir(data)), load_manifest(text_dir(again))
    assert [s["sha256"] for s in first["shards"]] == [s["sha256"] for s in second["shards"]]


def test_broken_members_are_counted_and_reading_goes_on(tmp_path):
    import hashlib
    import json

    from pipeline.acquire.download import RemoteFile
    from pipeline.sources.base import Release

    upstream = tmp_path / "upstream"
    expected = write_wet(upstream, ugly=True)  # a corrupt member mid-file, a truncated last one
    raw = tmp_path / "data" / "raw" / "commoncrawl" / CRAWL
    raw.mkdir(parents=True)
    files, sha = [], {}
    for path in sorted(upstream.rglob("*.warc.wet.gz")):
        (raw / path.name).write_bytes(path.read_bytes())
        files.append(RemoteFile(f"file://{path}", path.name))
        sha[path.name] = hashlib.sha256(path.read_bytes()).hexdigest()
    release = Release("commoncrawl", CRAWL, tuple(files), {"crawl": CRAWL, "mode": "wet", "sha256": sha})
    (raw / build.RELEASE_FILE).write_text(json.dumps(release.to_json()))
    data = tmp_path / "data"
    manifest = build.shard(CommonCrawl(data_dir=data), data, CRAWL, progress=False, max_workers=1)["text"]
    drops = manifest["totals"]["drops"]
    assert drops["corrupt_gzip"] == 1 and drops["truncated_record"] == 1
    urls = {r["url"] for r in read_split(text_dir(data)).to_pylist()}
    assert "https://after-corruption.example/y" in urls and urls == expected.kept_urls


def test_language_filter_and_other_languages_with_the_default_preset(wet, server, tmp_path):
    data, expected = wet
    language_drops = [r for r in rejects(data) if r["reason"] == "language"]
    assert len(language_drops) == len(expected.other_language_urls)
    # The default (Gopher) preset judges German and French prose with their own stop words.
    build.build(make(server, tmp_path, languages="de,fr"), tmp_path, progress=False, policy=FAST, max_workers=1)
    rows = read_split(text_dir(tmp_path)).to_pylist()
    assert {r["url"]: r["language"] for r in rows} == expected.other_language_urls
    assert not any(k.startswith("gopher:") for k in load_manifest(text_dir(tmp_path))["totals"]["drops"])


def test_warc_mode_html_charsets_and_junk(server, tmp_path):
    expected = write_warc(tmp_path / "expected")
    build.build(make(server, tmp_path, mode="warc"), tmp_path, progress=False, policy=FAST, max_workers=1)
    rows = {r["url"]: r for r in read_split(text_dir(tmp_path)).to_pylist()}
    assert set(rows) == expected.warc_kept_urls
    assert "Café society" in rows["https://latin1.example/"]["text"]
    assert "Crème brûlée" in rows["https://mislabelled.example/"]["text"], "a wrong charset label is not trusted"
    assert all("All rights reserved" not in r["text"] and "Contact" not in r["text"] for r in rows.values())
    drops = load_manifest(text_dir(tmp_path))["totals"]["drops"]
    assert {k: drops.get(k) for k in expected.warc_drops} == expected.warc_drops


def test_presets_change_the_config_hash_and_the_result(server, tmp_path):
    c4 = make(server, tmp_path / "c4", filters="c4")
    none = make(server, tmp_path / "none", filters="none", pii=True)
    assert c4.config()["filters"]["name"] == "c4" and none.config()["filters"]["name"] == "none+pii"
    manifests = [build.build(s, s.data_dir, progress=False, policy=FAST, max_workers=1)["text"] for s in (c4, none)]
    assert manifests[0]["config_hash"] != manifests[1]["config_hash"]
    cleaned = read_split(text_dir(tmp_path / "c4")).to_pylist()
    raw = read_split(text_dir(tmp_path / "none")).to_pylist()
    # C4 removes the title line (no terminal mark); none keeps every line.
    assert cleaned and not any(r["text"].startswith("Page ") for r in cleaned)
    assert all(r["text"].startswith("Page ") for r in raw if r["url"].startswith("https://www.site"))
    assert not any(k.startswith(("c4:", "gopher:")) for k in manifests[1]["totals"]["drops"])


def test_file_selection(server, tmp_path):
    release = build.discover(make(server, tmp_path, max_files=1), policy=FAST)
    assert len(release.files) == 1
    name = "CC-MAIN-20261021000000-20261021010000-00001.warc.wet.gz"
    assert [f.name for f in build.discover(make(server, tmp_path, files=[name]), policy=FAST).files] == [name]


def test_quality_rules():
    assert quality.preset("gopher").apply("too short")[1] == "gopher:word_count"
    text, reason, signals = quality.preset("none", pii=True).apply("mail me at a.b@example.org from 10.0.0.1")
    assert reason is None and "<EMAIL>" in text and "<IP_ADDRESS>" in text and signals["pii_replaced"] == 2
    c4_text, c4_reason, _ = quality.preset("c4").apply("Menu\nHome About\nThis is a real sentence here. "
                                                       "Another one follows. And a third one.\nAccept cookie policy.")
    assert "Menu" not in c4_text and "cookie" not in c4_text and c4_reason is None


def test_dedup_stages_keep_the_earliest_copy():
    import random

    rng = random.Random(5)
    words = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho sigma".split()
    texts = [" ".join(rng.choice(words) for _ in range(150)) for _ in range(2)]
    near = texts[0].split()
    near[70] = "changed"
    near = " ".join(near)
    buckets = 3
    per_file = []
    for docs in ([texts[0], texts[1]], [near, texts[0]]):
        sigs = [dedup.signature(t) for t in docs]
        table = dedup.signature_table(list(range(len(docs))), [s[0] for s in sigs], [s[1] for s in sigs])
        per_file.append(dedup.shuffle(table, buckets))
    edges = [dedup.candidate_edges([(i << 32, per_file[i][b]) for i in range(2)]) for b in range(buckets)]
    import pyarrow as pa

    nodes, keepers, exact = dedup.components(pa.concat_tables(edges))
    found = {int(n): (int(k), bool(e)) for n, k, e in zip(nodes, keepers, exact)}
    assert found == {(1 << 32) | 1: (0, True), (1 << 32) | 0: (0, False)}, "file 0 record 0 is kept; 0/1 is unique"


def test_flow(prefect_harness, server, tmp_path, wet):
    from flows.commoncrawl import commoncrawl_flow

    data, expected = wet
    summary = commoncrawl_flow(data_dir=str(tmp_path), mirror=server.url + "commoncrawl/")
    assert summary["text"]["totals"]["rows"] == len(expected.kept_urls)
    assert summary["text"]["totals"]["drops"] == load_manifest(text_dir(data))["totals"]["drops"]


def test_cli(server, tmp_path):
    from tests.test_cli import datamill

    got = datamill("build", "commoncrawl", "--mirror", server.url + "commoncrawl/", "--data-dir", str(tmp_path),
                   "--max-files", "1", "--filters", "c4", "--quiet")
    assert got.returncode == 0, got.stderr[-2000:]
    assert f"commoncrawl/text {CRAWL}:" in got.stdout
    got = datamill("build", "commoncrawl", "--mirror", server.url + "commoncrawl/", "--data-dir", str(tmp_path),
                   "--filters", "nope")
    assert got.returncode == 1 and "--filters" in got.stderr


def kept_ids_sha(data: Path) -> str:
    import hashlib

    ids = sorted(read_split(text_dir(data)).column("id").to_pylist())
    return hashlib.sha256("\n".join(ids).encode()).hexdigest()


def test_two_dask_workers_keep_the_same_documents(prefect_harness, server, tmp_path, wet):
    from flows.commoncrawl import commoncrawl_flow

    data, expected = wet
    summary = commoncrawl_flow(data_dir=str(tmp_path), mirror=server.url + "commoncrawl/", runner="dask", workers=2,
                               dedup_buckets=5)
    assert summary["text"]["totals"]["rows"] == len(expected.kept_urls)
    assert kept_ids_sha(tmp_path) == kept_ids_sha(data), "2 Dask workers, 5 buckets == 2 processes, 16 buckets"
    edges = sorted((tmp_path / "work" / "commoncrawl" / CRAWL).glob("dedup-*/edges/b*.parquet"))
    assert len(edges) == 5


def test_the_bucket_count_partitions_work_not_results(server, tmp_path, wet):
    data, expected = wet
    source = make(server, tmp_path, dedup_buckets=1)
    assert source.config() == make(server, data).config(), "buckets are not part of the config hash"
    build.build(source, tmp_path, progress=False, policy=FAST, max_workers=1)
    assert kept_ids_sha(tmp_path) == kept_ids_sha(data)


def test_dedup_against_an_earlier_build(server, tmp_path, wet):
    data, expected = wet
    first_file = "CC-MAIN-20261021000000-20261021010000-00000.warc.wet.gz"
    earlier = tmp_path / "earlier"
    build.build(make(server, earlier, files=[first_file]), earlier, progress=False, policy=FAST, max_workers=1)
    held = set(read_split(text_dir(earlier)).column("text").to_pylist())
    assert (text_dir(earlier) / "_signatures" / "latest.json").exists(), "the signatures stay with the snapshot"
    later = tmp_path / "later"
    source = make(server, later, dedup_against=str(text_dir(earlier)))
    manifest = build.build(source, later, progress=False, policy=FAST, max_workers=2)["text"]
    rows = read_split(text_dir(later)).to_pylist()
    assert rows and not any(r["text"] in held for r in rows), "nothing the earlier build holds is kept again"
    assert {r["url"] for r in rows} == {u for u in expected.kept_urls
                                        if u not in {r2 for r2 in _urls(earlier)}} - expected.exact_duplicate_urls
    assert manifest["totals"]["drops"]["in_earlier_crawl"] == len(held) + len(expected.exact_duplicate_urls)
    details = [r["detail"] for r in rejects(later) if r["reason"] == "in_earlier_crawl"]
    assert all(f"{CRAWL} file {first_file}" in d for d in details)
    assert manifest["config_hash"] != load_manifest(text_dir(data))["config_hash"]


def _urls(data: Path) -> set[str]:
    return set(read_split(text_dir(data)).column("url").to_pylist())


def test_gc_keeps_the_signatures_a_later_dedup_against_reads(server, tmp_path):
    from pipeline.store.snapshots import gc

    build.build(make(server, tmp_path, max_files=1), tmp_path, progress=False, policy=FAST, max_workers=1)
    signatures = sorted((text_dir(tmp_path) / "_signatures").rglob("*.parquet"))
    assert signatures
    removed = gc(text_dir(tmp_path), grace_seconds=0)
    assert not any(name.startswith("_signatures/") for name in removed)
    assert all(p.exists() for p in signatures)
