"""The lean transport: plain HTTP/1.1 on the standard library's ``http.client``.

It serves ``http://`` URLs when no proxy is configured (``serves``): loopback registries and
``--insecure`` ones, which is where a whole-process ``omniwasm pull`` is dominated by start-up
(``http.client`` imports in a fraction of httpx's time). What it does: keep-alive connections
per host (a pool, so a ``Session`` may be shared by threads), a request sent again once on a
fresh connection when a reused one turns out closed by the server (the keep-alive race), bodies
read in 1 MiB pieces, and ``http.client``'s failures mapped to ``transport``'s errors here.
What it does not do it hands back before reading any body (``Unhandled``): a redirect, which
httpx follows with its cross-origin rules. No content encoding is asked for (``identity``).
"""

from __future__ import annotations

import http.client
import os
import threading
from collections.abc import Iterator
from urllib.parse import urlsplit

from .transport import (
    BodyInterrupted,
    ConnectFailed,
    Headers,
    Response,
    TimedOut,
    TransportError,
    Unhandled,
)

__all__ = ["PROXY_VARIABLES", "StdlibTransport", "serves"]

PROXY_VARIABLES = ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY")
"""Proxy settings httpx honours for ``http://`` URLs; with any of them set, httpx carries all."""

_REDIRECTS = frozenset((301, 302, 303, 307, 308))
_CHUNK = 1 << 20
_IDLE_PER_HOST = 4

_Key = tuple[str, int]


def serves(url: str) -> bool:
    """Whether the lean transport takes ``url``: plain ``http://``, no proxy configured."""
    return url.startswith("http://") and not any(os.environ.get(v) for v in PROXY_VARIABLES)


class _Response(Response):
    """A response on a pooled connection, returned to the pool when read to its end."""

    def __init__(
        self,
        transport: StdlibTransport,
        key: _Key,
        conn: http.client.HTTPConnection,
        raw: http.client.HTTPResponse,
        url: str,
    ) -> None:
        super().__init__(raw.status, raw.reason, Headers(raw.getheaders()), url)
        self._transport = transport
        self._key = key
        self._conn = conn
        self._raw = raw
        self._complete = False

    def _chunks(self) -> Iterator[bytes]:
        raw = self._raw
        while True:
            try:
                data = raw.read(_CHUNK)
            except http.client.IncompleteRead as exc:
                raise BodyInterrupted(f"the body ended early: {exc!r}") from exc
            except TimeoutError as exc:
                raise BodyInterrupted("timed out waiting for the body") from exc
            except (OSError, http.client.HTTPException) as exc:
                raise BodyInterrupted(f"the body broke off: {exc!r}") from exc
            if not data:
                if raw.length:  # bytes still announced by Content-Length: cut short
                    raise BodyInterrupted(
                        f"the connection closed with {raw.length} bytes of the body unsent"
                    )
                self._complete = True
                return
            yield data

    def _release(self) -> None:
        reusable = self._complete and not self._raw.will_close
        self._raw.close()
        if reusable:
            self._transport.checkin(self._key, self._conn)
        else:
            self._conn.close()


class StdlibTransport:
    """Plain HTTP/1.1 through ``http.client`` (see the module docstring).

    Args:
        timeout: seconds for connecting and for each wait for bytes.

    """

    def __init__(self, timeout: float) -> None:
        self._timeout = timeout
        self._idle: dict[_Key, list[http.client.HTTPConnection]] = {}
        self._lock = threading.Lock()

    def _checkout(self, key: _Key) -> tuple[http.client.HTTPConnection, bool]:
        with self._lock:
            idle = self._idle.get(key)
            if idle:
                return idle.pop(), True
        return http.client.HTTPConnection(key[0], key[1], timeout=self._timeout), False

    def checkin(self, key: _Key, conn: http.client.HTTPConnection) -> None:
        """Keep a connection whose last response was read to its end, for the next request."""
        with self._lock:
            idle = self._idle.setdefault(key, [])
            if len(idle) < _IDLE_PER_HOST:
                idle.append(conn)
                return
        conn.close()

    def request(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        content: bytes | None,
        *,
        stream: bool,
    ) -> Response:
        """One exchange (``transport.Transport``); ``Unhandled`` for a redirect.

        Raises:
            Unhandled: not a plain-HTTP URL, or the answer is a redirect.
            ConnectFailed: no connection.
            TimedOut: no answer in time.
            TransportError: the exchange broke.

        """
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname or parts.username is not None:
            raise Unhandled(url)
        try:
            key = (parts.hostname, parts.port or 80)
        except ValueError as exc:  # a port out of range
            raise TransportError(f"bad URL {url!r}: {exc}") from exc
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        raw, conn = self._exchange(key, method, target, headers, content)
        if raw.status in _REDIRECTS and raw.getheader("Location"):
            raw.close()
            conn.close()
            raise Unhandled(url)
        response = _Response(self, key, conn, raw, url)
        if not stream:
            response.read()
        return response

    def _exchange(
        self,
        key: _Key,
        method: str,
        target: str,
        headers: dict[str, str],
        content: bytes | None,
    ) -> tuple[http.client.HTTPResponse, http.client.HTTPConnection]:
        while True:
            conn, reused = self._checkout(key)
            if conn.sock is None:
                try:
                    conn.connect()
                except TimeoutError as exc:
                    conn.close()
                    raise TimedOut(f"connecting to {key[0]}:{key[1]} timed out") from exc
                except OSError as exc:  # refused, unreachable, name not resolved
                    conn.close()
                    raise ConnectFailed(str(exc) or repr(exc)) from exc
            try:
                conn.request(method, target, body=content, headers=headers)
                return conn.getresponse(), conn
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as e:
                conn.close()
                if reused:
                    continue  # the server had closed the idle connection: once more, fresh
                raise TransportError(f"{key[0]}:{key[1]} closed the connection: {e!r}") from e
            except TimeoutError as exc:
                conn.close()
                raise TimedOut(f"no answer from {key[0]}:{key[1]} in {self._timeout} s") from exc
            except (OSError, http.client.HTTPException, ValueError) as exc:
                # ValueError: a header value http.client refuses (a token with a line break)
                conn.close()
                raise TransportError(f"talking to {key[0]}:{key[1]}: {exc!r}") from exc

    def close(self) -> None:
        """Close every idle connection (idempotent)."""
        with self._lock:
            idle, self._idle = self._idle, {}
        for conns in idle.values():
            for conn in conns:
                conn.close()
