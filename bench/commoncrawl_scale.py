"""CommonCrawl dedup at two crawl sizes 10x apart, on 2 local Dask workers: cost per file must stay flat.

A generated crawl of N WET files with the same documents per file (prose, with near copies
planted across files at word 5-gram Jaccard ≥ 0.9 and distant copies at ≤ 0.5) goes through
the same stage functions the Prefect flow maps: a task per file (extract, filter, sign,
shuffle), a task per bucket, components over the duplicate edges, a task per part, finalize.
Prints seconds per file, documents per second per core, peak RSS per worker, near-duplicate
recall and false positives on the planted pairs, and core-hours extrapolated to 90,000 files.

    .venv/bin/python -m bench.commoncrawl_scale [--files 200 2000] [--docs 10] [--buckets 16]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import resource
import tempfile
import time
from pathlib import Path

from pipeline import build
from pipeline.download import RemoteFile
from pipeline.sources.base import Release
from pipeline.sources.commoncrawl import CommonCrawl
from pipeline.text import dedup
from tests.fixtures.commoncrawl_upstream import SEGMENT, conversion, prose, warcinfo

CRAWL = "CC-MAIN-2026-48"


def _jaccard(a: str, b: str) -> float:
    x, y = set(dedup.shingles(dedup.normalize(a))), set(dedup.shingles(dedup.normalize(b)))
    return len(x & y) / len(x | y)


def make_crawl(data: Path, files: int, docs: int, seed: int = 3) -> dict[str, list[tuple[str, str, float]]]:
    """Write the WET files and _release.json; returns planted (original url, copy url, Jaccard) by kind."""
    rng = random.Random(seed)
    raw = data / "raw" / "commoncrawl" / CRAWL
    raw.mkdir(parents=True)
    planted: dict[str, list[tuple[str, str, float]]] = {"near": [], "far": []}
    previous: list[tuple[str, str]] = []
    remote, sha = [], {}
    for f in range(files):
        name = f"CC-MAIN-20261121000000-20261121010000-{f:05d}.warc.wet.gz"
        records, texts = [warcinfo(rng, name)], []
        for d in range(docs):
            url = f"https://site{rng.randrange(500)}.example/{f}/{d}"
            if previous and d == 0:  # a near copy of a document from an earlier file
                original_url, original = rng.choice(previous)
                words = original.split(" ")
                words[rng.randrange(10, len(words) - 10)] = "changed"
                text = " ".join(words)
                planted["near"].append((original_url, url, _jaccard(original, text)))
            elif previous and d == 1:  # shares at most half of its shingles with an earlier document
                original_url, original = rng.choice(previous)
                lines = original.split("\n")
                fresh = prose(rng, "en", max(2, len(lines) * 2 // 3)).split("\n")
                text = "\n".join(lines[: len(lines) * 3 // 5] + fresh)
                planted["far"].append((original_url, url, _jaccard(original, text)))
            else:
                text = f"Page {f}-{d}\n" + prose(rng, "en", rng.randint(14, 20))
            texts.append((url, text))
            records.append(conversion(rng, url, text, "eng", d))
        previous = (previous + texts[2:])[-200:]
        body = b"".join(records)
        (raw / name).write_bytes(body)
        sha[name] = hashlib.sha256(body).hexdigest()
        remote.append(RemoteFile(f"file:///{name}", name))
    paths = [f"crawl-data/{CRAWL}/segments/{SEGMENT}/wet/{r.name}" for r in remote]
    release = Release("commoncrawl", CRAWL, tuple(remote), {"crawl": CRAWL, "mode": "wet", "paths": paths,
                                                             "sha256": sha})
    (raw / build.RELEASE_FILE).write_text(json.dumps(release.to_json()))
    return planted


def _peak_rss_mb() -> float:
    """The worker's own peak (VmHWM); ru_maxrss can carry the parent's peak across fork+exec."""
    try:
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run(files: int, docs: int, buckets: int) -> dict[str, float]:
    from distributed import Client, LocalCluster

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        planted = make_crawl(data, files, docs)
        source = CommonCrawl(data_dir=data, dedup_buckets=buckets)
        release = build.load_release(data, "commoncrawl", CRAWL)
        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
                Client(cluster) as client:
            started = time.perf_counter()
            stages = {}
            shared = client.scatter(release, broadcast=True)  # the file list travels once, not once per task
            client.gather(client.map(source.prepare_unit, ["text"] * files, [shared] * files,
                                     source.prepare_units("text", release), pure=False))
            stages["map"] = time.perf_counter() - started
            client.gather(client.map(source.reduce_unit, ["text"] * buckets, [shared] * buckets,
                                     source.reduce_units("text", release), pure=False))
            stages["buckets"] = time.perf_counter() - started - sum(stages.values())
            client.submit(source.reduce, "text", shared, pure=False).result()
            stages["components"] = time.perf_counter() - started - sum(stages.values())
            parts = build.plan_parts(source, "text", release)
            client.gather(client.map(build.build_part, [source] * files, ["text"] * files, [shared] * files,
                                     [data] * files, parts, pure=False))
            stages["parts"] = time.perf_counter() - started - sum(stages.values())
            manifest = client.submit(build.finalize, source, "text", shared, data, parts, pure=False).result()
            stages["finalize"] = time.perf_counter() - started - sum(stages.values())
            wall = time.perf_counter() - started
            rss = client.run(_peak_rss_mb)
        rejected = {}
        for path in sorted((data / "shards/commoncrawl" / CRAWL / "text/_rejects").glob("*.parquet")):
            import pyarrow.parquet as pq

            for row in pq.read_table(path, columns=["id", "reason"]).to_pylist():
                rejected[row["id"]] = row["reason"]
        kept = set()
        from pipeline.shards import read_split

        kept = set(read_split(data / "shards/commoncrawl" / CRAWL / "text", columns=["url"]).column("url").to_pylist())
    near = [p for p in planted["near"] if p[2] >= 0.9]
    far = [p for p in planted["far"] if p[2] <= 0.5]
    recall = sum(p[1] not in kept and p[0] in kept for p in near) / max(1, len(near))
    false_pos = sum(p[1] not in kept for p in far) / max(1, len(far))
    total_docs = files * docs
    return {"files": files, "docs": total_docs, "wall_s": wall, "s_per_file": wall / files,
            "docs_per_s_per_core": total_docs / (wall * 2), "rss_mb": max(rss.values()), "rows": manifest["totals"]["rows"],
            "near_pairs": len(near), "recall": recall, "far_pairs": len(far), "false_positives": false_pos,
            "near_j_min": min((p[2] for p in near), default=0), "far_j_max": max((p[2] for p in far), default=0),
            **{f"{k}_s": v for k, v in stages.items()}}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, nargs="+", default=[200, 2000])
    parser.add_argument("--docs", type=int, default=10)
    parser.add_argument("--buckets", type=int, default=16)
    args = parser.parse_args()
    results = [run(n, args.docs, args.buckets) for n in args.files]
    for r in results:
        print(f"{r['files']:>6} files, {r['docs']:>7} docs: {r['wall_s']:7.1f} s wall, {r['s_per_file']:.4f} s/file, "
              f"{r['docs_per_s_per_core']:6.1f} docs/s/core, peak RSS/worker {r['rss_mb']:.0f} MB; stages "
              + ", ".join(f"{k[:-2]} {r[k]:.1f}s" for k in ("map_s", "buckets_s", "components_s", "parts_s",
                                                            "finalize_s")))
        print(f"        near copies (J {r['near_j_min']:.2f}..1): recall {r['recall']:.4f} of {r['near_pairs']}; "
              f"distant copies (J ≤ {r['far_j_max']:.2f}): false positives {r['false_positives']:.4f} "
              f"of {r['far_pairs']}; rows kept {r['rows']}")
    small, large = results[0], results[-1]
    print(f"s/file {large['files']} vs {small['files']}: {large['s_per_file'] / small['s_per_file']:.2f}x "
          f"(goal ≤ 1.2x); peak RSS {large['rss_mb'] / small['rss_mb']:.2f}x")
    per_doc_core_s = 2 * large["wall_s"] / large["docs"]
    print(f"extrapolated: 90,000 files x 30,000 docs = 2.7e9 docs x {per_doc_core_s * 1e3:.2f} core-ms/doc = "
          f"{2.7e9 * per_doc_core_s / 3600:,.0f} core-hours (per-file overhead of {docs_note(large)} included)")


def docs_note(r: dict[str, float]) -> str:
    return f"{r['docs'] // r['files']}-doc files"


if __name__ == "__main__":
    main()
