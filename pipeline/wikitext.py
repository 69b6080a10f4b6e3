"""Wikitext → plain article text with mwparserfromhell, keeping the words and numbers.

Cheap scans first drop what is never text (comments, references, tables), which also
makes the parse ~2.5x faster; the parse tree is then rendered node by node and dropped
at once (holding trees alive slows the GC). Templates that carry words (convert, lang,
nowrap, dates...) are rendered; layout templates (infoboxes, navboxes, citations) go.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import mwparserfromhell
from mwparserfromhell.nodes import (
    Argument, Comment, ExternalLink, Heading, HTMLEntity, Tag, Template, Text, Wikilink,
)

RESIDUE_MARKERS = ("{{", "}}", "[[", "]]", "<ref", "'''", "{|", "|}", "__TOC__", "__NOTOC__", "<!--", "&nbsp;")
DROPPED_TAGS = {"ref", "references", "gallery", "math", "chem", "ce", "timeline", "graph", "mapframe", "maplink",
                "score", "imagemap", "templatestyles", "syntaxhighlight", "source", "table", "tr", "td", "th",
                "caption", "hiero", "inputbox", "categorytree", "noinclude", "includeonly", "indicator", "style",
                "script", "references"}
LINE_TAGS = {"br", "hr"}
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December"]
RANGE_WORDS = {"-", "–", "to", "and", "or", "by", "x", "×", "+", "and(-)", "to(-)", "&"}
DATE_TEMPLATES = {"birth date", "death date", "start date", "end date", "birth date and age",
                  "death date and age", "start date and age", "end date and age", "birth-date", "dts", "date",
                  "film date", "release date", "dob", "bda", "dda"}
WRAPPERS = {"lang", "nowrap", "nobr", "small", "smaller", "big", "larger", "em", "strong", "sic", "not a typo",
            "nobold", "noitalic", "resize", "script", "transl", "transliteration", "lang-rtl", "linktext", "wikt",
            "keypress", "kbd", "code", "mono", "tooltip", "visible anchor", "anchor", "text", "noitalic",
            "serif", "sans-serif", "smallcaps", "sc", "lower", "upper", "proper name", "vern", "nihongo2",
            "ill", "interlanguage link", "interlanguage link multi", "lang-en", "lat", "ety"}
FIRST_PARAM = {"abbr", "abbrlink", "tooltip", "ill", "interlanguage link", "interlanguage link multi",
               "visible anchor", "anchor"}
SYMBOLS = {"ndash": "–", "mdash": "—", "snd": " – ", "spaced ndash": " – ", "spnd": " – ", "spaced en dash": " – ",
           "!": "|", "=": "=", "'": "'", "''": "\"", "·": " · ", "dot": " · ", "•": " • ", "bull": " • ",
           "nbsp": " ", "sp": " ", "-": "", "thin space": " ", "en dash": "–", "em dash": "—", "pi": "π"}
CURRENCIES = {"usd": "US$", "gbp": "£", "eur": "€", "aud": "A$", "cad": "C$", "inr": "₹", "jpy": "¥",
              "us$": "US$", "£": "£", "€": "€", "a$": "A$", "c$": "C$", "₹": "₹", "¥": "¥"}
RENDERED = (set(SYMBOLS) | DATE_TEMPLATES | WRAPPERS | FIRST_PARAM | set(CURRENCIES)
            | {"convert", "cvt", "nihongo", "frac", "circa", "c.", "as of", "val"})
_COMMENT = re.compile(r"<!--.*?(?:-->|\Z)", re.S)
_REF = re.compile(r"<ref(?:\s[^>/]*)?/>|<ref(?:\s[^>]*)?>.*?(?:</ref\s*>|\Z)", re.S | re.I)
_MAGIC = re.compile(r"__[A-Z]+__")
_UNCLOSED = re.compile(r"\{\{[^\n]*")  # a template the parser could not close: junk to the end of line
_EMPTY_PARENS = re.compile(r"\(\s*[,;:]?\s*\)")
_SPACES = re.compile(r"[ \t\u00a0]+")
_SPACE_BEFORE_PUNCT = re.compile(r" +([,.;:!?)\]])")
_BLANK_LINES = re.compile(r"\n{3,}")
_LANGUAGE_PREFIX = re.compile(r"^[a-z]{2,3}(?:-[a-z0-9]{2,8})*$")
_MATH = re.compile(r"<math(?:\s[^>]*)?>.*?(?:</math\s*>|\Z)", re.S | re.I)
_BRACES = re.compile(r"\{\{|\}\}")
_ITALIC_POSSESSIVE = re.compile(r"''([^'\n]+)'''(?=s\b)")  # ''Title'''s → Title's
_STYLE = re.compile(r"'{2,5}")
_SIMPLE_LINK = re.compile(r"\[\[([^\[\]|\n]*)(?:\|([^\[\]]*))?\]\]")


def renders(name: str) -> bool:
    """Whether a template (by normalized name) is rendered into text rather than dropped."""
    return name in RENDERED or name.startswith("lang-") or name.startswith("formatnum:")


@dataclass
class Siteinfo:
    """What the dump's <siteinfo> says about links: the localized File/Category prefixes."""

    base_url: str = ""
    namespaces: dict[int, str] = field(default_factory=dict)

    @property
    def dropped_link_prefixes(self) -> frozenset[str]:
        names = {"file", "image", "category", "media"}
        names |= {self.namespaces[k].lower() for k in (-2, 6, 14) if k in self.namespaces}
        return frozenset(names)

    @property
    def known_prefixes(self) -> frozenset[str]:
        return frozenset(n.lower() for n in self.namespaces.values() if n)


