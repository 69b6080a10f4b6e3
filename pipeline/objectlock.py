"""An exclusive lock on an object store: a lease object created only if absent (a conditional PUT).

S3 (and stores that speak its API, moto included) refuse a PUT with ``If-None-Match: *`` when the
key exists, so exactly one process creates the lock object; the others poll until it is deleted.
The holder renews its lease on a thread; a lease not renewed for ``DATAMILL_LOCK_TTL`` seconds
(default 60: a killed build) may be taken over. Hosts' clocks must agree to within the TTL.

Taking over an expired lease deletes it and then races for a new one; two waiters that both saw it
expire may, in a narrow window, both delete and one of them then holds a lock the other also
believes it holds. The builds stay correct then (every name is unique, each snapshot verifies);
only the "nothing is done twice" promise is weakened for that one part.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import threading
import time
from typing import Any, Iterator

log = logging.getLogger(__name__)

TTL_ENV = "DATAMILL_LOCK_TTL"


def ttl() -> float:
    return float(os.environ.get(TTL_ENV, "60"))


def supported(fs: Any) -> bool:
    """Stores whose PUT takes ``IfNoneMatch`` (s3fs); elsewhere a lock is a no-op, as before."""
    return "s3" in (fs.protocol if isinstance(fs.protocol, (tuple, list)) else (fs.protocol,))


@contextlib.contextmanager
def held(fs: Any, key: str, poll: float = 0.2, max_poll: float = 2.0) -> Iterator[None]:
    """Hold the lock object ``key`` (a full path in ``fs``) for the block."""
    if not supported(fs):
        yield
        return
    token = secrets.token_hex(8)
    lease = ttl()
    waited = poll
    while not _create(fs, key, token, lease):
        holder = _read(fs, key)
        if holder is not None and holder.get("expires", 0) < time.time():
            log.warning("%s: taking over a lease that expired (a build was killed?)", key)
            _remove(fs, key)
            continue
        time.sleep(waited)
        waited = min(max_poll, waited * 1.5)
    stop = threading.Event()
    renew = threading.Thread(target=_renew, args=(fs, key, token, lease, stop), daemon=True)
    renew.start()
    try:
        yield
    finally:
        stop.set()
        renew.join()
        if (_read(fs, key) or {}).get("token") == token:
            _remove(fs, key)


def _body(token: str, lease: float) -> bytes:
    return json.dumps({"token": token, "expires": time.time() + lease, "pid": os.getpid()}).encode()


def _create(fs: Any, key: str, token: str, lease: float) -> bool:
    try:
        fs.pipe_file(key, _body(token, lease), IfNoneMatch="*")
        return True
    except FileExistsError:
        return False


def _read(fs: Any, key: str) -> dict[str, Any] | None:
    try:
        return json.loads(fs.cat_file(key))
    except (FileNotFoundError, ValueError):
        return None


def _remove(fs: Any, key: str) -> None:
    try:
        fs.rm_file(key)
    except FileNotFoundError:
        pass


def _renew(fs: Any, key: str, token: str, lease: float, stop: threading.Event) -> None:
    while not stop.wait(lease / 3):
        if (_read(fs, key) or {}).get("token") != token:
            log.warning("%s: our lease was taken over", key)
            return
        fs.pipe_file(key, _body(token, lease))
