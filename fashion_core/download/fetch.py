"""HTTP for the downloader: one pooled session, per-host limits, retries, checked redirects."""

from __future__ import annotations

import functools
import http.cookiejar
import random
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urljoin

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import NameResolutionError, NewConnectionError, ReadTimeoutError

from fashion_core.download.config import DownloadConfig
from fashion_core.download.report import RowFailure
from fashion_core.download.safety import check_url, resolve_checked
from fashion_core.errors import UnsafeURLError

REDIRECT_CODES = frozenset({301, 302, 303, 307, 308})
CHUNK = 64 * 1024


@dataclass(frozen=True)
class Fetched:
    """A successful response: the body and where it finally came from."""

    body: bytes
    http_status: int
    final_url: str


class _Retryable(Exception):
    """An attempt failed in a way another attempt may fix (time-out, 429, 5xx, reset)."""

    def __init__(self, reason: str, http_status: int | None = None, wait: float | None = None):
        super().__init__(reason)
        self.reason = reason
        self.http_status = http_status
        self.wait = wait


class Fetcher:
    """Fetch URLs from many threads through one ``requests.Session``.

    The session's adapter checks every address when it opens a connection (so DNS answers and
    redirects cannot reach a refused address), its pool holds one connection per worker, and a
    semaphore per host keeps at most ``per_host_limit`` requests on any one server.
    """

    def __init__(self, config: DownloadConfig, cancel: threading.Event | None = None) -> None:
        self._config = config
        self._cancel = cancel if cancel is not None else threading.Event()
        self._session = build_session(config)
        self._hosts: dict[str, threading.BoundedSemaphore] = {}
        self._hosts_lock = threading.Lock()

    def close(self) -> None:
        """Close the session and its pooled connections."""
        self._session.close()

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def fetch(self, url: str) -> Fetched:
        """Fetch ``url``, retrying with exponential back-off where a retry can help.

        Raises:
            RowFailure: with the reason of the last attempt.
        """
        attempt = 0
        while True:
            # Rows queued in the pool before a cancel must not start new requests.
            if self._cancel.is_set():
                raise RowFailure("cancelled")
            try:
                return self._follow_redirects(url)
            except _Retryable as exc:
                if attempt >= self._config.retries:
                    raise RowFailure(exc.reason, exc.http_status) from None
                if self._cancel.wait(self._delay(attempt, exc.wait)):
                    raise RowFailure("cancelled", exc.http_status) from None
                attempt += 1

    def _delay(self, attempt: int, server_wait: float | None) -> float:
        if server_wait is not None:
            return min(server_wait, self._config.max_retry_after)
        # Jitter spreads the retries of many workers hitting the same failing host.
        return self._config.backoff * (2**attempt) * random.uniform(0.75, 1.25)

    def _follow_redirects(self, url: str) -> Fetched:
        # Redirects are followed here, not by requests, so every hop passes the safety rules.
        for _hop in range(self._config.max_redirects + 1):
            try:
                parts = check_url(url, allow_private=self._config.allow_private)
            except UnsafeURLError as exc:
                raise RowFailure(str(exc)) from None
            with self._host_slot(parts.netloc.lower()):
                result = self._attempt(url)
            if isinstance(result, Fetched):
                return result
            url = result
        raise RowFailure("too many redirects")

    @contextmanager
    def _host_slot(self, host: str) -> Iterator[None]:
        with self._hosts_lock:
            slot = self._hosts.get(host)
            if slot is None:
                slot = self._hosts[host] = threading.BoundedSemaphore(self._config.per_host_limit)
        with slot:
            yield

    def _attempt(self, url: str) -> Fetched | str:
        """One request: the body, or the next URL when the answer is a redirect.

        A watchdog shuts the attempt's socket when ``total_timeout`` is up, so a peer that
        trickles headers or body a byte at a time cannot hold the worker past the deadline.
        """
        cfg = self._config
        deadline = time.monotonic() + cfg.total_timeout
        watchdog = _Watchdog(cfg.total_timeout)
        _ACTIVE.watchdog = watchdog
        try:
            with self._session.get(
                url,
                stream=True,
                allow_redirects=False,
                timeout=(cfg.connect_timeout, cfg.read_timeout),
            ) as response:
                result = self._handle(url, response, deadline)
        except UnsafeURLError as exc:  # raised by the guarded connection at connect time
            raise RowFailure(str(exc)) from None
        except (requests.RequestException, OSError) as exc:
            raise (_Retryable("timeout") if watchdog.expired else _classify(exc)) from None
        finally:
            watchdog.stop()
            _ACTIVE.watchdog = None
        if watchdog.expired:  # a body cut short by the watchdog may look complete
            raise _Retryable("timeout")
        return result

    def _handle(self, url: str, response: requests.Response, deadline: float) -> Fetched | str:
        status = response.status_code
        if status in REDIRECT_CODES and response.headers.get("Location"):
            return urljoin(url, response.headers["Location"])
        if status == 429 or 500 <= status <= 599:
            raise _Retryable(f"http {status}", status, _retry_after(response.headers.get("Retry-After")))
        if status != 200:
            raise RowFailure(f"http {status}", status)
        body = _read_capped(response, self._config.max_bytes, deadline)
        return Fetched(body, status, url)


_ACTIVE = threading.local()  # the watchdog of the attempt running in this thread, if any


class _Watchdog:
    """Shuts down the sockets of one attempt when its time is up, whatever the peer does.

    A socket time-out bounds each read, not the whole answer; shutting the socket down makes
    a read blocked in another thread return at once.
    """

    def __init__(self, seconds: float) -> None:
        self.expired = False
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True
        self._timer.start()

    def attach(self, sock: socket.socket | None) -> None:
        """Watch ``sock`` too (a new connection, or a pooled one reused by this attempt)."""
        if sock is None:
            return
        with self._lock:
            self._sockets.append(sock)
            if self.expired:
                _shut(sock)

    def stop(self) -> None:
        self._timer.cancel()
        with self._lock:
            self._sockets.clear()

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            for sock in self._sockets:
                _shut(sock)