@dataclass(frozen=True)
class CleanOptions:
    keep_math: bool = False


def clean(wikitext: str, site: Siteinfo, options: CleanOptions = CleanOptions()) -> str:
    """Render one page's wikitext to plain text."""
    renderer = _Renderer(site, options)
    text = _prestrip(wikitext, options)
    if not options.keep_math:
        # Layout templates and plain links are settled by linear scans: most of a page's nodes never
        # reach the (Python-side, costly) tree builder.
        text = _drop_layout_templates(text)
        text = _SIMPLE_LINK.sub(lambda m: renderer.link_text(m.group(1), m.group(2)), text)
        text = _SIMPLE_LINK.sub(lambda m: renderer.link_text(m.group(1), m.group(2)), text)  # links in captions
        text = _strip_style(text)
    return _tidy(renderer.render(mwparserfromhell.parse(text)))


def has_residue(text: str) -> bool:
    return any(marker in text for marker in RESIDUE_MARKERS)


def _prestrip(text: str, options: CleanOptions) -> str:
    """Drop comments, references, math and {| tables |} before parsing: never text, and costly to parse."""
    text = _COMMENT.sub("", text)
    text = _REF.sub("", text)
    if not options.keep_math:
        text = _MATH.sub("", text)
    if "{|" not in text:
        return text
    kept, depth = [], 0
    for line in text.split("\n"):
        stripped = line.lstrip()
        if stripped.startswith("{|"):
            depth += 1
        elif depth and stripped.startswith("|}"):
            depth -= 1
            continue
        if depth == 0:
            kept.append(line)
    return "\n".join(kept)


def _drop_layout_templates(text: str) -> str:
    """Cut every top-level {{template}} that is not rendered (infoboxes, citations, navboxes...)."""
    if "{{" not in text:
        return text
    pieces, kept_from, depth, start = [], 0, 0, 0
    for match in _BRACES.finditer(text):
        if match.group() == "{{":
            if depth == 0:
                start = match.start()
            depth += 1
        elif depth:
            depth -= 1
            if depth == 0 and not renders(_name_at(text, start + 2)):
                pieces.append(text[kept_from:start])
                kept_from = match.end()
    pieces.append(text[kept_from:])
    return "".join(pieces)


def _strip_style(text: str) -> str:
    """Bold/italic apostrophes go; a run of four keeps one literal apostrophe, as MediaWiki renders it."""
    text = _ITALIC_POSSESSIVE.sub(r"\1'", text)
    return _STYLE.sub(lambda m: "'" if len(m.group()) == 4 else "", text)


def _name_at(text: str, at: int) -> str:
    end = len(text)
    for stop in ("|", "}}", "{{", "\n"):
        found = text.find(stop, at, end)
        if found >= 0:
            end = found
    return text[at:end].strip().replace("_", " ").lower()


def _tidy(text: str) -> str:
    text = _MAGIC.sub("", text)
    text = _UNCLOSED.sub("", text)
    text = _EMPTY_PARENS.sub("", text)
    text = _SPACES.sub(" ", text)
    text = _SPACE_BEFORE_PUNCT.sub(r"\1", text)
    lines = [line.strip() for line in text.split("\n")]
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def _template_name(template: Template) -> str:
    return str(template.name).strip().replace("_", " ").lower()


