"""Limits on one page's cleaning: work units that give the same answer on any machine, plus a wall-clock net.

A page is refused before any parse when its nesting of ``{{`` is too deep or its markup
would make too many parse nodes (counted by a linear scan), so whether a page is kept
never depends on machine load. The wall-clock limit is only a safety net for what the
units miss: it interrupts the stuck page (``PageTimeout``) and the worker goes on with
the next one. In a process's main thread it uses ``SIGALRM`` (which also interrupts the
regex engine); in any other thread a watchdog timer raises the exception in that thread.
"""

from __future__ import annotations

import ctypes
import re
import signal
import threading
from contextlib import contextmanager
from typing import Iterator

_BRACES = re.compile(r"\{\{|\}\}")
_MARKUP = re.compile(r"\{\{|\[\[|<[A-Za-z/!]|'{2,}|^=+|&[#\w]+;|^[*#:;]|\|", re.M)


class PageTimeout(Exception):
    """Cleaning one page ran past its wall-clock limit."""


def template_depth(text: str) -> int:
    """The deepest nesting of ``{{ }}`` in the page (unbalanced closers are ignored)."""
    depth = deepest = 0
    for match in _BRACES.finditer(text):
        if match.group() == "{{":
            depth += 1
            deepest = max(deepest, depth)
        elif depth:
            depth -= 1
    return deepest


def markup_nodes(text: str) -> int:
    """Work units: the markup tokens (templates, links, tags, quotes, headings, list items, pipes) of a page."""
    return sum(1 for _ in _MARKUP.finditer(text))


@contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Raise PageTimeout inside the block once ``seconds`` of wall time have passed (0 or less: no limit)."""
    if seconds <= 0:
        yield
        return
    if threading.current_thread() is threading.main_thread() and hasattr(signal, "setitimer"):
        with _alarm(seconds):
            yield
    else:
        with _watchdog(seconds):
            yield


@contextmanager
def _alarm(seconds: float) -> Iterator[None]:
    def interrupt(signum, frame):
        raise PageTimeout(f"over {seconds}s")

    previous = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@contextmanager
def _watchdog(seconds: float) -> Iterator[None]:
    target = ctypes.c_ulong(threading.get_ident())
    done = threading.Event()

    def interrupt() -> None:
        if not done.is_set():
            ctypes.pythonapi.PyThreadState_SetAsyncExc(target, ctypes.py_object(PageTimeout))

    timer = threading.Timer(seconds, interrupt)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        done.set()
        timer.cancel()
