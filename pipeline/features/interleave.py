"""Which rows of which file make up each stretch of an epoch: an even, seeded, exactly resumable interleave.

Every file of the epoch is read at a rate proportional to its size, so all files finish
together and any stretch of the stream holds rows of (nearly) every file: class-sorted
shards (one ImageNet synset per file) still give near-i.i.d. windows. Row ``j`` of a file
of ``n`` rows gets the key ``(j + phase) / n`` (a seeded phase per file and epoch); the
epoch is all keys in order. Rather than sort millions of keys, ``Plan.cut(a)`` finds how
many rows of each file lie among the first ``a`` by bisecting on the key threshold, so a
position in the epoch is one integer and resuming costs O(files), whatever the row groups.
``cycle`` files at a time (consecutive groups of the epoch order) bounds open files.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def _next_up(value: float) -> float:
    return float(np.nextafter(value, np.inf))


@dataclass(frozen=True)
class Plan:
    """One epoch's interleave over files of ``sizes`` rows (indexed in epoch order)."""

    sizes: np.ndarray  # rows per file, in epoch order
    phases: np.ndarray  # in [0, 1): where each file's first row falls
    cycle: int  # files interleaved at once

    @classmethod
    def for_epoch(cls, sizes: list[int], seed: int, epoch: int, shuffle: bool, cycle: int | None
                  ) -> tuple["Plan", list[int]]:
        """The plan and the epoch's file order (indices into ``sizes``)."""
        if shuffle:
            rng = np.random.default_rng([seed, epoch, 7])
            order = [int(i) for i in rng.permutation(len(sizes))]
            phases = rng.random(len(sizes))
        else:
            order, phases = list(range(len(sizes))), np.full(len(sizes), 0.5)
        ordered = np.array([sizes[i] for i in order], dtype=np.int64)
        return cls(ordered, phases, max(1, cycle or len(sizes))), order

    @property
    def total(self) -> int:
        return int(self.sizes.sum())

    def cut(self, a: int) -> np.ndarray:
        """Rows taken from each file among the epoch's first ``a`` rows (monotone in ``a``, sums to ``a``)."""
        counts = np.zeros(len(self.sizes), dtype=np.int64)
        for lo in range(0, len(self.sizes), self.cycle):  # groups run one after another
            group = slice(lo, lo + self.cycle)
            rows = int(self.sizes[group].sum())
            take = min(a, rows)
            counts[group] = self._cut_group(self.sizes[group], self.phases[group], take)
            a -= take
            if a <= 0:
                break
        return counts

    @staticmethod
    def _below(sizes: np.ndarray, phases: np.ndarray, t: float) -> np.ndarray:
        """Rows of each file whose key is below ``t``: #{j : (j + phase) / n < t}."""
        return np.clip(np.ceil(t * sizes - phases), 0, sizes).astype(np.int64)

    def _cut_group(self, sizes: np.ndarray, phases: np.ndarray, a: int) -> np.ndarray:
        if a >= int(sizes.sum()):
            return sizes.copy()
        if a <= 0:
            return np.zeros_like(sizes)
        # Bisect over the bit patterns of non-negative doubles (ordered like the values) for the
        # smallest threshold t with at least ``a`` keys below it.
        lo, hi = np.float64(0.0).view(np.int64), np.float64(2.0).view(np.int64)
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if self._below(sizes, phases, np.int64(mid).view(np.float64)).sum() >= a:
                hi = mid
            else:
                lo = mid
        before = self._below(sizes, phases, np.int64(lo).view(np.float64))
        at = self._below(sizes, phases, np.int64(hi).view(np.float64))
        extra = a - int(before.sum())
        # Files whose next key sits exactly at the threshold: the lowest indices go first.
        steps = np.flatnonzero(at > before)
        counts = before.copy()
        for i in steps:
            grant = min(extra, int(at[i] - before[i]))
            counts[i] += grant
            extra -= grant
            if extra == 0:
                break
        return counts

    def merge_order(self, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
        """The order, by key, of the rows ``starts[f]:ends[f]`` of each file, concatenated in file order."""
        files = np.repeat(np.arange(len(self.sizes)), ends - starts)
        rows = np.concatenate([np.arange(s, e) for s, e in zip(starts, ends)]) if len(files) else np.zeros(0)
        group = files // self.cycle
        keys = (rows + self.phases[files]) / np.maximum(self.sizes[files], 1)
        return np.lexsort((files, keys, group))
