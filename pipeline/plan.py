"""Before a run: what will be fetched, how much disk raw files and shards need, and how long it should take."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from pipeline.errors import ConfigError
from pipeline.acquire.releases import Release

# Shards per raw byte, and raw MB processed per second per worker, when no earlier build says better.
# The rates come from bench/RESULTS.md; the ratios are rough (text shards are zstd Parquet).
DEFAULTS = {"tatoeba": (1.2, 200.0), "wikipedia": (0.5, 3.0), "commoncrawl": (0.3, 10.0), "imagenet": (0.3, 24.0)}
DOWNLOAD_MB_S = 20.0
PROBE_SAMPLE = 20


@dataclass
class Plan:
    release: Release
    files: int
    download_bytes: int
    raw_bytes: int
    shard_bytes: int
    free_bytes: int
    download_seconds: float
    process_seconds: float
    estimated: bool  # some sizes were extrapolated from a sample

    @property
    def disk_bytes(self) -> int:
        return self.raw_bytes + self.shard_bytes

    def describe(self) -> str:
        gb = 1e9
        lines = [f"{self.release.source} {self.release.version}: {self.files} files",
                 f"  to download: {self.download_bytes / gb:,.2f} GB" + (" (estimated from a sample)" if self.estimated else ""),
                 f"  disk needed: {self.disk_bytes / gb:,.2f} GB (raw {self.raw_bytes / gb:,.2f} + shards ~{self.shard_bytes / gb:,.2f});"
                 f" free: {self.free_bytes / gb:,.2f} GB",
                 f"  time: ~{_duration(self.download_seconds)} downloading + ~{_duration(self.process_seconds)} processing"]
        if self.disk_bytes > self.free_bytes:
            lines.append("  NOT ENOUGH DISK: the build would refuse to start (override with --ignore-disk-check)")
        return "\n".join(lines)


def make_plan(source, release: Release, data_dir: Path | str, downloader, workers: int = 2) -> Plan:
    data_dir = Path(data_dir)
    raw = data_dir / "raw" / source.name / release.version
    sizes, estimated = _sizes(release, downloader)
    present = sum(size for f, size in zip(release.files, sizes) if (raw / f.name).exists())
    total = sum(sizes)
    ratio, rate = DEFAULTS.get(source.name, (1.0, 10.0))
    data_dir.mkdir(parents=True, exist_ok=True)
    return Plan(release, len(release.files), total - present, total, int(total * ratio),
                shutil.disk_usage(data_dir).free, (total - present) / (DOWNLOAD_MB_S * 1e6),
                total / (rate * 1e6 * max(1, workers)), estimated)


def check_disk(plan: Plan, ignore: bool = False) -> None:
    if plan.disk_bytes > plan.free_bytes and not ignore:
        raise ConfigError(f"not enough disk for {plan.release.source} {plan.release.version}: needs about "
                          f"{plan.disk_bytes / 1e9:,.2f} GB, {plan.free_bytes / 1e9:,.2f} GB free; free some space "
                          f"or pass --ignore-disk-check")


def _sizes(release: Release, downloader) -> tuple[list[int], bool]:
    """Published sizes; missing ones are probed (HEAD), for a sample when there are many."""
    known = [f.size for f in release.files]
    missing = [i for i, size in enumerate(known) if size is None]
    if not missing:
        return [int(s) for s in known], False
    probed = {i: downloader.probe(release.files[i].url).size or 0 for i in missing[:PROBE_SAMPLE]}
    mean = sum(probed.values()) / max(1, len(probed))
    sizes = [int(known[i] if known[i] is not None else probed.get(i, mean)) for i in range(len(known))]
    return sizes, len(missing) > len(probed)


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
