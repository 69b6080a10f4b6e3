"""Streams WARC/WET records out of multi-member gzip files with fastwarc, surviving bad members.

A record's payload is only readable until the iterator moves on, so the caller passes a
function that turns each record into a value inside the loop. A corrupt gzip member is
counted once and reading resumes at the next member header; a record cut short (a
truncated last member) is reported instead of being passed on with a partial body.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, TypeVar

from fastwarc.warc import ArchiveIterator, WarcRecord, WarcRecordType

T = TypeVar("T")
GZIP_MAGIC = b"\x1f\x8b\x08"


@dataclass(frozen=True)
class Failure:
    key: str
    reason: str
    detail: str


def iter_records(path: Path, handle: Callable[[WarcRecord, bytes], T | None],
                 record_types: WarcRecordType = WarcRecordType.any_type,
                 max_record_bytes: int = 64 << 20) -> Iterator[T | Failure]:
    """``handle(record, block)`` for every record of the wanted types; failures as Failure values.

    ``block`` is the whole record block (for HTTP records: status line, headers and body; see
    ``split_http``), so its length can be checked against Content-Length.
    """
    offset, counted = 0, False
    while True:
        yielded, last = False, offset
        try:
            with open(path, "rb") as raw:
                raw.seek(offset)
                for record in ArchiveIterator(raw, record_types=record_types, parse_http=False):
                    last = offset + record.stream_pos
                    yielded = True
                    key = f"{path.name}@{last}"
                    if record.content_length > max_record_bytes:
                        yield Failure(record.record_id or key, "too_large", f"{record.content_length} bytes")
                        continue
                    payload = record.reader.read()
                    if len(payload) < record.content_length:
                        yield Failure(record.record_id or key, "truncated_record",
                                      f"block has {len(payload)} of {record.content_length} bytes "
                                      f"(truncated gzip member?)")
                        continue
                    value = handle(record, payload)
                    if value is not None:
                        yield value
            return
        except (OSError, ValueError, EOFError) as err:
            if yielded or not counted:
                yield Failure(f"{path.name}@{last}", "corrupt_gzip", f"{type(err).__name__}: {err}")
            counted = True
            offset = _next_member(path, last + 1)
            if offset is None:
                return


def split_http(block: bytes) -> tuple[int | None, dict[str, str], bytes]:
    """(status, headers by lower-case name, body) of an HTTP response block; status None if unparsable."""
    head, sep, body = block.partition(b"\r\n\r\n")
    if not sep:
        head, sep, body = block.partition(b"\n\n")
    lines = head.decode("latin-1").splitlines()
    if not sep or not lines or not lines[0].startswith("HTTP/"):
        return None, {}, block
    parts = lines[0].split()
    status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if colon:
            headers[name.strip().lower()] = value.strip()
    return status, headers, body


def _next_member(path: Path, start: int, chunk: int = 1 << 20) -> int | None:
    with open(path, "rb") as raw:
        raw.seek(start)
        position = start
        tail = b""
        while block := raw.read(chunk):
            data = tail + block
            found = data.find(GZIP_MAGIC)
            if found >= 0:
                return position - len(tail) + found
            tail = data[-2:]
            position += len(block)
    return None
