"""Arrow string kernels for rendering whole batches of questions at once (no Python loop per row).

A batch's strings are built column-wise: names taken from one name array, numbers cast in C,
pieces joined element-wise, a phrasing picked per row with ``choose``. Rendering a family is
then a few dozen C kernels over the batch, which is what keeps generation above 100k rows/s.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

Strings = pa.Array


def cat(*pieces) -> Strings:
    """Element-wise concatenation of string arrays and plain ``str`` pieces."""
    return pc.binary_join_element_wise(*pieces, "")


def num(values: np.ndarray) -> Strings:
    return pc.cast(pa.array(np.asarray(values, dtype=np.int64)), pa.string())


def pick(choice: np.ndarray, variants: Sequence[Strings]) -> Strings:
    """Row i takes ``variants[choice[i]][i]``."""
    if len(variants) == 1:
        return variants[0]
    return pc.choose(pa.array(np.asarray(choice, dtype=np.int8)), *variants)


def blank_unless(present: np.ndarray, values: Strings) -> Strings:
    """``values`` where ``present``, the empty string elsewhere (an absent distractor's sentence)."""
    return pc.if_else(pa.array(np.asarray(present, dtype=bool)), values, "")


def years(values: np.ndarray) -> Strings:
    """"1 year" / "K years"."""
    return cat(num(values), pc.if_else(pa.array(np.asarray(values) == 1), " year", " years"))


def shuffled_join(sentences: Sequence[Strings], rng: np.random.Generator, tail: Strings) -> Strings:
    """Sentences (each ending in a space, or empty) in a random order per row, then ``tail``."""
    n = len(sentences[0])
    order = np.argsort(rng.random((n, len(sentences))), axis=1)
    return cat(*[pick(order[:, j], sentences) for j in range(len(sentences))], tail)


def age_sentence(names: Strings, ages: np.ndarray, style: np.ndarray) -> Strings:
    """"Jack is 12.", "Jack is 12 years old.", "Jack is aged 12.", "Jack's age is 12.", "Jack has just turned 12."."""
    n = num(ages)
    old = pc.if_else(pa.array(np.asarray(ages) == 1), " year old. ", " years old. ")
    return pick(style, [cat(names, " is ", n, ". "), cat(names, " is ", n, old),
                        cat(names, " is aged ", n, ". "), cat(names, "'s age is ", n, ". "),
                        cat(names, " has just turned ", n, ". ")])


AGE_STYLES = 5
