"""Features: how a window of shard rows becomes training batches (and what the graph does next).

A feature names the columns it reads, cuts a shuffled window of rows into batches of NumPy
arrays on the Python side (tokenizing and packing in batches), declares the tensor
signature, and may add a tf.data stage (JPEG decoding and augmentation run in the graph).
Features read snapshots through ``pipeline.store`` (and the reasoning families' names); models read
features; nothing here imports sources, build, models, flows or the faces.
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


def is_bytes(data_type: pa.DataType) -> bool:
    return (pa.types.is_string(data_type) or pa.types.is_large_string(data_type) or pa.types.is_binary(data_type)
            or pa.types.is_large_binary(data_type))


def pack_bytes(column: pa.ChunkedArray | pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """A string/binary column as (one bytes buffer, int64 offsets): two copies in C, no Python per value.

    Handing tf.data one buffer and its offsets is far cheaper than a NumPy object array of
    values; ``unpack_bytes`` cuts the values back out in the graph.
    """
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if pa.types.is_string(array.type) or pa.types.is_large_string(array.type):
        array = array.cast(pa.large_binary() if pa.types.is_large_string(array.type) else pa.binary())
    _, offset_buffer, data = array.buffers()
    width = np.int64 if pa.types.is_large_binary(array.type) else np.int32
    offsets = np.frombuffer(offset_buffer, dtype=width)[array.offset: array.offset + len(array) + 1].astype(np.int64)
    buffer = b"" if data is None else data.slice(int(offsets[0]), int(offsets[-1] - offsets[0])).to_pybytes()
    return np.array(buffer, dtype=object), offsets - offsets[0]


def unpack_bytes(buffer, offsets):
    """The graph side of ``pack_bytes``: a string tensor of the values."""
    import tensorflow as tf

    return tf.strings.substr(buffer, offsets[:-1], offsets[1:] - offsets[:-1])


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
        from pipeline.store.shards import manifest_schema

        schema = manifest_schema(manifest)
        wanted = columns or [f.name for f in schema if not pa.types.is_nested(f.type) and
                             not pa.types.is_timestamp(f.type)]
        return cls(wanted, {name: str(schema.field(name).type) for name in wanted})

    KINDS = {"int64": "int64", "int32": "int32", "int16": "int16", "double": "float64", "float": "float32",
             "bool": "bool"}

    def batches(self, window, batch_size, rng):
        rows = window.num_rows
        stop = rows - rows % batch_size if self.drop_remainder else rows
        for start in range(0, stop, batch_size):
            part = window.slice(start, batch_size)
            batch = {}
            for c in self.columns:
                if self.types[c] in self.KINDS:
                    batch[c] = part.column(c).to_numpy()
                else:
                    batch[c + "/buffer"], batch[c + "/offsets"] = pack_bytes(part.column(c))
            yield batch

    def signature(self, batch_size):
        import tensorflow as tf

        dim = batch_size if self.drop_remainder else None
        spec = {}
        for c in self.columns:
            if self.types[c] in self.KINDS:
                spec[c] = tf.TensorSpec((dim,), getattr(tf, self.KINDS[self.types[c]]))
            else:
                spec[c + "/buffer"] = tf.TensorSpec((), tf.string)
                spec[c + "/offsets"] = tf.TensorSpec((None if dim is None else dim + 1,), tf.int64)
        return spec

    def graph(self, ds, batch_size):
        import tensorflow as tf

        @tf.autograph.experimental.do_not_convert  # plain TF ops: AutoGraph's conversion only costs start-up
        def unpack(batch):
            return {c: (batch[c] if c in batch else unpack_bytes(batch[c + "/buffer"], batch[c + "/offsets"]))
                    for c in self.columns}
        return ds.map(unpack, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
