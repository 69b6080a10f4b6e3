"""A dataset folder's history of immutable snapshots: commit, open (newest or by id), verify, gc.

Layout of one dataset folder (a local path or an fsspec URL)::

    _snapshots/<id>.json    one manifest per committed build: the commit itself, written once, never changed
    _manifest.json          a copy of the newest snapshot, for readers that predate snapshots
    <split>/part-<part>.<attempt>.<seq>.parquet   data files; a name is written by one build only
    _rejects/, _lineage/, _plots/<id>/, README.md

Ids sort by commit time, so the newest snapshot is the largest id. A snapshot is committed by
writing its manifest last, in one atomic step (a rename on local disk, one PUT on an object
store); until then nothing a reader trusts names its files. ``gc`` deletes only files that no
retained snapshot and no unfinished build can still need.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.errors import ShardError
from pipeline.store.location import Location
from pipeline.store.packs import PACKS

FORMAT_VERSION = 1
MANIFEST = "_manifest.json"
SNAPSHOTS = "_snapshots"
PARTS = "_parts"
KEEP = 2


def new_snapshot_id(config_hash: str) -> str:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    return f"{stamp}-{config_hash[:8]}-{secrets.token_hex(3)}"


def _location(root: Path | str | Location) -> Location:
    return root if isinstance(root, Location) else Location(root)


def list_snapshots(root: Path | str | Location) -> list[str]:
    """Committed snapshot ids, oldest first."""
    names = _location(root).listdir(SNAPSHOTS)
    return sorted(n.rsplit("/", 1)[-1][:-5] for n in names if n.endswith(".json"))


def load_manifest(root: Path | str | Location, snapshot: str | None = None) -> dict[str, Any]:
    """The manifest of snapshot ``snapshot`` (default: the newest committed one)."""
    location = _location(root)
    ids = list_snapshots(location)
    if snapshot is not None and snapshot not in ids:
        raise ShardError(f"{location.url}: no snapshot {snapshot!r} (have: {', '.join(ids) or 'none'})")
    name = f"{SNAPSHOTS}/{snapshot or ids[-1]}.json" if ids else MANIFEST
    try:
        manifest = location.read_json(name)
    except FileNotFoundError as err:
        raise ShardError(f"{location.url}: no {MANIFEST}; is this a finished datamill dataset?") from err
    if manifest.get("format_version") != FORMAT_VERSION:
        raise ShardError(f"{location.url}/{name}: format version {manifest.get('format_version')} "
                         f"is not {FORMAT_VERSION}")
    return manifest


def shard_paths(root: Path | str, split: str | None = None, snapshot: str | None = None) -> list[Path | str]:
    """The data files of a snapshot (one split or all): ``Path``s on local disk, URLs elsewhere."""
    location = _location(root)
    manifest = load_manifest(location, snapshot)
    return [location.public(s["file"]) for s in manifest["shards"] if split in (None, s["split"])]


def manifest_schema(manifest: dict[str, Any]) -> pa.Schema:
    return pa.ipc.read_schema(pa.py_buffer(base64.b64decode(manifest["arrow_schema"])))


def read_split(root: Path | str, split: str | None = None, columns: list[str] | None = None,
               snapshot: str | None = None) -> pa.Table:
    """Read a whole split of a snapshot into memory: for inspection and tests, not for training."""
    location = _location(root)
    manifest = load_manifest(location, snapshot)
    schema = manifest_schema(manifest)
    tables = []
    for s in manifest["shards"]:
        if split in (None, s["split"]):
            with location.open(s["file"]) as f:
                tables.append(pq.read_table(f, columns=columns, schema=schema))
    return pa.concat_tables(tables) if tables else schema.empty_table().select(columns or schema.names)


# -- committing ---------------------------------------------------------------------------

def same_content(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Two manifests describe the same rows in the same files (a rerun that changed nothing)."""
    keys = ("config_hash", "shards", "parts")
    return all(a.get(k) == b.get(k) for k in keys)


def commit(root: Path | str | Location, manifest: dict[str, Any]) -> None:
    """Publish ``manifest`` as a snapshot, then point ``_manifest.json`` at the newest snapshot."""
    location = _location(root)
    # Compact: every reader parses it, and a build of many parts lists each (``datamill inspect`` shows it).
    body = json.dumps(manifest, sort_keys=True, separators=(",", ":")) + "\n"
    location.write_bytes(f"{SNAPSHOTS}/{manifest['snapshot_id']}.json", body.encode())
    refresh_pointer(location)


def refresh_pointer(location: Location) -> None:
    """``_manifest.json`` := the newest snapshot (under a lock where the store has locks)."""
    with location.lock(".locks/manifest.lock"):
        ids = list_snapshots(location)
        if ids:
            location.write_bytes(MANIFEST, location.read_bytes(f"{SNAPSHOTS}/{ids[-1]}.json"))


# -- checking -------------------------------------------------------------------------------

