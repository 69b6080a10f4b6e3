"""Words, lines and stop words as the quality rules count them, per language.

Rules written for English (word counts, mean word length, stop words, word n-grams) need
words separated by spaces and an English stop-word list. For languages written with
spaces we carry a short list of the commonest function words, so Gopher's "at least two
stop words" rule means the same thing in German as in English; for languages written
without spaces (Chinese, Japanese, Thai, ...) the word-based rules are skipped, and the
preset's description says so.
"""

from __future__ import annotations

import re

WORD = re.compile(r"\w+", re.U)
# Languages whose script does not separate words with spaces: \w+ finds clauses, not words.
UNSPACED = frozenset({"zh", "ja", "th", "lo", "km", "my", "bo"})
# Gopher (Rae et al. 2021, A.1.1) lists eight English words; the other lists are the same
# kind of words (articles, copulas, commonest prepositions and conjunctions) in each language.
STOP_WORDS: dict[str, tuple[str, ...]] = {
    "en": ("the", "be", "to", "of", "and", "that", "have", "with"),
    "de": ("der", "die", "das", "und", "zu", "mit", "sein", "haben", "ist", "von"),
    "fr": ("le", "la", "les", "de", "et", "que", "avoir", "être", "est", "avec"),
    "es": ("el", "la", "de", "que", "y", "en", "ser", "haber", "con", "los"),
    "it": ("il", "la", "di", "che", "e", "essere", "avere", "con", "per", "un"),
    "pt": ("o", "a", "de", "que", "e", "ser", "ter", "com", "para", "um"),
    "nl": ("de", "het", "een", "en", "van", "zijn", "hebben", "met", "te", "dat"),
}
# Sentence ends in scripts the pipeline meets often (Latin, CJK full-width, Devanagari, Arabic).
TERMINAL = (".", "!", "?", '"', "'", "”", "’", "。", "！", "？", "।", "؟", "…")


def words(text: str) -> list[str]:
    return WORD.findall(text)


def spaced(language: str | None) -> bool:
    """True when words are separated by spaces (unknown languages are assumed to be)."""
    return (language or "en") not in UNSPACED


def stop_words(language: str | None) -> frozenset[str] | None:
    """The stop-word list for ``language``, or None when there is none (the rule is then skipped)."""
    found = STOP_WORDS.get(language or "en")
    return frozenset(found) if found else None
