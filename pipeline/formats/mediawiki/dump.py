"""Streams <page> records out of MediaWiki XML dumps (export schema 0.10 and 0.11).

Tags are matched by local name, so any schema version (and a dump with no <siteinfo>)
reads the same. Two readers share one page decoder:

- ``read_multistream``: a byte range of a multistream ``.bz2`` is a run of independent
  bz2 streams of ~100 pages each. Each stream is decompressed (with a size cap) and
  parsed alone, so a corrupt stream costs its own pages only.
- ``read_stream``: a plain ``pages-articles.xml.bz2`` parsed incrementally; elements are
  removed as soon as their page is read, so memory stays flat whatever the file size.
"""

from __future__ import annotations

import bz2
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import datetime
from typing import BinaryIO, Iterator
from urllib.parse import urlsplit

from pipeline.formats.mediawiki.wikitext import Siteinfo

CHUNK = 1 << 20


@dataclass(frozen=True)
class Page:
    id: int
    title: str
    ns: int
    redirect: bool
    revision_id: int | None
    timestamp: datetime | None
    text: str


@dataclass(frozen=True)
class Failure:
    """A record or stream that could not be read: counted and kept in rejects."""

    key: str
    reason: str
    detail: str


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _child(elem: ET.Element, name: str) -> ET.Element | None:
    for child in elem:
        if _local(child.tag) == name:
            return child
    return None


def _child_text(elem: ET.Element, name: str) -> str | None:
    child = _child(elem, name)
    return None if child is None else (child.text or "")


def parse_siteinfo(elem: ET.Element) -> Siteinfo:
    base = _child_text(elem, "base") or ""
    parts = urlsplit(base)
    site = Siteinfo(f"{parts.scheme}://{parts.netloc}" if parts.netloc else "")
    namespaces = _child(elem, "namespaces")
    for ns in namespaces if namespaces is not None else []:
        try:
            site.namespaces[int(ns.get("key", ""))] = (ns.text or "").strip()
        except ValueError:
            continue
    return site


def decode_page(elem: ET.Element) -> Page | Failure:
    """One <page> element → Page, or Failure when its required fields are broken."""
    title = _child_text(elem, "title") or ""
    try:
        page_id = int(_child_text(elem, "id") or "")
        ns = int(_child_text(elem, "ns") or "0")
    except ValueError:
        return Failure(title[:200], "bad_record", "missing or non-numeric <id>/<ns>")
    revision = _child(elem, "revision")
    revision_id, timestamp, text = None, None, ""
    if revision is not None:
        rid = _child_text(revision, "id")
        revision_id = int(rid) if rid and rid.isdigit() else None
        stamp = _child_text(revision, "timestamp")
        try:
            timestamp = datetime.fromisoformat(stamp.replace("Z", "+00:00")) if stamp else None
        except ValueError:
            timestamp = None
        text = _child_text(revision, "text") or ""
    return Page(page_id, title, ns, _child(elem, "redirect") is not None, revision_id, timestamp, text)


def read_siteinfo_stream(raw: bytes, max_bytes: int) -> Siteinfo | None:
    """The first stream of a multistream file holds <mediawiki> and <siteinfo>."""
    data = _decompress(raw, max_bytes)
    parser = ET.XMLPullParser(events=("end",))
    parser.feed(data)
    for _, elem in parser.read_events():
        if _local(elem.tag) == "siteinfo":
            return parse_siteinfo(elem)
    return None


def read_multistream(handle: BinaryIO, offsets: list[int], end: int, max_stream_bytes: int
                     ) -> Iterator[Page | Failure]:
    """Pages of the bz2 streams starting at ``offsets`` (the last one runs to ``end``)."""
    bounds = list(offsets) + [end]
    for start, stop in zip(bounds, bounds[1:]):
        handle.seek(start)
        raw = handle.read(stop - start)
        try:
            data = _decompress(raw, max_stream_bytes)
        except (OSError, ValueError, EOFError) as err:
            yield Failure(f"stream@{start}", "corrupt_stream", f"bz2: {err}")
            continue
        except _TooLarge as err:
            yield Failure(f"stream@{start}", "too_large", str(err))
            continue
        yield from _pages_of_document(b"<mediawiki>" + data.replace(b"</mediawiki>", b"") + b"</mediawiki>",
                                      f"stream@{start}")


def read_stream(handle: BinaryIO) -> Iterator[Page | Siteinfo | Failure]:
    """Pages of a whole (decompressed) XML dump, incrementally, with the siteinfo first."""
    parser = ET.XMLPullParser(events=("start", "end"))
    root: ET.Element | None = None
    depth = 0
    try:
        while chunk := handle.read(CHUNK):
            parser.feed(chunk)
            for event, elem in parser.read_events():
                if event == "start":
                    root = elem if root is None else root
                    depth += 1
                    continue
                depth -= 1
                name = _local(elem.tag)
                if name == "siteinfo":
                    yield parse_siteinfo(elem)
                elif name == "page" and depth == 1:
                    yield decode_page(elem)
                    root.remove(elem)  # type: ignore[union-attr]
        parser.close()
    except ET.ParseError as err:
        yield Failure("xml", "xml_error", f"the rest of the file is unreadable: {err}")


def _pages_of_document(document: bytes, key: str) -> Iterator[Page | Failure]:
    try:
        root = ET.fromstring(document)
    except ET.ParseError as err:
        yield Failure(key, "corrupt_stream", f"xml: {err}")
        return
    for elem in root:
        if _local(elem.tag) == "page":
            yield decode_page(elem)


class _TooLarge(Exception):
    pass


def _decompress(raw: bytes, max_bytes: int) -> bytes:
    """Decompress one bz2 stream, refusing more than ``max_bytes`` of output (bombs)."""
    decompressor = bz2.BZ2Decompressor()
    data = decompressor.decompress(raw, max_length=max_bytes + 1)
    if len(data) > max_bytes:
        raise _TooLarge(f"stream decompresses to more than {max_bytes} bytes")
    if not decompressor.eof:
        raise EOFError("truncated bz2 stream")
    return data
