"""Offline language identification (py3langid ships its model: nothing is downloaded at run time)."""

from __future__ import annotations

from functools import lru_cache

# ISO 639-3 (what WARC-Identified-Content-Language carries) → ISO 639-1 (what the model and
# --languages use), for the languages the model knows that crawls report most.
ISO3_TO_1 = {"eng": "en", "deu": "de", "fra": "fr", "spa": "es", "ita": "it", "por": "pt", "nld": "nl", "rus": "ru",
             "pol": "pl", "jpn": "ja", "zho": "zh", "cmn": "zh", "kor": "ko", "ara": "ar", "tur": "tr", "ces": "cs",
             "swe": "sv", "dan": "da", "fin": "fi", "nor": "no", "nob": "nb", "hun": "hu", "ron": "ro", "ukr": "uk",
             "ell": "el", "heb": "he", "hin": "hi", "ind": "id", "vie": "vi", "tha": "th", "fas": "fa", "cat": "ca"}
# How much the crawl's label multiplies the odds of its language: enough to settle a close
# call between two languages, far too little to overrule a confident model.
HINT_ODDS = 3.0


@lru_cache(maxsize=1)
def _identifier():
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def identify(text: str, hint: str | None = None, sample_chars: int = 2000) -> tuple[str, float]:
    """(ISO 639-1 code, probability of that code).

    The crawl's label (``hint``) is a prior: it multiplies its language's odds by HINT_ODDS,
    then the probabilities are renormalized. So it can only tip a close call, and the score
    returned is always the (renormalized) probability of the language returned.
    """
    ranked = _identifier().rank(text[:sample_chars])
    hinted = ISO3_TO_1.get((hint or "").split(",")[0].strip())
    probs = {lang: float(p) for lang, p in ranked}
    if hinted in probs:
        boosted = probs[hinted] * HINT_ODDS
        total = 1.0 - probs[hinted] + boosted
        probs = {lang: (boosted if lang == hinted else p) / total for lang, p in probs.items()}
    language = max(probs, key=probs.__getitem__)
    return language, probs[language]
