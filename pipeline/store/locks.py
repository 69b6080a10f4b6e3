"""An exclusive lock on an object store, built on create-if-absent alone (a PUT with ``If-None-Match: *``).

S3 (and stores that speak its API, moto included) refuse such a PUT when the key exists, so of several
writers of one key exactly one succeeds. A lock ``key`` is a folder of numbered lease objects,
``<key>/<generation>``; the newest generation says who holds the lock: ``held`` (with an expiry) or
``released``. To take the lock a process reads the newest generation N and, if it is released or its
lease has expired (a killed build), creates N+1 if absent: of waiters that all saw N free, exactly one
creates N+1; the others poll. After creating N+1 the winner lists the folder again and backs off if an
even newer generation exists (a waiter that acted on a stale listing). Generation numbers only grow:
a holder deletes only generations older than its own, and releases by marking its own ``released``.
Only the creator of a generation ever writes it, so renewals are plain PUTs of the holder's own object.

Guaranteed: two processes never both take the lock from one free generation (no takeover can
overwrite or delete a newer holder's lease), and a holder that is taken over notices: its renew thread
sets ``lost`` (on seeing a newer generation, or when it has failed to renew for a whole lease), ``check()``
raises ``LockLost`` then, and so does leaving the block without another error.
Not guaranteed: mutual exclusion against a holder that stalls (or whose store calls fail) for longer
than the lease (``DATAMILL_LOCK_TTL`` seconds, default 60): a waiter takes over and, until the stalled
holder next renews or calls ``check()``, both act. There is no fencing token on the data writes, so a
caller must ``check()`` right before a write that must not happen twice. Hosts' clocks must agree to
within the TTL. On stores other than S3 the lock is a no-op.
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
WIDTH = 12  # digits of a generation's object name: sorted by name is sorted by number


class LockLost(RuntimeError):
    """This process's lease was taken over (or could not be renewed in time) while it held the lock."""


def ttl() -> float:
    return float(os.environ.get(TTL_ENV, "60"))


def supported(fs: Any) -> bool:
    """Stores whose PUT takes ``IfNoneMatch`` (s3fs); elsewhere a lock is a no-op, as before."""
    return "s3" in (fs.protocol if isinstance(fs.protocol, (tuple, list)) else (fs.protocol,))


class Lease:
    """A held lock: ``check()`` before a write that must not happen under a lost lease."""

    def __init__(self, fs: Any, key: str, generation: int, token: str, lease: float):
        self.fs, self.key, self.generation, self.token, self.lease = fs, key, generation, token, lease
        self.lost = threading.Event()
        self.renewed = time.time()

    def check(self) -> None:
        """Raise ``LockLost`` unless this is still the newest generation and its lease has not run out."""
        if not self.lost.is_set():
            if _generations(self.fs, self.key)[-1:] != [self.generation]:
                self.lost.set()
            elif time.time() > self.renewed + self.lease:
                self.lost.set()
        if self.lost.is_set():
            raise LockLost(f"{self.key}: the lease of generation {self.generation} was lost; another process "
                           "may hold the lock")


@contextlib.contextmanager
def held(fs: Any, key: str, poll: float = 0.2, max_poll: float = 2.0) -> Iterator[Lease | None]:
    """Hold the lock folder ``key`` (a full path in ``fs``) for the block; yields the ``Lease``."""
    if not supported(fs):
        yield None
        return
    token, lease = secrets.token_hex(8), ttl()
    held_lease = _acquire(fs, key, token, lease, poll, max_poll)
    stop = threading.Event()
    renew = threading.Thread(target=_renew, args=(held_lease, stop), daemon=True)
    renew.start()
    failed = False
    try:
        yield held_lease
    except BaseException:
        failed = True
        raise
    finally:
        stop.set()
        renew.join()
        if not held_lease.lost.is_set():
            _write(fs, key, held_lease.generation, token, 0.0, "released")
        elif not failed:
            held_lease.check()  # raises LockLost: the block ran (at least partly) under someone else's lock


def _acquire(fs: Any, key: str, token: str, lease: float, poll: float, max_poll: float) -> Lease:
    waited = poll
    while True:
        generations = _generations(fs, key)
        top = generations[-1] if generations else 0
        state = _read(fs, key, top) if top else {"state": "released"}
        if state is None:  # a newer holder removed it meanwhile: list again
            continue
        free = state.get("state") == "released" or state.get("expires", 0) < time.time()
        if free:
            if state.get("state") != "released":
                log.warning("%s: taking over a lease that expired (a build was killed?)", key)
            mine = top + 1
            if _create(fs, key, mine, token, lease):
                if _generations(fs, key)[-1] == mine:
                    for old in generations:  # only ever older than ours: the newest is never deleted
                        _remove(fs, key, old)
                    return Lease(fs, key, mine, token, lease)
                _remove(fs, key, mine)  # we acted on a stale listing; a newer generation holds it
            continue
        time.sleep(waited)
        waited = min(max_poll, waited * 1.5)


def _name(key: str, generation: int) -> str:
    return f"{key}/{generation:0{WIDTH}d}"


def _generations(fs: Any, key: str) -> list[int]:
    try:
        names = fs.ls(key, detail=False, refresh=True)
    except FileNotFoundError:
        return []
    return sorted(int(n.rsplit("/", 1)[-1]) for n in names if n.rsplit("/", 1)[-1].isdigit())


def _body(token: str, lease: float, state: str) -> bytes:
    return json.dumps({"token": token, "state": state, "expires": time.time() + lease, "pid": os.getpid()}).encode()


def _create(fs: Any, key: str, generation: int, token: str, lease: float) -> bool:
    try:
        fs.pipe_file(_name(key, generation), _body(token, lease, "held"), IfNoneMatch="*")
        return True
    except FileExistsError:
        return False
    except OSError as error:  # S3 answers 409 ConditionalRequestConflict to a PUT racing another
        if "Conflict" in str(error) or "Precondition" in str(error):
            return False
        raise


def _write(fs: Any, key: str, generation: int, token: str, lease: float, state: str) -> None:
    """Overwrite our own generation: nobody else ever writes it (they only create newer ones)."""
    fs.pipe_file(_name(key, generation), _body(token, lease, state))


def _read(fs: Any, key: str, generation: int) -> dict[str, Any] | None:
    try:
        return json.loads(fs.cat_file(_name(key, generation)))
    except (FileNotFoundError, ValueError):
        return None


def _remove(fs: Any, key: str, generation: int) -> None:
    try:
        fs.rm_file(_name(key, generation))
    except FileNotFoundError:
        pass


def _renew(lease: Lease, stop: threading.Event) -> None:
    """Renew our generation every third of the lease; on a newer generation, or no renewal for a whole
    lease (store errors), set ``lost`` and stop. Errors never end the thread silently."""
    while not stop.wait(lease.lease / 3):
        try:
            if _generations(lease.fs, lease.key)[-1:] != [lease.generation]:
                log.error("%s: our lease (generation %d) was taken over", lease.key, lease.generation)
                lease.lost.set()
                return
            _write(lease.fs, lease.key, lease.generation, lease.token, lease.lease, "held")
            lease.renewed = time.time()
        except Exception as error:  # noqa: BLE001 - a store error: retry until the lease would run out
            if time.time() > lease.renewed + lease.lease:
                log.error("%s: could not renew our lease for %.0f s (%s); treating it as lost",
                          lease.key, lease.lease, error)
                lease.lost.set()
                return
            log.warning("%s: renewing our lease failed (%s); retrying", lease.key, error)
