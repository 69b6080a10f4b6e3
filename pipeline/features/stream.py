"""Parquet shards → tf.data, near-i.i.d. whatever the shard layout, resumable at any batch.

Files come from the manifest (never a glob). Each epoch reads all its files at once (or
``cycle`` at a time), each at a rate proportional to its size (``interleave.Plan``), so a
stretch of the stream holds rows of nearly every file even when every file is one class.
Rows are gathered into windows (the shuffle buffer: ``shuffle_mb`` of rows, or
``window_batches`` batches when given), shuffled inside the window with a seeded permutation,
and cut into training batches by a feature (tokenize, pack, pad...). Window ``w`` of an epoch is
a pure function of (seed, epoch, w), so a position is (epoch, window, batch in window): saved
with a checkpoint it restores the exact next batch under any row-group size, number of files
or workers. The next window is read on a thread pool while the feature cuts the current one.

Memory is a function of the settings, never of the data's size: the open files' readers share
``read_mb`` (each holds one Arrow batch of ``read_rows`` rows, sized from it, plus ``READ_BUFFER``
per column and one page), and about four windows of ``shuffle_mb`` are alive at once (the one
being cut into batches, its batches, the next one being read and its interleave copy).
"""

from __future__ import annotations

import bisect
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any, Iterator

import fsspec
from fsspec.implementations.local import LocalFileSystem
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.errors import ConfigError, ShardError
from pipeline.features.interleave import Plan

MANIFEST = "_manifest.json"
READ_BUFFER = 1 << 20  # bytes a reader buffers per column it reads


@dataclass(frozen=True)
class Shard:
    url: str
    rows: int


def list_shards(root: str, split: str, snapshot: str | None = None) -> tuple[list[Shard], dict[str, Any]]:
    """The shards of one split of a snapshot (default: the newest), for a local path or any fsspec URL.

    The files' sizes are checked against the snapshot (one listing per directory, no reads).
    """
    from pipeline.store.snapshots import check_sizes, load_manifest

    manifest = load_manifest(str(root), snapshot)
    base = str(root).rstrip("/")
    shards = [Shard(f"{base}/{s['file']}", s["rows"]) for s in manifest["shards"] if s["split"] == split]
    if not shards:
        raise ShardError(f"{root}: split {split!r} has no shards (splits: {', '.join(manifest['splits'])})")
    check_sizes(str(root), manifest, split)
    return shards, manifest


def _row_bytes(fs, url: str, columns: list[str] | None) -> float:
    """Bytes per row of the columns read, in Arrow's memory (from one file's footer: its uncompressed sizes)."""
    with fs.open(fsspec.core.url_to_fs(url)[1], "rb") as f:
        meta = pq.ParquetFile(f).metadata
    wanted, total = set(columns or []), 0
    for g in range(meta.num_row_groups):
        group = meta.row_group(g)
        total += sum(group.column(c).total_uncompressed_size for c in range(group.num_columns)
                     if not wanted or group.column(c).path_in_schema.split(".")[0] in wanted)
    return max(1.0, total / max(1, meta.num_rows))


class _Reader:
    """One open file of the interleave, positioned at a row; hands out rows in order.

    What it holds is bounded whatever the file's size: a ``READ_BUFFER`` per column, one page and
    one Arrow batch of ``read_rows`` rows. Arrow's pre-buffering stays off: asked for the row groups
    from here to the end, it would read and keep all of them while the file stays open — with every
    file of an epoch open, the whole split.
    """

    def __init__(self, fs, url: str, row: int, read_rows: int, columns: list[str] | None) -> None:
        path = fsspec.core.url_to_fs(url)[1]
        source = path if isinstance(fs, LocalFileSystem) else fs.open(path, "rb")  # local: Arrow's own reads
        self.parquet = pq.ParquetFile(source, buffer_size=READ_BUFFER, pre_buffer=False)
        sizes = [self.parquet.metadata.row_group(g).num_rows for g in range(self.parquet.num_row_groups)]
        starts = np.cumsum([0] + sizes)
        group = int(np.searchsorted(starts, row, side="right") - 1)
        self.url = url
        self.pending: pa.RecordBatch | None = None
        self.batches: Iterator[pa.RecordBatch] = iter(())
        if group < len(sizes):
            self.batches = self.parquet.iter_batches(batch_size=read_rows, row_groups=range(group, len(sizes)),
                                                     columns=columns)
            self.take(row - int(starts[group]))  # rows before ``row`` in its row group are dropped

    def take(self, n: int) -> list[pa.RecordBatch]:
        pieces = []
        while n > 0:
            if self.pending is None or self.pending.num_rows == 0:
                self.pending = next(self.batches, None)
                if self.pending is None:
                    raise ShardError(f"{self.url}: fewer rows than the manifest says")
            piece = self.pending.slice(0, n)
            self.pending = self.pending.slice(piece.num_rows)
            pieces.append(piece)
            n -= piece.num_rows
        return pieces

    def close(self) -> None:
        self.parquet.close()


