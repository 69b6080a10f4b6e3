"""The streamed component labels of Tatoeba's link graph equal scipy's connected components (smallest id each)."""

from __future__ import annotations

import numpy as np

from pipeline.sources import tatoeba


def reference(edges: np.ndarray, size: int) -> np.ndarray:
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    graph = coo_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])), shape=(size, size))
    _, component = connected_components(graph, directed=False)
    _, first = np.unique(component, return_index=True)
    return first[component]


def test_labels_match_connected_components_across_blocks(tmp_path, monkeypatch):
    monkeypatch.setattr(tatoeba, "EDGE_BLOCK", 1000)  # many blocks, so labels must travel between them
    rng = np.random.default_rng(5)
    size = 20_000
    edges = np.concatenate([rng.integers(0, size, (6_000, 2)),  # random links: a few large components
                            np.stack([np.arange(5000, 9000), np.arange(5001, 9001)], axis=1)[::-1]])  # a long path
    path = tmp_path / "edges.bin"
    path.write_bytes(edges.astype(np.int64).tobytes())
    got = tatoeba._component_labels(path, size)
    assert np.array_equal(got, reference(edges, size))
    assert got[9000] == got[5000] <= 5000 and len(np.unique(got)) < 0.6 * size, "non-trivial components"
