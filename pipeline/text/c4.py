"""C4's page cleaning (Raffel et al. 2020, section 2.2; TFDS ``c4_utils.clean_page`` is the reference).

Line by line: lines with a word over 1000 characters go, citation marks are removed, lines
not ending in a terminal mark (or ending in an ellipsis) go, lines under 5 words go, lines
mentioning "javascript" or a policy phrase ("cookie policy", "uses cookies", ...) go; a
page with "lorem ipsum" or a curly bracket in a kept line is dropped, and so is a page
left with fewer than 3 sentences. The optional bad-words list drops a page containing any
listed word (TFDS ``badwords_filter``; the list is not bundled: pass your own).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterator

from pipeline.text.words import TERMINAL, spaced

CITATION = re.compile(r"\[\d*\]|\[edit\]|\[citation needed\]")
END_MARKS = (".", "?", "!", '"')
POLICY_PHRASES = ("terms of use", "privacy policy", "cookie policy", "uses cookies", "use of cookies", "use cookies")
_SENTENCE_END = re.compile(r"[.!?。！？]+[\"'”’)]*(?=\s|$)")


@dataclass(frozen=True)
class C4:
    version: str = "c4-2"
    min_words_per_line: int = 5
    min_sentences: int = 3
    max_word_length: int = 1000
    terminal_punctuation: bool = True
    policy_phrases: tuple[str, ...] = POLICY_PHRASES
    bad_words: tuple[str, ...] = ()

    def reasons(self, text: str, signals: dict[str, Any], language: str | None) -> Iterator[str | tuple[str, str]]:
        """Failing page rules; the cleaned text comes first as ``("text", cleaned)``."""
        kept, sentences, page = [], 0, []
        marks = END_MARKS if spaced(language) else END_MARKS + TERMINAL
        for line in text.splitlines():
            line = line.strip()
            if any(len(w) > self.max_word_length for w in line.split()):
                continue
            line = CITATION.sub("", line)
            if self.terminal_punctuation and (not line.endswith(marks) or line.endswith("...")):
                continue
            if spaced(language) and len(line.split()) < self.min_words_per_line:
                continue
            lowered = line.lower()
            if "lorem ipsum" in lowered:
                page.append("c4:lorem_ipsum")
            if "javascript" in lowered:
                continue
            if "{" in line:
                page.append("c4:curly_bracket")
            if any(phrase in lowered for phrase in self.policy_phrases):
                continue
            sentences += max(1, len(_SENTENCE_END.findall(line)))
            kept.append(line)
        signals["c4_lines_kept"] = len(kept)
        cleaned = "\n".join(kept)
        yield ("text", cleaned)
        yield from dict.fromkeys(page)  # once each, in order
        if self.bad_words and _has_bad_word(cleaned, self.bad_words):
            yield "c4:bad_words"
        if sentences < self.min_sentences:
            yield "c4:too_few_sentences"

    def skipped(self) -> dict[str, str]:
        return {"c4:min_words_per_line": "languages written without spaces (their full stops count as terminal marks)"}


def _has_bad_word(text: str, bad: tuple[str, ...]) -> bool:
    lowered = text.lower()
    tokens = set(re.findall(r"\w+", lowered))
    return any((w in tokens) if " " not in w else (w in lowered) for w in bad)


def load_bad_words(path: str) -> tuple[str, ...]:
    """One word or phrase per line (the LDNOOBW lists TFDS uses have this shape)."""
    with open(path, encoding="utf-8") as handle:
        return tuple(sorted({line.strip().lower() for line in handle if line.strip()}))
