"""One exception tree for datamill, so callers (and the CLI) can tell failures apart.

Per-record problems are never exceptions: they are counted and written to rejects.
"""

from __future__ import annotations


class DatamillError(Exception):
    """Base of every error datamill raises on purpose; the CLI prints its message."""


class ConfigError(DatamillError):
    """A bad option or setting; the message names the flag."""


class SourceError(DatamillError):
    """The upstream does not offer what was asked for."""


class UpstreamNotReady(SourceError):
    """The upstream release exists but is not finished (e.g. a dump still in progress)."""


class ManualDownloadRequired(SourceError):
    """The data is gated: the message lists the exact files and where to put them."""


class DownloadError(DatamillError):
    """A file could not be fetched."""

    transient = False


class TransientDownloadError(DownloadError):
    """A failure worth retrying: connection reset, timeout, 5xx, 429, truncated body."""

    transient = True

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentDownloadError(DownloadError):
    """A failure retrying cannot fix: 404, 403, 410, a bad URL."""


class ChecksumMismatch(DownloadError):
    """The bytes do not match what the upstream published; the bad file is kept aside."""

    def __init__(self, name: str, algorithm: str, expected: str, actual: str, kept_at: str) -> None:
        super().__init__(
            f"{name}: {algorithm} mismatch: upstream publishes {expected}, downloaded file has "
            f"{actual}; the bad copy is kept at {kept_at} and nothing was promoted"
        )
        self.expected = expected
        self.actual = actual
        self.kept_at = kept_at


class SizeMismatch(DownloadError):
    """The downloaded size differs from the published size after a complete transfer."""


class ShardError(DatamillError):
    """A shard set is missing, incomplete or inconsistent with its manifest."""
