"""The ``datamill`` command: any single stage by hand, without starting Prefect."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from pipeline import build as stages
from pipeline.download import RetryPolicy
from pipeline.errors import ConfigError, DatamillError
from pipeline.reports import describe
from pipeline.sources import get_source
from pipeline.splits import parse_splits

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Turn public corpora into verified, versioned Parquet shards.")

SourceArg = Annotated[str, typer.Argument(help="Upstream source: tatoeba.")]
DataDir = Annotated[Path, typer.Option("--data-dir", help="Data root: raw/, work/ and shards/ live here.")]
Mirror = Annotated[Optional[str], typer.Option(
    "--mirror", help="Replaces the upstream base URL, keeping the upstream's paths below it.")]
Version = Annotated[Optional[str], typer.Option("--version", help="Release to use (default: latest).")]
Workers = Annotated[int, typer.Option("--workers", min=1, help="Concurrent downloads / parts.")]
Retries = Annotated[int, typer.Option("--retries", min=1, help="Attempts per file for transient failures.")]
Pairs = Annotated[str, typer.Option("--pairs", help="tatoeba: language pairs like eng-fra,eng-jpn, or all.")]
Splits = Annotated[str, typer.Option("--splits", help="Split fractions, e.g. train=0.98,validation=0.01,test=0.01.")]
Compression = Annotated[str, typer.Option("--compression", help="tatoeba: preferred export form, zst or bz2.")]
BucketIds = Annotated[int, typer.Option("--bucket-ids", min=1, help="tatoeba: sentence ids per part.")]
ShardMB = Annotated[int, typer.Option("--shard-mb", min=1, help="Target shard size in MB.")]
Dataset = Annotated[Optional[list[str]], typer.Option("--dataset", help="Only these datasets of the source.")]
Quiet = Annotated[bool, typer.Option("--quiet", help="No progress bars.")]

DEFAULTS = {"data_dir": Path("data"), "workers": 4, "retries": 8, "pairs": "all",
            "splits": "train=0.98,validation=0.01,test=0.01", "compression": "zst",
            "bucket_ids": 1_000_000, "shard_mb": 256}


def _source(name: str, data_dir: Path, mirror: str | None, pairs: str, splits: str, compression: str,
            bucket_ids: int, shard_mb: int):
    options = {"data_dir": data_dir, "mirror": mirror, "splits": parse_splits(splits),
               "target_shard_bytes": shard_mb << 20}
    if name == "tatoeba":
        options |= {"pairs": pairs, "compression": compression, "bucket_ids": bucket_ids}
    return get_source(name, **options)


def _summary(manifests: dict[str, dict], data_dir: Path) -> None:
    for dataset, manifest in manifests.items():
        splits = ", ".join(f"{k} {v['rows']:,}" for k, v in manifest["splits"].items())
        root = stages.shards_dir(data_dir) / manifest["source"] / manifest["version"] / dataset
        typer.echo(f"{manifest['source']}/{dataset} {manifest['version']}: {manifest['totals']['rows']:,} rows "
                   f"({splits}); dropped {manifest['totals']['dropped']:,}; shards in {root}")


@app.command()
def download(source: SourceArg, data_dir: DataDir = DEFAULTS["data_dir"], mirror: Mirror = None,
             version: Version = None, workers: Workers = DEFAULTS["workers"],
             retries: Retries = DEFAULTS["retries"], compression: Compression = DEFAULTS["compression"],
             quiet: Quiet = False) -> None:
    """Discover the upstream release and fetch its files, resumable and verified."""
    src = _source(source, data_dir, mirror, DEFAULTS["pairs"], DEFAULTS["splits"], compression,
                  DEFAULTS["bucket_ids"], DEFAULTS["shard_mb"])
    release = stages.download(src, data_dir, version, max_workers=workers, progress=not quiet,
                              policy=RetryPolicy(attempts=retries))
    target = stages.raw_dir(data_dir, source, release.version)
    typer.echo(f"{source} {release.version}: {len(release.files)} files verified in {target}")


@app.command()
def shard(source: SourceArg, data_dir: DataDir = DEFAULTS["data_dir"], version: Version = None,
          dataset: Dataset = None, workers: Workers = 2, pairs: Pairs = DEFAULTS["pairs"],
          splits: Splits = DEFAULTS["splits"], bucket_ids: BucketIds = DEFAULTS["bucket_ids"],
          shard_mb: ShardMB = DEFAULTS["shard_mb"], quiet: Quiet = False) -> None:
    """Turn a downloaded release into Parquet shards; finished parts are skipped."""
    src = _source(source, data_dir, None, pairs, splits, DEFAULTS["compression"], bucket_ids, shard_mb)
    manifests = stages.shard(src, data_dir, version, datasets=dataset, max_workers=workers, progress=not quiet)
    _summary(manifests, data_dir)


@app.command("build")
def build_command(source: SourceArg, data_dir: DataDir = DEFAULTS["data_dir"], mirror: Mirror = None,
                  version: Version = None, dataset: Dataset = None, workers: Workers = DEFAULTS["workers"],
                  retries: Retries = DEFAULTS["retries"], pairs: Pairs = DEFAULTS["pairs"],
                  splits: Splits = DEFAULTS["splits"], compression: Compression = DEFAULTS["compression"],
                  bucket_ids: BucketIds = DEFAULTS["bucket_ids"], shard_mb: ShardMB = DEFAULTS["shard_mb"],
                  quiet: Quiet = False) -> None:
    """Download, then shard."""
    src = _source(source, data_dir, mirror, pairs, splits, compression, bucket_ids, shard_mb)
    manifests = stages.build(src, data_dir, version, max_workers=workers, progress=not quiet,
                             policy=RetryPolicy(attempts=retries), datasets=dataset)
    _summary(manifests, data_dir)


@app.command()
def inspect(dataset_dir: Annotated[Path, typer.Argument(help="A dataset directory (holds _manifest.json).")],
            rows: Annotated[int, typer.Option("--rows", min=0, help="Sample rows to show.")] = 3) -> None:
    """Schema, counts per split, drops by reason and a few sample rows."""
    typer.echo(describe(dataset_dir, rows))


@app.callback()
def _root(debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks.")] = False,
          verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log more.")] = False) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")


def main() -> None:
    """Entry point: errors become one line on stderr and a non-zero exit (``--debug`` for tracebacks)."""
    debug = "--debug" in sys.argv
    try:
        app(standalone_mode=False)
    except DatamillError as err:
        if debug:
            raise
        kind = "configuration error" if isinstance(err, ConfigError) else "error"
        typer.echo(f"{kind}: {err}", err=True)
        sys.exit(1)
    except (typer.Abort, KeyboardInterrupt):
        typer.echo("interrupted", err=True)
        sys.exit(130)
    except Exception as err:  # noqa: BLE001 - the last line of defence for a CLI
        import click

        if isinstance(err, click.exceptions.ClickException):
            err.show()
            sys.exit(err.exit_code)
        if isinstance(err, click.exceptions.Exit):
            sys.exit(err.exit_code)
        if debug:
            raise
        typer.echo(f"unexpected error: {type(err).__name__}: {err} (rerun with --debug for the traceback)", err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
