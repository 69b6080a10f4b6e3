"""The Tatoeba flow on a real (temporary, session-scoped) Prefect server."""

from __future__ import annotations

from pipeline import build
from pipeline.store.shards import load_manifest


def test_tatoeba_flow_builds_the_same_shards_as_the_library(prefect_harness, server, tmp_path):
    from flows.tatoeba import tatoeba_flow

    summary = tatoeba_flow(data_dir=str(tmp_path / "flow"), mirror=server.url + "tatoeba/", bucket_ids=100)
    assert summary["sentences"]["totals"]["rows"] == 246
    assert summary["pairs"]["totals"]["drops"]["dangling_link"] == 2

    from pipeline.sources.tatoeba import Tatoeba

    library = tmp_path / "lib"
    build.build(Tatoeba(data_dir=library, mirror=server.url + "tatoeba/", bucket_ids=100), library, progress=False)
    for name in ("sentences", "pairs"):
        a = load_manifest(tmp_path / "flow/shards/tatoeba/2026-11-21" / name)
        b = load_manifest(library / "shards/tatoeba/2026-11-21" / name)
        # file names carry each build's own attempt token; the content must be the same
        assert [(s["split"], s["part"], s["rows"], s["sha256"]) for s in a["shards"]] == \
            [(s["split"], s["part"], s["rows"], s["sha256"]) for s in b["shards"]]
        assert a["config_hash"] == b["config_hash"]


def test_wikipedia_flow(prefect_harness, server, tmp_path):
    from flows.wikipedia import wikipedia_flow

    summary = wikipedia_flow(wiki="simplewiki", date="latest", data_dir=str(tmp_path), pages_per_part=200,
                             mirror=server.url + "wikimedia/", max_page_mb=0.1)
    assert summary["articles"]["version"] == "simplewiki-20261101"
    assert summary["articles"]["totals"]["rows"] == 43
    assert summary["articles"]["totals"]["drops"] == {"empty": 1, "namespace": 2, "redirect": 1, "too_large": 1}


def test_imagenet_flow(prefect_harness, upstream, tmp_path):
    from flows.imagenet import imagenet_flow

    summary = imagenet_flow(data_dir=str(tmp_path), manual_dir=str(upstream / "imagenet"), size=32)
    totals = summary["classification"]["totals"]
    assert totals["rows"] == 27 + 12 and totals["drops"] == {"not_a_file": 1, "truncated": 1, "unsafe_path": 1}
