"""One config file (``datamill.toml``) for scheduled builds: sources and their options, features, training."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.errors import ConfigError
from pipeline.store.root import DataRoot

# When each upstream publishes: the default cron schedules of `datamill serve`.
SCHEDULES = {
    "tatoeba": "0 6 * * 6",  # weekly exports (Saturday)
    "wikipedia": "0 6 1,20 * *",  # dump runs start on the 1st and the 20th; `latest` picks the newest finished one
    "commoncrawl": "0 6 1 * *",  # a new crawl roughly every month
}
SOURCES = ("tatoeba", "wikipedia", "commoncrawl", "imagenet")


@dataclass
class Config:
    data_dir: str = "data"
    runner: str = "process"
    dask_address: str | None = None
    workers: int = 2
    sources: dict[str, dict[str, Any]] = field(default_factory=dict)
    features: dict[str, dict[str, Any]] = field(default_factory=dict)  # "source/dataset" → tokenizer options
    train: dict[str, dict[str, Any]] = field(default_factory=dict)  # model → {data, steps, batch_size, options}

    def schedule(self, source: str) -> str | None:
        return self.sources.get(source, {}).get("schedule", SCHEDULES.get(source))

    def source_options(self, source: str) -> dict[str, Any]:
        return {k: v for k, v in self.sources.get(source, {}).items() if k != "schedule"}


def load_config(path: str | Path) -> Config:
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"--config: {path} does not exist")
    try:
        raw = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"--config: {path} is not valid TOML: {err}") from err
    unknown = set(raw.get("sources", {})) - set(SOURCES)
    if unknown:
        raise ConfigError(f"--config: unknown source(s) {', '.join(sorted(unknown))}; known: {', '.join(SOURCES)}")
    known = {"data_dir", "runner", "dask_address", "workers", "sources", "features", "train"}
    extra = set(raw) - known
    if extra:
        raise ConfigError(f"--config: unknown key(s) {', '.join(sorted(extra))}")
    return Config(**raw)


def resolve_dataset(root: DataRoot | str | Path, ref: str) -> str:
    """``"tatoeba/pairs"`` → the newest built version's directory of that dataset (on local disk)."""
    source, _, dataset = ref.partition("/")
    shards = Path(str(DataRoot.of(root).shards))
    candidates = sorted((shards / source).glob(f"*/{dataset}/_manifest.json"), key=lambda p: p.stat().st_mtime)
    if not candidates:
        raise ConfigError(f"no built dataset {ref!r} under {shards}; build {source} first")
    return str(candidates[-1].parent)


def constructor_options(options: dict[str, Any]) -> dict[str, Any]:
    """Config keys are the flows' parameter names; the sources' constructors take a few in other units."""
    from pipeline.store.splits import parse_splits

    options = dict(options)
    if isinstance(options.get("splits"), str):
        options["splits"] = parse_splits(options["splits"])
    if "shard_mb" in options:
        options["target_shard_bytes"] = int(options.pop("shard_mb")) << 20
    if "max_page_mb" in options:
        options["max_page_bytes"] = int(float(options.pop("max_page_mb")) * (1 << 20))
    for flow_only in ("attempts", "workers", "runner", "dask_address"):
        options.pop(flow_only, None)
    return options
