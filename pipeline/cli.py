"""The ``datamill`` command: any single stage by hand, without starting Prefect."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from pipeline import build as stages
from pipeline.acquire.download import RetryPolicy
from pipeline.errors import ConfigError, DatamillError
from pipeline.reports import describe
from pipeline.sources import get_source
from pipeline.store.root import DataRoot
from pipeline.store.splits import parse_splits

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Turn public corpora into verified, versioned Parquet shards.")

SourceArg = Annotated[str, typer.Argument(help="Upstream source: tatoeba, wikipedia, imagenet or commoncrawl.")]
DataDir = Annotated[str, typer.Option("--data-dir", help="Data root (a path or an fsspec URL such as "
                                      "s3://bucket/prefix): raw/, work/ and shards/ live here.")]
Mirror = Annotated[Optional[str], typer.Option(
    "--mirror", help="Replaces the upstream base URL, keeping the upstream's paths below it.")]
Version = Annotated[Optional[str], typer.Option("--version", help="Release to use (default: latest).")]
Workers = Annotated[int, typer.Option("--workers", min=1, help="Concurrent downloads / parts (processes).")]
Retries = Annotated[int, typer.Option("--retries", min=1, help="Attempts per file for transient failures.")]
Splits = Annotated[str, typer.Option("--splits", help="Split fractions, e.g. train=0.98,validation=0.01,test=0.01.")]
ShardMB = Annotated[int, typer.Option("--shard-mb", min=1, help="Target shard size in MB.")]
Dataset = Annotated[Optional[list[str]], typer.Option("--dataset", help="Only these datasets of the source.")]
Quiet = Annotated[bool, typer.Option("--quiet", help="No progress bars.")]
Pairs = Annotated[str, typer.Option("--pairs", help="tatoeba: language pairs like eng-fra,eng-jpn, or all.")]
Compression = Annotated[str, typer.Option("--compression", help="tatoeba: preferred export form, zst or bz2.")]
BucketIds = Annotated[int, typer.Option("--bucket-ids", min=1, help="tatoeba: sentence ids per part.")]
Wiki = Annotated[str, typer.Option("--wiki", help="wikipedia: dump name (enwiki, simplewiki, zh_yuewiki...).")]
Date = Annotated[str, typer.Option("--date", help="wikipedia: dump date YYYYMMDD, or latest.")]
PagesPerPart = Annotated[int, typer.Option("--pages-per-part", min=100, help="wikipedia: pages per part.")]
MaxPageMB = Annotated[float, typer.Option("--max-page-mb", min=0.001, help="wikipedia: larger pages are dropped.")]
WikiFormat = Annotated[str, typer.Option("--format", help="wikipedia: xml (the wikitext dumps) or html (the "
                                         "Wikimedia Enterprise HTML dumps, rendered by MediaWiki).")]
KeepMath = Annotated[bool, typer.Option("--keep-math", help="wikipedia: keep <math> as $...$ instead of dropping it.")]

ManualDir = Annotated[Optional[str], typer.Option("--manual-dir", help="imagenet: folder with the files you downloaded.")]
CredentialsFile = Annotated[Optional[str], typer.Option(
    "--credentials-file", help="imagenet: file holding user:password or a token for --mirror.")]
HF = Annotated[bool, typer.Option("--hf", help="imagenet: fetch ILSVRC/imagenet-1k from the Hub with HF_TOKEN.")]
Size = Annotated[int, typer.Option("--size", min=0, help="imagenet: shorter side in pixels; 0 keeps originals.")]
Quality = Annotated[int, typer.Option("--quality", min=1, max=100, help="imagenet: JPEG quality of re-encoded images.")]
Holdout = Annotated[float, typer.Option("--holdout", min=0.0, max=0.5, help="imagenet: fraction of train held out by content hash.")]
OfficialChecksums = Annotated[bool, typer.Option(
    "--official-checksums/--no-official-checksums", help="imagenet --mirror: verify the published md5 and sizes.")]

Crawl = Annotated[Optional[str], typer.Option("--crawl", help="commoncrawl: CC-MAIN-YYYY-WW (default: newest).")]
Mode = Annotated[str, typer.Option("--mode", help="commoncrawl: wet (extracted text) or warc (HTML).")]
MaxFiles = Annotated[Optional[int], typer.Option("--max-files", min=1, help="commoncrawl: the first N files of the crawl.")]
Files = Annotated[Optional[list[str]], typer.Option("--files", help="commoncrawl: these files (path or name).")]
Languages = Annotated[str, typer.Option("--languages", help="commoncrawl: e.g. en,de, or all.")]
Filters = Annotated[str, typer.Option("--filters", help="commoncrawl: gopher, c4, c4+gopher, fineweb or none.")]
PIIOption = Annotated[bool, typer.Option("--pii", help="commoncrawl: replace e-mail and IP addresses.")]
DedupBuckets = Annotated[int, typer.Option("--dedup-buckets", min=1, help="commoncrawl: dedup shuffle partitions "
                                           "(more buckets: less memory per bucket task).")]
DedupMemory = Annotated[int, typer.Option("--dedup-memory-mb", min=1, help="commoncrawl: memory for one partition "
                                          "of the dedup components step (more edges: more partitions).")]
DedupAgainst = Annotated[Optional[list[str]], typer.Option("--dedup-against", help="commoncrawl: an earlier build's "
                                                           "dataset folder; its documents are not kept again.")]
BadWords = Annotated[Optional[str], typer.Option("--bad-words", help="commoncrawl: a word list (one a line) for C4's "
                                                 "bad-words page filter.")]
Examples = Annotated[int, typer.Option("--examples", min=1, help="reasoning: questions to generate.")]
Seed = Annotated[int, typer.Option("--seed", help="reasoning: generator seed (the version is seed<N>).")]
Families = Annotated[str, typer.Option("--families", help="reasoning: e.g. between,order, or all.")]

SOURCE_OPTIONS = {"tatoeba": ("pairs", "compression", "bucket_ids"),
                  "wikipedia": ("wiki", "date", "pages_per_part", "max_page_bytes", "keep_math"),
                  "wikipedia_html": ("wiki", "date", "max_page_bytes"),
                  "imagenet": ("manual_dir", "credentials_file", "hf", "size", "quality", "holdout",
                               "official_checksums"),
                  "commoncrawl": ("crawl", "mode", "max_files", "files", "languages", "filters", "pii", "dedup_buckets",
                                  "dedup_against", "bad_words", "dedup_memory_mb"),
                  "reasoning": ("examples", "seed", "families")}


def _source(name: str, root: DataRoot, mirror: str | None = None, splits: str = "train=0.98,validation=0.01,test=0.01",
            shard_mb: int = 256, **options):
    """Build the source with the options that apply to it (the others keep their defaults)."""
    if name == "wikipedia" and options.get("format") == "html":
        name = "wikipedia_html"
    if options.pop("format", "xml") not in ("xml", "html"):
        raise ConfigError("--format: xml or html")
    if "max_page_mb" in options:
        options["max_page_bytes"] = int(options.pop("max_page_mb") * (1 << 20))
    wanted = {k: v for k, v in options.items() if k in SOURCE_OPTIONS.get(name, ())}
    return get_source(name, data_dir=root, mirror=mirror, splits=parse_splits(splits),
                      target_shard_bytes=shard_mb << 20, **wanted)


def _summary(manifests: dict[str, dict], root: DataRoot) -> None:
    for dataset, manifest in manifests.items():
        splits = ", ".join(f"{k} {v['rows']:,}" for k, v in manifest["splits"].items())
        where = root.shards / manifest["source"] / manifest["version"] / dataset
        typer.echo(f"{manifest['source']}/{dataset} {manifest['version']}: {manifest['totals']['rows']:,} rows "
                   f"({splits}); dropped {manifest['totals']['dropped']:,}; shards in {where}")


IgnoreDisk = Annotated[bool, typer.Option("--ignore-disk-check", help="Start even if the disk looks too small.")]


@app.command()
def plan(source: SourceArg, data_dir: DataDir = Path("data"), mirror: Mirror = None, version: Version = None,
         workers: Workers = 4, compression: Compression = "zst", wiki: Wiki = "simplewiki", date: Date = "latest",
         manual_dir: ManualDir = None, hf: HF = False, crawl: Crawl = None, mode: Mode = "wet",
         max_files: MaxFiles = None, files: Files = None, fmt: WikiFormat = "xml") -> None:
    """Before a run: files, bytes to download, disk for raw files and shards, and a time estimate."""
    from pipeline.plan import make_plan

    root = DataRoot.of(data_dir)

    src = _source(source, root, mirror, compression=compression, wiki=wiki, date=date, manual_dir=manual_dir,
                  hf=hf, crawl=crawl, mode=mode, max_files=max_files, files=files, format=fmt)
    release = stages.discover(src, version)
    typer.echo(make_plan(src, release, root.local, stages.downloader(src, ".", progress=False),
                         workers).describe())


@app.command()
def download(source: SourceArg, data_dir: DataDir = Path("data"), mirror: Mirror = None, version: Version = None,
             workers: Workers = 4, retries: Retries = 8, compression: Compression = "zst",
             wiki: Wiki = "simplewiki", date: Date = "latest", manual_dir: ManualDir = None,
             credentials_file: CredentialsFile = None, hf: HF = False,
             official_checksums: OfficialChecksums = True, crawl: Crawl = None, mode: Mode = "wet",
             max_files: MaxFiles = None, files: Files = None, ignore_disk_check: IgnoreDisk = False,
             fmt: WikiFormat = "xml", quiet: Quiet = False) -> None:
    """Discover the upstream release and fetch its files, resumable and verified."""
    root = DataRoot.of(data_dir)
    src = _source(source, root, mirror, compression=compression, wiki=wiki, date=date, manual_dir=manual_dir,
                  credentials_file=credentials_file, hf=hf, official_checksums=official_checksums, crawl=crawl,
                  mode=mode, max_files=max_files, files=files, format=fmt)
    release = stages.download(src, root, version, max_workers=workers, progress=not quiet,
                              policy=RetryPolicy(attempts=retries), ignore_disk_check=ignore_disk_check)
    target = root.raw(source, release.version)
    typer.echo(f"{source} {release.version}: {len(release.files)} files verified in {target}")


@app.command()
def shard(source: SourceArg, data_dir: DataDir = Path("data"), version: Version = None, dataset: Dataset = None,
          workers: Workers = 2, splits: Splits = "train=0.98,validation=0.01,test=0.01", shard_mb: ShardMB = 256,
          pairs: Pairs = "all", bucket_ids: BucketIds = 1_000_000, wiki: Wiki = "simplewiki", date: Date = "latest",
          pages_per_part: PagesPerPart = 20_000, max_page_mb: MaxPageMB = 2.0, keep_math: KeepMath = False,
          size: Size = 256, quality: Quality = 90, holdout: Holdout = 0.0, mode: Mode = "wet",
          languages: Languages = "en", filters: Filters = "gopher", pii: PIIOption = False,
          dedup_buckets: DedupBuckets = 16, dedup_against: DedupAgainst = None, bad_words: BadWords = None,
          dedup_memory_mb: DedupMemory = 1024, examples: Examples = 1_000_000, seed: Seed = 0,
          families: Families = "all", fmt: WikiFormat = "xml", quiet: Quiet = False) -> None:
    """Turn a downloaded release into Parquet shards; finished parts are skipped."""
    root = DataRoot.of(data_dir)
    src = _source(source, root, None, splits, shard_mb, pairs=pairs, bucket_ids=bucket_ids, wiki=wiki,
                  date=date, pages_per_part=pages_per_part, max_page_mb=max_page_mb, keep_math=keep_math,
                  size=size, quality=quality, holdout=holdout, mode=mode, languages=languages, filters=filters,
                  pii=pii, examples=examples, seed=seed, families=families, dedup_buckets=dedup_buckets,
                  dedup_against=dedup_against, bad_words=bad_words, dedup_memory_mb=dedup_memory_mb, format=fmt)
    manifests = stages.shard(src, root, version, datasets=dataset, max_workers=workers, progress=not quiet)
    _summary(manifests, root)


@app.command("build")
def build_command(source: SourceArg, data_dir: DataDir = Path("data"), mirror: Mirror = None,
                  version: Version = None, dataset: Dataset = None, workers: Workers = 4, retries: Retries = 8,
                  splits: Splits = "train=0.98,validation=0.01,test=0.01", shard_mb: ShardMB = 256,
                  pairs: Pairs = "all", compression: Compression = "zst", bucket_ids: BucketIds = 1_000_000,
                  wiki: Wiki = "simplewiki", date: Date = "latest", pages_per_part: PagesPerPart = 20_000,
                  max_page_mb: MaxPageMB = 2.0, keep_math: KeepMath = False, manual_dir: ManualDir = None,
                  credentials_file: CredentialsFile = None, hf: HF = False,
                  official_checksums: OfficialChecksums = True, size: Size = 256, quality: Quality = 90,
                  holdout: Holdout = 0.0, crawl: Crawl = None, mode: Mode = "wet", max_files: MaxFiles = None,
                  files: Files = None, languages: Languages = "en", filters: Filters = "gopher",
                  pii: PIIOption = False, dedup_buckets: DedupBuckets = 16, dedup_against: DedupAgainst = None,
                  bad_words: BadWords = None, dedup_memory_mb: DedupMemory = 1024,
                  examples: Examples = 1_000_000, seed: Seed = 0,
                  families: Families = "all", ignore_disk_check: IgnoreDisk = False, fmt: WikiFormat = "xml",
                  quiet: Quiet = False) -> None:
    """Download, then shard (reasoning: generate; nothing to download)."""
    root = DataRoot.of(data_dir)
    src = _source(source, root, mirror, splits, shard_mb, pairs=pairs, compression=compression,
                  bucket_ids=bucket_ids, wiki=wiki, date=date, pages_per_part=pages_per_part,
                  max_page_mb=max_page_mb, keep_math=keep_math, manual_dir=manual_dir,
                  credentials_file=credentials_file, hf=hf, official_checksums=official_checksums,
                  size=size, quality=quality, holdout=holdout, crawl=crawl, mode=mode, max_files=max_files,
                  files=files, languages=languages, filters=filters, pii=pii, examples=examples, seed=seed,
                  families=families, dedup_buckets=dedup_buckets, dedup_against=dedup_against, bad_words=bad_words,
                  dedup_memory_mb=dedup_memory_mb, format=fmt)
    manifests = stages.build(src, root, version, max_workers=workers, progress=not quiet,
                             policy=RetryPolicy(attempts=retries), datasets=dataset,
                             ignore_disk_check=ignore_disk_check)
    _summary(manifests, root)


def _names(values: list[str] | None) -> list[str] | None:
    """A list option given repeated (``--columns a --columns b``) or with commas (``--columns a,b``)."""
    names = [name.strip() for value in values or [] for name in value.split(",") if name.strip()]
    return names or None


TEXT_COLUMNS = {("wikipedia", "articles"): ["text"], ("tatoeba", "pairs"): ["source_text", "target_text"],
                ("tatoeba", "sentences"): ["text"]}


@app.command()
def features(dataset_dir: Annotated[str, typer.Argument(help="A dataset directory or fsspec URL.")],
             vocab: Annotated[int, typer.Option("--vocab", min=100, help="Vocabulary size.")] = 8000,
             columns: Annotated[Optional[list[str]], typer.Option("--columns", help="Text columns to learn from (a,b or repeated).")] = None,
             sample_mb: Annotated[int, typer.Option("--sample-mb", min=1, help="Text to learn from, at most.")] = 200
             ) -> None:
    """Train the subword tokenizer of a text dataset and save it beside its shards."""
    from pipeline.features.stream import list_shards
    from pipeline.features.text import train_tokenizer

    _, manifest = list_shards(dataset_dir, "train")
    wanted = _names(columns) or TEXT_COLUMNS.get((manifest["source"], manifest["dataset"]))
    if not wanted:
        raise ConfigError(f"--columns: say which text columns of {dataset_dir} to learn from")
    path = train_tokenizer(dataset_dir, wanted, vocab, sample_bytes=sample_mb << 20)
    typer.echo(f"tokenizer ({vocab} tokens, from {', '.join(wanted)}) saved to {path}")


@app.command()
def stream(dataset_dir: Annotated[str, typer.Argument(help="A dataset directory or fsspec URL.")],
           split: Annotated[str, typer.Option("--split")] = "train",
           feature: Annotated[str, typer.Option("--feature", help="auto, columns, lm, pairs or images.")] = "auto",
           take: Annotated[int, typer.Option("--take", min=0, help="Show this many decoded examples.")] = 5,
           bench: Annotated[bool, typer.Option("--bench", help="Read the whole split and print examples/s.")] = False,
           batch_size: Annotated[int, typer.Option("--batch-size", min=1)] = 32,
           seq_len: Annotated[int, typer.Option("--seq-len", min=2)] = 128,
           image_size: Annotated[int, typer.Option("--image-size", min=8)] = 224,
           seed: Annotated[int, typer.Option("--seed")] = 0,
           shuffle_mb: Annotated[float, typer.Option("--shuffle-mb", min=0.001,
                                                     help="The shuffle window, in MB of rows.")] = 64.0,
           columns: Annotated[Optional[list[str]], typer.Option("--columns", help="--feature columns: these (a,b or repeated).")] = None,
           jsonl: Annotated[bool, typer.Option("--jsonl", help="One JSON object per example, in stream order.")] = False,
           save_position: Annotated[Optional[Path], typer.Option(
               "--save-position", help="Write where the stream stands after the examples shown.")] = None,
           resume: Annotated[Optional[Path], typer.Option(
               "--resume", help="Start where a --save-position file says (same options).")] = None) -> None:
    """Show decoded examples of a dataset's tf.data stream (resumable), or measure its speed."""
    import json
    import time

    from pipeline.features.catalog import StreamCursor, describer, feature_for, to_json

    chosen, _ = feature_for(dataset_dir, split, feature, seq_len=seq_len, image_size=image_size,
                            train=split == "train", columns=_names(columns))
    cursor = StreamCursor(dataset_dir, chosen, split=split, batch_size=batch_size, seed=seed, shuffle_mb=shuffle_mb,
                          saved=json.loads(resume.read_text()) if resume else None)
    if bench:
        started, examples = time.perf_counter(), 0
        for batch in cursor.stream.dataset():
            examples += int(next(iter(batch.values())).shape[0])
        seconds = time.perf_counter() - started
        typer.echo(f"{examples:,} examples in {seconds:.2f} s: {examples / seconds:,.0f} examples/s")
        return
    show = describer(chosen)
    for batch, i in cursor.examples(take):
        typer.echo(json.dumps(to_json(batch, i), ensure_ascii=False) if jsonl else show(batch, i))
    if save_position is not None:
        save_position.write_text(json.dumps(cursor.position()))


