"""Tatoeba end to end against the local server: discovery, parsing, splits without leakage, pairs."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from pipeline import build
from pipeline.acquire.download import RetryPolicy
from pipeline.errors import SourceError
from pipeline.localserver import serving
from pipeline.store.shards import load_manifest, read_split
from pipeline.sources.tatoeba import Tatoeba
from tests.fixtures.tatoeba_upstream import generate, write_upstream

GROUPS = 60
SPLITS = {"train": 0.5, "validation": 0.25, "test": 0.25}  # every split gets rows in a small fixture
FAST = RetryPolicy(attempts=3, base=0.01, cap=0.05)
VERSION = "2026-11-21"


@pytest.fixture(scope="module")
def expected():
    return generate(GROUPS)[3]


def make(data_dir: Path, url: str, **kw) -> Tatoeba:
    return Tatoeba(data_dir=data_dir, mirror=url + "tatoeba/", splits=SPLITS, bucket_ids=100, **kw)


@pytest.fixture(scope="module")
def built(server, tmp_path_factory) -> Path:
    data = tmp_path_factory.mktemp("tatoeba-data")
    build.build(make(data, server.url), data, progress=False, policy=FAST)
    return data


def dataset(data: Path, name: str) -> Path:
    return data / "shards" / "tatoeba" / VERSION / name


def test_release_is_dated_and_files_verified(built):
    release = build.load_release(built, "tatoeba")
    assert release.version == VERSION
    assert [f.name for f in release.files] == ["sentences_detailed.csv.zst", "links.csv.zst"]
    assert set(release.meta["sha256"]) == {"sentences_detailed.csv.zst", "links.csv.zst"}


def test_sentences_match_the_upstream_exactly(built, expected):
    table = read_split(dataset(built, "sentences"))
    rows = {r["id"]: r for r in table.to_pylist()}
    assert len(rows) == table.num_rows == len(expected.sentences), "ids must be unique and none lost"
    for sid, want in expected.sentences.items():
        got = rows[sid]
        assert (got["lang"], got["text"], got["username"]) == (want["lang"], want["text"], want["username"])
    assert all(r["license"] == "CC BY 2.0 FR" for r in rows.values())
    texts = {r["text"] for r in rows.values()}
    assert "A tab\there and a newline\nthere." in texts and "Back\\slash at the end\\" in texts
    assert "Lettre\ttab et\nligne." in texts


def test_nulls_and_zero_dates(built):
    rows = read_split(dataset(built, "sentences")).to_pylist()
    quoted = next(r for r in rows if r["text"].startswith("He said"))
    assert quoted["username"] is None and quoted["created"] is None and quoted["modified"] is None
    assert any(r["lang"] is None for r in rows)
    dated = next(r for r in rows if r["text"] == "私は赤い猫を見る。")
    assert dated["modified"].isoformat() == "2021-02-03T04:05:06+00:00"


def test_every_drop_is_counted_and_kept(built, expected):
    manifest = load_manifest(dataset(built, "sentences"))
    assert manifest["totals"]["drops"] == dict(expected.sentence_drops)
    rejects = pq.read_table(dataset(built, "sentences") / manifest["parts"]["b00000"]["rejects"])
    assert Counter(rejects.column("reason").to_pylist()) == expected.sentence_drops
    pairs = load_manifest(dataset(built, "pairs"))
    assert pairs["totals"]["drops"] == dict(expected.link_drops)


def test_linked_sentences_share_a_split(built, expected):
    rows = read_split(dataset(built, "sentences"), columns=["id"])
    split_of = {}
    for split in ("train", "validation", "test"):
        for sid in read_split(dataset(built, "sentences"), split, ["id"]).column("id").to_pylist():
            split_of[sid] = split
    assert len(split_of) == rows.num_rows
    assert set(split_of.values()) == {"train", "validation", "test"}
    for a, b in expected.links:
        if a in split_of and b in split_of:
            assert split_of[a] == split_of[b], f"link {a}->{b} crosses splits"
    for split in ("train", "validation", "test"):
        for r in read_split(dataset(built, "pairs"), split, ["source_id", "target_id"]).to_pylist():
            assert split_of[r["source_id"]] == split_of[r["target_id"]] == split


def test_pairs_hold_both_texts_in_both_directions(built, expected):
    pairs = read_split(dataset(built, "pairs")).to_pylist()
    keys = {(p["source_id"], p["target_id"]) for p in pairs}
    assert len(keys) == len(pairs), "a directed pair appears once"
    with_lang = {(a, b) for a, b in expected.links
                 if expected.sentences.get(a, {}).get("lang") and expected.sentences.get(b, {}).get("lang")}
    assert keys == with_lang | {(b, a) for a, b in with_lang}
    for p in pairs[:50]:
        assert p["source_text"] == expected.sentences[p["source_id"]]["text"]
        assert p["target_text"] == expected.sentences[p["target_id"]]["text"]
        assert p["source_username"] == expected.sentences[p["source_id"]]["username"]


def test_selected_pairs_only(server, tmp_path, expected):
    manifests = build.build(make(tmp_path, server.url, pairs="eng-fra"), tmp_path, progress=False,
                            policy=FAST, datasets=["pairs"])
    pairs = read_split(dataset(tmp_path, "pairs")).to_pylist()
    assert {(p["source_lang"], p["target_lang"]) for p in pairs} == {("eng", "fra")}
    assert len(pairs) == GROUPS + 1  # every group once, plus the ugly French sentence linked to group 0
    assert manifests["pairs"]["config"]["pairs"] == ["eng-fra"]


def test_bz2_form_gives_the_same_rows(server, built, tmp_path):
    build.build(make(tmp_path, server.url, compression="bz2"), tmp_path, progress=False, policy=FAST)
    names = [f.name for f in build.load_release(tmp_path, "tatoeba").files]
    assert names == ["sentences_detailed.tar.bz2", "links.tar.bz2"]
    for name in ("sentences", "pairs"):
        assert read_split(dataset(tmp_path, name)).equals(read_split(dataset(built, name)))


def test_falls_back_to_plain_sentences_export(tmp_path):
    upstream = tmp_path / "up"
    write_upstream(upstream, groups=10, ugly=False)
    for p in (upstream / "exports").glob("sentences_detailed.*"):
        p.unlink()
    with serving(upstream) as srv:
        source = Tatoeba(data_dir=tmp_path / "data", mirror=srv.url, bucket_ids=100)
        manifests = build.build(source, tmp_path / "data", progress=False, policy=FAST)
    assert manifests["sentences"]["config"]["sentences_export"] == "sentences"
    rows = read_split(dataset(tmp_path / "data", "sentences")).to_pylist()
    assert len(rows) == 40 and all(r["username"] is None for r in rows)


def test_missing_exports_and_wrong_version_are_clear_errors(server, tmp_path):
    with pytest.raises(SourceError, match="no Tatoeba export found"):
        build.discover(Tatoeba(data_dir=tmp_path, mirror=server.url + "nothing-here/"), policy=FAST)
    with pytest.raises(SourceError, match="only its latest weekly export"):
        build.discover(make(tmp_path, server.url), "2001-01-01", policy=FAST)
    with pytest.raises(SourceError, match="nothing downloaded"):
        build.shard(make(tmp_path, server.url), tmp_path)


def test_rebuild_is_a_no_op(server, built):
    before = {p: p.stat().st_mtime_ns for p in built.rglob("_parts/*.json")}
    build.build(make(built, server.url), built, progress=False, policy=FAST)
    assert {p: p.stat().st_mtime_ns for p in built.rglob("_parts/*.json")} == before


def test_a_new_export_builds_a_new_version_with_lineage(server, tmp_path):
    """Next week's export: some sentences edited, some added, one removed; the card says which."""
    import os

    from tests.fixtures.tatoeba_upstream import EXPORT_TIME

    data = tmp_path / "data"
    first = tmp_path / "week1"
    write_upstream(first, groups=20, ugly=False)
    second = tmp_path / "week2"
    write_upstream(second, groups=24, ugly=False)  # four new groups: 16 new sentences
    import zstandard

    export = second / "exports" / "sentences_detailed.csv.zst"
    lines = zstandard.ZstdDecompressor().decompress(export.read_bytes(), max_output_size=1 << 24).split(b"\n")
    lines[0] = lines[0].replace(b"\tI ", b"\tEdited: I ", 1).replace(b"\tWe ", b"\tEdited: We ", 1) \
        .replace(b"\tYou ", b"\tEdited: You ", 1).replace(b"\tThey ", b"\tEdited: They ", 1)
    del lines[1]  # sentence 2 is deleted upstream
    export.write_bytes(zstandard.ZstdCompressor().compress(b"\n".join(lines)))
    for path in (second / "exports").iterdir():
        os.utime(path, (EXPORT_TIME + 7 * 86400, EXPORT_TIME + 7 * 86400))
    with serving(first) as srv:
        build.build(Tatoeba(data_dir=data, mirror=srv.url, bucket_ids=100), data, progress=False, policy=FAST)
    with serving(second) as srv:
        manifests = build.build(Tatoeba(data_dir=data, mirror=srv.url, bucket_ids=100), data, progress=False,
                                policy=FAST)
    lineage = manifests["sentences"]["lineage"]
    assert lineage["previous"] == VERSION and manifests["sentences"]["version"] == "2026-11-28"
    assert (lineage["added"], lineage["changed"], lineage["removed"], lineage["unchanged"]) == (16, 1, 1, 78)
    table = {r["id"]: r["change"] for r in
             pq.read_table(data / "shards/tatoeba/2026-11-28/sentences" / lineage["table"]).to_pylist()}
    assert table[1] == "changed" and table[2] == "removed" and list(table.values()).count("added") == 16
    assert "Changes since 2026-11-21" in (data / "shards/tatoeba/2026-11-28/sentences/README.md").read_text()
