"""What the reasoner is judged against, and how its learning curve is drawn.

``NgramKNN`` answers a question with the answer of the most similar training question
(cosine similarity of hashed character 3-gram counts): memory without reasoning. On the test
split (new names, held-out ages) it should stay far below the network.
"""

from __future__ import annotations

import zlib
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sparse

DIMS = 1 << 18


def ngram_matrix(texts: list[str], n: int = 3) -> sparse.csr_matrix:
    """Rows of L2-normalized hashed character n-gram counts."""
    rows, cols = [], []
    for i, text in enumerate(texts):
        grams = {zlib.crc32(text[j: j + n].encode()) % DIMS for j in range(max(1, len(text) - n + 1))}
        cols.extend(grams)
        rows.extend([i] * len(grams))
    data = np.ones(len(cols), np.float32)
    matrix = sparse.csr_matrix((data, (rows, cols)), shape=(len(texts), DIMS))
    norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
    return sparse.diags(1.0 / np.maximum(norms, 1e-8)) @ matrix


class NgramKNN:
    """1-nearest-neighbour over training questions; predicts the neighbour's answer."""

    def __init__(self, questions: list[str], answers: list[str]) -> None:
        self.train = ngram_matrix(questions).T.tocsr()
        self.answers = answers

    def predict(self, questions: list[str], chunk: int = 512) -> list[str]:
        out: list[str] = []
        for start in range(0, len(questions), chunk):
            scores = (ngram_matrix(questions[start: start + chunk]) @ self.train).toarray()
            out += [self.answers[i] for i in scores.argmax(axis=1)]
        return out


def plot_accuracy(path: Path, seen: list[int], curve: list[dict[str, Any]]) -> str:
    """Test exact match (overall and per family) against examples seen; returns the file name."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7, 4), dpi=90)
    axis = figure.subplots()
    keys = sorted({k for c in curve for k in c if k.startswith("test_exact_match")})
    for key in keys:
        axis.plot(seen, [c.get(key, np.nan) for c in curve], marker="o" if key == "test_exact_match" else None,
                  linewidth=2.5 if key == "test_exact_match" else 1, label=key.replace("test_exact_match", "all")
                  .replace("all_", ""))
    axis.set_xscale("log")
    axis.set_xlabel("training examples seen")
    axis.set_ylabel("exact match, test split")
    axis.set_ylim(0, 1)
    axis.grid(alpha=0.3)
    axis.legend(fontsize=7, loc="upper left")
    figure.tight_layout()
    figure.savefig(path)
    return path.name
