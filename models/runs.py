"""Which run a training belongs to: task + data snapshot + config, so new data never resumes an old model.

A run directory holds ``run.json`` (its identity: model, data version and snapshot, the
config fields that change what is learnt, the vocabularies). Resuming a run on other data,
or with another config, is refused with the way out spelled out; a new data version gets a
new run directory from ``run_for``; ``--init-from`` starts a new run from another run's
weights, only when the vocabularies match.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict
from pathlib import Path
from typing import Any

from pipeline.errors import ConfigError

# How long and how a run trains, not what it learns: changing these continues the same run.
PROCEDURAL = {"steps", "strategy", "checkpoint_every", "eval_every", "eval_batches", "log_every", "trace_batches",
              "baseline_batches", "patience", "jit_compile", "max_minutes"}


def data_identity(data: str) -> dict[str, Any]:
    """The data snapshot a run trains on, from the dataset's manifest."""
    from pipeline.features.stream import list_shards

    manifest = list_shards(str(data), "train")[1]
    return {"source": manifest["source"], "dataset": manifest["dataset"], "version": manifest["version"],
            "snapshot": manifest.get("snapshot_id") or manifest["config_hash"],
            "config_hash": manifest["config_hash"]}


def learning_config(config) -> dict[str, Any]:
    return {k: v for k, v in sorted(asdict(config).items()) if k not in PROCEDURAL}


def run_key(model: str, data: dict[str, Any], config) -> str:
    payload = json.dumps({"model": model, "data": data, "config": learning_config(config)}, sort_keys=True,
                         default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:12]


def run_for(runs_root: str | Path, model: str, data: str, config) -> Path:
    """The run directory for this model, data snapshot and config: ``<root>/<model>/<version>-<key>``."""
    identity = data_identity(data)
    version = re.sub(r"[^A-Za-z0-9._-]+", "_", identity["version"])
    return Path(runs_root) / model / f"{version}-{run_key(model, identity, config)}"


def identity(model: str, data: str, config, vocabulary: dict[str, Any]) -> dict[str, Any]:
    ident = data_identity(data)
    return {"model": model, "data": ident, "key": run_key(model, ident, config), "config": learning_config(config),
            "vocabulary": vocabulary}


def read_identity(run_dir: Path) -> dict[str, Any] | None:
    path = Path(run_dir) / "run.json"
    return json.loads(path.read_text()) if path.exists() else None


def check_same_run(run_dir: Path, saved: dict[str, Any] | None, wanted: dict[str, Any], has_checkpoint: bool
                   ) -> None:
    """Refuse to continue a run on other data or another config."""
    if saved is None:
        if has_checkpoint:
            raise ConfigError(f"{run_dir} holds checkpoints but no run.json (an older run): choose another --run-dir")
        return
    if saved["model"] != wanted["model"]:
        raise ConfigError(f"{run_dir} is a {saved['model']} run, not {wanted['model']}")
    if saved["data"] != wanted["data"]:
        old, new = saved["data"], wanted["data"]
        raise ConfigError(
            f"{run_dir} was trained on other data ({old['source']}/{old['dataset']} {old['version']}, snapshot "
            f"{old['snapshot']}); this is {new['version']}, snapshot {new['snapshot']}. Start a new run (another "
            f"--run-dir, or leave it out) or fine-tune from it with --init-from {run_dir}")
    if saved["config"] != wanted["config"]:
        changed = sorted(k for k in set(saved["config"]) | set(wanted["config"])
                         if saved["config"].get(k) != wanted["config"].get(k))
        raise ConfigError(f"{run_dir} was trained with another config ({', '.join(changed)} differ): "
                          f"start a new run or --init-from {run_dir}")


def check_vocabulary(source_run: Path, source: dict[str, Any] | None, vocabulary: dict[str, Any]) -> None:
    """Fine-tuning keeps the embeddings and output layer: their vocabularies must be the same."""
    if source is None:
        raise ConfigError(f"--init-from {source_run}: not a run directory (no run.json)")
    differ = sorted(k for k in set(source["vocabulary"]) | set(vocabulary)
                    if source["vocabulary"].get(k) != vocabulary.get(k))
    if differ:
        raise ConfigError(f"--init-from {source_run}: its {', '.join(differ)} differ from this data's; the "
                          "weights would meet other ids. Train a new run, or reuse that run's tokenizer")


def latest_checkpoint(run_dir: Path) -> str | None:
    import tensorflow as tf

    return tf.train.latest_checkpoint(str(Path(run_dir) / "checkpoints"))
