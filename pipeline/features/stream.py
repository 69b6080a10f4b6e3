"""Parquet shards → tf.data, resumable at any batch.

Files come from the manifest (never a glob), in a seeded per-epoch order. ``cycle`` files
are read at once, round robin, whole Arrow record batches at a time, each file's next
batch read ahead on a thread (Arrow decodes without the GIL). Rows are gathered into
windows of ``window_batches * batch_size`` rows, shuffled inside the window with a seeded
permutation, and turned into training batches by a feature (tokenize, pack, pad...).
A window depends only on where the readers stood when it began, so the stream's position
is that frontier plus how many batches of the window were consumed: saved with a
checkpoint, it restores the exact same next batch (no repeat, no skip).
"""

from __future__ import annotations

import bisect
import copy
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Iterator

import fsspec
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.errors import ConfigError, ShardError

MANIFEST = "_manifest.json"


@dataclass(frozen=True)
class Shard:
    url: str
    rows: int


def list_shards(root: str, split: str, snapshot: str | None = None) -> tuple[list[Shard], dict[str, Any]]:
    """The shards of one split of a snapshot (default: the newest), for a local path or any fsspec URL.

    The files' sizes are checked against the snapshot (one listing per directory, no reads).
    """
    from pipeline.snapshots import check_sizes, load_manifest

    manifest = load_manifest(str(root), snapshot)
    base = str(root).rstrip("/")
    shards = [Shard(f"{base}/{s['file']}", s["rows"]) for s in manifest["shards"] if s["split"] == split]
    if not shards:
        raise ShardError(f"{root}: split {split!r} has no shards (splits: {', '.join(manifest['splits'])})")
    check_sizes(str(root), manifest, split)
    return shards, manifest


@dataclass
class _Slot:
    """One open file of the interleave: its place in the epoch order and the next raw row."""

    order_index: int
    row: int
    batches: Iterator[pa.RecordBatch] | None = None
    pending: pa.RecordBatch | None = None
    ahead: Future | None = None


@dataclass
class _Window:
    first_batch: int
    start: dict[str, Any]
    end: dict[str, Any] | None = None
    batches: int = 0


