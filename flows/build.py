"""The build flow: every configured source (in parallel), then features, then training — one config file."""

from __future__ import annotations

from typing import Any

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact

from pipeline.config import load_config, resolve_dataset
from pipeline.store.root import DataRoot


@task(name="build-source", retries=1, retry_delay_seconds=30)
def build_source(source: str, root: DataRoot, options: dict[str, Any], workers: int) -> dict[str, Any]:
    from pipeline import build as stages
    from pipeline.config import constructor_options
    from pipeline.sources import get_source

    manifests = stages.build(get_source(source, data_dir=root, **constructor_options(options)), root,
                             max_workers=workers, progress=False)
    return {dataset: {"version": m["version"], "rows": m["totals"]["rows"], "dropped": m["totals"]["dropped"],
                      "drops": m["totals"]["drops"]} for dataset, m in manifests.items()}


@task(name="build-tokenizer")
def build_tokenizer(root: str, columns: list[str], vocab: int) -> str:
    from pipeline.features.text import ensure_tokenizer

    return ensure_tokenizer(root, columns, vocab)


@task(name="train-model", retries=1, retry_delay_seconds=10)
def train_model(model: str, root: str, run_dir: str, config: dict[str, Any], runs_root: str = "runs"
                ) -> dict[str, Any]:
    from models.runs import run_for
    from models.train import TrainConfig, train

    # Each data snapshot (and config) gets its own run: a new version trains anew, a rerun resumes.
    target = run_dir or str(run_for(runs_root, model, root, TrainConfig(**config)))
    report = train(model, root, target, TrainConfig(**config), resume=True)
    return {"steps": report["steps"], "finished": report.get("finished", False), "run_dir": target,
            "metrics": report["metrics"], "baseline": report.get("baseline", {}),
            "translations": report.get("translations", {})}


@flow(name="build")
def build_flow(config: str = "datamill.toml", sources: list[str] | None = None, train: bool = True) -> dict[str, Any]:
    """Sources in parallel; then the tokenizers the config names; then each configured model."""
    settings = load_config(config)
    root = DataRoot.of(settings.data_dir)
    chosen = [s for s in settings.sources if sources is None or s in sources]
    futures = {s: build_source.submit(s, root, settings.source_options(s), settings.workers)
               for s in chosen}
    built = {s: f.result() for s, f in futures.items()}
    tokenizers = {ref: build_tokenizer(resolve_dataset(root, ref), spec.get("columns", ["text"]),
                                       spec.get("vocab", 8000))
                  for ref, spec in settings.features.items() if ref.split("/")[0] in built}
    trained = {}
    if train:
        for model, spec in settings.train.items():
            if spec["data"].split("/")[0] not in built:
                continue
            run_config = {k: v for k, v in spec.items() if k not in ("data", "run_dir")}
            trained[model] = train_model(model, resolve_dataset(root, spec["data"]),
                                         spec.get("run_dir", ""), run_config, f"{root}/runs")
    create_markdown_artifact(markdown=_summary(built, trained), key="build-summary",
                             description="Rows and drops per dataset; metrics per model")
    return {"sources": built, "tokenizers": tokenizers, "models": trained}


def _summary(built: dict[str, Any], trained: dict[str, Any]) -> str:
    lines = ["| dataset | version | rows | dropped |", "|---|---|---|---|"]
    lines += [f"| {s}/{d} | {v['version']} | {v['rows']:,} | {v['dropped']:,} |"
              for s, datasets in built.items() for d, v in datasets.items()]
    if trained:
        lines += ["", "| model | steps | metrics |", "|---|---|---|"]
        lines += [f"| {m} | {r['steps']} | " + ", ".join(f"{k} {v:.4g}" for k, v in r["metrics"].items()) + " |"
                  for m, r in trained.items()]
    return "\n".join(lines)