def _shut(sock: socket.socket) -> None:
    try:
        # The plain socket's shutdown, also for TLS: it ends a blocked read without touching
        # the TLS state another thread is using.
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
    except OSError:
        pass  # already closed


def _watch(sock: socket.socket | None) -> None:
    watchdog = getattr(_ACTIVE, "watchdog", None)
    if watchdog is not None:
        watchdog.attach(sock)


def _read_capped(response: requests.Response, max_bytes: int, deadline: float) -> bytes:
    status = response.status_code
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise RowFailure("too large", status, int(declared))
    body = bytearray()
    for chunk in response.iter_content(CHUNK):
        body += chunk
        if len(body) > max_bytes:
            raise RowFailure("too large", status, len(body))
        if time.monotonic() > deadline:
            raise _Retryable("timeout", status)
    return bytes(body)


def _retry_after(value: str | None) -> float | None:
    """Seconds asked for by a ``Retry-After`` header (seconds or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _classify(exc: requests.RequestException) -> Exception:
    """Map a requests error to a retryable attempt failure or a final row failure."""
    if isinstance(exc, requests.Timeout):
        return _Retryable("timeout")
    if isinstance(exc, requests.exceptions.SSLError):
        return RowFailure("tls error")
    if isinstance(exc, requests.exceptions.ChunkedEncodingError):
        return _Retryable("incomplete body")
    if isinstance(exc, requests.exceptions.ContentDecodingError):
        return RowFailure("bad content encoding")
    if isinstance(exc, requests.ConnectionError):
        return _connection_failure(exc)
    if isinstance(exc, (requests.exceptions.InvalidURL, requests.exceptions.InvalidSchema)):
        return RowFailure("bad URL")
    return RowFailure(f"request error: {type(exc).__name__}")


def _connection_failure(exc: requests.ConnectionError) -> Exception:
    inner: Any = exc.args[0] if exc.args else None
    if isinstance(inner, ReadTimeoutError):  # a time-out while reading the body
        return _Retryable("timeout")
    if isinstance(getattr(inner, "reason", None), NameResolutionError):
        return _Retryable("cannot resolve host")
    return _Retryable("connection error")


def build_session(config: DownloadConfig) -> requests.Session:
    """A session for the downloader: guarded pooled adapter, no proxies, no cookies.

    ``trust_env`` is off because a proxy from the environment would make the connection-time
    address check see the proxy instead of the image host. Cookies are refused: millions of
    requests must not grow a cookie jar, and image hosts do not need them.
    """
    session = requests.Session()
    session.trust_env = False
    session.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
    session.headers["User-Agent"] = config.user_agent
    session.headers["Accept"] = "image/webp,image/jpeg,image/png,image/*;q=0.8"
    # Images are compressed already; asking for no transfer encoding also avoids gzip bombs.
    session.headers["Accept-Encoding"] = "identity"
    adapter = GuardedAdapter(
        allow_private=config.allow_private,
        pool_connections=min(config.workers, 64),
        pool_maxsize=config.workers,
        max_retries=0,  # retries are ours: they honour Retry-After and skip 4xx
    )
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


class GuardedAdapter(HTTPAdapter):
    """An HTTPAdapter whose connections refuse addresses the safety rules forbid."""

    def __init__(self, *, allow_private: bool, **kwargs: Any) -> None:
        self._allow_private = allow_private  # set first: HTTPAdapter.__init__ builds the pools
        super().__init__(**kwargs)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _guarded_pools(self._allow_private)


class _GuardMixin:
    """Resolve, check every address, then connect only to a checked address.

    Checking at connect time (rather than before the request) leaves no gap for a DNS answer
    that changes between the check and the connection.
    """

    allow_private: bool = False
    _dns_host: str
    port: int
    host: str

    def _new_conn(self) -> socket.socket:
        try:
            addresses = resolve_checked(self._dns_host, self.port, allow_private=self.allow_private)
        except socket.gaierror as exc:
            raise NameResolutionError(self.host, self, exc) from exc  # type: ignore[arg-type]
        name, last_error = self._dns_host, None
        for address in addresses:
            self._dns_host = address  # urllib3 connects to _dns_host; TLS still uses the name
            try:
                sock = super()._new_conn()  # type: ignore[misc]
                _watch(sock)  # covers the TLS handshake, before the connection has its .sock
                return sock
            except NewConnectionError as exc:
                last_error = exc
            finally:
                self._dns_host = name
        raise last_error or NewConnectionError(self, "no address to connect to")  # type: ignore[arg-type]

    def request(self, *args: Any, **kwargs: Any) -> None:
        _watch(getattr(self, "sock", None))  # a pooled connection reused by this attempt
        super().request(*args, **kwargs)  # type: ignore[misc]


@functools.cache
def _guarded_pools(allow_private: bool) -> dict[str, type[HTTPConnectionPool]]:
    http_conn = type("GuardedHTTPConnection", (_GuardMixin, HTTPConnection), {"allow_private": allow_private})
    https_conn = type(
        "GuardedHTTPSConnection", (_GuardMixin, HTTPSConnection), {"allow_private": allow_private}
    )
    return {
        "http": type("GuardedHTTPConnectionPool", (HTTPConnectionPool,), {"ConnectionCls": http_conn}),
        "https": type("GuardedHTTPSConnectionPool", (HTTPSConnectionPool,), {"ConnectionCls": https_conn}),
    }
