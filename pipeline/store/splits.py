"""Deterministic split assignment from a hash of a stable key.

A record keeps its split across reruns and new versions because the split depends only
on its key (and the salt), never on row order or on what else is in the data.
"""

from __future__ import annotations

import hashlib
from typing import Mapping, Sequence

import numpy as np

from pipeline.errors import ConfigError

DEFAULT_SPLITS: dict[str, float] = {"train": 0.98, "validation": 0.01, "test": 0.01}
# The order splits take on the hash range: the usual names first (today's default order), then the rest by name,
# so the order a user writes them in never moves a key to another split.
CANONICAL_ORDER = ("train", "validation", "test")
_MASK = np.uint64(0xFFFFFFFFFFFFFFFF)


def parse_splits(spec: str) -> dict[str, float]:
    """``"train=0.98,validation=0.01,test=0.01"`` → a mapping whose fractions sum to 1."""
    fractions: dict[str, float] = {}
    for item in filter(None, (s.strip() for s in spec.split(","))):
        name, sep, value = item.partition("=")
        try:
            fractions[name.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep or not name.strip():
            raise ConfigError(f"--splits: expected name=fraction, got {item!r}")
    return validate_splits(fractions)


def validate_splits(fractions: Mapping[str, float]) -> dict[str, float]:
    """Checked fractions in canonical order (see ``CANONICAL_ORDER``), as floats."""
    if not fractions or any(v < 0 for v in fractions.values()):
        raise ConfigError("--splits: need at least one split and no negative fraction")
    if abs(sum(fractions.values()) - 1.0) > 1e-6:
        raise ConfigError(f"--splits: fractions must sum to 1, got {sum(fractions.values()):.6f}")
    return {name: float(fractions[name]) for name in sorted(fractions, key=_rank)}


def _rank(name: str) -> tuple[int, str]:
    return (CANONICAL_ORDER.index(name), "") if name in CANONICAL_ORDER else (len(CANONICAL_ORDER), name)


def _splitmix64(x: np.ndarray) -> np.ndarray:
    """A strong 64-bit integer mix (SplitMix64's finalizer), vectorized."""
    with np.errstate(over="ignore"):
        z = (x + np.uint64(0x9E3779B97F4A7C15)) & _MASK
        z = ((z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)) & _MASK
        z = ((z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)) & _MASK
        return z ^ (z >> np.uint64(31))


class SplitAssigner:
    """Maps keys to split names by where their hash falls in the cumulative fractions."""

    def __init__(self, fractions: Mapping[str, float] | None = None, salt: str = "datamill") -> None:
        self.fractions = validate_splits(fractions or DEFAULT_SPLITS)
        self.names: Sequence[str] = list(self.fractions)
        self.salt = salt
        self._salt64 = np.uint64(int.from_bytes(hashlib.blake2b(salt.encode(), digest_size=8).digest(), "big"))
        cumulative = np.cumsum([self.fractions[n] for n in self.names])
        # Boundaries on the 2**64 hash range; the last split takes everything above.
        self._bounds = np.array([min(c, 1.0) * 2.0**64 for c in cumulative[:-1]], dtype=np.float64)

    def indices_of_ints(self, keys: np.ndarray) -> np.ndarray:
        """Split index for each integer key (vectorized)."""
        hashed = _splitmix64(np.asarray(keys).astype(np.uint64) ^ self._salt64)
        return np.searchsorted(self._bounds, hashed.astype(np.float64), side="right")

    def of_ints(self, keys: np.ndarray) -> np.ndarray:
        return np.asarray(self.names, dtype=object)[self.indices_of_ints(keys)]

    def of_key(self, key: int | str) -> str:
        if isinstance(key, (int, np.integer)):
            return self.names[int(self.indices_of_ints(np.array([key]))[0])]
        digest = hashlib.blake2b(f"{self.salt}\0{key}".encode(), digest_size=8).digest()
        value = float(int.from_bytes(digest, "big"))
        return self.names[int(np.searchsorted(self._bounds, value, side="right"))]

    def of_key_array(self, keys: Sequence[str]) -> list[str]:
        """Split names for string keys (URLs, hashes), one blake2b per key."""
        return [self.of_key(k) for k in keys]
