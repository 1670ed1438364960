"""What the registry client needs of HTTP, whichever library carries it.

The OCI client (``session.py`` and above) speaks to a ``Transport``: send one request, get a
``Response`` whose body may be streamed. Two transports implement it, and ``Session`` picks one
per request:

- ``_httpclient.py``, on the standard library's ``http.client``: plain ``http://`` URLs
  (loopback registries, ``--insecure``) with no proxy configured, HTTP/1.1 keep-alive, and
  nothing else. It hands any other case back (``Unhandled``: a redirect) before reading a
  body, and the request goes to httpx instead. It exists because a whole ``omniwasm pull``
  process is measured against ``skopeo copy``, and importing httpx costs more than the pull.
- ``_http.py``, on httpx: everything (TLS on the system's trust store, redirects across hosts,
  proxies from the environment). ``OMNIWASM_REGISTRY_HTTP=httpx`` sends every request there.

Each transport maps its library's exceptions to the ones below, in its own module (as httpx maps
httpcore's), so the client above sees one set: ``ConnectFailed``, ``TimedOut``,
``BodyInterrupted`` (a body cut short: a download resumes), and ``TransportError`` for the rest;
``BodyTooLarge`` is the session's own, for an answer past what its request allows.
Authentication, redirects' policy and error statuses are the session's, not the transport's.
"""

from __future__ import annotations

import abc
import json
import re
from collections.abc import Iterator
from typing import Any, Protocol
from urllib.parse import quote, urljoin

__all__ = [
    "BodyInterrupted",
    "BodyTooLarge",
    "ConnectFailed",
    "Headers",
    "Response",
    "TimedOut",
    "Transport",
    "TransportError",
    "Unhandled",
    "join_url",
    "next_link",
    "with_param",
]


class TransportError(Exception):
    """The exchange failed below HTTP (connection, protocol); the message says how."""


class ConnectFailed(TransportError):
    """No connection could be made (refused, unreachable, name not resolved, TLS refused)."""


class TimedOut(TransportError):
    """Connecting or waiting for the next bytes took longer than the timeout."""


class BodyInterrupted(TransportError):
    """The connection broke while a response body was arriving (what came is kept)."""


class BodyTooLarge(TransportError):
    """A response body passed the size its request allows (a registry's answer is small)."""


class Unhandled(Exception):
    """The lean transport does not serve this request; send it through httpx instead."""


class Headers:
    """Response headers: case-insensitive lookup, the first value of a repeated name."""

    __slots__ = ("_items",)

    def __init__(self, items: Any) -> None:
        self._items: dict[str, str] = {}
        for name, value in items:
            self._items.setdefault(str(name).lower(), str(value))

    def get(self, name: str, default: str = "") -> str:
        """The value of header ``name``, or ``default``."""
        return self._items.get(name.lower(), default)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._items

    def __repr__(self) -> str:
        return f"Headers({self._items!r})"


class Response(abc.ABC):
    """One response: status, headers, final URL, and a body read once (whole or streamed).

    A transport subclasses it and supplies ``_chunks()`` and ``_release()``. ``read()`` and
    ``iter_bytes()`` consume the body; ``close()`` ends the exchange early or late (a
    connection whose body was not read to its end is not reused).
    """

    def __init__(self, status_code: int, reason_phrase: str, headers: Headers, url: str) -> None:
        self.status_code = status_code
        self.reason_phrase = reason_phrase
        self.headers = headers
        self.url = url
        self._content: bytes | None = None
        self._closed = False

    @abc.abstractmethod
    def _chunks(self) -> Iterator[bytes]:
        """The body's bytes as they arrive from the connection (raise ``BodyInterrupted``)."""

    @abc.abstractmethod
    def _release(self) -> None:
        """Give the connection back (or close it when the body was not read to its end)."""

    def iter_bytes(self) -> Iterator[bytes]:
        """The body as it arrives (``BodyInterrupted`` if the connection breaks)."""
        if self._content is not None:
            yield self._content
            return
        try:
            yield from self._chunks()
        finally:
            self.close()

    def read(self, limit: int | None = None) -> bytes:
        """The whole body (kept: ``content`` and ``json()`` read it again).

        Raises:
            BodyTooLarge: it passed ``limit`` bytes (the exchange is then closed).

        """
        if self._content is None:
            body = bytearray()
            for chunk in self.iter_bytes():
                body += chunk
                if limit is not None and len(body) > limit:
                    self.close()
                    raise BodyTooLarge(f"the response body is larger than {limit} bytes")
            self._content = bytes(body)
        return self._content

    def head(self, size: int) -> bytes:
        """At most the first ``size`` bytes of the body; the rest is not read (closed)."""
        if self._content is not None:
            return self._content[:size]
        body = bytearray()
        for chunk in self.iter_bytes():
            body += chunk
            if len(body) >= size:
                break
        self.close()
        return bytes(body[:size])

    @property
    def content(self) -> bytes:
        """The whole body (``read()``)."""
        return self.read()

    def json(self) -> Any:
        """The body parsed as JSON (``ValueError`` if it is not)."""
        return json.loads(self.read())

    def close(self) -> None:
        """End the exchange (idempotent)."""
        if not self._closed:
            self._closed = True
            self._release()

    def __repr__(self) -> str:
        return f"<Response {self.status_code} {self.url}>"


class Transport(Protocol):
    """Sends one request; the session decides what to send and judges the answer."""

    def request(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        content: bytes | None,
        *,
        stream: bool,
    ) -> Response:
        """One exchange; the body is read before returning unless ``stream``."""
        ...

    def close(self) -> None:
        """Close every connection (idempotent)."""
        ...


def join_url(base: str, ref: str) -> str:
    """``ref`` (a ``Location`` or a ``Link``) resolved against the URL it came from."""
    return urljoin(base, ref)


def with_param(url: str, name: str, value: str) -> str:
    """``url`` with ``name=value`` added to its query, the rest of the query left as it is.

    The existing query is kept byte for byte (an upload session's opaque state), and the
    value is percent-encoded.
    """
    base, hash_, fragment = url.partition("#")
    sep = "&" if "?" in base else "?"
    return f"{base}{sep}{quote(name, safe='')}={quote(value, safe='')}{hash_}{fragment}"


_LINK = re.compile(r"<([^>]*)>\s*((?:;\s*[^;,]*)*)")
_REL_NEXT = re.compile(r';\s*rel\s*=\s*"?([^";,]*)"?')


def next_link(header: str) -> str | None:
    """The target of the ``rel="next"`` entry of a ``Link`` header (tag list pagination)."""
    for match in _LINK.finditer(header):
        for rel in _REL_NEXT.finditer(match[2]):
            if "next" in rel[1].split():
                return match[1]
    return None