@app.command("train")
def train_command(
        ctx: typer.Context,
        model: Annotated[Optional[str], typer.Argument(
            help="image_classifier, language_model, translator or language_id (or `model` in --config).")] = None,
        data: Annotated[Optional[str], typer.Option("--data", help="The dataset directory (or URL) to train on.")] = None,
        config_file: Annotated[Optional[Path], typer.Option(
            "--config", help="An experiment TOML: TrainConfig fields, model, data, [options]; flags override it.")] = None,
        steps: Annotated[int, typer.Option("--steps", min=1)] = 1000,
        run_dir: Annotated[Optional[Path], typer.Option(
            "--run-dir", help="Default: runs/<model>/<data version>-<key of task, snapshot and config>.")] = None,
        resume: Annotated[bool, typer.Option("--resume", help="Continue this run from its last checkpoint.")] = False,
        init_from: Annotated[Optional[Path], typer.Option(
            "--init-from", help="Start a new run from this run's weights (fine-tuning; vocabularies must match).")] = None,
        batch_size: Annotated[int, typer.Option("--batch-size", min=1)] = 32,
        optimizer: Annotated[str, typer.Option("--optimizer", help="adam, sgd or adagrad.")] = "adam",
        learning_rate: Annotated[float, typer.Option("--learning-rate")] = 1e-3,
        schedule: Annotated[str, typer.Option("--schedule", help="cosine or constant.")] = "cosine",
        checkpoint_every: Annotated[int, typer.Option("--checkpoint-every", min=1)] = 100,
        eval_every: Annotated[int, typer.Option("--eval-every", min=1)] = 200,
        eval_batches: Annotated[str, typer.Option("--eval-batches", help="Evaluation batches, or all.")] = "20",
        seed: Annotated[int, typer.Option("--seed", help="Weights, data order and augmentation.")] = 0,
        strategy: Annotated[str, typer.Option("--strategy", help="default, mirrored or multiworker.")] = "default",
        mixed_precision: Annotated[bool, typer.Option(
            "--mixed-precision", help="float16 + loss scaling on a GPU, bfloat16 elsewhere.")] = False,
        jit_compile: Annotated[bool, typer.Option("--jit-compile", help="XLA-compile the train step.")] = False,
        option: Annotated[Optional[list[str]], typer.Option("--option", "-o", help="Model option key=value.")] = None,
) -> None:
    """Train a model on prepared shards (a run per task, data snapshot and config; resumable)."""
    from models.experiment import experiment
    from models.runs import run_for
    from models.train import train

    given = {name: value for name, value in ctx.params.items()
             if ctx.get_parameter_source(name) is not None and ctx.get_parameter_source(name).name == "COMMANDLINE"}
    if "option" in given:
        given["options"] = _params(given.pop("option"), "--option")
    if "eval_batches" in given:
        given["eval_batches"] = _eval_batches(given["eval_batches"])
    model, data, config, extra = experiment(config_file, given)
    target = run_dir or extra.get("run_dir") or run_for("runs", model, data, config)
    report = train(model, data, target, config, resume=resume or extra.get("resume", False),
                   init_from=init_from or extra.get("init_from"))
    metrics = ", ".join(f"{k} {v:.4g}" for k, v in report["metrics"].items())
    baseline = ", ".join(f"{k} {v:.4g}" for k, v in report.get("baseline", {}).items())
    if report.get("finished"):
        typer.echo(f"{model}: {target} already finished at step {report['steps']}; nothing trained")
    typer.echo(f"{model}: {report['steps']} steps; {report.get('evaluated_on') or 'validation'} {metrics}"
               + (f"; baseline {baseline}" if baseline else ""))
    for source, translation in report.get("translations", {}).items():
        typer.echo(f"  {source} → {translation}")
    typer.echo(f"model and report in {target}")


