"""The pictures in a data card: text lengths, languages or classes, drops by reason, a grid of sample images."""

from __future__ import annotations

import io
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from pipeline.shards import shard_paths
from pipeline.storage import write_bytes_atomic

SAMPLE_ROWS = 20_000
TEXT_COLUMNS = ("text", "source_text")
LABEL_COLUMNS = ("lang", "language", "class_name", "source_lang")


def card_plots(root: Path, manifest: dict[str, Any]) -> list[tuple[str, str]]:
    """Write ``_plots/*.png`` for a dataset; returns (title, relative path) pairs for the card."""
    import matplotlib

    matplotlib.use("Agg")
    names = {f["name"] for f in manifest["schema"]}
    sample = _sample(root, [c for c in (*TEXT_COLUMNS, *LABEL_COLUMNS) if c in names])
    made = []
    text = next((c for c in TEXT_COLUMNS if c in names), None)
    if text and sample.get(text):
        made.append(_plot(root, "text_length", "Text length (characters, log scale)", lambda ax: ax.hist(
            [len(t) for t in sample[text] if t], bins=50, log=True, color="#4472c4")))
    label = next((c for c in LABEL_COLUMNS if c in names), None)
    if label and sample.get(label):
        top = Counter(v for v in sample[label] if v).most_common(20)
        made.append(_plot(root, "labels", f"{label}: most common (sample of {len(sample[label]):,} rows)",
                          lambda ax: ax.barh([k for k, _ in top][::-1], [v for _, v in top][::-1], color="#70ad47")))
    drops = manifest["totals"]["drops"]
    if drops:
        made.append(_plot(root, "drops", "Dropped records by reason",
                          lambda ax: ax.barh(list(drops)[::-1], list(drops.values())[::-1], color="#c00000")))
    if "image" in names:
        made.append(_image_grid(root))
    return [m for m in made if m]


def _sample(root: Path, columns: list[str]) -> dict[str, list]:
    values: dict[str, list] = {c: [] for c in columns}
    if not columns:
        return values
    for path in shard_paths(root):
        table = pq.ParquetFile(path).read_row_group(0, columns=columns)
        for c in columns:
            values[c] += table.column(c).to_pylist()[: SAMPLE_ROWS - len(values[c])]
        if len(values[columns[0]]) >= SAMPLE_ROWS:
            break
    return values


def _plot(root: Path, name: str, title: str, draw) -> tuple[str, str]:
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7, 4), dpi=90)
    draw(axis)
    axis.set_title(title)
    figure.tight_layout()
    return title, _save(root, name, figure)


def _image_grid(root: Path) -> tuple[str, str] | None:
    import matplotlib.pyplot as plt
    from PIL import Image

    images = []
    for path in shard_paths(root):
        for row in pq.ParquetFile(path).read_row_group(0, columns=["image", "label"]).to_pylist():
            images.append((Image.open(io.BytesIO(row["image"]["bytes"])).convert("RGB"), row["label"]))
            if len(images) >= 16:
                break
        if len(images) >= 16:
            break
    if not images:
        return None
    figure, axes = plt.subplots(4, 4, figsize=(6, 6), dpi=90)
    for axis in axes.flat:
        axis.axis("off")
    for axis, (image, label) in zip(axes.flat, images):
        axis.imshow(image)
        axis.set_title(str(label), fontsize=8)
    figure.suptitle("Sample images (label)")
    return "Sample images", _save(root, "images", figure)


def _save(root: Path, name: str, figure) -> str:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    plt.close(figure)
    write_bytes_atomic(root / "_plots" / f"{name}.png", buffer.getvalue())
    return f"_plots/{name}.png"
