"""ASGI messages for the gateway: the scope read, the request body received, the response sent.

The request's header limits, ``Host`` and target come from the ASGI scope; its body is pumped
from ``receive()`` into the ``BodyFeed`` the guest reads; the guest's response body goes out in
``http.response.body`` messages as the guest writes it (with trailers where the server offers
them). :mod:`._asgi` runs one request with these.
"""

from __future__ import annotations

import asyncio
import contextlib
import urllib.parse
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from .._wit.values import Err
from ..wasi.http import BodyFeed, error_code

__all__ = [
    "HTTP_VERSIONS",
    "SEND_CHUNK",
    "TRAILERS",
    "Message",
    "Receive",
    "RequestBody",
    "Scope",
    "Send",
    "call_on_loop",
    "header",
    "header_problem",
    "path_with_query",
    "refuse_head",
    "send_plain",
    "sends_trailers",
    "server_authority",
    "settle",
    "stream_body",
    "version_problem",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

SEND_CHUNK = 256 << 10
"""At most this many bytes of response body per ``http.response.body`` message."""

TRAILERS = "http.response.trailers"
"""The ASGI extension (and message type) for response trailers: a server that lists it in
``scope["extensions"]`` (uvicorn and Hypercorn over HTTP/2) gets the guest's trailers."""


def header(scope: Scope, name: bytes) -> bytes | None:
    """The first value of header ``name`` (lower case) in the scope, or None."""
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return bytes(value)
    return None


HTTP_VERSIONS = frozenset({"1.0", "1.1", "2", "3"})
"""The ``http_version`` values of a scope the gateway serves (h11 passes ``HTTP/9.9`` on)."""


def version_problem(scope: Scope) -> str | None:
    """Why the request's HTTP version is refused (answer 400 and close), or None."""
    version = scope.get("http_version", "1.1")
    return None if version in HTTP_VERSIONS else f"an HTTP/{version} request"


def header_problem(scope: Scope, max_bytes: int | None, max_count: int | None) -> str | None:
    """Why the request's header section is over its limits (answer 431), or None.

    The size counts the request line and every field as they arrive on the wire (name, value,
    ``": "`` and CRLF); None turns a limit off.
    """
    headers = scope.get("headers") or ()
    if max_count is not None and len(headers) > max_count:
        return f"{len(headers)} header fields (the limit is {max_count})"
    if max_bytes is not None:
        target = scope.get("raw_path") or scope.get("path", "").encode("utf-8", "replace")
        size = len(scope.get("method", "")) + len(target) + len(scope.get("query_string", b""))
        size += 12 + sum(len(name) + len(value) + 4 for name, value in headers)
        if size > max_bytes:
            return f"a header section of {size} bytes (the limit is {max_bytes})"
    return None


async def refuse_head(
    send: Send, scope: Scope, max_bytes: int | None, max_count: int | None
) -> int | None:
    """Answer a request whose head is refused, and return the status sent (else None).

    400 and ``connection: close`` for an HTTP version other than 1.0, 1.1, 2 or 3; 431 for a
    header section over its limits (:func:`header_problem`).
    """
    if version_problem(scope) is not None:
        await send_plain(send, 400, "unsupported HTTP version", (b"connection", b"close"))
        return 400
    if header_problem(scope, max_bytes, max_count) is not None:
        await send_plain(send, 431, "request header fields too large")
        return 431
    return None


async def send_plain(send: Send, status: int, text: str, *extra: tuple[bytes, bytes]) -> None:
    """Answer ``status`` with ``text`` as a plain-text body (and ``extra`` headers)."""
    body = text.encode() + b"\n"
    headers = [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
        *extra,
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


def sends_trailers(scope: Scope, feed: BodyFeed) -> bool:
    """Whether to announce trailers in ``http.response.start``.

    The server must offer the extension; then either the finished body has trailers or,
    still streaming, the client asked for them (``te: trailers``). (An announced response
    must end with a trailers message, and Hypercorn fails on an empty one.)
    """
    if TRAILERS not in (scope.get("extensions") or {}):
        return False
    if feed.ended():
        return bool(feed.trailers is not None and feed.trailers.entries())
    te = header(scope, b"te") or b""
    return b"trailers" in (part.strip() for part in te.lower().split(b","))


def call_on_loop(
    loop: asyncio.AbstractEventLoop, callback: Callable[..., None], *args: Any
) -> None:
    """Run ``callback`` on ``loop`` (from any thread); a closed loop has nobody to wake."""
    with contextlib.suppress(RuntimeError):
        loop.call_soon_threadsafe(callback, *args)


def settle(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def server_authority(scope: Scope) -> str | None:
    server = scope.get("server")
    if not server or server[0] is None:
        return None
    host, port = server[0], server[1]
    host = f"[{host}]" if ":" in host else host
    return host if port is None else f"{host}:{port}"


def path_with_query(scope: Scope) -> str:
    raw = scope.get("raw_path")
    path = (
        bytes(raw).decode("latin-1")
        if raw
        else urllib.parse.quote(scope.get("path", "/"), safe="/%!$&'()*+,;=:@~-._")
    )
    query = bytes(scope.get("query_string", b""))
    return f"{path}?{query.decode('latin-1')}" if query else path


class RequestBody:
    """The request body: the first chunk at once, the rest pumped from ``receive()``."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.feed = BodyFeed()
        self.too_large = False
        self._pump: asyncio.Task[None] | None = None

    def start(self, first: bytes, *, more: bool, receive: Receive) -> BodyFeed:
        self.feed.put(first)
        if more:
            self._pump = asyncio.get_running_loop().create_task(self._run(receive, len(first)))
        else:
            self.feed.end()
        return self.feed

    async def _run(self, receive: Receive, received: int) -> None:
        while True:
            message = await receive()
            if message["type"] != "http.request":
                self.feed.end(error_code("connection-terminated"))
                return
            chunk = bytes(message.get("body", b""))
            received += len(chunk)
            if received > self.limit:
                self.too_large = True
                self.feed.end(error_code("HTTP-request-body-size", received))
                return
            self.feed.put(chunk)
            if not message.get("more_body", False):
                self.feed.end()
                return

    def fail(self, code: Any) -> None:
        self.feed.end(code)

    def cancel(self) -> None:
        """Stop reading; a guest still blocked reading the body sees it fail, and returns."""
        if self._pump is not None and not self._pump.done():
            self._pump.cancel()
        self.feed.end(error_code("connection-terminated"))  # a no-op once the body is complete


async def stream_body(
    send: Send, feed: BodyFeed, deadline: float | None, *, cut: Callable[[], bool]
) -> None:
    """Send the body's chunks as they arrive until it ends.

    The last message (``more_body`` false) is sent only when the body ended cleanly and
    ``cut()`` is false; otherwise the caller aborts the response.
    """
    loop = asyncio.get_running_loop()
    wake = asyncio.Event()
    # The producer wakes the loop only while it waits here: one wake-up per wait, not one per
    # chunk (each is a self-pipe write and a hand-off of the GIL between the two threads).
    waiting = [False]

    def poke() -> None:
        if waiting[0]:
            waiting[0] = False
            call_on_loop(loop, wake.set)

    feed.watch(poke)
    try:
        while True:
            wake.clear()
            waiting[0] = True  # before looking: a chunk put after the look then wakes us
            data, ended = _drain(feed)
            if data or ended:
                waiting[0] = False
            if ended:
                if feed.error is None and not cut():
                    await send({"type": "http.response.body", "body": data, "more_body": False})
                return
            if data:
                await send({"type": "http.response.body", "body": data, "more_body": True})
                continue
            wait = None if deadline is None else deadline - loop.time()
            if wait is not None and wait <= 0:
                feed.end(error_code("HTTP-response-timeout"))
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), wait)
    finally:
        feed.watch(None)


def _drain(feed: BodyFeed) -> tuple[bytes, bool]:
    """Up to ``SEND_CHUNK`` bytes the feed holds now, and whether it has ended and is empty."""
    parts: list[bytes] = []
    size = 0
    ended = False
    while size < SEND_CHUNK:
        try:
            chunk = feed.take_upto(SEND_CHUNK - size)
        except Err:
            ended = True
            break
        if not chunk:
            break
        parts.append(chunk)
        size += len(chunk)
    return b"".join(parts), ended
