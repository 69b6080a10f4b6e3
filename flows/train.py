"""The training flow: one model on one prepared dataset, as a Prefect task (resumable)."""

from __future__ import annotations

from typing import Any

from prefect import flow, task

from models.train import TrainConfig, train


@task(name="train-model", retries=1, retry_delay_seconds=10)
def train_task(model: str, data: str, run_dir: str, config: dict[str, Any]) -> dict[str, Any]:
    from models.runs import run_for

    # A retry resumes from the last checkpoint; a new data snapshot gets a new run.
    target = run_dir or str(run_for("runs", model, data, TrainConfig(**config)))
    report = train(model, data, target, TrainConfig(**config), resume=True)
    return {"model": model, "steps": report["steps"], "metrics": report["metrics"],
            "baseline": report.get("baseline", {}), "translations": report.get("translations", {})}


@flow(name="train")
def train_flow(model: str, data: str, run_dir: str = "", steps: int = 1000, batch_size: int = 32,
               options: dict[str, Any] | None = None) -> dict[str, Any]:
    config = {"steps": steps, "batch_size": batch_size, "options": options or {}}
    return train_task(model, data, run_dir, config)


if __name__ == "__main__":
    import sys

    train_flow(sys.argv[1], sys.argv[2])
