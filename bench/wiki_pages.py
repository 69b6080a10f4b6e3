"""Generates enwiki-like article wikitext for the cleaning benchmark (deterministic).

Real articles mix prose with links, references, infoboxes, tables, lists, unit and date
templates, files, categories and navboxes; so do these, in proportions taken from a
glance at typical enwiki pages (refs on a third of sentences, an infobox on most pages,
a table on some). No network: the real dump cannot be fetched here.
"""

from __future__ import annotations

import random

WORDS = ("the of and in to was is for on as with by at from his an were are which this that be first "
         "city river war film team season album school county district north south village population "
         "government company university during after before between later under national world state").split()
TEMPLATES_INLINE = ["{{convert|{n}|km|mi}}", "{{convert|{n}|-|{m}|m|ft}}", "{{formatnum:{big}}}",
                    "{{birth date|{y}|{mo}|{d}}}", "{{lang|fr|la ville}}", "{{nowrap|{n} kg}}", "{{ndash}}",
                    "{{citation needed|date=May 2020}}", "{{as of|{y}}}", "{{circa|{y}}}"]


def _sentence(rng: random.Random) -> str:
    words = [rng.choice(WORDS) for _ in range(rng.randint(8, 24))]
    for _ in range(rng.randint(1, 4)):
        i = rng.randrange(len(words))
        target = rng.choice(WORDS).capitalize() + " " + rng.choice(WORDS)
        words[i] = f"[[{target}|{words[i]}]]" if rng.random() < 0.4 else f"[[{target}]]"
    if rng.random() < 0.25:
        words[rng.randrange(len(words))] = f"'''{rng.choice(WORDS)}'''"
    if rng.random() < 0.3:
        values = {"{n}": rng.randint(1, 500), "{m}": rng.randint(501, 900), "{big}": rng.randint(10_000, 9_000_000),
                  "{y}": rng.randint(1800, 2020), "{mo}": rng.randint(1, 12), "{d}": rng.randint(1, 28)}
        template = rng.choice(TEMPLATES_INLINE)
        for key, value in values.items():
            template = template.replace(key, str(value))
        words.insert(rng.randrange(len(words)), template)
    text = " ".join(words)
    text = text[0].upper() + text[1:] + "."
    if rng.random() < 0.35:
        text += (f'<ref name="r{rng.randint(1, 99)}">{{{{cite web |url=https://example.org/{rng.randint(1, 10**6)} '
                 f'|title={rng.choice(WORDS)} {rng.choice(WORDS)} |access-date=2020-01-01 |publisher=Example}}}}</ref>')
    if rng.random() < 0.05:
        text += "<!-- editor note: verify -->"
    return text


def _infobox(rng: random.Random, title: str) -> str:
    fields = "\n".join(f"| {rng.choice(WORDS)}_{i} = {rng.choice(WORDS)} [[{rng.choice(WORDS).capitalize()}]]"
                       for i in range(rng.randint(10, 30)))
    return f"{{{{Infobox settlement\n| name = {title}\n| image = {title}.jpg\n{fields}\n}}}}\n"


def _table(rng: random.Random) -> str:
    rows = "\n".join(f"|-\n| {rng.randint(1900, 2020)} || {rng.randint(100, 99999)} || [[{rng.choice(WORDS)}]]"
                     for _ in range(rng.randint(3, 15)))
    return f'{{| class="wikitable sortable"\n! Year !! Value !! Note\n{rows}\n|}}\n'


def article(rng: random.Random, title: str) -> str:
    parts = [_infobox(rng, title)] if rng.random() < 0.7 else []
    parts.append(" ".join(_sentence(rng) for _ in range(rng.randint(3, 8))) + "\n")
    for _ in range(rng.randint(2, 7)):
        parts.append(f"\n== {rng.choice(WORDS).capitalize()} {rng.choice(WORDS)} ==\n")
        for _ in range(rng.randint(1, 4)):
            parts.append(" ".join(_sentence(rng) for _ in range(rng.randint(2, 7))) + "\n\n")
        if rng.random() < 0.3:
            parts.append(f"[[File:{rng.choice(WORDS)}.jpg|thumb|{_sentence(rng)}]]\n")
        if rng.random() < 0.25:
            parts.append(_table(rng))
        if rng.random() < 0.3:
            parts.append("".join(f"* {_sentence(rng)}\n" for _ in range(rng.randint(2, 6))))
    parts.append("\n== References ==\n{{Reflist}}\n\n{{Navbox\n| name = x\n| list1 = [[A]] · [[B]]\n}}\n")
    parts.append("".join(f"[[Category:{rng.choice(WORDS).capitalize()} {rng.choice(WORDS)}]]\n" for _ in range(4)))
    return "".join(parts)
