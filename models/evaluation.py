"""What training and ``evaluate`` measure on: one split rule, the whole split on request, a baseline sample."""

from __future__ import annotations


def eval_split(splits) -> str | None:
    """The split every evaluation uses: validation, else test, else none."""
    return "validation" if "validation" in splits else ("test" if "test" in splits else None)


class Evaluation:
    """Evaluation and baseline batches: the whole split when ``eval_batches`` is 0 (``--eval-batches all``)."""

    def __init__(self, data: str, task, config) -> None:
        from pipeline.features.stream import list_shards

        self.data, self.task, self.config = data, task, config
        self.split = eval_split(list_shards(data, "train")[1]["splits"])
        self.size = min(config.batch_size, 8)  # small batches: a small validation split still yields whole ones

    def _stream(self, split: str, shuffle: bool, batches: int):
        from pipeline.features.stream import Stream

        stream = Stream(self.data, self.task.feature(train=False), split=split, batch_size=self.size,
                        seed=self.config.seed, shuffle=shuffle, epochs=1, **self.task.stream_options)
        ds = stream.dataset()
        return ds.take(batches * max(1, self.config.batch_size // self.size)) if batches > 0 else ds

    def batches(self):
        return [] if self.split is None else self._stream(self.split, False, self.config.eval_batches)

    def train_sample(self):
        """Shuffled train batches for a baseline to fit on (the task balances classes)."""
        return self._stream("train", True, self.config.baseline_batches)
