"""What the templates that carry words render to: convert, dates, val, formatnum, symbols, wrappers.

MediaWiki expands these from Lua modules the dump does not ship; the common ones are
rendered here by hand, close to what a reader sees (``{{convert|6|ft|2|in|m}}`` → "6 ft 2 in").
Superscripts and subscripts become Unicode (km², H₂O) wherever every character has a form.
"""

from __future__ import annotations

import re

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
SCRIPTS = {"sup": "sup", "sub": "sub", "su": "sup"}
QUOTES = {"quote", "blockquote", "cquote", "quotation", "centered pull quote", "quote frame"}
RENDERED = (set(SYMBOLS) | DATE_TEMPLATES | WRAPPERS | FIRST_PARAM | set(CURRENCIES) | set(SCRIPTS) | QUOTES
            | {"convert", "cvt", "nihongo", "frac", "circa", "c.", "as of", "val"})
_SUPERSCRIPT = str.maketrans("0123456789+-−=()", "⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻⁻⁼⁽⁾")
_SUBSCRIPT = str.maketrans("0123456789+-−=()", "₀₁₂₃₄₅₆₇₈₉₊₋₋₌₍₎")
_SCRIPTABLE = re.compile(r"^[0-9+\-−=()]+$")
_NUMBER = re.compile(r"^[+\-−]?[\d.,]+(?:[+/][\d.,/]+)?$")
_POWER_UNIT = re.compile(r"(?<=[A-Za-z])([23])$")


def renders(name: str) -> bool:
    """Whether a template (by normalized name) is rendered into text rather than dropped."""
    return name in RENDERED or name.startswith("lang-") or name.startswith("formatnum:")


def script(text: str, kind: str) -> str:
    """<sup>2</sup> → "²", <sub>2</sub> → "₂"; text without a Unicode form stays as it is ("1st")."""
    stripped = text.strip()
    if not _SCRIPTABLE.match(stripped):
        return text
    return stripped.translate(_SUPERSCRIPT if kind == "sup" else _SUBSCRIPT)


def formatnum(argument: str) -> str:
    try:
        value = float(argument.replace(",", ""))
    except ValueError:
        return argument
    return f"{int(value):,}" if value.is_integer() and "." not in argument else f"{value:,}"


def convert(params: list[str]) -> str:
    """{{convert|5|km|mi}} → "5 km"; {{convert|3|-|4|m}} → "3–4 m"; {{convert|6|ft|2|in|m}} → "6 ft 2 in"."""
    if not params:
        return ""
    text, at = params[0], 1
    while at + 1 < len(params) and params[at].lower() in RANGE_WORDS:
        text += _joiner(params[at]) + params[at + 1]
        at += 2
    text += f" {unit(params[at])}" if at < len(params) else ""
    at += 1
    while at + 1 < len(params) and _NUMBER.match(params[at]) and params[at + 1] and not _NUMBER.match(params[at + 1]):
        text += f" {params[at]} {unit(params[at + 1])}"
        at += 2
    return text.strip()


def unit(name: str) -> str:
    """Convert's unit codes as shown: km2 → km², m3 → m³."""
    return _POWER_UNIT.sub(lambda m: m.group(1).translate(_SUPERSCRIPT), name)


def _joiner(word: str) -> str:
    if word in ("-", "–"):
        return "–"
    return " × " if word.lower() in ("x", "×") else f" {word} "


def date(params: list[str], named: dict[str, str]) -> str:
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


def val(params: list[str], named: dict[str, str]) -> str:
    """{{val|1.5|e=3|u=m}} → "1.5×10^3 m"."""
    text = params[0] if params else ""
    if named.get("e"):
        text += f"×10^{named['e']}"
    shown = named.get("u") or named.get("ul") or ""
    return f"{text} {shown}".strip()


def frac(params: list[str]) -> str:
    whole = params[0] if len(params) == 3 else ""
    fraction = "/".join(params[-2:]) if len(params) >= 2 else (f"1/{params[0]}" if params else "")
    return " ".join(filter(None, [whole, fraction]))


def nihongo(params: list[str]) -> str:
    extra = ", ".join(p for p in params[1:3] if p)
    return f"{params[0]} ({extra})" if params and extra else (params[0] if params else "")


def quote(params: list[str], named: dict[str, str]) -> str:
    """{{quote|text|author}} / {{blockquote|text=...}}: the quoted words, as a paragraph of their own."""
    text = named.get("text") or named.get("quote") or (params[0] if params else "")
    return f"\n\n{text}\n\n" if text else ""
