"""A local static HTTP server that behaves like the real upstream hosts (Range, ETag, HEAD).

The demo serves ``data/samples/`` through it, and the tests serve their fixtures, so the
same download code runs against a real socket without touching the internet. The stdlib
server ignores Range; this one honours it (and ``If-Range``) like nginx does.
"""

from __future__ import annotations

import email.utils
import html
import os
import re
import threading
from http import HTTPStatus
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator
from contextlib import contextmanager

RANGE = re.compile(r"bytes=(\d+)-(\d*)$")


class RangeRequestHandler(SimpleHTTPRequestHandler):
    """Serves files under ``directory`` with byte ranges, strong ETags and Last-Modified."""

    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - stdlib signature
        pass

    def do_GET(self) -> None:
        self.serve_file(head=False)

    def do_HEAD(self) -> None:
        self.serve_file(head=True)

    def serve_file(self, head: bool, honour_range: bool = True) -> None:
        path = Path(self.translate_path(self.path))
        if path.is_dir():
            self.send_listing(path, head)
            return
        if not path.is_file():
            self.send_error(HTTPStatus.NOT_FOUND)
            return
        stat = path.stat()
        etag = f'"{stat.st_size:x}-{stat.st_mtime_ns:x}"'
        modified = email.utils.formatdate(stat.st_mtime, usegmt=True)
        start, end = 0, stat.st_size - 1
        status = HTTPStatus.OK
        wanted = RANGE.match(self.headers.get("Range", "")) if honour_range else None
        if_range = self.headers.get("If-Range")
        if wanted and (not if_range or if_range in (etag, modified)):
            start = int(wanted.group(1))
            end = min(int(wanted.group(2)) if wanted.group(2) else end, end)
            if start > end:
                self.send_response(HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE)
                self.send_header("Content-Range", f"bytes */{stat.st_size}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            status = HTTPStatus.PARTIAL_CONTENT
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(end - start + 1))
        self.send_header("Accept-Ranges", "bytes" if honour_range else "none")
        self.send_header("ETag", etag)
        self.send_header("Last-Modified", modified)
        if status == HTTPStatus.PARTIAL_CONTENT:
            self.send_header("Content-Range", f"bytes {start}-{end}/{stat.st_size}")
        self.end_headers()
        if not head:
            self.send_body(path, start, end - start + 1)

    def send_body(self, path: Path, start: int, length: int) -> None:
        with open(path, "rb") as f:
            f.seek(start)
            while length > 0:
                chunk = f.read(min(length, 1 << 16))
                if not chunk:
                    break
                self.wfile.write(chunk)
                length -= len(chunk)

    def send_listing(self, path: Path, head: bool) -> None:
        """An autoindex page like nginx's: name, date, size."""
        rows = []
        for entry in sorted(path.iterdir()):
            if entry.name.startswith("."):
                continue
            stat = entry.stat()
            name = entry.name + ("/" if entry.is_dir() else "")
            when = email.utils.formatdate(stat.st_mtime, usegmt=True)
            size = "-" if entry.is_dir() else str(stat.st_size)
            rows.append(f'<a href="{html.escape(name)}">{html.escape(name)}</a> {when} {size}')
        body = ("<html><body><pre>\n" + "\n".join(rows) + "\n</pre></body></html>\n").encode()
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head:
            self.wfile.write(body)


class LocalServer:
    """A threaded server on 127.0.0.1 and a free port, serving ``root``."""

    def __init__(self, root: Path | str, handler: type[RangeRequestHandler] = RangeRequestHandler,
                 port: int = 0) -> None:
        self.root = Path(root).resolve()
        root_dir = str(self.root)

        class Handler(handler):  # type: ignore[misc, valid-type]
            def __init__(self, *args, **kwargs):
                super().__init__(*args, directory=root_dir, **kwargs)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}/"

    def start(self) -> "LocalServer":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@contextmanager
def serving(root: Path | str, handler: type[RangeRequestHandler] = RangeRequestHandler) -> Iterator[LocalServer]:
    server = LocalServer(root, handler).start()
    try:
        yield server
    finally:
        server.stop()


def main() -> None:
    """``python -m pipeline.localserver DIR [PORT]``: serve a local mirror until interrupted."""
    import sys

    root = sys.argv[1] if len(sys.argv) > 1 else "data/samples"
    port = int(sys.argv[2]) if len(sys.argv) > 2 else 8000
    server = LocalServer(root, port=port)
    print(f"serving {server.root} at {server.url}", flush=True)
    try:
        server.httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        os._exit(0)


if __name__ == "__main__":
    main()
