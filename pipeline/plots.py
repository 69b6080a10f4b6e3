"""The pictures in a data card: text lengths, languages or classes, drops by reason, a grid of sample images.

Figures are drawn with matplotlib's object API on an Agg canvas, never through ``pyplot`` (global
current-figure and backend state), and one at a time per process: matplotlib's text layout parses font
and mathtext patterns with pyparsing, which is not thread-safe (the ParseException the demo's parallel
source builds used to hit and retry 30 s later). Plots are written per snapshot, under
``_plots/<snapshot id>/``, and listed in the snapshot so ``gc`` keeps them as long as it.
"""

from __future__ import annotations

import io
import threading
from collections import Counter
from pathlib import Path
from typing import Any, Callable

import pyarrow.parquet as pq

from pipeline.store.location import Location

SAMPLE_ROWS = 20_000
TEXT_COLUMNS = ("text", "source_text", "question")
LABEL_COLUMNS = ("lang", "language", "class_name", "source_lang", "family")
_DRAWING = threading.Lock()


def card_plots(root: Path | str, manifest: dict[str, Any]) -> list[tuple[str, str]]:
    """Write the plots of the snapshot ``manifest`` describes; returns (title, relative path) pairs."""
    location = Location(root)
    folder = f"_plots/{manifest.get('snapshot_id', 'current')}"
    names = {f["name"] for f in manifest["schema"]}
    sample = _sample(location, manifest, [c for c in (*TEXT_COLUMNS, *LABEL_COLUMNS) if c in names])
    made = []
    text = next((c for c in TEXT_COLUMNS if c in names), None)
    if text and sample.get(text):
        lengths = [len(t) for t in sample[text] if t]
        made.append(_plot(location, folder, "text_length", "Text length (characters, log scale)",
                          lambda ax: ax.hist(lengths, bins=50, log=True, color="#4472c4")))
    label = next((c for c in LABEL_COLUMNS if c in names), None)
    if label and sample.get(label):
        top = Counter(v for v in sample[label] if v).most_common(20)
        made.append(_plot(location, folder, "labels", f"{label}: most common (sample of {len(sample[label]):,} rows)",
                          lambda ax: ax.barh([k for k, _ in top][::-1], [v for _, v in top][::-1], color="#70ad47")))
    drops = manifest["totals"]["drops"]
    if drops:
        made.append(_plot(location, folder, "drops", "Dropped records by reason",
                          lambda ax: ax.barh(list(drops)[::-1], list(drops.values())[::-1], color="#c00000")))
    if "image" in names:
        made.append(_image_grid(location, folder, manifest))
    return [m for m in made if m]


def _rows(location: Location, manifest: dict[str, Any], columns: list[str]):
    """The first row group of each listed shard, in manifest order."""
    for shard in manifest["shards"]:
        with location.open(shard["file"]) as f:
            yield pq.ParquetFile(f).read_row_group(0, columns=columns)


def _sample(location: Location, manifest: dict[str, Any], columns: list[str]) -> dict[str, list]:
    values: dict[str, list] = {c: [] for c in columns}
    if not columns:
        return values
    for table in _rows(location, manifest, columns):
        for c in columns:
            values[c] += table.column(c).to_pylist()[: SAMPLE_ROWS - len(values[c])]
        if len(values[columns[0]]) >= SAMPLE_ROWS:
            break
    return values


def _figure(**kwargs):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(**kwargs)
    FigureCanvasAgg(figure)
    return figure


def _plot(location: Location, folder: str, name: str, title: str, draw: Callable) -> tuple[str, str]:
    with _DRAWING:
        figure = _figure(figsize=(7, 4), dpi=90)
        axis = figure.subplots()
        draw(axis)
        axis.set_title(title)
        figure.tight_layout()
        png = _png(figure)
    return title, _save(location, folder, name, png)


def _image_grid(location: Location, folder: str, manifest: dict[str, Any]) -> tuple[str, str] | None:
    from PIL import Image

    images = []
    for table in _rows(location, manifest, ["image", "label"]):
        for row in table.to_pylist()[: 16 - len(images)]:
            images.append((Image.open(io.BytesIO(row["image"]["bytes"])).convert("RGB"), row["label"]))
        if len(images) >= 16:
            break
    if not images:
        return None
    with _DRAWING:
        figure = _figure(figsize=(6, 6), dpi=90)
        axes = figure.subplots(4, 4)
        for axis in axes.flat:
            axis.axis("off")
        for axis, (image, label) in zip(axes.flat, images):
            axis.imshow(image)
            axis.set_title(str(label), fontsize=8)
        figure.suptitle("Sample images (label)")
        png = _png(figure)
    return "Sample images", _save(location, folder, "images", png)


def _png(figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _save(location: Location, folder: str, name: str, png: bytes) -> str:
    path = f"{folder}/{name}.png"
    location.write_bytes(path, png)
    return path
