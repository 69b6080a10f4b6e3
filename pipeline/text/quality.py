"""Named, versioned quality filter presets for web text (Gopher, C4, FineWeb, none) and PII scrubbing.

A preset is an ordered list of rules with explicit thresholds; its name, every rule's
version and threshold, the per-language stop words and the rules skipped for some
languages all go into the dataset's config hash (and so into the card). A rule either
passes a document (possibly rewriting it, as C4's line filter does) or names why it
failed; the first failing rule's name is the drop reason counted in the manifest.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from pipeline.errors import ConfigError
from pipeline.text import words
from pipeline.text.c4 import C4, load_bad_words
from pipeline.text.fineweb import FineWeb
from pipeline.text.gopher import GopherQuality, GopherRepetition

_EMAIL = re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b")
_IPV4 = re.compile(r"\b(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)\b")


@dataclass(frozen=True)
class PII:
    """Replace e-mail addresses and IPv4 addresses; never drops a document."""

    version: str = "pii-1"

    def reasons(self, text: str, signals: dict[str, Any], language: str | None):
        text, emails = _EMAIL.subn("<EMAIL>", text)
        text, ips = _IPV4.subn("<IP_ADDRESS>", text)
        signals["pii_replaced"] = emails + ips
        yield ("text", text)

    def skipped(self) -> dict[str, str]:
        return {}


@dataclass(frozen=True)
class Preset:
    name: str
    rules: tuple[Any, ...] = field(default_factory=tuple)

    def describe(self) -> dict[str, Any]:
        skipped = {k: v for rule in self.rules for k, v in rule.skipped().items()}
        return {"name": self.name, "rules": [{"rule": type(r).__name__, **asdict(r)} for r in self.rules],
                "stop_words": {k: list(v) for k, v in sorted(words.STOP_WORDS.items())},
                "unspaced_languages": sorted(words.UNSPACED), "skipped": skipped}

    def apply(self, text: str, language: str | None = "en") -> tuple[str, str | None, dict[str, Any]]:
        """(text after rewriting rules, the first failing rule's name or None, signals)."""
        signals: dict[str, Any] = {}
        for rule in self.rules:
            text, failed = _run(rule, text, signals, language, first=True)
            if failed:
                return text, failed[0], signals
        return text, None, signals

    def failures(self, text: str, language: str | None = "en") -> list[str]:
        """Every failing rule's name (rules do not stop at the first): a test and audit aid."""
        signals: dict[str, Any] = {}
        found: list[str] = []
        for rule in self.rules:
            text, failed = _run(rule, text, signals, language, first=False)
            found += failed
        return found


def _run(rule: Any, text: str, signals: dict[str, Any], language: str | None,
         first: bool) -> tuple[str, list[str]]:
    failed: list[str] = []
    for reason in rule.reasons(text, signals, language):
        if isinstance(reason, tuple):  # ("text", rewritten): later rules see the rewritten text
            text = reason[1]
            continue
        failed.append(reason)
        if first:
            break
    return text, failed


# FineWeb's pipeline (datatrove's FineWeb recipe): Gopher repetition and quality, C4 without
# its terminal-punctuation line filter and with 3 words per line / 5 sentences, then FineWeb's own.
_FINEWEB_C4 = C4(terminal_punctuation=False, min_words_per_line=3, min_sentences=5)
PRESETS: dict[str, tuple[Any, ...]] = {
    "gopher": (GopherQuality(), GopherRepetition()),
    "c4": (C4(),),
    "c4+gopher": (C4(), GopherQuality(), GopherRepetition()),
    "fineweb": (GopherRepetition(), GopherQuality(), _FINEWEB_C4, FineWeb()),
    "none": (),
}


def preset(name: str, pii: bool = False, bad_words: str | None = None) -> Preset:
    """The named preset; ``bad_words`` (a file, one entry a line) turns on C4's bad-words page filter."""
    if name not in PRESETS:
        raise ConfigError(f"--filters: choose from {', '.join(PRESETS)}, not {name!r}")
    rules = PRESETS[name]
    if bad_words:
        if not any(isinstance(r, C4) for r in rules):
            raise ConfigError("--bad-words needs a preset with C4's rules (c4, c4+gopher, fineweb)")
        listed = load_bad_words(bad_words)
        rules = tuple(replace(r, bad_words=listed) if isinstance(r, C4) else r for r in rules)
    return Preset(name + ("+pii" if pii else ""), rules + ((PII(),) if pii else ()))
