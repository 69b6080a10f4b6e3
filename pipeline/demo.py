"""`make demo`: the whole mission offline on the embedded samples, through the scheduled-build flow.

Serves ``data/samples/`` on 127.0.0.1 laid out like the real hosts, writes a datamill.toml
that points the production code at it (ImageNet's sample stands in for a manual
download), and runs the build flow: the four sources in parallel → tokenizers → a short
training of each model. Then a small generated reasoning set and a brief reasoner training,
answering the seed question. Ends with ``data/report.md``: counts, drops, metrics and plots.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from pipeline.localserver import serving

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "samples"

CONFIG = """# written by `make demo`: the production flows pointed at a local copy of each upstream
data_dir = "{data}"
workers = 2

[sources.tatoeba]
mirror = "{url}tatoeba/"
bucket_ids = 500
pairs = "eng-fra,fra-eng"  # the demo translator learns one language pair, both ways

[sources.wikipedia]
mirror = "{url}wikimedia/"
wiki = "simplewiki"
date = "latest"
pages_per_part = 100
splits = "train=0.9,validation=0.05,test=0.05"  # a sample this small needs a larger validation share

[sources.commoncrawl]
mirror = "{url}commoncrawl/"

[sources.imagenet]
manual_dir = "{samples}/imagenet"
size = 64

[features."wikipedia/articles"]
vocab = 1000

[features."tatoeba/pairs"]
vocab = 600
columns = ["source_text", "target_text"]

[train.language_id]
data = "tatoeba/sentences"
steps = 150
batch_size = 32
learning_rate = 0.003
options = {{ dim = 32, vocab = 600 }}

[train.image_classifier]
data = "imagenet/classification"
steps = 80
batch_size = 16
eval_every = 40
options = {{ image_size = 32, width = 8, depth = 1 }}

[train.language_model]
data = "wikipedia/articles"
steps = 80
batch_size = 16
options = {{ seq_len = 48, dim = 64, layers = 2, vocab = 1000 }}

[train.translator]
data = "tatoeba/pairs"
steps = 400
batch_size = 32
learning_rate = 0.002
eval_every = 200
options = {{ max_len = 16, dim = 64, layers = 2, vocab = 600 }}
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default="data", help="where raw files, shards and runs go")
    args = parser.parse_args()
    from flows.build import build_flow

    data = Path(args.data_dir).resolve()
    started = time.time()
    with serving(SAMPLES) as server:
        print(f"serving the sample upstreams {SAMPLES} at {server.url}", flush=True)
        config = data / "demo.toml"
        data.mkdir(parents=True, exist_ok=True)
        config.write_text(CONFIG.format(data=data, url=server.url, samples=SAMPLES))
        result = build_flow(config=str(config))
    result["reasoning"] = reasoning_demo(data)
    report = write_report(data, result, time.time() - started)
    print("\n" + report.read_text())
    print(f"report: {report}")


def reasoning_demo(data: Path, examples: int = 20_000, steps: int = 150) -> dict:
    """A small generated reasoning set, a brief training, and the seed question answered by the model."""
    from models.train import TrainConfig, train
    from pipeline import build as stages
    from pipeline.sources.reasoning import Reasoning
    from pipeline.store.root import DataRoot

    started = time.time()
    data_root = DataRoot(data)
    source = Reasoning(data_root, examples=examples, families="between", part_rows=examples // 2)
    manifest = stages.build(source, data_root, max_workers=2, progress=False)["questions"]
    root = data_root.shards / "reasoning" / f"seed{source.seed}" / "questions"
    config = TrainConfig(steps=steps, batch_size=64, learning_rate=0.003, eval_every=steps, eval_batches=2,
                         checkpoint_every=steps, options={"test_sample": 400})
    report = train("reasoner", str(root), data / "runs" / "reasoner-demo", config)
    summary = {"rows": manifest["totals"]["rows"], "redrawn": manifest["totals"]["drops"], "steps": report["steps"],
               "seed_question": report["seed_question"], "seed_answer": report["seed_answer"],
               "test_exact_match": report["metrics"].get("test_exact_match"),
               "knn_test_exact_match": report.get("baseline", {}).get("knn_test_exact_match"),
               "seconds": round(time.time() - started, 1)}
    print(f"reasoning: {summary['seed_question']} → {summary['seed_answer']} (after {steps} steps; test exact "
          f"match {summary['test_exact_match']:.1%}, k-NN {summary['knn_test_exact_match']:.1%})", flush=True)
    return summary


def write_report(data: Path, result: dict, seconds: float) -> Path:
    from pipeline.config import resolve_dataset
    from pipeline.store.shards import load_manifest

    lines = ["# datamill demo report", "", f"Built in {seconds:.0f} s from the samples in `data/samples/`.", "",
             "## Datasets", "", "| dataset | version | rows | dropped (by reason) | card |", "|---|---|---|---|---|"]
    plots = []
    for source, datasets in result["sources"].items():
        for dataset, info in datasets.items():
            root = Path(resolve_dataset(data, f"{source}/{dataset}"))
            drops = ", ".join(f"{k} {v}" for k, v in load_manifest(root)["totals"]["drops"].items()) or "none"
            lines.append(f"| {source}/{dataset} | {info['version']} | {info['rows']:,} | {drops} | "
                         f"`{root.relative_to(data)}/README.md` |")
            plots += [f"![{source}/{dataset} {p.stem}]({p.relative_to(data)})" for p in sorted((root / "_plots").glob("*.png"))]
    lines += ["", "## Models", "", "| model | steps | validation | baseline (k-NN) |", "|---|---|---|---|"]
    for model, info in result["models"].items():
        metrics = ", ".join(f"{k} {v:.3g}" for k, v in info["metrics"].items())
        baseline = ", ".join(f"{k} {v:.3g}" for k, v in info.get("baseline", {}).items()) or "—"
        lines.append(f"| {model} | {info['steps']} | {metrics} | {baseline} |")
    translations = result["models"].get("translator", {}).get("translations", {})
    if translations:
        lines += ["", "Greedy translations after the short training:", ""]
        lines += [f"- {source} → {target}" for source, target in translations.items()]
    reasoning = result.get("reasoning")
    if reasoning:
        lines += ["", "## Reasoning (generated questions, brief training)", "",
                  f"{reasoning['rows']:,} `between` questions generated; {reasoning['steps']} training steps; "
                  f"test exact match {reasoning['test_exact_match']:.1%} (k-NN {reasoning['knn_test_exact_match']:.1%}).",
                  "", f"> {reasoning['seed_question']}", "", f"Model's answer: **{reasoning['seed_answer']}** "
                  "(the recipe in the README trains far longer).", ""]
    lines += ["", "## Plots", "", *plots, ""]
    report = data / "report.md"
    report.write_text("\n".join(lines))
    (data / "report.json").write_text(json.dumps(result, indent=1, default=str))
    return report


if __name__ == "__main__":
    main()
