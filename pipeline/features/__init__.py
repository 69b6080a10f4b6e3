"""Features: how a window of shard rows becomes training batches (and what the graph does next).

A feature names the columns it reads, cuts a shuffled window of rows into batches of NumPy
arrays on the Python side (tokenizing and packing in batches), declares the tensor
signature, and may add a tf.data stage (JPEG decoding and augmentation run in the graph).
"""

from __future__ import annotations

from typing import Iterator, Protocol

import numpy as np
import pyarrow as pa


class Feature(Protocol):
    columns: list[str]

    def batches(self, window: pa.Table, batch_size: int, rng: np.random.Generator) -> Iterator[dict[str, np.ndarray]]:
        """Cut one window of rows into training batches."""

    def signature(self, batch_size: int) -> dict:
        """tf.TensorSpec per key of the batches."""

    def graph(self, ds, batch_size: int):
        """A tf.data stage after the generator (identity for most features)."""


def to_numpy(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """Numbers as NumPy numbers; strings and bytes as an object array of bytes (tf.string)."""
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        return np.array([v.encode() if v is not None else b"" for v in column.to_pylist()], dtype=object)
    if pa.types.is_binary(column.type) or pa.types.is_large_binary(column.type):
        return np.array([v if v is not None else b"" for v in column.to_pylist()], dtype=object)
    return column.to_numpy(zero_copy_only=False)


def fixed_batches(arrays: dict[str, np.ndarray], batch_size: int, drop_remainder: bool = True
                  ) -> Iterator[dict[str, np.ndarray]]:
    n = len(next(iter(arrays.values()))) if arrays else 0
    stop = n - n % batch_size if drop_remainder else n
    for i in range(0, stop, batch_size):
        yield {k: v[i: i + batch_size] for k, v in arrays.items()}


class Columns:
    """Plain columns as they are (numbers and strings), e.g. for inspection or a custom model."""

    def __init__(self, columns: list[str], types: dict[str, str], drop_remainder: bool = True) -> None:
        self.columns, self.types, self.drop_remainder = columns, types, drop_remainder

    @classmethod
    def from_manifest(cls, manifest: dict, columns: list[str] | None = None) -> "Columns":
        from pipeline.shards import manifest_schema

        schema = manifest_schema(manifest)
        wanted = columns or [f.name for f in schema if not pa.types.is_nested(f.type) and
                             not pa.types.is_timestamp(f.type)]
        return cls(wanted, {name: str(schema.field(name).type) for name in wanted})

    def batches(self, window, batch_size, rng):
        yield from fixed_batches({c: to_numpy(window.column(c)) for c in self.columns}, batch_size,
                                 self.drop_remainder)

    def signature(self, batch_size):
        import tensorflow as tf

        dim = batch_size if self.drop_remainder else None
        kinds = {"int64": tf.int64, "int32": tf.int32, "int16": tf.int16, "double": tf.float64, "float": tf.float32,
                 "bool": tf.bool}
        return {c: tf.TensorSpec((dim,), kinds.get(self.types[c], tf.string)) for c in self.columns}

    def graph(self, ds, batch_size):
        return ds