def _eval_batches(value: str) -> int:
    if value == "all":
        return 0
    if not value.isdigit() or int(value) < 1:
        raise ConfigError(f"--eval-batches: a positive number or all, not {value!r}")
    return int(value)


@app.command("evaluate")
def evaluate_command(run_dir: Annotated[Path, typer.Argument(help="A finished run directory.")],
                     eval_batches: Annotated[Optional[str], typer.Option(
                         "--eval-batches", help="Batches, or all (default: the run's own setting).")] = None) -> None:
    """Reload a run's saved model and measure it on the split training evaluated on."""
    import json

    from models.train import evaluate

    if json.loads((run_dir / "report.json").read_text()).get("model") == "reasoner":
        from models.reasoner_runs import evaluate_run, format_evaluation

        typer.echo(format_evaluation(evaluate_run(run_dir)))  # the test split, per family, beside k-NN
        return
    metrics = evaluate(run_dir, None if eval_batches is None else _eval_batches(eval_batches))
    typer.echo(", ".join(f"{k} {v:.4g}" for k, v in metrics.items()))


@app.command()
def ask(question: Annotated[Optional[str], typer.Argument(help="A question, e.g. \"Jack is 12. ... How old is Kate?\"")] = None,
        file: Annotated[Optional[str], typer.Option("--file", help="One question per line; - reads stdin.")] = None,
        run: Annotated[Optional[Path], typer.Option("--run", help="A reasoner run (default: the newest under "
                                                    "--data-dir or runs/).")] = None,
        data_dir: DataDir = Path("data")) -> None:
    """Answer questions with a trained reasoner (the model is loaded once; one answer per line)."""
    from models.reasoner_runs import find_run, load

    if (question is None) == (file is None):
        raise ConfigError("ask: give one question, or --file FILE (- for stdin)")
    if file is not None:
        lines = (sys.stdin if file == "-" else open(file, encoding="utf-8")).read().splitlines()
    else:
        lines = [question]
    task, network = load(run or find_run([data_dir, Path("runs")]))
    for answer in task.answer(network, [line.strip() for line in lines]):
        typer.echo(answer)


