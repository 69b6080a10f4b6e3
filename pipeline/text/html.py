"""HTML bytes → main-content text with resiliparse; the charset from headers, then meta, then detection."""

from __future__ import annotations

import re

from resiliparse.extract.html2text import extract_plain_text
from resiliparse.parse.encoding import bytes_to_str, detect_encoding
from resiliparse.parse.html import HTMLTree

_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?([A-Za-z0-9_\-:.]+)""", re.I)
_CHARSET = re.compile(r"charset\s*=\s*[\"']?([A-Za-z0-9_\-:.]+)", re.I)
HTML_TYPES = ("text/html", "application/xhtml+xml")


def is_html(content_type: str | None, identified: str | None, body: bytes) -> bool:
    kind = (content_type or "").split(";")[0].strip().lower()
    if kind in HTML_TYPES or (identified or "").lower() in HTML_TYPES:
        return True
    head = body[:512].lstrip().lower()
    return not kind and (head.startswith(b"<!doctype html") or head.startswith(b"<html"))


def looks_binary(body: bytes) -> bool:
    """NUL bytes or a high share of control bytes in the first KiB: not text whatever the header says."""
    sample = body[:1024]
    if b"\x00" in sample:
        return True
    controls = sum(1 for b in sample if b < 9 or 13 < b < 32)
    return bool(sample) and controls / len(sample) > 0.05


def decode(body: bytes, content_type: str | None) -> tuple[str, str]:
    """(text, encoding used): the declared charset if it decodes cleanly, else meta, else detected."""
    for declared in (_from_header(content_type), _from_meta(body)):
        if declared:
            try:
                return body.decode(declared), declared.lower()
            except (LookupError, UnicodeDecodeError):
                continue  # a wrong or unknown label: fall through to detection
    encoding = detect_encoding(body)
    return bytes_to_str(body, encoding), encoding


def main_text(html: str | HTMLTree, main_content: bool = True, skip: list[str] | None = None) -> str:
    """Visible text; ``main_content=False`` keeps every block, ``skip`` drops elements by CSS selector
    (for pages whose boilerplate is known by its markup, such as Wikipedia's)."""
    return extract_plain_text(html, main_content=main_content, alt_texts=False, links=False, list_bullets=False,
                              skip_elements=skip)


def _from_header(content_type: str | None) -> str | None:
    match = _CHARSET.search(content_type or "")
    return match.group(1) if match else None


def _from_meta(body: bytes) -> str | None:
    match = _META_CHARSET.search(body[:4096])
    return match.group(1).decode("ascii", "replace") if match else None
