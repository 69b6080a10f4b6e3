"""CommonCrawl dedup at two crawl sizes 10x apart, on 2 local Dask workers: cost per file must stay flat.

A generated crawl of N WET files with the same documents per file (prose, with near copies
planted across files at word 5-gram Jaccard ≥ 0.9 and distant copies at ≤ 0.5) goes through
the same stage functions the Prefect flow maps: a task per file (extract, filter, sign,
shuffle), a task per bucket, components over the duplicate edges, a task per part, finalize.
Prints seconds and CPU-seconds per file (the workers' process CPU time, the tasks' own CPU time, and
the scheduler's: CPU time is the robust figure on a shared machine), documents per second per core,
peak RSS per worker in each stage (the peak is reset between stages), near-duplicate
recall and false positives on the planted pairs, and core-hours extrapolated to 90,000 files.

    .venv/bin/python -m bench.commoncrawl_scale [--files 200 2000] [--docs 10] [--buckets 16] [--dedup-memory-mb 1024]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import resource
import tempfile
import time
from pathlib import Path

from pipeline import build
from pipeline.acquire.download import RemoteFile
from pipeline.store.shards import read_split
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


def _reset_peak() -> bool:
    """Start a new peak-RSS window in this process (Linux: writing 5 to clear_refs resets VmHWM)."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


def _cpu_s() -> float:
    times = os.times()
    return times.user + times.system


def _timed(call: tuple, *args):
    """Run ``getattr(obj, name)(*args)`` and return (its result, the CPU seconds it took in this process)."""
    obj, name = call
    started = time.process_time()
    result = getattr(obj, name)(*args)
    return result, time.process_time() - started


class _Stages:
    """The stage functions the flow maps, as methods (one picklable object shipped once to each worker)."""

    def __init__(self, source: CommonCrawl, data: Path) -> None:
        self.source, self.data = source, data

    def prepare(self, release, unit):
        return self.source.prepare_unit("text", release, unit)

    def bucket(self, release, unit):
        return self.source.reduce_unit("text", release, unit)

    def components(self, release):
        return self.source.reduce("text", release)

    def part(self, release, part):
        return build.build_part(self.source, "text", release, self.data, part)["rows"]

    def finalize(self, release, parts):
        return build.finalize(self.source, "text", release, self.data, parts)