@dataclass
class _Window:
    first_batch: int
    epoch: int
    window: int
    batches: int | None = None


@dataclass
class Stream:
    """A resumable, near-i.i.d. stream of training batches over one split of one dataset."""

    root: str
    feature: Any  # pipeline.features.Feature
    split: str = "train"
    batch_size: int = 32
    seed: int = 0
    shuffle: bool = True
    window_batches: int | None = None  # the shuffle window in batches; None: from shuffle_mb
    cycle: int | None = None  # files read at once; None: all the epoch's files (best mixing)
    epochs: int | None = 1  # None: repeat forever
    read_rows: int | None = None  # rows each open file buffers; None: from read_mb
    shuffle_mb: float = 64.0  # the shuffle window's rows, in MB of Arrow data
    read_mb: float = 256.0  # what all open readers buffer together
    num_workers: int = 1  # tf.distribute input pipelines
    worker: int = 0
    start: dict[str, Any] | None = None
    _log: list[_Window] = field(default_factory=list, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def __post_init__(self) -> None:
        counts = (self.batch_size, self.window_batches, self.cycle, self.read_rows)
        if any(n is not None and n < 1 for n in counts) or self.shuffle_mb <= 0 or self.read_mb <= 0:
            raise ConfigError("batch_size, window_batches, cycle, read_rows, shuffle_mb and read_mb must be positive")
        if not 0 <= self.worker < self.num_workers:
            raise ConfigError(f"worker {self.worker} is not in 0..{self.num_workers - 1}")
        shards, self.manifest = list_shards(self.root, self.split)
        shards.sort(key=lambda s: s.url)
        if len(shards) >= self.num_workers:
            self.shards, self.row_stride = shards[self.worker::self.num_workers], 1
        else:  # fewer files than workers: every worker reads every file, keeping its own batches of rows
            self.shards, self.row_stride = shards, self.num_workers
        self.fs = fsspec.core.url_to_fs(str(self.root))[0]
        row_bytes = _row_bytes(self.fs, self.shards[0].url, self.feature.columns)
        batches = self.window_batches or max(1, int(self.shuffle_mb * (1 << 20) // (row_bytes * self.batch_size)))
        self.window_rows = batches * self.batch_size
        open_files = min(len(self.shards), self.cycle or len(self.shards))
        self.reader_rows = self.read_rows or max(1, int(self.read_mb * (1 << 20) // (row_bytes * open_files)))

    @classmethod
    def for_input_context(cls, input_context, **kwargs) -> "Stream":
        """A stream for one tf.distribute input pipeline (sharded by file, or by row if files are few)."""
        return cls(num_workers=input_context.num_input_pipelines, worker=input_context.input_pipeline_id, **kwargs)

    # -- positions ------------------------------------------------------------------------

    def _stamp(self) -> dict[str, Any]:
        """What a position is only valid for: the same rows, files, windows, seed and workers."""
        return {"rows": int(sum(s.rows for s in self.shards)), "files": len(self.shards),
                "window_rows": self.window_rows, "seed": self.seed, "workers": self.num_workers,
                "worker": self.worker}

    def position(self, consumed_batches: int) -> dict[str, Any]:
        """Where the stream stands after ``consumed_batches`` batches (JSON-able; pass back as ``start``)."""
        with self._lock:
            if consumed_batches == 0 and (not self._log or self._log[0].first_batch >= 0):
                return dict(self.start) if self.start else {"epoch": 0, "window": 0, "batch": 0, **self._stamp()}
            firsts = [w.first_batch for w in self._log]
            i = bisect.bisect_right(firsts, consumed_batches) - 1
            if i < 0:
                raise ValueError(f"batch {consumed_batches} is older than this stream's log")
            entry = self._log[i]
            offset = consumed_batches - entry.first_batch
            if entry.batches is not None and offset >= entry.batches:
                return {"epoch": entry.epoch, "window": entry.window + 1, "batch": 0, **self._stamp()}
            return {"epoch": entry.epoch, "window": entry.window, "batch": offset, **self._stamp()}

    def _check(self, start: dict[str, Any]) -> None:
        if "slots" in start:
            raise ConfigError("this position was saved by an older datamill stream; restart the run")
        stamp = self._stamp()
        wrong = {k: (start[k], stamp[k]) for k in stamp if k in start and start[k] != stamp[k]}
        if wrong:
            detail = ", ".join(f"{k} {a} → {b}" for k, (a, b) in wrong.items())
            raise ConfigError(f"the saved stream position belongs to other data or settings ({detail})")

    # -- batches (Python side) -----------------------------------------------------------

    def batches(self) -> Iterator[dict[str, np.ndarray]]:
        """Training batches as dicts of NumPy arrays, from ``start`` on."""
        start = self.start or {"epoch": 0, "window": 0, "batch": 0}
        self._check(start)
        epoch, window, skip = int(start["epoch"]), int(start["window"]), int(start.get("batch", 0))
        emitted = -skip  # batches are numbered from the resume point; the skipped ones come before it
        with ThreadPoolExecutor(1, thread_name_prefix="window") as ahead, \
                ThreadPoolExecutor(4, thread_name_prefix="parquet") as files:
            while self.epochs is None or epoch < self.epochs:
                rows_this_epoch = 0
                for number, rows in self._windows(epoch, window, ahead, files):
                    rows_this_epoch += rows.num_rows
                    entry = _Window(emitted, epoch, number)
                    with self._lock:
                        self._log = self._log[-1023:] + [entry]
                    rng = np.random.default_rng([self.seed, epoch, number])
                    if self.shuffle:
                        rows = rows.take(rng.permutation(rows.num_rows))
                    produced = list(self.feature.batches(rows, self.batch_size, rng))
                    entry.batches = len(produced)
                    yield from produced[skip:]
                    emitted += len(produced)
                    skip = max(0, skip - len(produced))
                if rows_this_epoch == 0 and window == 0:
                    return  # this worker has no rows at all: an endless stream would spin forever
                epoch, window = epoch + 1, 0

    def _windows(self, epoch: int, first: int, ahead: ThreadPoolExecutor, files: ThreadPoolExecutor
                 ) -> Iterator[tuple[int, pa.Table]]:
        """(number, rows) of each window of the epoch from window ``first`` on, the next read ahead."""
        plan, order = Plan.for_epoch([s.rows for s in self.shards], self.seed, epoch, self.shuffle, self.cycle)
        span = self.window_rows * self.row_stride  # interleaved rows per window, before the row stride
        count = -(-plan.total // span)
        readers: dict[int, _Reader] = {}

        def read(number: int) -> Future | None:
            if number >= count:
                return None
            cut = [plan.cut(min(plan.total, n * span)) for n in (number, number + 1)]
            return ahead.submit(self._read, plan, order, readers, cut[0], cut[1], files)
        pending = read(first)
        try:
            for number in range(first, count):
                rows = pending.result()
                pending = read(number + 1)
                yield number, rows
        finally:
            if pending is not None:
                pending.exception()  # let it finish before its readers close
            for reader in readers.values():
                reader.close()

    def _read(self, plan: Plan, order: list[int], readers: dict[int, _Reader], starts: np.ndarray,
              ends: np.ndarray, files: ThreadPoolExecutor) -> pa.Table:
        """Rows ``starts[f]:ends[f]`` of every file, in interleave order; this worker's share of them."""
        def take(f: int) -> list[pa.RecordBatch]:
            if f not in readers:
                readers[f] = _Reader(self.fs, self.shards[order[f]].url, int(starts[f]), self.reader_rows,
                                     self.feature.columns)
            pieces = readers[f].take(int(ends[f] - starts[f]))
            if ends[f] == plan.sizes[f]:
                readers.pop(f).close()
            return pieces
        wanted = [int(f) for f in np.flatnonzero(ends > starts)]
        chunks = files.map(take, wanted) if len(wanted) > 4 else map(take, wanted)
        table = pa.Table.from_batches([p for chunk in chunks for p in chunk])
        picked = plan.merge_order(starts, ends)
        if self.row_stride > 1:  # whole batches of rows dealt in turn: only the epoch's last batch can be partial
            dealt = np.arange(len(picked)) // self.batch_size % self.row_stride
            picked = picked[dealt == self.worker % self.row_stride]
        return table.take(pa.array(picked))

    # -- tf.data ------------------------------------------------------------------------------

    def dataset(self):
        """The tf.data pipeline: generator of batches → the feature's graph stage → prefetch."""
        import tensorflow as tf

        signature = self.feature.signature(self.batch_size)
        ds = tf.data.Dataset.from_generator(self.batches, output_signature=signature)
        ds = self.feature.graph(ds, self.batch_size)
        return ds.prefetch(tf.data.AUTOTUNE)


class Mix:
    """Several streams sampled into one by weight (e.g. Wikipedia + CommonCrawl), exactly resumable.

    Which stream gives draw ``k`` is a seeded function of ``k`` (and of which streams have run
    out), so a position is the draw count plus each stream's own position. The streams share
    one kind of feature: the first stream's graph stage runs on the mixed batches.
    """

    def __init__(self, streams: list[Stream], weights: list[float], seed: int = 0,
                 start: dict[str, Any] | None = None) -> None:
        if len(streams) != len(weights) or not streams or min(weights) < 0 or sum(weights) <= 0:
            raise ConfigError("mix needs one non-negative weight per stream")
        self.start = start or {"drawn": 0, "streams": [None] * len(streams), "done": [False] * len(streams)}
        if len(self.start["streams"]) != len(streams):
            raise ConfigError("the saved mix position has another number of streams")
        self.streams = [s if p is None else replace(s, start=p) for s, p in zip(streams, self.start["streams"])]
        self.weights, self.seed = np.asarray(weights, float), seed
        self._log: list[tuple[int, list[int], list[bool]]] = []
        self._lock = threading.Lock()

    def batches(self) -> Iterator[dict[str, np.ndarray]]:
        iterators = [s.batches() for s in self.streams]
        counts, done = [0] * len(self.streams), list(self.start["done"])
        drawn = int(self.start["drawn"])
        while not all(done):
            rng = np.random.default_rng([self.seed, drawn])
            while not all(done):
                alive = np.where(done, 0.0, self.weights)
                if alive.sum() <= 0:
                    return
                chosen = int(rng.choice(len(alive), p=alive / alive.sum()))
                batch = next(iterators[chosen], None)
                if batch is not None:
                    counts[chosen] += 1
                    drawn += 1
                    with self._lock:  # the state after this draw: what a resume after it needs
                        self._log = self._log[-8191:] + [(drawn, list(counts), list(done))]
                    yield batch
                    break
                done[chosen] = True

    def position(self, consumed_batches: int) -> dict[str, Any]:
        """Where the mix stands after ``consumed_batches`` batches (JSON-able; pass back as ``start``)."""
        drawn = int(self.start["drawn"]) + consumed_batches
        with self._lock:
            entry = next((e for e in reversed(self._log) if e[0] == drawn), None)
        if entry is None:
            if consumed_batches == 0:
                return dict(self.start)
            raise ValueError(f"batch {consumed_batches} is not in this mix's log")
        _, counts, done = entry
        return {"drawn": drawn, "streams": [s.position(c) for s, c in zip(self.streams, counts)], "done": done}

    def dataset(self):
        import tensorflow as tf

        first = self.streams[0]
        ds = tf.data.Dataset.from_generator(self.batches, output_signature=first.feature.signature(first.batch_size))
        return first.feature.graph(ds, first.batch_size).prefetch(tf.data.AUTOTUNE)


def mix(streams: list[Stream], weights: list[float], seed: int = 0):
    """Sample several streams into one tf.data stream with the given weights (resumable: see ``Mix``)."""
    return Mix(streams, weights, seed).dataset()
