"""Data cards and summaries of finished datasets (what `inspect` prints and README.md holds)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from pipeline.store.location import Location
from pipeline.store.snapshots import MANIFEST, SNAPSHOTS, list_snapshots, load_manifest, manifest_schema
from pipeline.store.shards import DatasetSpec

HF_LICENSES = {"tatoeba": "cc-by-2.0", "wikipedia": "cc-by-sa-4.0"}


def write_card(spec: DatasetSpec, manifest: dict[str, Any]) -> Path:
    """README.md with Hugging Face dataset-card front matter: the folder loads with `datasets`.

    The front matter lists the snapshot's files one by one, so `datasets` never globs (a glob would mix
    in other snapshots' files).
    """
    splits = manifest["splits"]
    front = ["---", f"license: {HF_LICENSES.get(spec.source, 'other')}",
             f"pretty_name: {spec.source} {spec.dataset} {spec.version}", "configs:",
             "- config_name: default", "  data_files:"]
    for split in splits:
        front += [f"  - split: {split}", "    path:"]
        front += [f"    - {s['file']}" for s in manifest["shards"] if s["split"] == split]
    front.append("---")
    rows = "\n".join(f"| {name} | {s['rows']:,} | {s['shards']} | {s['bytes']:,} |" for name, s in splits.items())
    drops = "\n".join(f"| {reason} | {n:,} |" for reason, n in manifest["totals"]["drops"].items()) or "| (none) | 0 |"
    body = f"""
# {spec.source} / {spec.dataset} — version {spec.version}

{spec.description}

Built by datamill. This card describes snapshot `{manifest.get('snapshot_id', '-')}`; every snapshot's
manifest is in `{SNAPSHOTS}/` (the newest is copied to `{MANIFEST}`). Read the files a manifest lists,
never by globbing; dropped records and the reason for each are in `_rejects/`.

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

{_quality(manifest)}{_source_section(spec, manifest)}{_lineage(manifest)}{_plots(manifest)}
## Configuration (hash `{manifest['config_hash']}`)

```json
{json.dumps(spec.config, indent=2, sort_keys=True, default=str)}
```
"""
    location = Location(spec.root)
    location.write_bytes("README.md", ("\n".join(front) + "\n" + body).encode())
    return location.public("README.md")


def add_plots(root: Path | str, manifest: dict[str, Any]) -> dict[str, Any]:
    """Draw the card's plots for a snapshot about to be committed; they are listed in it (``files``)."""
    from pipeline.plots import card_plots

    made = card_plots(root, manifest)
    manifest["plots"] = [{"title": title, "file": path} for title, path in made]
    manifest["files"] = sorted(set(manifest.get("files", [])) | {path for _, path in made})
    return manifest


def _plots(manifest: dict[str, Any]) -> str:
    made = manifest.get("plots") or []
    if not made:
        return ""
    return "## Plots\n\n" + "\n\n".join(f"![{p['title']}]({p['file']})" for p in made) + "\n\n"


def _lineage(manifest: dict[str, Any]) -> str:
    lineage = manifest.get("lineage")
    if not lineage:
        return ""
    return (f"## Changes since {lineage['previous']}\n\n| added | changed | removed | unchanged |\n|---|---|---|---|\n"
            f"| {lineage['added']:,} | {lineage['changed']:,} | {lineage['removed']:,} | {lineage['unchanged']:,} |\n\n"
            f"The ids of every added, changed and removed record are in `{lineage['table']}`.\n\n")


def _source_section(spec: DatasetSpec, manifest: dict[str, Any]) -> str:
    """A section the source adds to its cards (e.g. Wikipedia's prose retention), if it has one."""
    return spec.card_section(spec.root, manifest) + "\n" if spec.card_section is not None else ""


def _quality(manifest: dict[str, Any]) -> str:
    """Per-shard counters (e.g. pages with markup residue) as rates of the shard's rows."""
    totals = manifest["totals"].get("stats") or {}
    if not totals:
        return ""
    names = sorted(totals)
    rows = [f"| all | {manifest['totals']['rows']:,} | " + _counters(totals, names, manifest["totals"]["rows"]) + " |"]
    for shard in manifest["shards"]:
        rows.append(f"| {shard['file']} | {shard['rows']:,} | " +
                    _counters(shard.get("stats", {}), names, shard["rows"]) + " |")
    header = "| shard | rows | " + " | ".join(names) + " |\n|---|---|" + "---|" * len(names)
    return "## Quality\n\n" + header + "\n" + "\n".join(rows) + "\n"


def _counters(stats: dict[str, int], names: list[str], rows: int) -> str:
    # Counts of rows read as rates; totals of words (prose retention) are not rows, so they stay counts.
    return " | ".join(f"{stats.get(n, 0):,}" if n.endswith("words") else
                      f"{stats.get(n, 0):,} ({stats.get(n, 0) / max(1, rows):.2%})" for n in names)


def _short(value: Any) -> Any:
    """A sample value fit for a terminal: long text cut, bytes shown by size."""
    if isinstance(value, dict):
        return {k: _short(v) for k, v in value.items()}
    if isinstance(value, bytes):
        return f"<{len(value):,} bytes>"
    if isinstance(value, str) and len(value) > 80:
        return value[:80] + "…"
    return value


def describe(root: Path | str, sample: int = 3, snapshot: str | None = None) -> str:
    """Schema, counts per split, drops by reason and a few rows of a snapshot (default: the newest)."""
    location = Location(root)
    manifest = load_manifest(location, snapshot)
    history = list_snapshots(location)
    lines = [f"{manifest['source']}/{manifest['dataset']} version {manifest['version']} "
             f"(config {manifest['config_hash']}, {manifest['totals']['shards']} shards, "
             f"{manifest['totals']['bytes']:,} bytes)",
             f"snapshot {manifest.get('snapshot_id', '-')} ({len(history)} committed: "
             f"{', '.join(history[-3:]) or 'none'}{' ...' if len(history) > 3 else ''})", "", "schema:"]
    lines += [f"  {field.name}: {field.type}" for field in manifest_schema(manifest)]
    lines += ["", "splits:"]
    lines += [f"  {name}: {s['rows']:,} rows in {s['shards']} shards" for name, s in manifest["splits"].items()]
    lines += ["", f"dropped: {manifest['totals']['dropped']:,}"]
    lines += [f"  {reason}: {n:,}" for reason, n in manifest["totals"]["drops"].items()]
    for name, n in (manifest["totals"].get("stats") or {}).items():
        lines.append(f"{name}: {n:,} of {manifest['totals']['rows']:,} rows ({n / max(1, manifest['totals']['rows']):.2%})")
    if manifest["shards"] and sample:
        name = manifest["shards"][0]["file"]
        lines += ["", f"sample rows ({name}):"]
        with location.open(name) as f:
            first = pq.ParquetFile(f).read_row_group(0).slice(0, sample)
        for row in first.to_pylist():
            lines.append(f"  {_short(row)}")
    return "\n".join(lines)
