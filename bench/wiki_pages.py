"""Generates enwiki-like articles for the cleaning benchmark, each as wikitext and as MediaWiki-rendered HTML.

Real articles mix prose with links, references, infoboxes, tables, lists, unit and date
templates, files, categories and navboxes; so do these, in proportions taken from a glance
at typical enwiki pages (refs on a third of sentences, an infobox on most pages, a table on
some), plus the constructs that used to lose prose (refs named by URL, nowiki, titles with
colons, multi-unit converts, superscripts, indented tables, block HTML). Every piece is
written twice from the same draw: as wikitext and as the HTML Parsoid renders for it
(Enterprise dump style), so the two formats can be compared word for word. No network:
the real dumps cannot be fetched here. Deterministic for a given seed.
"""

from __future__ import annotations

import random
from html import escape

WORDS = ("the of and in to was is for on as with by at from his an were are which this that be first "
         "city river war film team season album school county district north south village population "
         "government company university during after before between later under national world state").split()


class Page:
    """One article being written in both forms at once."""

    def __init__(self) -> None:
        self.wiki: list[str] = []
        self.html: list[str] = []
        self.refs = 0

    def add(self, wikitext: str, html: str) -> None:
        self.wiki.append(wikitext)
        self.html.append(html)

    def ref(self, rng: random.Random) -> tuple[str, str]:
        self.refs += 1
        n = self.refs
        if rng.random() < 0.3:
            wiki = f'<ref name="https://example.org/{rng.randint(1, 99)}/a" />'
        else:
            wiki = (f'<ref name="r{n}">{{{{cite web |url=https://example.org/{rng.randint(1, 10**6)} '
                    f'|title={rng.choice(WORDS)} {rng.choice(WORDS)} |access-date=2020-01-01 |publisher=Example}}}}</ref>')
        html = (f'<sup class="mw-ref reference" typeof="mw:Extension/ref"><a href="#cite_note-{n}">'
                f'<span class="mw-reflink-text">[{n}]</span></a></sup>')
        return wiki, html


def _link(target: str, text: str | None = None) -> tuple[str, str]:
    wiki = f"[[{target}|{text}]]" if text else f"[[{target}]]"
    return wiki, f'<a rel="mw:WikiLink" href="./{escape(target.replace(" ", "_"))}" title="{escape(target)}">{escape(text or target)}</a>'


def _inline(rng: random.Random) -> tuple[str, str]:
    n, m, y = rng.randint(1, 500), rng.randint(501, 900), rng.randint(1800, 2020)
    mo, d, big = rng.randint(1, 12), rng.randint(1, 28), rng.randint(10_000, 9_000_000)
    month = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
             "November", "December"][mo - 1]
    choices = [
        (f"{{{{convert|{n}|km|mi}}}}", f"{n}&nbsp;km ({round(n * 0.621, 1)}&nbsp;mi)"),
        (f"{{{{convert|{n}|-|{m}|m|ft}}}}", f"{n}–{m}&nbsp;m ({round(n * 3.28)}–{round(m * 3.28)}&nbsp;ft)"),
        (f"{{{{convert|6|ft|{n % 12}|in|m}}}}", f"6&nbsp;ft {n % 12}&nbsp;in (1.{n % 99:02d}&nbsp;m)"),
        (f"{{{{convert|{n}|km2|sqmi}}}}", f"{n}&nbsp;km<sup>2</sup> ({round(n * 0.386, 1)}&nbsp;sq&nbsp;mi)"),
        (f"{{{{formatnum:{big}}}}}", f"{big:,}"),
        (f"{{{{birth date|{y}|{mo}|{d}}}}}", f"{month} {d}, {y}"),
        ("{{lang|fr|la ville}}", '<i lang="fr">la ville</i>'),
        (f"{{{{nowrap|{n} kg}}}}", f'<span class="nowrap">{n} kg</span>'),
        ("{{ndash}}", "–"),
        ("{{citation needed|date=May 2020}}",
         '<sup class="noprint Inline-Template Template-Fact">[<i><a href="./Wikipedia:Citation_needed">citation needed</a></i>]</sup>'),
        (f"{{{{as of|{y}}}}}", f"As of {y}"),
        (f"{{{{circa|{y}}}}}", f'<abbr title="circa">c.</abbr>&thinsp;{y}'),
        (f"an area of {n} km<sup>2</sup>", f"an area of {n} km<sup>2</sup>"),
    ]
    return rng.choice(choices)


def _sentence(rng: random.Random, page: Page) -> tuple[str, str]:
    wiki = [rng.choice(WORDS) for _ in range(rng.randint(8, 24))]
    html = [escape(w) for w in wiki]
    for i in sorted(rng.sample(range(len(wiki)), rng.randint(1, 4))):
        target = rng.choice(WORDS).capitalize() + " " + rng.choice(WORDS)
        if rng.random() < 0.05:
            target = f"{target.title()}: {rng.choice(WORDS).title()} {rng.choice(WORDS)}"  # a title with a colon
        wiki[i], html[i] = _link(target, wiki[i]) if rng.random() < 0.4 else _link(target)
    plain = [i for i, w in enumerate(wiki) if not w.startswith("[[")]
    if rng.random() < 0.25 and plain:
        i, word = rng.choice(plain), rng.choice(WORDS)
        wiki[i], html[i] = f"'''{word}'''", f"<b>{word}</b>"
    if rng.random() < 0.3:
        i = rng.randrange(len(wiki))
        piece = _inline(rng)
        wiki.insert(i, piece[0])
        html.insert(i, piece[1])
    w, h = " ".join(wiki), " ".join(html)
    w, h = w[0].upper() + w[1:] + ".", h[0].upper() + h[1:] + "." if not h.startswith("<") else h + "."
    if rng.random() < 0.35:
        ref = page.ref(rng)
        w, h = w + ref[0], h + ref[1]
    if rng.random() < 0.05:
        w += "<!-- editor note: verify -->"
    return w, h


