"""Cheap linear scans that run before the parse: what is never text, and what must not be parsed.

Comments, references, math and ``{| tables |}`` go (never prose, and costly to parse).
``<nowiki>``, ``<pre>`` and ``<code>`` spans are taken out whole and put back as literal
text after cleaning, so a ``{{`` inside them cannot swallow the rest of the page;
``<syntaxhighlight>``/``<source>`` blocks (code listings) are dropped the same way. An
unclosed ``<ref>`` ends at its paragraph and is counted, instead of taking the page.
"""

from __future__ import annotations

import html
import re

_COMMENT = re.compile(r"<!--.*?(?:-->|\Z)", re.S)
_ATTRS = r"""(?:\s+[^\s=>/]+(?:\s*=\s*(?:"[^"]*"|'[^']*'|[^\s>"']+?))?)*\s*"""
_REF_OPEN = re.compile(rf"<ref{_ATTRS}(/?)>", re.I)
_REF_CLOSE = re.compile(r"</ref\s*>", re.I)
_CODE_BLOCK = re.compile(rf"<(syntaxhighlight|source){_ATTRS}>.*?</\1\s*>", re.S | re.I)
_OPAQUE = re.compile(rf"<(nowiki|pre|code){_ATTRS}>(.*?)</\1\s*>", re.S | re.I)
_EMPTY_NOWIKI = re.compile(r"<nowiki\s*/>", re.I)
_NOWIKI_TAG = re.compile(r"</?nowiki\s*>", re.I)
_MATH = re.compile(r"<math(?:\s[^>]*)?>.*?(?:</math\s*>|\Z)", re.S | re.I)
_PLACEHOLDER = re.compile("\ue000(\\d+)\ue001")


class Vault:
    """Holds the literal spans taken out of a page until the cleaned text gets them back."""

    def __init__(self) -> None:
        self.spans: list[str] = []

    def hide(self, text: str) -> str:
        text = _EMPTY_NOWIKI.sub("", text)
        if "<" not in text:
            return text
        return _OPAQUE.sub(self._keep, text)

    def _keep(self, match: re.Match) -> str:
        inner = match.group(2)
        if match.group(1).lower() != "nowiki":  # <code><nowiki>{{</nowiki></code>: the nowiki tags are markup
            inner = _NOWIKI_TAG.sub("", inner)
        self.spans.append(html.unescape(inner))
        return f"\ue000{len(self.spans) - 1}\ue001"

    def restore(self, text: str) -> str:
        if not self.spans:
            return text
        return _PLACEHOLDER.sub(lambda m: self.spans[int(m.group(1))], text)


def prestrip(text: str, vault: Vault, counts: dict[str, int], keep_math: bool) -> str:
    """Drop comments, code blocks, references, math and tables; hide literal spans in ``vault``."""
    text = _COMMENT.sub("", text)
    if "<" in text:
        text = _CODE_BLOCK.sub("", text)
        text = vault.hide(text)
        text = drop_refs(text, counts)
        if not keep_math:
            text = _MATH.sub("", text)
    return drop_tables(text) if "{|" in text else text


def drop_refs(text: str, counts: dict[str, int]) -> str:
    """Remove every <ref .../> and <ref>...</ref>; an unclosed one ends at its paragraph (counted)."""
    pieces, at = [], 0
    while (found := _REF_OPEN.search(text, at)) is not None:
        pieces.append(text[at:found.start()])
        at = found.end()
        if found.group(1):  # self-closing
            continue
        close = _REF_CLOSE.search(text, at)
        following = _REF_OPEN.search(text, at)
        if close is not None and (following is None or close.start() < following.start()):
            at = close.end()
            continue
        counts["unclosed_ref"] = counts.get("unclosed_ref", 0) + 1
        paragraph = text.find("\n\n", at)
        ends = [paragraph if paragraph >= 0 else len(text)] + ([following.start()] if following else [])
        at = min(ends)
    pieces.append(text[at:])
    return "".join(pieces)


def drop_tables(text: str) -> str:
    """Cut {| ... |} tables, nested ones and indented ones (``:{|``) included."""
    kept, depth = [], 0
    for line in text.split("\n"):
        stripped = line.lstrip(" \t:")
        if stripped.startswith("{|"):
            depth += 1
        elif depth and stripped.startswith("|}"):
            depth -= 1
            continue
        if depth == 0:
            kept.append(line)
    return "\n".join(kept)
