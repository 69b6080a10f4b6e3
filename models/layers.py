"""Transformer building blocks shared by the language model and the translator."""

from __future__ import annotations

import keras
from keras import layers, ops


class TokenAndPosition(layers.Layer):
    """Token embeddings plus learned position embeddings."""

    def __init__(self, vocab: int, length: int, dim: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.vocab, self.length, self.dim = vocab, length, dim
        self.tokens = layers.Embedding(vocab, dim)
        self.positions = layers.Embedding(length, dim)

    def call(self, ids):
        positions = ops.arange(ops.shape(ids)[-1])
        return self.tokens(ids) + self.positions(positions)

    def get_config(self):
        return {**super().get_config(), "vocab": self.vocab, "length": self.length, "dim": self.dim}


def encoder_block(x, dim: int, heads: int, ff: int, dropout: float, mask=None):
    attended = layers.MultiHeadAttention(heads, dim // heads, dropout=dropout)(x, x, attention_mask=mask)
    x = layers.LayerNormalization(epsilon=1e-6)(x + attended)
    return layers.LayerNormalization(epsilon=1e-6)(x + _feed_forward(x, dim, ff, dropout))


def decoder_block(x, dim: int, heads: int, ff: int, dropout: float, memory=None, memory_mask=None):
    attended = layers.MultiHeadAttention(heads, dim // heads, dropout=dropout)(x, x, use_causal_mask=True)
    x = layers.LayerNormalization(epsilon=1e-6)(x + attended)
    if memory is not None:
        crossed = layers.MultiHeadAttention(heads, dim // heads, dropout=dropout)(x, memory, attention_mask=memory_mask)
        x = layers.LayerNormalization(epsilon=1e-6)(x + crossed)
    return layers.LayerNormalization(epsilon=1e-6)(x + _feed_forward(x, dim, ff, dropout))


def _feed_forward(x, dim: int, ff: int, dropout: float):
    hidden = layers.Dense(ff, activation="gelu")(x)
    return layers.Dropout(dropout)(layers.Dense(dim)(hidden))


def padding_mask(ids):
    """[batch, 1, length] attention mask that hides [PAD] (id 0) keys."""
    return ops.expand_dims(ops.not_equal(ids, 0), 1)


CUSTOM_OBJECTS = {"TokenAndPosition": TokenAndPosition}
keras.saving.register_keras_serializable("datamill")(TokenAndPosition)
