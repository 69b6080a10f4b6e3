"""An experiment file (``datamill train --config exp.toml``): TrainConfig fields, model, data, [options]."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path
from typing import Any

from models.reasoner_recipe import RECIPE as REASONER_RECIPE
from models.train import TrainConfig

RUN_SETTINGS = ("model", "data", "run_dir", "resume", "init_from")
RECIPES = {"reasoner": REASONER_RECIPE}


def experiment(path: str | Path | None, given: dict[str, Any]) -> tuple[str, str, TrainConfig, dict[str, Any]]:
    """(model, data, config, run settings) from an experiment TOML, the ``given`` values overriding it."""
    import tomllib

    from pipeline.errors import ConfigError

    settings: dict[str, Any] = {}
    if path is not None:
        with open(path, "rb") as handle:
            settings = tomllib.load(handle)
    model = given.get("model") or settings.get("model")
    recipe = dict(RECIPES.get(model, {}))  # a model's own defaults, beneath the file and the flags
    options = {**recipe.pop("options", {}), **settings.get("options", {}), **given.get("options", {})}
    settings = {**recipe, **settings, **{k: v for k, v in given.items() if k != "config_file"}, "options": options}
    extra = {k: settings.pop(k) for k in RUN_SETTINGS if settings.get(k) is not None}
    settings = {k: v for k, v in settings.items() if v is not None and k not in RUN_SETTINGS}
    known = {f.name for f in fields(TrainConfig)}
    unknown = sorted(set(settings) - known)
    if unknown:
        raise ConfigError(f"{path or 'train'}: unknown setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    for name in ("model", "data"):
        if name not in extra:
            raise ConfigError(f"say which {name} to train: {'the model argument' if name == 'model' else '--data'}"
                              f" or `{name} = ...` in --config")
    return str(extra.pop("model")), str(extra.pop("data")), TrainConfig(**settings), extra
