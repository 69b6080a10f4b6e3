"""Offline language identification (py3langid ships its model: nothing is downloaded at run time)."""

from __future__ import annotations

from functools import lru_cache

# ISO 639-3 (what WARC-Identified-Content-Language carries) → ISO 639-1 (what the model and
# --languages use), for the languages the model knows that crawls report most.
ISO3_TO_1 = {"eng": "en", "deu": "de", "fra": "fr", "spa": "es", "ita": "it", "por": "pt", "nld": "nl", "rus": "ru",
             "pol": "pl", "jpn": "ja", "zho": "zh", "cmn": "zh", "kor": "ko", "ara": "ar", "tur": "tr", "ces": "cs",
             "swe": "sv", "dan": "da", "fin": "fi", "nor": "no", "nob": "nb", "hun": "hu", "ron": "ro", "ukr": "uk",
             "ell": "el", "heb": "he", "hin": "hi", "ind": "id", "vie": "vi", "tha": "th", "fas": "fa", "cat": "ca"}


@lru_cache(maxsize=1)
def _identifier():
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def identify(text: str, hint: str | None = None, sample_chars: int = 2000) -> tuple[str, float]:
    """(ISO 639-1 code, probability). A crawl's own language label wins when the model is unsure."""
    language, score = _identifier().classify(text[:sample_chars])
    hinted = ISO3_TO_1.get((hint or "").split(",")[0].strip())
    if hinted and hinted != language and score < 0.5:
        return hinted, float(score)
    return language, float(score)