class _Renderer:
    def __init__(self, site: Siteinfo, options: CleanOptions) -> None:
        self.drop_prefixes = site.dropped_link_prefixes
        self.namespaces = site.known_prefixes
        self.options = options

    def render(self, code) -> str:
        return "".join(self.node(n) for n in code.nodes)

    def node(self, node) -> str:
        if isinstance(node, Text):
            return str(node.value)
        if isinstance(node, Wikilink):
            return self.link(node)
        if isinstance(node, Template):
            return self.template(node)
        if isinstance(node, Tag):
            return self.tag(node)
        if isinstance(node, Heading):
            return "\n" + self.render(node.title).strip() + "\n"
        if isinstance(node, HTMLEntity):
            return node.normalize()
        if isinstance(node, ExternalLink):
            if node.title:
                return self.render(node.title)
            return "" if node.brackets else str(node.url)  # [https://x] shows as "[1]"; a bare URL is text
        if isinstance(node, Argument):
            return self.render(node.default) if node.default else ""
        if isinstance(node, Comment):
            return ""
        return ""

    def link(self, link: Wikilink) -> str:
        return self.link_text(str(link.title), None if link.text is None else self.render(link.text))

    def link_text(self, title: str, text: str | None) -> str:
        """What a [[title|text]] link shows: nothing for files, categories and interlanguage links."""
        title = title.strip()
        visible_colon = title.startswith(":")
        prefix, sep, _ = title.lstrip(":").partition(":")
        prefix = prefix.strip().lower()
        if sep and not visible_colon:
            if prefix in self.drop_prefixes:
                return ""
            if prefix not in self.namespaces and _LANGUAGE_PREFIX.match(prefix):
                return ""  # an interlanguage link
        if text is not None and text.strip():
            return text
        shown = title.lstrip(":")
        if text is not None:  # the pipe trick: [[Foo (bar)|]] shows "Foo"
            return re.sub(r"\s*\([^)]*\)$", "", shown.split(":", 1)[-1])
        return shown.split("#", 1)[0] if not shown.startswith("#") else shown[1:]

    def tag(self, tag: Tag) -> str:
        name = str(tag.tag).strip().lower()
        if name == "math" and self.options.keep_math and tag.contents is not None:
            return "$" + str(tag.contents).strip() + "$"
        if name in DROPPED_TAGS:
            return ""
        if name in LINE_TAGS:
            return "\n"
        if tag.contents is None:
            return ""
        if name == "nowiki":
            return str(tag.contents)
        return self.render(tag.contents)

    def template(self, template: Template) -> str:
        name = _template_name(template)
        if ":" in name:
            function, _, argument = str(template.name).partition(":")
            return _formatnum(argument.strip()) if function.strip().lower() == "formatnum" else ""
        positional = [self.render(p.value).strip() for p in template.params if not p.showkey]
        named = {str(p.name).strip().lower(): self.render(p.value).strip() for p in template.params if p.showkey}
        if name in SYMBOLS:
            return SYMBOLS[name]
        if name in ("convert", "cvt"):
            return _convert(positional)
        if name in DATE_TEMPLATES:
            return _date(positional, named)
        if name in FIRST_PARAM:
            return positional[0] if positional else ""
        if name in WRAPPERS or name.startswith("lang-") or name.startswith("lang|"):
            return positional[-1] if positional else ""
        if name == "nihongo":
            extra = ", ".join(p for p in positional[1:3] if p)
            return f"{positional[0]} ({extra})" if positional and extra else (positional[0] if positional else "")
        if name == "frac":
            return " ".join(filter(None, [positional[0] if len(positional) == 3 else "",
                                          "/".join(positional[-2:]) if len(positional) >= 2 else
                                          (f"1/{positional[0]}" if positional else "")]))
        if name in ("circa", "c."):
            return "c. " + positional[0] if positional else "c."
        if name == "as of":
            return "As of " + " ".join(positional[:3])
        if name in CURRENCIES:
            return CURRENCIES[name] + (positional[0] if positional else "")
        if name == "val":
            return _val(positional, named)
        return ""


def _formatnum(argument: str) -> str:
    try:
        value = float(argument.replace(",", ""))
    except ValueError:
        return argument
    return f"{int(value):,}" if value.is_integer() and "." not in argument else f"{value:,}"


def _convert(params: list[str]) -> str:
    """{{convert|5|km|mi}} → "5 km"; {{convert|5|-|10|km}} → "5–10 km"."""
    if not params:
        return ""
    if len(params) >= 4 and params[1].lower() in RANGE_WORDS:
        joiner = "–" if params[1] in ("-", "–") else f" {params[1]} "
        return f"{params[0]}{joiner}{params[2]} {params[3]}".strip()
    unit = params[1] if len(params) > 1 else ""
    return f"{params[0]} {unit}".strip()


def _date(params: list[str], named: dict[str, str]) -> str:
    """{{birth date|1950|5|3}} → "May 3, 1950" (or "3 May 1950" with df=y)."""
    numbers = [p for p in params if p.isdigit()][:3]
    if not numbers:
        return params[0] if params else ""
    year = numbers[0]
    if len(numbers) == 1:
        return year
    month = MONTHS[int(numbers[1]) - 1] if 1 <= int(numbers[1]) <= 12 else numbers[1]
    if len(numbers) == 2:
        return f"{month} {year}"
    day = str(int(numbers[2]))
    return f"{day} {month} {year}" if named.get("df", "").lower() in ("y", "yes") else f"{month} {day}, {year}"


def _val(params: list[str], named: dict[str, str]) -> str:
    """{{val|1.5|e=3|u=m}} → "1.5×10^3 m"."""
    text = params[0] if params else ""
    if named.get("e"):
        text += f"×10^{named['e']}"
    unit = named.get("u") or named.get("ul") or ""
    return f"{text} {unit}".strip()
