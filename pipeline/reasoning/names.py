"""The people of the reasoning questions: a large deterministic name list, split into train and test pools.

Names are a short list of common English first names (the seed question's Jack, Jane and
Kate among them, always in the train pool) plus thousands of pronounceable names built from
syllables. A name's pool comes from a hash of the name, so test questions use names that never
occur in train or validation questions.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache

COMMON = ("Jack Jane Kate Tom Anna Mary John Paul Lucy Emma Mark Sara Adam Alice Ben Chloe David Ella Frank Grace "
          "Henry Iris Jacob Julia Leo Lily Max Mia Nina Oscar Peter Rose Sam Tina Victor Zoe Amy Bob Carl Dora Eric "
          "Fiona Gary Helen Ian Joan Karl Laura Mike Nora Olga Pam Rita Steve Tara Uma Vera Walt Yara").split()
ONSETS = ("B C D F G H J K L M N P R S T V W Y Z Br Cl Dr Fl Gr Kr Pr Sh St Tr Th Ch El Al Ar Or Is").split()
NUCLEI = ("a e i o u ai ea ia oa y").split()
CODAS = ("n l r s d th ck ra na la ne ny ly ry ro to do ssa nna lie ton den lyn son bel rin mon vin tha "
         "ris lan dor nis rek sha ven").split()
TEST_PERCENT = 12
# Lower-cased words of the templates: a name spelled like one would read as part of a sentence.
RESERVED = {"a", "is", "as", "at", "be", "in", "of", "old", "than", "then", "and", "but", "how", "who", "the",
            "was", "will", "aged", "ago", "age", "year", "years", "now", "older", "younger", "much", "many",
            "half", "twice", "three", "times", "what", "which", "oldest", "youngest", "second", "between",
            "difference", "has", "just", "turned", "them", "so", "by", "ton", "son", "den", "than"}


@lru_cache(maxsize=1)
def all_names() -> tuple[str, ...]:
    """Every name, in a fixed order: the common ones, then the built ones (sorted, unique)."""
    built = {o + n + c for o in ONSETS for n in NUCLEI for c in CODAS}
    built |= {o + n for o in ONSETS for n in NUCLEI if len(o + n) >= 3}
    common = set(COMMON)
    built = sorted(n for n in built if 3 <= len(n) <= 9 and n.lower() not in RESERVED and n not in common
                   and not n[-1] == n[-2] == "y")
    return tuple(COMMON) + tuple(built)


def is_test_name(name: str) -> bool:
    if name in COMMON:
        return False
    digest = hashlib.blake2b(name.encode(), digest_size=4, person=b"names").digest()
    return int.from_bytes(digest, "big") % 100 < TEST_PERCENT


@lru_cache(maxsize=1)
def pools() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(train/validation names, test names): disjoint."""
    names = all_names()
    return tuple(n for n in names if not is_test_name(n)), tuple(n for n in names if is_test_name(n))


def names_digest() -> str:
    """A fingerprint of the list and its partition, for the dataset's config hash."""
    train, test = pools()
    return hashlib.sha256(("\n".join(train) + "\0" + "\n".join(test)).encode()).hexdigest()[:16]