def run(files: int, docs: int, buckets: int, memory_mb: int = 1024) -> dict[str, float]:
    from distributed import Client, LocalCluster

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        planted = make_crawl(data, files, docs)
        source = CommonCrawl(data_dir=data, dedup_buckets=buckets, dedup_memory_mb=memory_mb)
        release = build.load_release(data, "commoncrawl", CRAWL)
        units = source.prepare_units("text", release)
        parts = build.plan_parts(source, "text", release)
        # As the flow sends them: a per-file task gets a release of its own file, a once-per-crawl task the whole.
        per_file = source.task_releases(release, [[u] for u in units])
        per_part = source.task_releases(release, [[i.name for i in p.inputs] for p in parts])
        wall, task_cpu, worker_cpu, rss, main_cpu = {}, {}, {}, {}, {}
        shared = "release"  # stands for the whole release, scattered once to each stage's workers
        plan = [("map", "prepare", [(r, u) for r, u in zip(per_file, units)]),
                ("buckets", "bucket", [(shared, b) for b in source.reduce_units("text", release)]),
                ("components", "components", [(shared,)]),
                ("parts", "part", [(r, p) for r, p in zip(per_part, parts)]),
                ("finalize", "finalize", [(shared, parts)])]
        for stage, method, calls in plan:
            # A fresh 2-worker cluster per stage: a stage's peak RSS is its own, not what an earlier stage left
            # allocated (freed memory is seldom given back to the OS). Start-up is outside the timings.
            with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
                    Client(cluster) as client:
                client.run(_reset_peak)
                stages = client.scatter(_Stages(source, data), broadcast=True)
                whole = client.scatter(release, broadcast=True)
                calls = [tuple(whole if a is shared else a for a in args) for args in calls]
                before, main0, t0 = client.run(_cpu_s), _cpu_s(), time.perf_counter()
                futures = [client.submit(_timed, (stages, method), *args, pure=False) for args in calls]
                results = client.gather(futures)
                wall[stage] = time.perf_counter() - t0
                main_cpu[stage] = _cpu_s() - main0  # the scheduler and this client run in this process
                after = client.run(_cpu_s)
                task_cpu[stage] = sum(cpu for _, cpu in results)
                worker_cpu[stage] = sum(after[w] - before[w] for w in after)
                rss[stage] = max(client.run(_peak_rss_mb).values())
                if stage == "finalize":
                    manifest = results[0][0]
                if stage == "components":
                    components = json.loads((Path(results[0][0]) / "_done.json").read_text())
                del futures, results
        total_wall = sum(wall.values())
        kept = set(read_split(data / "shards/commoncrawl" / CRAWL / "text", columns=["url"]).column("url").to_pylist())
    near = [p for p in planted["near"] if p[2] >= 0.9]
    far = [p for p in planted["far"] if p[2] <= 0.5]
    recall = sum(p[1] not in kept and p[0] in kept for p in near) / max(1, len(near))
    false_pos = sum(p[1] not in kept for p in far) / max(1, len(far))
    total_docs = files * docs
    per_file_stages = ("map", "parts")
    return {"files": files, "docs": total_docs, "wall_s": total_wall, "s_per_file": total_wall / files,
            "docs_per_s_per_core": total_docs / (total_wall * 2), "rows": manifest["totals"]["rows"],
            "worker_cpu_per_file": sum(worker_cpu.values()) / files,
            "task_cpu_per_file": sum(task_cpu.values()) / files,
            "file_task_cpu_per_file": sum(task_cpu[s] for s in per_file_stages) / files,
            "main_cpu_per_file": sum(main_cpu.values()) / files,
            "rss_mb": max(rss[s] for s in per_file_stages), "rss_all_mb": max(rss.values()),
            "edges": components["edges"], "partitions": components["partitions"], "rounds": components["rounds"],
            "near_pairs": len(near), "recall": recall, "far_pairs": len(far), "false_positives": false_pos,
            "near_j_min": min((p[2] for p in near), default=0), "far_j_max": max((p[2] for p in far), default=0),
            **{f"{k}_s": v for k, v in wall.items()}, **{f"{k}_cpu": v for k, v in task_cpu.items()},
            **{f"{k}_rss": v for k, v in rss.items()}}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, nargs="+", default=[200, 2000])
    parser.add_argument("--docs", type=int, default=10)
    parser.add_argument("--buckets", type=int, default=16)
    parser.add_argument("--dedup-memory-mb", type=int, default=1024, help="one components partition's memory")
    args = parser.parse_args()
    results = [run(n, args.docs, args.buckets, args.dedup_memory_mb) for n in args.files]
    stages = ("map", "buckets", "components", "parts", "finalize")
    for r in results:
        print(f"{r['files']:>6} files, {r['docs']:>7} docs: {r['wall_s']:7.1f} s wall, {r['s_per_file']:.4f} s/file, "
              f"{r['docs_per_s_per_core']:6.1f} docs/s/core; CPU s/file: workers {r['worker_cpu_per_file']:.4f} "
              f"(in tasks {r['task_cpu_per_file']:.4f}, per-file tasks {r['file_task_cpu_per_file']:.4f}), "
              f"scheduler+client {r['main_cpu_per_file']:.4f}")
        print("        stages (wall s / task CPU s / peak RSS MB per worker): "
              + ", ".join(f"{k} {r[k + '_s']:.1f}/{r[k + '_cpu']:.1f}/{r[k + '_rss']:.0f}" for k in stages))
        print(f"        near copies (J {r['near_j_min']:.2f}..1): recall {r['recall']:.4f} of {r['near_pairs']}; "
              f"distant copies (J ≤ {r['far_j_max']:.2f}): false positives {r['false_positives']:.4f} "
              f"of {r['far_pairs']}; rows kept {r['rows']}; components: {r['edges']} edges, {r['partitions']} "
              f"partitions, {r['rounds']} rounds")
    small, large = results[0], results[-1]
    ratio = lambda key: large[key] / small[key]  # noqa: E731
    print(f"{large['files']} vs {small['files']} files, per file: wall {ratio('s_per_file'):.2f}x (goal ≤ 1.2x), "
          f"worker CPU {ratio('worker_cpu_per_file'):.2f}x, per-file task CPU {ratio('file_task_cpu_per_file'):.2f}x, "
          f"scheduler CPU {ratio('main_cpu_per_file'):.2f}x; peak RSS per worker in the per-file stages "
          f"{ratio('rss_mb'):.2f}x (goal flat), in any stage {ratio('rss_all_mb'):.2f}x")
    per_doc_core_s = large["worker_cpu_per_file"] * large["files"] / large["docs"]
    print(f"extrapolated from worker CPU: 90,000 files x 30,000 docs = 2.7e9 docs x {per_doc_core_s * 1e3:.2f} "
          f"core-ms/doc = {2.7e9 * per_doc_core_s / 3600:,.0f} core-hours (an upper bound: {docs_note(large)} "
          f"pay the per-file overhead over few documents)")


def docs_note(r: dict[str, float]) -> str:
    return f"{r['docs'] // r['files']}-doc files"


if __name__ == "__main__":
    main()