flow_app = typer.Typer(help="Run Prefect flows now.", no_args_is_help=True)
app.add_typer(flow_app, name="flow")
FLOWS = {"tatoeba": "flows.tatoeba:tatoeba_flow", "wikipedia": "flows.wikipedia:wikipedia_flow",
         "commoncrawl": "flows.commoncrawl:commoncrawl_flow", "imagenet": "flows.imagenet:imagenet_flow",
         "train": "flows.train:train_flow", "build": "flows.build:build_flow"}


def _flow(name: str):
    import importlib

    if name not in FLOWS:
        raise ConfigError(f"unknown flow {name!r}; choose from {', '.join(FLOWS)}")
    module, _, attribute = FLOWS[name].partition(":")
    return getattr(importlib.import_module(module), attribute)


def _params(items: list[str] | None, flag: str = "--param") -> dict[str, object]:
    """``key=value`` flags; values are read as JSON when they parse (numbers, lists, true), else as text."""
    import json

    params = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"{flag}: expected key=value, got {item!r}")
        try:
            params[key] = json.loads(value)
        except json.JSONDecodeError:
            params[key] = value
    return params


@flow_app.command("run")
def flow_run(name: Annotated[str, typer.Argument(help="tatoeba, wikipedia, commoncrawl, imagenet, train or build.")],
             param: Annotated[Optional[list[str]], typer.Option("--param", "-p", help="A flow parameter key=value.")] = None
             ) -> None:
    """Run one flow now (against PREFECT_API_URL if set, else Prefect's temporary local server)."""
    import json

    result = _flow(name)(**_params(param))
    typer.echo(json.dumps(result, indent=1, default=str))


