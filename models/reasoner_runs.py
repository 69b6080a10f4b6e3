"""Finished reasoner runs: find the newest, load it once, answer questions, evaluate it on the test split.

Runs are found by their ``report.json`` (model ``reasoner``), newest first, wherever they lie
under the data root (and ``runs/``, where ``datamill train`` puts them by default): the layout
of run directories is the training loop's business, not this module's.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.errors import ConfigError


def find_run(roots: list[Path]) -> Path:
    """The newest finished reasoner run under any of ``roots``."""
    found = []
    for root in roots:
        if Path(root).is_dir():
            for report in Path(root).rglob("report.json"):
                try:
                    if json.loads(report.read_text()).get("model") == "reasoner" and (report.parent / "model.keras").exists():
                        found.append(report.parent)
                except (OSError, ValueError):
                    continue
    if not found:
        raise ConfigError(f"--run: no finished reasoner run under {', '.join(map(str, roots))}; "
                          "train one with `datamill train reasoner --data ...`")
    return max(found, key=lambda p: (p / "report.json").stat().st_mtime)


def load(run_dir: Path):
    """(task, network) of a finished run: the model is loaded once."""
    import keras

    import models.reasoner  # noqa: F401  (registers the layers)
    from models.layers import CUSTOM_OBJECTS
    from models.registry import TASKS

    report = json.loads((Path(run_dir) / "report.json").read_text())
    if report.get("model") != "reasoner":
        raise ConfigError(f"--run: {run_dir} is a {report.get('model')} run, not a reasoner run")
    task = TASKS["reasoner"](report["data"]["root"], dict(report["config"].get("options", {})))
    task.test_sample = None
    network = keras.models.load_model(Path(run_dir) / "model.keras", custom_objects=CUSTOM_OBJECTS)
    return task, network


def evaluate_run(run_dir: Path, split: str = "test", limit: int | None = None, knn_train: int = 100_000
                 ) -> dict[str, Any]:
    """Exact match per family on ``split``, and the k-NN baseline (nearest of ``knn_train`` training questions)."""
    from models.reasoner import exact_match, load_rows
    from models.reasoner_knn import NgramKNN

    task, network = load(run_dir)
    rows = load_rows(task.data, split, limit)
    if rows is None:
        raise ConfigError(f"{task.data} has no {split} split")
    questions, answers, families = rows
    model = exact_match(task.answer(network, questions), answers, families)
    train_questions, train_answers, _ = load_rows(task.data, "train", knn_train)
    knn = exact_match(NgramKNN(train_questions, train_answers).predict(questions), answers, families)
    return {"split": split, "rows": len(questions), "model": model, "knn": knn, "knn_train_rows": len(train_questions)}


def format_evaluation(result: dict[str, Any]) -> str:
    lines = [f"{result['split']} split, {result['rows']:,} questions (k-NN over {result['knn_train_rows']:,} "
             "training questions)", f"{'family':<12} {'model':>8} {'k-NN':>8}"]
    for key in result["model"]:
        name = key.replace("exact_match_", "") if key != "exact_match" else "all"
        lines.append(f"{name:<12} {result['model'][key]:>8.2%} {result['knn'].get(key, np.nan):>8.2%}")
    return "\n".join(lines)
