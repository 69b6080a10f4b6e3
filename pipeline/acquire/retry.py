"""One retry layer for every fetch: which failures are transient, and how long to wait before the next try."""

from __future__ import annotations

import email.utils
import logging
import random
import time
from dataclasses import dataclass
from typing import Callable, TypeVar

import requests

from pipeline.errors import PermanentDownloadError, TransientDownloadError

log = logging.getLogger(__name__)
T = TypeVar("T")
TRANSIENT_STATUS = {408, 425, 429, 500, 502, 503, 504}


@dataclass
class RetryPolicy:
    """Capped exponential backoff with jitter; ``Retry-After`` wins when the server sends one."""

    attempts: int = 8
    base: float = 1.0
    cap: float = 60.0
    max_retry_after: float = 600.0
    connect_timeout: float = 30.0
    read_timeout: float = 60.0

    def delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self.max_retry_after)
        return min(self.cap, self.base * 2**attempt) * random.uniform(0.5, 1.0)


def retry(policy: RetryPolicy, what: str, attempt: Callable[[], T]) -> T:
    """Run ``attempt`` until it succeeds, retrying only transient failures."""
    for number in range(1, policy.attempts + 1):
        try:
            return attempt()
        except TransientDownloadError as err:
            if number == policy.attempts:
                raise TransientDownloadError(f"{what}: gave up after {number} attempts: {err}") from err
            wait = policy.delay(number - 1, err.retry_after)
            log.warning("%s: %s; retry %d/%d in %.1fs", what, err, number, policy.attempts - 1, wait)
            time.sleep(wait)
    raise AssertionError("unreachable")


def raise_for_status(url: str, response: requests.Response) -> None:
    status = response.status_code
    if status in TRANSIENT_STATUS:
        raise TransientDownloadError(f"HTTP {status} from {url}", retry_after=retry_after(response))
    if status >= 400:
        raise PermanentDownloadError(f"HTTP {status} from {url}")


def retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if not value:
        return None
    if value.strip().isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