WEEKLY_BUILD = "0 12 * * 6"  # Saturdays, after the weekly Tatoeba export


@app.command()
def serve(config: Annotated[Path, typer.Option("--config", help="The datamill.toml to serve.")] = Path("datamill.toml"),
          every: Annotated[Optional[int], typer.Option("--every", min=1, help="Seconds between runs instead of each "
                                                       "upstream's cron (for trying it out).")] = None) -> None:
    """Register a scheduled deployment per configured source (and the build flow) and serve them."""
    from prefect import serve as prefect_serve
    from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy

    from pipeline.config import load_config

    settings = load_config(config)
    # A refresh that is still running when the next one is due is left to finish; the new one is skipped
    # (two runs of one build would only contend for the same snapshot).
    one_at_a_time = ConcurrencyLimitConfig(limit=1, collision_strategy=ConcurrencyLimitStrategy.CANCEL_NEW)
    deployments = []
    for source in settings.sources:
        params = {"data_dir": settings.data_dir, "workers": settings.workers, "runner": settings.runner,
                  "dask_address": settings.dask_address, **settings.source_options(source)}
        schedule = {"interval": every} if every else ({"cron": settings.schedule(source)} if settings.schedule(source) else {})
        deployments.append(_flow(source).to_deployment(name=f"{source}-scheduled", parameters=params,
                                                       concurrency_limit=one_at_a_time, **schedule))
    # The whole build (sources → tokenizers → training) weekly too, so a refresh trains on the new snapshot
    # (a new run: runs are keyed by data snapshot). --every leaves it weekly.
    deployments.append(_flow("build").to_deployment(name="build-all", parameters={"config": str(config.resolve())},
                                                    cron=WEEKLY_BUILD, concurrency_limit=one_at_a_time))
    typer.echo(f"serving {len(deployments)} deployments: " + ", ".join(d.name for d in deployments))
    prefect_serve(*deployments)


