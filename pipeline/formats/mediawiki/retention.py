"""How much of a page's prose the cleaner kept: words out vs a cheap estimate of the prose words in.

Residue only says what markup was left; it cannot see what was dropped. The estimate here
is deliberately independent of the cleaner: it counts letter-words on the lines of the
wikitext that read as prose (not inside a multi-line template or a table, not a file or
category line), after removing refs, comments and one-line templates. Per shard, the
manifest gets the two word totals and how many pages kept under ``REDUCED`` of their
estimate; the card lists the pages most reduced.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

REDUCED = 0.7  # a page whose output has fewer words than this share of its estimate is "reduced"
MIN_WORDS = 30  # below this many estimated words a ratio says little
_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?")
_WORD_RE2 = r"[\p{L}]+(?:['’][\p{L}]+)?"
_NOISE = re.compile(r"<!--.*?-->|<(nowiki|pre|code|math|syntaxhighlight|source)\b[^>]*>.*?</\1\s*>|<ref[^>]*/>"
                    r"|<ref[^>]*>.*?</ref>|<[^<>]+>", re.S | re.I)
_INLINE_TEMPLATE = re.compile(r"\{\{[^{}]*\}\}")
_SKIP_LINK = re.compile(r"\[\[(?:[^\]|:]+):[^\]]*\]\]")
_LINE_START_SKIP = ("{|", "|", "!", "=", "__", "#redirect", "}}")


def words(text: str) -> int:
    """Letter-words in plain text (numbers and punctuation do not count)."""
    return len(_WORD.findall(text))


def prose_words(wikitext: str) -> int:
    """A cheap estimate of a page's prose words before cleaning (see the module docstring)."""
    text = _NOISE.sub(" ", wikitext)
    for _ in range(3):  # nested one-line templates, innermost first
        text, n = _INLINE_TEMPLATE.subn(" ", text)
        if not n:
            break
    total, depth, table = 0, 0, 0
    for line in text.split("\n"):
        stripped = line.strip().lower()
        opened = depth
        depth = max(0, depth + line.count("{{") - line.count("}}"))
        if stripped.lstrip(":").startswith("{|"):
            table += 1
        elif table and stripped.startswith("|}"):
            table -= 1
            continue
        if opened or table or stripped.startswith(_LINE_START_SKIP):
            continue
        total += words(_SKIP_LINK.sub(" ", line.split("{{", 1)[0].lstrip("*#:; ")))
    return total


def shard_stats(table: pa.Table) -> dict[str, int]:
    """Per-shard word totals, reduced pages and repair counts, from the rows' words/source_words/repairs."""
    out, source = table.column("words"), table.column("source_words")
    reduced = pc.and_(pc.greater_equal(source, MIN_WORDS),
                      pc.less(pc.cast(out, pa.float64()), pc.multiply(pc.cast(source, pa.float64()), REDUCED)))
    stats = {"words": int(pc.sum(out).as_py() or 0), "source_words": int(pc.sum(source).as_py() or 0),
             "reduced_pages": int(pc.sum(reduced).as_py() or 0)}
    flat = pc.list_flatten(table.column("repairs"))
    if len(flat):
        for item in pc.value_counts(flat).to_pylist():
            stats[f"repaired_{item['values']}"] = item["counts"]
    return stats


def most_reduced(root: Path, manifest: dict[str, Any], top: int = 10) -> list[dict[str, Any]]:
    """The ``top`` pages with the lowest words/source_words ratio (among pages of MIN_WORDS or more)."""
    best: list[dict[str, Any]] = []
    for shard in manifest["shards"]:
        table = pq.read_table(root / shard["file"], columns=["id", "title", "words", "source_words"])
        table = table.filter(pc.greater_equal(table.column("source_words"), MIN_WORDS))
        ratio = pc.divide(pc.cast(table.column("words"), pa.float64()), pc.cast(table.column("source_words"), pa.float64()))
        table = table.append_column("ratio", ratio).sort_by("ratio").slice(0, top)
        best = sorted(best + table.to_pylist(), key=lambda r: (r["ratio"], r["id"]))[:top]
    return best


def card_section(root: Path, manifest: dict[str, Any], top: int = 10) -> str:
    """Markdown for the data card: retention overall and the pages most reduced."""
    totals = manifest["totals"].get("stats") or {}
    kept, estimate = totals.get("words", 0), totals.get("source_words", 0)
    lines = ["## Prose retention", "",
             f"Words out / estimated prose words in: {kept:,} / {estimate:,} "
             f"({kept / max(1, estimate):.1%}); pages under {REDUCED:.0%} of their estimate: "
             f"{totals.get('reduced_pages', 0):,}.", "",
             "| id | title | words | estimated | kept |", "|---|---|---|---|---|"]
    lines += [f"| {r['id']} | {r['title']} | {r['words']:,} | {r['source_words']:,} | {r['ratio']:.0%} |"
              for r in most_reduced(root, manifest, top)]
    return "\n".join(lines) + "\n"
