"""Data cards and summaries of finished datasets (what `inspect` prints and README.md holds)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from pipeline.shards import DatasetSpec, load_manifest, manifest_schema, shard_paths
from pipeline.storage import write_bytes_atomic

HF_LICENSES = {"tatoeba": "cc-by-2.0", "wikipedia": "cc-by-sa-4.0"}


def write_card(spec: DatasetSpec, manifest: dict[str, Any]) -> Path:
    """README.md with Hugging Face dataset-card front matter: the folder loads with `datasets`."""
    splits = manifest["splits"]
    front = ["---", f"license: {HF_LICENSES.get(spec.source, 'other')}",
             f"pretty_name: {spec.source} {spec.dataset} {spec.version}", "configs:",
             "- config_name: default", "  data_files:"]
    for split in splits:
        front += [f"  - split: {split}", f"    path: {split}/*.parquet"]
    front.append("---")
    rows = "\n".join(f"| {name} | {s['rows']:,} | {s['shards']} | {s['bytes']:,} |" for name, s in splits.items())
    drops = "\n".join(f"| {reason} | {n:,} |" for reason, n in manifest["totals"]["drops"].items()) or "| (none) | 0 |"
    body = f"""
# {spec.source} / {spec.dataset} — version {spec.version}

{spec.description}

Built by datamill. Read the shards listed in `_manifest.json` (never by globbing);
dropped records and the reason for each are in `_rejects/`.

## License and attribution

{spec.license}

## Splits

| split | rows | shards | bytes |
|---|---|---|---|
{rows}

## Dropped records

| reason | count |
|---|---|
{drops}

{_quality(manifest)}{_lineage(manifest)}{_plots(spec.root, manifest)}
## Configuration (hash `{manifest['config_hash']}`)

```json
{json.dumps(spec.config, indent=2, sort_keys=True, default=str)}
```
"""
    path = spec.root / "README.md"
    write_bytes_atomic(path, ("\n".join(front) + "\n" + body).encode())
    return path


def _plots(root: Path, manifest: dict[str, Any]) -> str:
    from pipeline.plots import card_plots

    made = card_plots(root, manifest)
    if not made:
        return ""
    return "## Plots\n\n" + "\n\n".join(f"![{title}]({path})" for title, path in made) + "\n\n"


def _lineage(manifest: dict[str, Any]) -> str:
    lineage = manifest.get("lineage")
    if not lineage:
        return ""
    return (f"## Changes since {lineage['previous']}\n\n| added | changed | removed | unchanged |\n|---|---|---|---|\n"
            f"| {lineage['added']:,} | {lineage['changed']:,} | {lineage['removed']:,} | {lineage['unchanged']:,} |\n\n"
            f"The ids of every added, changed and removed record are in `{lineage['table']}`.\n\n")


def _quality(manifest: dict[str, Any]) -> str:
    """Per-shard counters (e.g. pages with markup residue) as rates of the shard's rows."""
    totals = manifest["totals"].get("stats") or {}
    if not totals:
        return ""
    names = sorted(totals)
    rows = [f"| all | {manifest['totals']['rows']:,} | " +
            " | ".join(f"{totals[n]:,} ({totals[n] / max(1, manifest['totals']['rows']):.2%})" for n in names) + " |"]
    for shard in manifest["shards"]:
        stats = shard.get("stats", {})
        rows.append(f"| {shard['file']} | {shard['rows']:,} | " +
                    " | ".join(f"{stats.get(n, 0):,} ({stats.get(n, 0) / max(1, shard['rows']):.2%})" for n in names) + " |")
    header = "| shard | rows | " + " | ".join(names) + " |\n|---|---|" + "---|" * len(names)
    return "## Quality\n\n" + header + "\n" + "\n".join(rows) + "\n"


def _short(value: Any) -> Any:
    """A sample value fit for a terminal: long text cut, bytes shown by size."""
    if isinstance(value, dict):
        return {k: _short(v) for k, v in value.items()}
    if isinstance(value, bytes):
        return f"<{len(value):,} bytes>"
    if isinstance(value, str) and len(value) > 80:
        return value[:80] + "…"
    return value


def describe(root: Path | str, sample: int = 3) -> str:
    """Schema, counts per split, drops by reason and a few rows of a finished dataset."""
    manifest = load_manifest(root)
    lines = [f"{manifest['source']}/{manifest['dataset']} version {manifest['version']} "
             f"(config {manifest['config_hash']}, {manifest['totals']['shards']} shards, "
             f"{manifest['totals']['bytes']:,} bytes)", "", "schema:"]
    lines += [f"  {field.name}: {field.type}" for field in manifest_schema(manifest)]
    lines += ["", "splits:"]
    lines += [f"  {name}: {s['rows']:,} rows in {s['shards']} shards" for name, s in manifest["splits"].items()]
    lines += ["", f"dropped: {manifest['totals']['dropped']:,}"]
    lines += [f"  {reason}: {n:,}" for reason, n in manifest["totals"]["drops"].items()]
    for name, n in (manifest["totals"].get("stats") or {}).items():
        lines.append(f"{name}: {n:,} of {manifest['totals']['rows']:,} rows ({n / max(1, manifest['totals']['rows']):.2%})")
    paths = shard_paths(root)
    if paths and sample:
        lines += ["", f"sample rows ({paths[0].relative_to(root)}):"]
        first = pq.ParquetFile(paths[0]).read_row_group(0).slice(0, sample)
        for row in first.to_pylist():
            lines.append(f"  {_short(row)}")
    return "\n".join(lines)
