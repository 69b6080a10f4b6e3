"""Class mix of the stream on the test suite's class-sorted fixture (200 files, one class each).

Prints distinct labels per batch of 32 against the i.i.d. expectation and the classes seen
in the first 10% of an epoch, for the default settings, the image classifier's, and an
explicit ``cycle=64``.

    .venv/bin/python -m bench.class_mix_fixture
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from pipeline.features.stream import Stream
from tests.test_stream import iid_distinct, label_feature, write_class_sorted


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = write_class_sorted(Path(tmp) / "sorted", classes=200, group_rows=16)
        for name, options in (("defaults", {}), ("image classifier (read_rows=16)", {"read_rows": 16}),
                              ("cycle=64, read_rows=16", {"cycle": 64, "read_rows": 16})):
            labels = [b["label"] for b in Stream(str(root), label_feature(root), batch_size=32, seed=1,
                                                   **options).batches()]
            distinct = np.mean([len(set(b.tolist())) for b in labels])
            early = len(set(np.concatenate(labels[: len(labels) // 10]).tolist()))
            print(f"{name}: {distinct:.1f} distinct labels per batch of 32 (i.i.d. {iid_distinct(200, 32):.1f}), "
                  f"{early}/200 classes in the first 10% of the epoch")


if __name__ == "__main__":
    main()
