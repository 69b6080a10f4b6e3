"""Metrics the tasks report beside their loss: chrF for translation."""

from __future__ import annotations

from collections import Counter


def chrf(hypotheses: list[str], references: list[str], order: int = 6, beta: float = 2.0) -> float:
    """Corpus chrF (character n-gram F-score, Popović 2015), 0..100, spaces ignored as in sacreBLEU."""
    precision_sum, recall_sum, counted = 0.0, 0.0, 0
    for n in range(1, order + 1):
        matched = hyp_total = ref_total = 0
        for hyp, ref in zip(hypotheses, references):
            h, r = _ngrams(hyp, n), _ngrams(ref, n)
            matched += sum((h & r).values())
            hyp_total += sum(h.values())
            ref_total += sum(r.values())
        if hyp_total and ref_total:
            precision_sum += matched / hyp_total
            recall_sum += matched / ref_total
            counted += 1
    if not counted:
        return 0.0
    precision, recall = precision_sum / counted, recall_sum / counted
    if precision + recall == 0:
        return 0.0
    return 100 * (1 + beta**2) * precision * recall / (beta**2 * precision + recall)


def _ngrams(text: str, n: int) -> Counter:
    chars = text.replace(" ", "")
    return Counter(chars[i: i + n] for i in range(len(chars) - n + 1))
