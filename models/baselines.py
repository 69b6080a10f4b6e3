"""A non-neural baseline on the same features as the network: k-nearest neighbours (cosine)."""

from __future__ import annotations

from typing import Callable, Iterable

import numpy as np


def knn_accuracy(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray, k: int = 5,
                 chunk: int = 512) -> float:
    """Accuracy of a k-NN vote with cosine similarity; brute force, chunked to bound memory."""
    if len(train_x) == 0 or len(test_x) == 0:
        return float("nan")
    train = _unit(train_x.reshape(len(train_x), -1).astype(np.float32))
    test = _unit(test_x.reshape(len(test_x), -1).astype(np.float32))
    k = min(k, len(train))
    correct = 0
    for start in range(0, len(test), chunk):
        scores = test[start: start + chunk] @ train.T
        nearest = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        votes = train_y[nearest]
        predicted = np.array([np.bincount(row).argmax() for row in votes])
        correct += int((predicted == test_y[start: start + chunk]).sum())
    return correct / len(test)


def bag_of_tokens(ids: np.ndarray, vocab: int) -> np.ndarray:
    """Token-count vectors of padded id rows (id 0 is padding): the text baseline's features."""
    bags = np.zeros((len(ids), vocab), np.float32)
    rows = np.repeat(np.arange(len(ids)), ids.shape[1])
    np.add.at(bags, (rows, ids.reshape(-1)), 1.0)
    bags[:, 0] = 0.0
    return bags


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-8)


def balanced_sample(batches: Iterable[dict], featurize: Callable[[dict], np.ndarray], classes: int,
                    per_class: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """At most ``per_class`` examples of each class, read from ``batches`` until every class has them.

    A k-NN fit on the first few hundred rows of a stream sees only the classes those rows
    hold (on class-sorted shards, a handful); a balanced sample sees them all.
    """
    xs, ys, counts = [], [], np.zeros(max(1, classes), np.int64)
    for batch in batches:
        labels = np.asarray(batch["label"])
        keep = np.zeros(len(labels), bool)
        for i, label in enumerate(labels):
            if 0 <= label < len(counts) and counts[label] < per_class:
                counts[label] += 1
                keep[i] = True
        if keep.any():
            xs.append(featurize(batch)[keep])
            ys.append(labels[keep])
        if (counts >= per_class).all():
            break
    if not xs:
        return np.zeros((0, 1), np.float32), np.zeros(0, np.int64)
    return np.concatenate(xs), np.concatenate(ys)