@dataclass
class Stream:
    """A resumable stream of training batches over one split of one dataset."""

    root: str
    feature: Any  # pipeline.features.Feature
    split: str = "train"
    batch_size: int = 32
    seed: int = 0
    shuffle: bool = True
    window_batches: int = 16
    cycle: int = 8  # files read at once; class-sorted shards (ImageNet) want many, with small read_rows
    epochs: int | None = 1  # None: repeat forever
    read_rows: int = 256
    num_workers: int = 1  # tf.distribute input pipelines
    worker: int = 0
    start: dict[str, Any] | None = None
    _log: list[_Window] = field(default_factory=list, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.batch_size < 1 or self.window_batches < 1 or self.cycle < 1:
            raise ConfigError("batch_size, window_batches and cycle must be positive")
        if not 0 <= self.worker < self.num_workers:
            raise ConfigError(f"worker {self.worker} is not in 0..{self.num_workers - 1}")
        shards, self.manifest = list_shards(self.root, self.split)
        shards.sort(key=lambda s: s.url)
        if len(shards) >= self.num_workers:
            self.shards, self.row_stride = shards[self.worker::self.num_workers], 1
        else:  # fewer files than workers: every worker reads every file, keeping its own rows
            self.shards, self.row_stride = shards, self.num_workers
        self.fs = fsspec.core.url_to_fs(str(self.root))[0]

    @classmethod
    def for_input_context(cls, input_context, **kwargs) -> "Stream":
        """A stream for one tf.distribute input pipeline (sharded by file, or by row if files are few)."""
        return cls(num_workers=input_context.num_input_pipelines, worker=input_context.input_pipeline_id, **kwargs)

    # -- positions ------------------------------------------------------------------------

    def position(self, consumed_batches: int) -> dict[str, Any]:
        """Where the stream stands after ``consumed_batches`` batches (JSON-able; pass back as ``start``)."""
        with self._lock:
            firsts = [w.first_batch for w in self._log]
            i = bisect.bisect_right(firsts, consumed_batches) - 1
            if i < 0:
                raise ValueError(f"batch {consumed_batches} is older than this stream's log")
            window = self._log[i]
            offset = consumed_batches - window.first_batch
            if window.end is not None and offset >= window.batches:
                return {**window.end, "batch": 0}
            return {**window.start, "batch": offset}

    # -- batches (Python side) -----------------------------------------------------------

    def batches(self) -> Iterator[dict[str, np.ndarray]]:
        """Training batches as dicts of NumPy arrays, from ``start`` on."""
        state = copy.deepcopy(self.start) if self.start else {"epoch": 0, "window": 0, "slots": [], "next": 0,
                                                                "batch": 0}
        skip = state.pop("batch", 0)
        emitted = -skip  # batches are numbered from the resume point; the skipped ones come before it
        with ThreadPoolExecutor(max_workers=max(1, min(self.cycle, 4)), thread_name_prefix="parquet") as pool:
            while self.epochs is None or state["epoch"] < self.epochs:
                order = self._order(state["epoch"])
                slots = [self._open(order, index, row, pool) for index, row in state["slots"]]
                next_file = state["next"]
                while True:
                    window_start = {"epoch": state["epoch"], "window": state["window"],
                                    "slots": [[s.order_index, s.row] for s in slots], "next": next_file}
                    rows, next_file = self._fill_window(order, slots, next_file, pool)
                    if rows is None:
                        break
                    entry = _Window(emitted, window_start)
                    with self._lock:
                        self._log = self._log[-255:] + [entry]
                    rng = np.random.default_rng([self.seed, state["epoch"], state["window"]])
                    if self.shuffle:
                        rows = rows.take(rng.permutation(rows.num_rows))
                    produced = list(self.feature.batches(rows, self.batch_size, rng))
                    state["window"] += 1
                    entry.batches = len(produced)
                    entry.end = {"epoch": state["epoch"], "window": state["window"],
                                 "slots": [[s.order_index, s.row] for s in slots], "next": next_file}
                    yield from produced[skip:]
                    emitted += len(produced)
                    skip = max(0, skip - len(produced))
                state = {"epoch": state["epoch"] + 1, "window": 0, "slots": [], "next": 0}

    def _order(self, epoch: int) -> list[int]:
        if not self.shuffle:
            return list(range(len(self.shards)))
        return [int(i) for i in np.random.default_rng([self.seed, epoch, 7]).permutation(len(self.shards))]

    def _open(self, order: list[int], order_index: int, row: int, pool: ThreadPoolExecutor) -> _Slot:
        shard = self.shards[order[order_index]]
        parquet = pq.ParquetFile(self.fs.open(fsspec.core.url_to_fs(shard.url)[1], "rb"))
        starts = np.cumsum([0] + [parquet.metadata.row_group(g).num_rows for g in range(parquet.num_row_groups)])
        group = int(np.searchsorted(starts, row, side="right") - 1)
        slot = _Slot(order_index, row)
        if group >= parquet.num_row_groups:
            return slot
        slot.batches = parquet.iter_batches(batch_size=self.read_rows, row_groups=range(group, parquet.num_row_groups),
                                            columns=self.feature.columns)
        skip = row - int(starts[group])
        while skip > 0:
            batch = next(slot.batches)
            if skip < batch.num_rows:
                slot.pending = batch.slice(skip)
                break
            skip -= batch.num_rows
        if slot.pending is None:
            slot.ahead = pool.submit(next, slot.batches, None)
        return slot

    def _take(self, slot: _Slot, need: int, pool: ThreadPoolExecutor) -> pa.RecordBatch | None:
        """Up to ``need`` kept rows from the slot's file; None when the file is done."""
        if slot.pending is None:
            if slot.ahead is None:
                return None
            slot.pending, slot.ahead = slot.ahead.result(), None
            if slot.pending is None:
                return None
        raw, start = slot.pending, slot.row
        kept = np.flatnonzero((np.arange(start, start + raw.num_rows) % self.row_stride) == self.worker % self.row_stride)
        cut = raw.num_rows if len(kept) <= need else int(kept[need - 1]) + 1
        taken = raw.slice(0, cut)
        if self.row_stride > 1:
            taken = taken.take(pa.array(kept[kept < cut]))
        slot.row += cut
        slot.pending = raw.slice(cut) if cut < raw.num_rows else None
        if slot.pending is None and slot.batches is not None:
            slot.ahead = pool.submit(next, slot.batches, None)
        return taken

    def _fill_window(self, order: list[int], slots: list[_Slot], next_file: int, pool: ThreadPoolExecutor
                     ) -> tuple[pa.Table | None, int]:
        """Round-robin over the open files until the window is full or the epoch's files run out."""
        want = self.window_batches * self.batch_size
        pieces: list[pa.RecordBatch] = []
        have = 0
        while have < want:
            while len(slots) < self.cycle and next_file < len(order):
                slots.append(self._open(order, next_file, 0, pool))
                next_file += 1
            if not slots:
                break
            for slot in list(slots):
                if have >= want:
                    break
                piece = self._take(slot, min(self.read_rows, want - have), pool)
                if piece is None:
                    slots.remove(slot)
                    continue
                pieces.append(piece)
                have += piece.num_rows
        if not pieces:
            return None, next_file
        return pa.Table.from_batches(pieces), next_file

    # -- tf.data ------------------------------------------------------------------------------

    def dataset(self):
        """The tf.data pipeline: generator of batches → the feature's graph stage → prefetch."""
        import tensorflow as tf

        signature = self.feature.signature(self.batch_size)
        ds = tf.data.Dataset.from_generator(self.batches, output_signature=signature)
        ds = self.feature.graph(ds, self.batch_size)
        return ds.prefetch(tf.data.AUTOTUNE)


def mix(streams: list[Stream], weights: list[float], seed: int = 0):
    """Sample several streams into one tf.data stream with the given weights (e.g. Wikipedia + CommonCrawl)."""
    import tensorflow as tf

    if len(streams) != len(weights) or not streams:
        raise ConfigError("mix needs one weight per stream")
    total = float(sum(weights))
    return tf.data.Dataset.sample_from_datasets([s.dataset() for s in streams], [w / total for w in weights],
                                                seed=seed, stop_on_empty_dataset=False)
