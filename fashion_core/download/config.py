"""Options of the image downloader, validated once when they are made."""

from __future__ import annotations

from dataclasses import dataclass

from fashion_core import __version__
from fashion_core.errors import DownloadError

DEFAULT_USER_AGENT = f"FashionAttributeStudio/{__version__} (image downloader; python-requests)"


@dataclass(frozen=True)
class DownloadConfig:
    """How to download: concurrency, time-outs, retries and image checks.

    Attributes:
        workers: Threads fetching at once; the connection pool is sized to match.
        per_host_limit: Most requests in flight to one host (``host:port``) at a time.
        connect_timeout: Seconds to establish a connection.
        read_timeout: Seconds to wait for each piece of the response.
        total_timeout: Seconds one attempt may take overall, so a server that trickles bytes
            just inside ``read_timeout`` cannot hold a worker forever.
        retries: Extra attempts after a time-out, connection error, 429 or 5xx (none on 4xx).
        backoff: First back-off delay in seconds; doubles with each retry.
        max_retry_after: Cap, in seconds, on a server's ``Retry-After``.
        max_redirects: Redirect hops followed (each one re-checked by the safety rules).
        max_bytes: Largest response body kept; reading stops past it.
        max_pixels: Largest width x height decoded, checked from the header before decoding.
        resize_short_side: When set, shrink images whose short side is longer (never enlarge).
        allow_private: Allow loopback and private addresses (intranets, tests).
        jpeg_quality: Quality of the re-encoded JPEG (1-95).
        user_agent: Sent with every request.
        window_factor: Rows queued per worker; bounds memory on lists of millions of rows.
    """

    workers: int = 32
    per_host_limit: int = 24
    connect_timeout: float = 5.0
    read_timeout: float = 15.0
    total_timeout: float = 60.0
    retries: int = 3
    backoff: float = 0.5
    max_retry_after: float = 30.0
    max_redirects: int = 5
    max_bytes: int = 20 * 1024 * 1024
    max_pixels: int = 40_000_000
    resize_short_side: int | None = None
    allow_private: bool = False
    jpeg_quality: int = 90
    user_agent: str = DEFAULT_USER_AGENT
    window_factor: int = 4

    def __post_init__(self) -> None:
        _at_least("workers", self.workers, 1, upper=512)
        _at_least("per_host_limit", self.per_host_limit, 1)
        _at_least("retries", self.retries, 0, upper=20)
        _at_least("max_redirects", self.max_redirects, 0, upper=30)
        _at_least("max_bytes", self.max_bytes, 1)
        _at_least("max_pixels", self.max_pixels, 1)
        _at_least("jpeg_quality", self.jpeg_quality, 1, upper=95)
        _at_least("window_factor", self.window_factor, 1, upper=64)
        if self.resize_short_side is not None:
            _at_least("resize_short_side", self.resize_short_side, 1)
        for name in ("connect_timeout", "read_timeout", "total_timeout"):
            _positive_number(name, getattr(self, name))
        for name in ("backoff", "max_retry_after"):
            _positive_number(name, getattr(self, name), allow_zero=True)
        if not isinstance(self.allow_private, bool):
            raise DownloadError(f"`allow_private` must be True or False. Received: {self.allow_private!r}")
        if not isinstance(self.user_agent, str) or not self.user_agent.strip():
            raise DownloadError(f"`user_agent` must be a non-empty string. Received: {self.user_agent!r}")

    @property
    def window(self) -> int:
        """Most rows submitted and not yet finished at any time."""
        return self.workers * self.window_factor


def _at_least(name: str, value: object, lower: int, *, upper: int | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < lower:
        raise DownloadError(f"`{name}` must be an integer >= {lower}. Received: {name}={value!r}")
    if upper is not None and value > upper:
        raise DownloadError(f"`{name}` must be at most {upper}. Received: {name}={value!r}")


def _positive_number(name: str, value: object, *, allow_zero: bool = False) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and value == value
    if not ok or value < 0 or (value == 0 and not allow_zero) or value == float("inf"):
        bound = ">= 0" if allow_zero else "> 0"
        raise DownloadError(f"`{name}` must be a finite number {bound}. Received: {name}={value!r}")