def check_sizes(root: Path | str | Location, manifest: dict[str, Any], split: str | None = None) -> None:
    """Every listed file exists with its recorded size: one listing per directory, no reads."""
    location = _location(root)
    wanted = [s for s in manifest["shards"] if split in (None, s["split"])]
    listed: dict[str, int] = {}
    for directory in sorted({s["file"].rpartition("/")[0] for s in wanted}):
        listed.update(location.listdir(directory))
    for s in wanted:
        size = listed.get(s["file"])
        if size != s["bytes"]:
            found = "missing" if size is None else f"{size:,} bytes"
            raise ShardError(f"{location.url}/{s['file']}: size {found}, the snapshot says {s['bytes']:,}; "
                             f"run `datamill verify` on the dataset")


def verify(root: Path | str | Location, snapshot: str | None = None) -> list[str]:
    """Size and sha256 of every file a snapshot lists; returns one line per problem (empty: all good)."""
    location = _location(root)
    manifest = load_manifest(location, snapshot)
    problems = []
    for s in manifest["shards"]:
        try:
            with location.open(s["file"]) as f:
                size = f.size if hasattr(f, "size") and f.size is not None else None
        except FileNotFoundError:
            problems.append(f"{s['file']}: missing")
            continue
        digest = location.sha256(s["file"])
        size = size if size is not None else location.fs.size(location.full(s["file"]))
        if size != s["bytes"]:
            problems.append(f"{s['file']}: size {size:,}, expected {s['bytes']:,}")
        elif digest != s["sha256"]:
            problems.append(f"{s['file']}: sha256 {digest}, expected {s['sha256']}")
    return problems


# -- garbage collection ------------------------------------------------------------------------

def referenced(manifest: dict[str, Any]) -> set[str]:
    """Every file name a snapshot needs besides its own manifest."""
    names = {s["file"] for s in manifest["shards"]}
    names |= {p["rejects"] for p in manifest.get("parts", {}).values() if p.get("rejects")}
    names |= set(manifest.get("files", []))
    if manifest.get("lineage", {}).get("table"):
        names.add(manifest["lineage"]["table"])
    return names


def gc(root: Path | str | Location, keep: int = KEEP, grace_seconds: float = 3600.0,
       dry_run: bool = False) -> list[str]:
    """Delete snapshots beyond the newest ``keep`` (never the newest) and files none of the kept ones lists.

    Files of builds still running (named by an unfinished part's journal) and anything younger than
    ``grace_seconds`` are kept, so a concurrent build never loses a file it is about to commit.
    """
    location = _location(root)
    with location.lock(".locks/commit.lock"):  # not while a build commits (it checks its files under this lock)
        return _collect(location, keep, grace_seconds, dry_run)


def _collect(location: Location, keep: int, grace_seconds: float, dry_run: bool) -> list[str]:
    ids = list_snapshots(location)
    if not ids:
        return []
    kept, dropped = ids[-max(1, keep):], ids[:-max(1, keep)]
    needed = set().union(*(referenced(load_manifest(location, s)) for s in kept))
    files = location.walk()
    cutoff = time.time() - grace_seconds
    removable = [f"{SNAPSHOTS}/{s}.json" for s in dropped]
    # Packs first: a pack a kept snapshot uses keeps its work files, and so the parts that wrote them.
    records = sorted(n for n in files if n.startswith(PACKS + "/") and n.endswith(".json"))
    records += sorted(n for n in files if n.startswith(PARTS + "/") and n.endswith(".json"))
    for name in records:
        record_files = _journal_files(location.read_json(name))
        if name.endswith(".attempt.json") or _mtime(files[name]) >= cutoff or record_files & needed:
            needed |= record_files  # a build in flight, a recent one that may resume, or a part in use
        else:
            removable.append(name)
    for name, info in sorted(files.items()):
        if _collectable(name) and name not in needed and _mtime(info) < cutoff:
            removable.append(name)
    if not dry_run:
        for name in removable:
            location.remove(name)
    return removable


def _collectable(name: str) -> bool:
    """Data, rejects, lineage and plot files; never manifests, journals, locks or the card."""
    # _signatures/: CommonCrawl's dedup signatures, read by a later build's --dedup-against (not listed by manifests)
    if name.startswith((SNAPSHOTS + "/", PARTS + "/", PACKS + "/", ".locks/", "_signatures/")) or "/" not in name:
        return False
    return name.endswith((".parquet", ".png"))


def _journal_files(record: dict[str, Any]) -> set[str]:
    """The files a record names: an attempt's files so far, a finished part's shards and rejects, a pack's
    work files and shard."""
    names = set(record.get("files", [])) | {s["file"] for s in record.get("shards", [])}
    return names | ({record["rejects"]} if record.get("rejects") else set())


def _mtime(info: dict[str, Any]) -> float:
    value = info.get("mtime") or info.get("LastModified") or info.get("created") or 0
    return value.timestamp() if isinstance(value, datetime) else float(value)
