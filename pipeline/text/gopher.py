"""Gopher's document filters (Rae et al. 2021, MassiveText, appendix A.1.1 and Table A1).

Quality: word count, mean word length, '#' and ellipsis to word ratios (each on its own),
bullet and ellipsis lines, alphabetic words, stop words. Repetition: duplicate line and
paragraph fractions, their character fractions, the character share of the most frequent
2/3/4-gram and of all repeated 5..10-grams. Every failing rule is reported by name.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Any, Iterator

from pipeline.text.words import spaced, stop_words, words

_PARAGRAPHS = re.compile(r"\n{2,}")
_LINES = re.compile(r"\n+")
# A word tokenizer's tokens, punctuation runs included: the alpha rule counts "." and "," among the words,
# as datatrove's reference implementation does (the paper leaves the tokenization open).
_TOKENS = re.compile(r"\w+|[^\w\s]+")
_BULLETS = ("•", "‣", "◦", "·", "-", "*")


@dataclass(frozen=True)
class GopherQuality:
    """Section A.1.1 'quality filters'; word-based rules need a spaced script and a stop-word list."""

    version: str = "gopher-quality-3"
    min_words: int = 50
    max_words: int = 100_000
    min_mean_word_length: float = 3.0
    max_mean_word_length: float = 10.0
    max_hash_ratio: float = 0.1
    max_ellipsis_ratio: float = 0.1
    max_bullet_lines: float = 0.9
    max_ellipsis_lines: float = 0.3
    min_alpha_words: float = 0.8
    min_stop_words: int = 2

    def reasons(self, text: str, signals: dict[str, Any], language: str | None) -> Iterator[str]:
        found = words(text)
        n = len(found)
        mean = sum(map(len, found)) / n if n else 0.0
        signals.update(word_count=n, mean_word_length=round(mean, 3))
        if spaced(language):
            if not self.min_words <= n <= self.max_words:
                yield "gopher:word_count"
            if not self.min_mean_word_length <= mean <= self.max_mean_word_length:
                yield "gopher:mean_word_length"
        per_word = max(1, n)
        if text.count("#") / per_word > self.max_hash_ratio:
            yield "gopher:hash_ratio"
        if (text.count("...") + text.count("…")) / per_word > self.max_ellipsis_ratio:
            yield "gopher:ellipsis_ratio"
        lines = text.splitlines() or [""]
        if sum(line.lstrip().startswith(_BULLETS) for line in lines) / len(lines) > self.max_bullet_lines:
            yield "gopher:bullet_lines"
        if sum(line.rstrip().endswith(("...", "…")) for line in lines) / len(lines) > self.max_ellipsis_lines:
            yield "gopher:ellipsis_lines"
        # Unspaced scripts: a run of Han characters is one regex token, so punctuation would outnumber words.
        tokens = _TOKENS.findall(text) if spaced(language) else text.split()
        alpha = sum(any(c.isalpha() for c in t) for t in tokens) / max(1, len(tokens))
        signals["alpha_fraction"] = round(alpha, 3)
        if alpha < self.min_alpha_words:
            yield "gopher:alpha_words"
        listed = stop_words(language)
        if listed is not None and spaced(language):
            present = len(listed.intersection(w.lower() for w in found))
            signals["stop_words"] = present
            if present < self.min_stop_words:
                yield "gopher:stop_words"

    def skipped(self) -> dict[str, str]:
        return {"gopher:word_count": "languages written without spaces",
                "gopher:mean_word_length": "languages written without spaces",
                "gopher:stop_words": "languages without a stop-word list (see words.STOP_WORDS) or spaces"}


@dataclass(frozen=True)
class GopherRepetition:
    """Table A1: repetition within a document, at line, paragraph and word n-gram level."""

    version: str = "gopher-repetition-2"
    max_duplicate_line_fraction: float = 0.30
    max_duplicate_paragraph_fraction: float = 0.30
    max_duplicate_line_char_fraction: float = 0.20
    max_duplicate_paragraph_char_fraction: float = 0.20
    top_ngram_char_fractions: tuple[tuple[int, float], ...] = ((2, 0.20), (3, 0.18), (4, 0.16))
    duplicate_ngram_char_fractions: tuple[tuple[int, float], ...] = (
        (5, 0.15), (6, 0.14), (7, 0.13), (8, 0.12), (9, 0.11), (10, 0.10))

    def reasons(self, text: str, signals: dict[str, Any], language: str | None) -> Iterator[str]:
        size = max(1, len(text))
        paragraphs = _PARAGRAPHS.split(text.strip())
        repeated, chars = _duplicates(paragraphs)
        if repeated / len(paragraphs) > self.max_duplicate_paragraph_fraction:
            yield "gopher:duplicate_paragraphs"
        if chars / size > self.max_duplicate_paragraph_char_fraction:
            yield "gopher:duplicate_paragraph_chars"
        lines = [line for line in _LINES.split(text) if line]
        repeated, chars = _duplicates(lines or [""])
        signals["duplicate_line_fraction"] = round(repeated / max(1, len(lines)), 3)
        if repeated / max(1, len(lines)) > self.max_duplicate_line_fraction:
            yield "gopher:duplicate_lines"
        if chars / size > self.max_duplicate_line_char_fraction:
            yield "gopher:duplicate_line_chars"
        if not spaced(language):
            return
        found = words(text)  # fractions are of the document's characters, as for lines and paragraphs
        for n, limit in self.top_ngram_char_fractions:
            if _top_ngram_chars(found, n) / size > limit:
                yield f"gopher:top_{n}gram_chars"
        for n, limit in self.duplicate_ngram_char_fractions:
            if _duplicate_ngram_chars(found, n) / size > limit:
                yield f"gopher:duplicate_{n}gram_chars"

    def skipped(self) -> dict[str, str]:
        return {"gopher:top_{2,3,4}gram_chars, gopher:duplicate_{5..10}gram_chars": "languages written without spaces"}


def _duplicates(items: list[str]) -> tuple[int, int]:
    """(items equal to an earlier one, their characters)."""
    seen: set[str] = set()
    repeated = chars = 0
    for item in items:
        if item in seen:
            repeated += 1
            chars += len(item)
        else:
            seen.add(item)
    return repeated, chars


def _top_ngram_chars(found: list[str], n: int) -> int:
    """Characters (of its words) covered by the most frequent n-gram, if it occurs more than once."""
    counts = Counter(tuple(found[i:i + n]) for i in range(len(found) - n + 1))
    if not counts:
        return 0
    gram, count = counts.most_common(1)[0]
    return sum(map(len, gram)) * count if count > 1 else 0


def _duplicate_ngram_chars(found: list[str], n: int) -> int:
    """Characters of the words covered by an n-gram that already occurred earlier in the text."""
    seen: set[tuple[str, ...]] = set()
    covered = [False] * len(found)
    for i in range(len(found) - n + 1):
        gram = tuple(found[i:i + n])
        if gram in seen:
            covered[i:i + n] = [True] * n
        else:
            seen.add(gram)
    return sum(len(w) for w, hit in zip(found, covered) if hit)