DatasetDir = Annotated[str, typer.Argument(help="A dataset directory or fsspec URL (holds _snapshots/).")]
Snapshot = Annotated[Optional[str], typer.Option("--snapshot", help="A snapshot id (default: the newest).")]


@app.command()
def inspect(dataset_dir: DatasetDir,
            rows: Annotated[int, typer.Option("--rows", min=0, help="Sample rows to show.")] = 3,
            snapshot: Snapshot = None) -> None:
    """Schema, counts per split, drops by reason and a few sample rows of a snapshot."""
    typer.echo(describe(dataset_dir, rows, snapshot))


@app.command()
def verify(dataset_dir: Annotated[Optional[str], typer.Argument(
               help="A dataset directory or fsspec URL (holds _snapshots/).")] = None,
           snapshot: Snapshot = None, manual_dir: ManualDir = None) -> None:
    """Check the size and sha256 of every file a snapshot lists (or, with --manual-dir, the md5 of the
    ImageNet tars you downloaded against the published list); exits 1 on any mismatch."""
    from pipeline.errors import ShardError
    from pipeline.store.snapshots import load_manifest, verify as verify_snapshot

    if (dataset_dir is None) == (manual_dir is None):
        raise ConfigError("verify: give a dataset directory, or --manual-dir for ImageNet's archives")
    if manual_dir is not None:
        _verify_manual(manual_dir)
        return
    manifest = load_manifest(dataset_dir, snapshot)
    problems = verify_snapshot(dataset_dir, snapshot)
    for problem in problems:
        typer.echo(f"MISMATCH {problem}", err=True)
    if problems:
        raise ShardError(f"{dataset_dir}: {len(problems)} file(s) of snapshot {manifest.get('snapshot_id', '-')} "
                         f"do not verify")
    typer.echo(f"snapshot {manifest.get('snapshot_id', '-')}: {len(manifest['shards'])} files verified")


