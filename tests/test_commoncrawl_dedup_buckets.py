"""A bucket task reads one small object per (file, bucket): its metadata does not grow with the bucket count."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pyarrow.parquet as pq

from pipeline.text import crawl_dedup as crawldedup
from pipeline.text import dedup

_WORDS = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho sigma".split()


def _signatures(seed: int, docs: int = 6):
    rng = random.Random(seed)
    texts = [" ".join(rng.choice(_WORDS) for _ in range(120)) for _ in range(docs)]
    texts[-1] = texts[0]  # an exact copy inside the file
    sigs = [dedup.signature(t) for t in texts]
    return dedup.signature_table(list(range(docs)), [s[0] for s in sigs], [s[1] for s in sigs])


def test_each_file_bucket_is_its_own_small_object(tmp_path: Path):
    table = _signatures(0)
    footers = {}
    for buckets in (4, 256):
        root = tmp_path / f"b{buckets}"
        crawldedup.write_rows(root, "f0", table, buckets)
        shuffled = dedup.shuffle(table, buckets)
        for b in range(buckets):
            path = crawldedup.bucket_path(root, "f0", b)
            assert pq.read_table(path).equals(shuffled[b])
            assert pq.ParquetFile(path).metadata.num_row_groups <= 1
        footers[buckets] = max(pq.ParquetFile(crawldedup.bucket_path(root, "f0", b)).metadata.serialized_size
                               for b in range(buckets))
    assert footers[256] <= footers[4] * 1.1, "a bucket's metadata does not grow with the bucket count"


def _selection(tmp_path: Path, files: int, buckets: int, earlier: tuple[str, ...] = ()) -> crawldedup.Selection:
    return crawldedup.Selection(tmp_path / "sig", tmp_path / "work", tuple(f"f{i}" for i in range(files)),
                                tuple(f"file{i}.warc.wet.gz" for i in range(files)), buckets, earlier)


def test_bucket_edges_equal_the_candidates_of_the_shuffled_rows(tmp_path: Path):
    buckets, files = 3, 3
    tables = [_signatures(0), _signatures(1), _signatures(0)]  # file 2 repeats file 0
    selection = _selection(tmp_path, files, buckets)
    for i, table in enumerate(tables):
        crawldedup.write_rows(selection.signatures, f"f{i}", table, buckets)
    for b in range(buckets):
        got = pq.read_table(crawldedup.bucket_edges(selection, b))
        expected = dedup.candidate_edges([(i << 32, dedup.shuffle(tables[i], buckets)[b]) for i in range(files)])
        assert got.num_rows and got.sort_by([("node", "ascending"), ("root", "ascending")]).equals(
            expected.sort_by([("node", "ascending"), ("root", "ascending")]))


def test_an_earlier_snapshot_in_the_one_file_layout_is_still_read(tmp_path: Path):
    buckets = 2
    table = _signatures(0)
    earlier = tmp_path / "earlier"  # a build of the previous layout: <file>.parquet, row group b = bucket b
    key_dir = earlier / "_signatures" / "k"
    key_dir.mkdir(parents=True)
    writer = pq.ParquetWriter(key_dir / "e0.parquet", dedup.ROW_SCHEMA)
    for part in dedup.shuffle(table, buckets):
        writer.write_table(part)
    writer.close()
    (key_dir / "index.json").write_text(json.dumps({"version": "CC-OLD", "buckets": buckets, "files": ["e0"],
                                                    "names": ["old.warc.wet.gz"], "settings": {}}))
    (earlier / "_signatures" / "latest.json").write_text(json.dumps({"key": "k"}))
    selection = _selection(tmp_path, 1, buckets, earlier=(str(earlier),))
    crawldedup.write_rows(selection.signatures, "f0", table, buckets)
    roots = set()
    for b in range(buckets):
        roots |= set(pq.read_table(crawldedup.bucket_edges(selection, b)).column("root").to_pylist())
    assert roots and all(r < 0 for r in roots), "this build's copies are edges to the earlier build's nodes"