def _sentences(rng: random.Random, page: Page, low: int, high: int) -> tuple[str, str]:
    pairs = [_sentence(rng, page) for _ in range(rng.randint(low, high))]
    return " ".join(p[0] for p in pairs), " ".join(p[1] for p in pairs)


def _infobox(rng: random.Random, title: str) -> tuple[str, str]:
    fields = [(f"{rng.choice(WORDS)}_{i}", rng.choice(WORDS), rng.choice(WORDS).capitalize()) for i in range(rng.randint(10, 30))]
    wiki = "\n".join(f"| {k} = {v} [[{t}]]" for k, v, t in fields)
    html = "".join(f'<tr><th scope="row" class="infobox-label">{k}</th><td class="infobox-data">{v} {_link(t)[1]}</td></tr>'
                   for k, v, t in fields)
    return (f"{{{{Infobox settlement\n| name = {title}\n| image = {title}.jpg\n{wiki}\n}}}}\n",
            f'<table class="infobox ib-settlement vcard"><tbody><tr><th colspan="2" class="infobox-above">{title}</th></tr>{html}</tbody></table>\n')


def _table(rng: random.Random) -> tuple[str, str]:
    rows = [(rng.randint(1900, 2020), rng.randint(100, 99999), rng.choice(WORDS)) for _ in range(rng.randint(3, 15))]
    indent = ":" if rng.random() < 0.2 else ""
    wiki = "\n".join(f"|-\n| {a} || {b} || [[{c}]]" for a, b, c in rows)
    html = "".join(f"<tr><td>{a}</td><td>{b}</td><td>{_link(c)[1]}</td></tr>" for a, b, c in rows)
    table = f'<table class="wikitable sortable"><tbody><tr><th>Year</th><th>Value</th><th>Note</th></tr>{html}</tbody></table>\n'
    return (f'{indent}{{| class="wikitable sortable"\n! Year !! Value !! Note\n{wiki}\n|}}\n',
            f"<dl><dd>{table}</dd></dl>" if indent else table)


def article(rng: random.Random, title: str) -> tuple[str, str]:
    """(wikitext, rendered HTML body) of one article."""
    page = Page()
    if rng.random() < 0.7:
        page.add(*_infobox(rng, title))
    lead = _sentences(rng, page, 3, 8)
    if rng.random() < 0.01:  # rare, as on real pages: a literal brace pair the reader is meant to see
        lead = (lead[0] + " To start one, type <nowiki>{{</nowiki> first.",
                lead[1] + ' To start one, type <span typeof="mw:Nowiki">{{</span> first.')
    page.add(lead[0] + "\n", f'<section data-mw-section-id="0"><p>{lead[1]}</p></section>\n')
    for number in range(rng.randint(2, 7)):
        heading = f"{rng.choice(WORDS).capitalize()} {rng.choice(WORDS)}"
        page.add(f"\n== {heading} ==\n", f'<section data-mw-section-id="{number + 1}"><h2>{heading}</h2>\n')
        for _ in range(rng.randint(1, 4)):
            para = _sentences(rng, page, 2, 7)
            page.add(para[0] + "\n\n", f"<p>{para[1]}</p>\n")
        if rng.random() < 0.1:
            block = _sentences(rng, page, 1, 2)
            page.add(f'<div class="floatnote">{block[0]}</div>\n', f'<div class="floatnote">{block[1]}</div>\n')
        if rng.random() < 0.3:
            caption = _sentence(rng, page)
            name = rng.choice(WORDS)
            page.add(f"[[File:{name}.jpg|thumb|{caption[0]}]]\n",
                     f'<figure typeof="mw:File/Thumb"><a href="./File:{name}.jpg"><img src="//upload.wikimedia.org/{name}.jpg"/></a>'
                     f"<figcaption>{caption[1]}</figcaption></figure>\n")
        if rng.random() < 0.25:
            page.add(*_table(rng))
        if rng.random() < 0.3:
            items = [_sentence(rng, page) for _ in range(rng.randint(2, 6))]
            page.add("".join(f"* {w}\n" for w, _ in items), "<ul>" + "".join(f"<li>{h}</li>" for _, h in items) + "</ul>\n")
        page.add("", "</section>\n")
    notes = "".join(f'<li id="cite_note-{n}"><span class="mw-reference-text reference-text">Example.</span></li>'
                    for n in range(1, page.refs + 1))
    page.add("\n== References ==\n{{Reflist}}\n\n{{Navbox\n| name = x\n| list1 = [[A]] · [[B]]\n}}\n",
             f'<section><h2>References</h2><div class="reflist"><div class="mw-references-wrap"><ol class="mw-references references">{notes}</ol></div></div>'
             f'<div role="navigation" class="navbox"><table class="navbox-inner"><tr><td>{_link("A")[1]} · {_link("B")[1]}</td></tr></table></div></section>\n')
    cats = [f"{rng.choice(WORDS).capitalize()} {rng.choice(WORDS)}" for _ in range(4)]
    page.add("".join(f"[[Category:{c}]]\n" for c in cats),
             "".join(f'<link rel="mw:PageProp/Category" href="./Category:{c.replace(" ", "_")}"/>' for c in cats))
    body = "".join(page.html)
    html = (f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"/><title>{title}</title>'
            f'<style data-mw-deduplicate="TemplateStyles:r1">.infobox{{border:1px}}</style></head>'
            f'<body class="mw-content-ltr mw-body-content parsoid-body mediawiki mw-parser-output">{body}</body></html>')
    return "".join(page.wiki), html
