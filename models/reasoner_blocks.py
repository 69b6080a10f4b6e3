"""Pre-norm Transformer blocks for the reasoner (small byte-level networks train faster and steadier pre-norm)."""

from __future__ import annotations

from keras import layers


def pre_encoder_block(x, dim: int, heads: int, ff: int, dropout: float):
    h = layers.LayerNormalization(epsilon=1e-6)(x)
    x = x + layers.MultiHeadAttention(heads, dim // heads, dropout=dropout)(h, h)
    return x + _feed_forward(layers.LayerNormalization(epsilon=1e-6)(x), dim, ff, dropout)


def pre_decoder_block(y, memory, dim: int, heads: int, ff: int, dropout: float):
    h = layers.LayerNormalization(epsilon=1e-6)(y)
    y = y + layers.MultiHeadAttention(heads, dim // heads, dropout=dropout)(h, h, use_causal_mask=True)
    h = layers.LayerNormalization(epsilon=1e-6)(y)
    y = y + layers.MultiHeadAttention(heads, dim // heads, dropout=dropout)(h, memory)
    return y + _feed_forward(layers.LayerNormalization(epsilon=1e-6)(y), dim, ff, dropout)


def _feed_forward(x, dim: int, ff: int, dropout: float):
    hidden = layers.Dense(ff, activation="gelu")(x)
    return layers.Dropout(dropout)(layers.Dense(dim)(hidden))