def _verify_manual(manual_dir: str) -> None:
    from pipeline.errors import SourceError
    from pipeline.formats.imagenet import OFFICIAL, verify_manual

    present = [name for name in OFFICIAL if (Path(manual_dir) / name).is_file()]
    if not present:
        raise SourceError(f"{manual_dir}: none of ImageNet's published archives is there "
                          f"({', '.join(sorted(OFFICIAL))})")
    problems = verify_manual(manual_dir)
    for problem in problems:
        typer.echo(f"MISMATCH {problem}", err=True)
    if problems:
        raise SourceError(f"{manual_dir}: {len(problems)} of {len(present)} archive(s) do not match the published md5")
    typer.echo(f"{len(present)} archive(s) match the published sizes and md5s: {', '.join(present)}")


@app.command()
def gc(dataset_dir: DatasetDir,
       keep: Annotated[int, typer.Option("--keep", min=1, help="Snapshots to keep, newest first.")] = 2,
       grace_hours: Annotated[float, typer.Option("--grace-hours", min=0.0,
                                                  help="Never delete files younger than this.")] = 1.0,
       dry_run: Annotated[bool, typer.Option("--dry-run", help="Only list what would go.")] = False) -> None:
    """Delete snapshots beyond the newest --keep and the files no kept snapshot or running build needs."""
    from pipeline.store.snapshots import gc as collect

    removed = collect(dataset_dir, keep=keep, grace_seconds=grace_hours * 3600, dry_run=dry_run)
    for name in removed:
        typer.echo(("would remove " if dry_run else "removed ") + name)
    typer.echo(f"{len(removed)} file(s) {'to remove' if dry_run else 'removed'}")


@app.callback()
def _root(debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks.")] = False,
          verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log more.")] = False,
          storage_options: Annotated[Optional[str], typer.Option(
              "--storage-options", help='fsspec options for s3:// and other URLs as JSON, e.g. '
              '\'{"endpoint_url": "http://127.0.0.1:9000"}\' (default: the standard AWS_* variables).')] = None
          ) -> None:
    if storage_options:
        import json

        from pipeline.store.location import set_storage_options

        try:
            set_storage_options(json.loads(storage_options))
        except json.JSONDecodeError as err:
            raise ConfigError(f"--storage-options: not JSON: {err}") from err
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")


def main() -> None:
    """Entry point: errors become one line on stderr and a non-zero exit (``--debug`` for tracebacks)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
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
