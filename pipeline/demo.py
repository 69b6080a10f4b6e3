"""`make demo`: the main job end to end on the embedded sample upstream, offline.

Serves ``data/samples/`` on 127.0.0.1 exactly as the real hosts lay their files out,
points the production flow at it with ``--mirror``, and prints what was built.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from pipeline.localserver import serving
from pipeline.reports import describe

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "samples"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default="data", help="where raw files and shards go")
    args = parser.parse_args()
    from flows.commoncrawl import commoncrawl_flow
    from flows.imagenet import imagenet_flow
    from flows.tatoeba import tatoeba_flow
    from flows.wikipedia import wikipedia_flow

    started = time.time()
    with serving(SAMPLES) as server:
        print(f"serving the sample upstream {SAMPLES} at {server.url}", flush=True)
        built = {
            "tatoeba": tatoeba_flow(data_dir=args.data_dir, mirror=server.url + "tatoeba/", bucket_ids=500),
            "wikipedia": wikipedia_flow(wiki="simplewiki", date="latest", data_dir=args.data_dir,
                                        mirror=server.url + "wikimedia/", pages_per_part=100),
            "commoncrawl": commoncrawl_flow(data_dir=args.data_dir, mirror=server.url + "commoncrawl/"),
            # Gated upstream: the sample stands in for the archives a user downloads by hand.
            "imagenet": imagenet_flow(data_dir=args.data_dir, manual_dir=str(SAMPLES / "imagenet"), size=64),
        }
    for source, summary in built.items():
        print(f"\n=== datamill demo: {source} ===")
        for dataset, info in summary.items():
            root = Path(args.data_dir) / "shards" / source / info["version"] / dataset
            print(f"\n{describe(root, sample=2)}\n  -> {root.resolve()}")
    print(f"\ndone in {time.time() - started:.1f}s")


if __name__ == "__main__":
    main()
