"""Named, versioned quality filter presets for web text: Gopher-style, C4-style, none; PII scrubbing.

Each preset is a list of rules with explicit thresholds; the preset's name, version and
every threshold go into the dataset's config hash. A rule either passes a document
(possibly rewriting it, as C4's line filter does) or names why it failed.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

from pipeline.errors import ConfigError

STOP_WORDS = {"the", "be", "to", "of", "and", "that", "have", "with"}
_WORD = re.compile(r"\w+", re.U)
_EMAIL = re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b")
_IPV4 = re.compile(r"\b(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)\b")
_TERMINAL = (".", "!", "?", '"', "'", "”", "’")
_C4_BAD_LINE = ("javascript", "cookie", "terms of use", "privacy policy")


@dataclass(frozen=True)
class Gopher:
    """Rae et al. 2021 (MassiveText), section A.1.1: document-level heuristics."""

    version: str = "gopher-1"
    min_words: int = 50
    max_words: int = 100_000
    min_mean_word_length: float = 3.0
    max_mean_word_length: float = 10.0
    max_symbol_ratio: float = 0.1
    max_bullet_lines: float = 0.9
    max_ellipsis_lines: float = 0.3
    min_alpha_words: float = 0.8
    min_stop_words: int = 2
    max_duplicate_lines: float = 0.3

    def apply(self, text: str, signals: dict[str, Any]) -> tuple[str, str | None]:
        words = _WORD.findall(text)
        lines = [line for line in text.split("\n") if line.strip()]
        n = len(words)
        mean = sum(map(len, words)) / n if n else 0.0
        signals.update(word_count=n, mean_word_length=round(mean, 3))
        if not self.min_words <= n <= self.max_words:
            return text, "gopher:word_count"
        if not self.min_mean_word_length <= mean <= self.max_mean_word_length:
            return text, "gopher:mean_word_length"
        if (text.count("#") + text.count("...") + text.count("…")) / n > self.max_symbol_ratio:
            return text, "gopher:symbol_ratio"
        if lines and sum(l.lstrip().startswith(("•", "-", "*", "·")) for l in lines) / len(lines) > self.max_bullet_lines:
            return text, "gopher:bullet_lines"
        if lines and sum(l.rstrip().endswith(("...", "…")) for l in lines) / len(lines) > self.max_ellipsis_lines:
            return text, "gopher:ellipsis_lines"
        tokens = text.split()
        alpha = sum(any(c.isalpha() for c in t) for t in tokens) / max(1, len(tokens))
        signals["alpha_fraction"] = round(alpha, 3)
        if alpha < self.min_alpha_words:
            return text, "gopher:alpha_words"
        stops = sum(1 for w in words if w.lower() in STOP_WORDS)
        signals["stop_words"] = stops
        if stops < self.min_stop_words:
            return text, "gopher:stop_words"
        duplicate = 1 - len(set(lines)) / len(lines) if lines else 0.0
        signals["duplicate_line_fraction"] = round(duplicate, 3)
        if duplicate > self.max_duplicate_lines:
            return text, "gopher:duplicate_lines"
        return text, None


@dataclass(frozen=True)
class C4:
    """Raffel et al. 2020, section 2.2: keep sentence-like lines, then judge the page."""

    version: str = "c4-1"
    min_line_words: int = 3
    min_sentences: int = 3
    bad_phrases: tuple[str, ...] = ("lorem ipsum",)

    def apply(self, text: str, signals: dict[str, Any]) -> tuple[str, str | None]:
        kept = []
        for line in text.split("\n"):
            stripped = line.strip()
            if (stripped.endswith(_TERMINAL) and len(stripped.split()) >= self.min_line_words
                    and not any(bad in stripped.lower() for bad in _C4_BAD_LINE)):
                kept.append(stripped)
        text = "\n".join(kept)
        signals["c4_lines_kept"] = len(kept)
        lowered = text.lower()
        if any(phrase in lowered for phrase in self.bad_phrases):
            return text, "c4:bad_phrase"
        if "{" in text:
            return text, "c4:code"
        if sum(text.count(t) for t in (". ", "! ", "? ")) + len(kept) < self.min_sentences:
            return text, "c4:too_few_sentences"
        return text, None


@dataclass(frozen=True)
class PII:
    """Replace e-mail addresses and IPv4 addresses; never drops a document."""

    version: str = "pii-1"

    def apply(self, text: str, signals: dict[str, Any]) -> tuple[str, str | None]:
        text, emails = _EMAIL.subn("<EMAIL>", text)
        text, ips = _IPV4.subn("<IP_ADDRESS>", text)
        signals["pii_replaced"] = emails + ips
        return text, None


@dataclass(frozen=True)
class Preset:
    name: str
    rules: tuple[Any, ...] = field(default_factory=tuple)

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "rules": [{"rule": type(r).__name__, **asdict(r)} for r in self.rules]}

    def apply(self, text: str) -> tuple[str, str | None, dict[str, Any]]:
        signals: dict[str, Any] = {}
        for rule in self.rules:
            text, reason = rule.apply(text, signals)
            if reason:
                return text, reason, signals
        return text, None, signals


PRESETS = {"gopher": (Gopher(),), "c4": (C4(),), "c4+gopher": (C4(), Gopher()), "none": ()}


def preset(name: str, pii: bool = False) -> Preset:
    if name not in PRESETS:
        raise ConfigError(f"--filters: choose from {', '.join(PRESETS)}, not {name!r}")
    return Preset(name + ("+pii" if pii else ""), PRESETS[name] + ((PII(),) if pii else ()))
