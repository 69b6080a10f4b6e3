"""FineWeb's own filters (Penedo et al. 2024, section 3.3 and appendix): line-level signals of list-like pages.

A page is dropped when under 12% of its lines end in terminal punctuation, when over 67%
of its lines are 30 characters or shorter, when duplicated lines hold over 1% of its
characters, or when it has more than 0.3 newlines per word (list-like).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator

from pipeline.text.gopher import _duplicates
from pipeline.text.words import TERMINAL, spaced, words


@dataclass(frozen=True)
class FineWeb:
    version: str = "fineweb-1"
    min_line_punctuation: float = 0.12
    max_short_lines: float = 0.67
    short_line_chars: int = 30
    max_duplicate_line_chars: float = 0.01
    max_newlines_per_word: float = 0.3

    def reasons(self, text: str, signals: dict[str, Any], language: str | None) -> Iterator[str]:
        lines = [line for line in text.split("\n") if line.strip()]
        if not lines:
            yield "fineweb:empty"
            return
        if sum(line.endswith(TERMINAL) for line in lines) / len(lines) < self.min_line_punctuation:
            yield "fineweb:line_punctuation"
        if sum(len(line) <= self.short_line_chars for line in lines) / len(lines) > self.max_short_lines:
            yield "fineweb:short_lines"
        if _duplicates(lines)[1] / max(1, len(text.replace("\n", ""))) > self.max_duplicate_line_chars:
            yield "fineweb:duplicate_line_chars"
        if spaced(language) and text.count("\n") / max(1, len(words(text))) > self.max_newlines_per_word:
            yield "fineweb:list_like"

    def skipped(self) -> dict[str, str]:
        return {"fineweb:list_like": "languages written without spaces"}
