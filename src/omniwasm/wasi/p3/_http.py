"""``wasi:http/types`` 0.3 in Python: fields, requests, responses, their bodies and options.

WASI 0.3 moves a body as a ``stream<u8>`` plus a ``future`` of its trailers (``result<option<
trailers>, error-code>``) instead of 0.2's body resources and pollables, and a request or a
response is made in one call (``new``) that also gives back a future of its transmission's
result. Here the contents and trailers of a request or response are a :class:`Body`, whatever
made them:

- the host (the gateway's incoming request, the client's incoming response) gives ``bytes``,
  a :class:`~omniwasm.wasi.http.BodyFeed` another thread fills, or an async iterable of
  chunks, and trailers as a value or an awaitable; ``consume-body`` hands them to the guest as
  a stream and a future, copied into its memory as it reads;
- the guest (``request.new``, ``response.new``) gives the readable ends of its own stream and
  future: the host reads them (:class:`~omniwasm.StreamReader`, ``FutureReader``).

``fields`` are 0.2's (:class:`~omniwasm.wasi.http.Fields`: the same validation and
``header-error`` cases) with 0.3's ``copy-all`` and ``get-and-delete``; the request head's
setters validate as 0.2's ``outgoing-request`` does. The interfaces are defined for ``0.3.0``
and ``0.3.0-rc-2026-03-15`` (the same WIT) by :func:`omniwasm.wasi.p3.add_to_linker`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from typing import Any

from ..._wit.values import Err, Ok, Variant
from ..http import BodyFeed, OutgoingRequest, error_code, method_variant
from ..http import Fields as Fields2

__all__ = [
    "HTTP_TYPES",
    "Body",
    "Fields",
    "Request",
    "RequestOptions",
    "Response",
    "Sent",
    "blocking_chunks",
    "blocking_trailers",
    "feed_chunks",
]


class Fields(Fields2):
    """``fields`` (``headers``, ``trailers``) of WASI 0.3: 0.2's, with ``copy-all``.

    Args:
        entries: initial ``(name, value)`` pairs (not validated: host-made fields).
        immutable: refuse changes (``header-error.immutable``).

    """

    @staticmethod
    def from_list(entries: list[tuple[str, bytes]]) -> Fields:
        """``from-list``: mutable fields from pairs; ``header-error`` for a bad pair."""
        out = Fields()
        for name, value in entries:
            out.append(name, value)
        return out

    def copy_all(self) -> list[tuple[str, bytes]]:
        """``copy-all``: every ``(name, value)`` pair in order."""
        return self.entries()

    def get_and_delete(self, name: str) -> list[bytes]:
        """``get-and-delete``: every value of ``name``, removed (``header-error`` if immutable)."""
        values = self.get(name)
        self.delete(name)
        return values

    def clone(self) -> Fields:
        """``clone``: a mutable deep copy."""
        return Fields(self.entries())

    def view(self) -> Fields:
        """An immutable view sharing these entries (what ``get-headers`` hands out)."""
        out = Fields(immutable=True)
        out._entries = self._entries
        return out


def _fields(headers: Fields2 | Iterable[tuple[str, bytes]]) -> Fields:
    if isinstance(headers, Fields):
        return headers
    entries = headers.entries() if isinstance(headers, Fields2) else headers
    return Fields(entries)


class Sent:
    """The result of a request's or response's transmission, for the future ``new`` returns.

    The host that sends the body calls :meth:`done` (``Ok(None)``, or ``Err(error-code)``);
    the guest's future resolves then. Thread-safe; the first result counts.
    """

    def __init__(self) -> None:
        self.future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        """What the guest's future is fed from (thread-safe; no event loop involved)."""

    def done(self, result: Ok | Err | None = None) -> None:
        """Resolve the guest's future (``None``: ``Ok(None)``)."""
        if not self.future.done():
            self.future.set_result(Ok(None) if result is None else result)

    @property
    def resolved(self) -> bool:
        return self.future.done()


class Body:
    """The contents and trailers of a request or a response, as the host holds them.

    Args:
        contents: ``None`` (empty), ``bytes``, a :class:`~omniwasm.wasi.http.BodyFeed`, an
            async iterable of ``bytes`` chunks, or a guest's stream
            (:class:`~omniwasm.StreamReader`).
        trailers: ``None`` (no trailers: the body is complete when the contents end), a
            ``result<option<trailers>, error-code>`` value, an awaitable of one, or a guest's
            future (``FutureReader``). For a ``BodyFeed`` without trailers they follow the feed:
            ``Ok(feed.trailers)`` at its end, ``Err(error-code)`` if it failed.

    """

    def __init__(self, contents: Any = None, trailers: Any = None) -> None:
        self.contents = contents
        self.trailers = trailers
        self.consumed = False
        self.handed: list[Any] = []
        """Futures the guest handed in with ``consume-body`` (its error reports)."""

    def for_guest(self) -> tuple[Any, Any]:
        """The stream contents and trailers future ``consume-body`` gives the guest."""
        contents, trailers = self.contents, self.trailers
        if isinstance(contents, BodyFeed):
            feed = contents
            watch = FeedWatch(feed)
            stream: Any = watch.chunks()
            if trailers is None:
                trailers = watch.trailers()
        else:
            stream = b"" if contents is None else contents
        if trailers is None:
            trailers = Ok(None)
        return stream, trailers

    def close(self) -> None:
        """Let go of what the guest handed in (its writes of them then see the end)."""
        handed, self.handed = self.handed, []
        for item in handed:
            close = getattr(item, "close", None)
            if close is not None:
                close()


class FeedWatch:
    """A :class:`~omniwasm.wasi.http.BodyFeed` read from asyncio (any loop, several waiters).

    The feed calls back from its producer's thread; each waiter is woken on its own loop.
    """

    def __init__(self, feed: BodyFeed) -> None:
        self.feed = feed
        self._lock = threading.Lock()
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []
        feed.watch(self._fire)

    def _fire(self) -> None:
        with self._lock:
            waiters = list(self._waiters)
        for loop, event in waiters:
            with contextlib.suppress(RuntimeError):  # a closed loop has nobody to wake
                loop.call_soon_threadsafe(event.set)

    async def until(self, ready: Callable[[], bool]) -> None:
        """Return once ``ready()`` holds (checked after every chunk and at the end)."""
        if ready():
            return
        entry = (asyncio.get_running_loop(), asyncio.Event())
        with self._lock:
            self._waiters.append(entry)
        try:
            while not ready():
                await entry[1].wait()
                entry[1].clear()
        finally:
            with self._lock:
                self._waiters.remove(entry)

    async def chunks(self) -> AsyncIterator[bytes]:
        """The feed's chunks as they arrive; stops at its end (also when it failed)."""
        feed = self.feed
        try:
            while True:
                await self.until(feed.readable)
                try:
                    chunk = feed.take(1 << 20, block=False)
                except Err:  # its end: clean (the trailers say how it ended) or failed
                    return
                if chunk:
                    yield chunk
        finally:
            if not feed.ended():  # the reader went away early: the producer may stop
                feed.discard()

    async def trailers(self) -> Ok | Err:
        """``Ok(trailers or None)`` once the feed ended, ``Err(error-code)`` if it failed."""
        feed = self.feed
        await self.until(feed.ended)
        if feed.error is not None:
            return Err(feed.error)
        return Ok(Fields(feed.trailers.entries(), immutable=True) if feed.trailers else None)


def feed_chunks(feed: BodyFeed) -> AsyncIterator[bytes]:
    """A :class:`~omniwasm.wasi.http.BodyFeed`'s chunks as an async iterator (any loop)."""
    return FeedWatch(feed).chunks()


def blocking_chunks(contents: Any, size: int = 1 << 16) -> Iterator[bytes]:
    """The chunks of a :class:`Body`'s contents, read on this (non-loop) thread, blocking.

    Whatever made them: ``bytes``, a :class:`~omniwasm.wasi.http.BodyFeed`, a guest's stream
    (read ``size`` bytes at a time) or an async iterable (run on a private loop).
    """
    if contents is None:
        return
    if isinstance(contents, bytes | bytearray | memoryview):
        yield bytes(contents)
        return
    if isinstance(contents, BodyFeed):
        yield from contents.chunks()
        return
    read = getattr(contents, "read_sync", None)
    if read is not None:  # a guest's stream
        while (part := read(size)) is not None:
            yield part
        return
    loop = asyncio.new_event_loop()
    try:
        it = contents.__aiter__()
        while True:
            try:
                yield loop.run_until_complete(it.__anext__())
            except StopAsyncIteration:
                return
    finally:
        loop.close()


def blocking_trailers(value: Any) -> Any:
    """A :class:`Body`'s trailers as ``result<option<fields>, error-code>``, waiting for them."""
    get = getattr(value, "get_sync", None)
    if get is not None:  # a guest's future
        return get()
    if hasattr(value, "__await__"):
        return asyncio.run(_awaited(value))
    return Ok(None) if value is None else value


async def _awaited(value: Any) -> Any:
    return await value


def _consume(owner: Request | Response, res: Any) -> tuple[Any, Any]:
    body = owner.body
    if body.consumed:  # the guest gave its handle away: it cannot ask twice
        raise Err(error_code("internal-error", "the body was consumed already"))
    body.consumed = True
    if res is not None:
        body.handed.append(res)
        watch = getattr(res, "watch", None)  # a guest's future: its report is taken when made
        if watch is not None:
            watch()
    return body.for_guest()


_SCHEMES = {"http": Variant("HTTP"), "https": Variant("HTTPS")}


def _check(setter: Callable[[OutgoingRequest], None]) -> OutgoingRequest:
    """A 0.2 ``outgoing-request`` after ``setter``: 0.2's setters validate the same values."""
    probe = OutgoingRequest(Fields())
    setter(probe)
    return probe


class Request:
    """``request``: an HTTP request, made by the host (incoming) or the guest (``new``).

    Args:
        method: ``"GET"`` etc. or a ``method`` variant.
        path_with_query: e.g. ``/a?b=1`` (None: empty).
        scheme: ``"http"``, ``"https"``, another name, or None.
        authority: e.g. ``example.com:8080``.
        headers: pairs or fields (handed to the guest immutable).
        body: the contents (see :class:`Body`), or a :class:`Body`.
        options: its ``request-options``.

    """

    def __init__(  # noqa: PLR0917 - the WIT getters, in their order; keywords work too
        self,
        method: str | Variant = "GET",
        path_with_query: str | None = "/",
        scheme: str | Variant | None = "http",
        authority: str | None = None,
        headers: Fields2 | Iterable[tuple[str, bytes]] = (),
        body: Any = None,
        options: RequestOptions | None = None,
    ) -> None:
        self._headers = _fields(headers)
        self._method = method if isinstance(method, Variant) else method_variant(method)
        self._path = path_with_query
        if isinstance(scheme, str):
            scheme = _SCHEMES.get(scheme.lower(), Variant("other", scheme))
        self._scheme = scheme
        self._authority = authority
        self.body = body if isinstance(body, Body) else Body(body)
        self.options = options
        self.sent = Sent()
        """The transmission's result, for the future ``new`` gave the guest."""

    @staticmethod
    def new(
        headers: Fields,
        contents: Any,
        trailers: Any,
        options: RequestOptions | None,
    ) -> tuple[Request, Any]:
        """``new``: a GET request with no path, scheme or authority, and its transmission future."""
        request = Request("GET", None, None, None, headers, Body(contents, trailers), options)
        headers.immutable = True
        if options is not None:
            options.immutable = True
        return request, request.sent.future

    def get_method(self) -> Variant:
        """``get-method``."""
        return self._method

    def set_method(self, method: Any) -> None:
        """``set-method``: ``Err()`` for an ``other`` that is not an HTTP token."""
        self._method = _check(lambda r: r.set_method(method)).method()

    def get_path_with_query(self) -> str | None:
        """``get-path-with-query``."""
        return self._path

    def set_path_with_query(self, path_with_query: str | None) -> None:
        """``set-path-with-query``: ``Err()`` for a malformed path."""
        self._path = _check(lambda r: r.set_path_with_query(path_with_query)).path_with_query()

    def get_scheme(self) -> Variant | None:
        """``get-scheme``."""
        return self._scheme

    def set_scheme(self, scheme: Any) -> None:
        """``set-scheme``: ``Err()`` for an ``other`` that is not a URI scheme."""
        self._scheme = _check(lambda r: r.set_scheme(scheme)).scheme()

    def get_authority(self) -> str | None:
        """``get-authority``."""
        return self._authority

    def set_authority(self, authority: str | None) -> None:
        """``set-authority``: ``Err()`` for a string that is not a URI authority."""
        self._authority = _check(lambda r: r.set_authority(authority)).authority()

    def get_options(self) -> RequestOptions | None:
        """``get-options``: an immutable copy of the request's options, if any."""
        if self.options is None:
            return None
        out = self.options.clone()
        out.immutable = True
        return out

    def get_headers(self) -> Fields:
        """``get-headers``: an immutable view of the headers."""
        return self._headers.view()

    @staticmethod
    def consume_body(this: Request, res: Any) -> tuple[Any, Any]:
        """``consume-body``: the contents as a stream, and the trailers' future."""
        return _consume(this, res)

    def __repr__(self) -> str:
        return f"<wasi:http@0.3 request {self._method.case} {self._path!r}>"


class RequestOptions:
    """``request-options``: connect, first-byte and between-bytes timeouts (nanoseconds)."""

    def __init__(self) -> None:
        self.timeouts: dict[str, int | None] = {"connect": None, "first": None, "between": None}
        self.immutable = False

    def _set(self, key: str, duration: int | None) -> None:
        if self.immutable:
            raise Err(Variant("immutable"))
        self.timeouts[key] = duration

    def get_connect_timeout(self) -> int | None:
        """``get-connect-timeout``."""
        return self.timeouts["connect"]

    def set_connect_timeout(self, duration: int | None) -> None:
        """``set-connect-timeout`` (``immutable`` on a request's options)."""
        self._set("connect", duration)

    def get_first_byte_timeout(self) -> int | None:
        """``get-first-byte-timeout``."""
        return self.timeouts["first"]

    def set_first_byte_timeout(self, duration: int | None) -> None:
        """``set-first-byte-timeout``."""
        self._set("first", duration)

    def get_between_bytes_timeout(self) -> int | None:
        """``get-between-bytes-timeout``."""
        return self.timeouts["between"]

    def set_between_bytes_timeout(self, duration: int | None) -> None:
        """``set-between-bytes-timeout``."""
        self._set("between", duration)

    def clone(self) -> RequestOptions:
        """``clone``: a mutable copy."""
        out = RequestOptions()
        out.timeouts = dict(self.timeouts)
        return out


class Response:
    """``response``: an HTTP response, made by the guest (``new``) or the host (the client).

    Args:
        status: the status code (200 by default).
        headers: pairs or fields.
        body: the contents (see :class:`Body`), or a :class:`Body`.

    """

    def __init__(
        self,
        status: int = 200,
        headers: Fields2 | Iterable[tuple[str, bytes]] = (),
        body: Any = None,
    ) -> None:
        self._status = status
        self._headers = _fields(headers)
        self.body = body if isinstance(body, Body) else Body(body)
        self.sent = Sent()
        """The transmission's result, for the future ``new`` gave the guest."""

    @staticmethod
    def new(headers: Fields, contents: Any, trailers: Any) -> tuple[Response, Any]:
        """``new``: a 200 response and its transmission future."""
        response = Response(200, headers, Body(contents, trailers))
        headers.immutable = True
        return response, response.sent.future

    def get_status_code(self) -> int:
        """``get-status-code``."""
        return self._status

    def set_status_code(self, status_code: int) -> None:
        """``set-status-code``: ``Err()`` outside 100..999."""
        if not 100 <= status_code <= 999:
            raise Err()
        self._status = status_code

    def get_headers(self) -> Fields:
        """``get-headers``: an immutable view of the headers."""
        return self._headers.view()

    @staticmethod
    def consume_body(this: Response, res: Any) -> tuple[Any, Any]:
        """``consume-body``: the contents as a stream, and the trailers' future."""
        return _consume(this, res)

    def __repr__(self) -> str:
        return f"<wasi:http@0.3 response {self._status}>"


HTTP_TYPES: dict[str, Any] = {
    "fields": Fields,
    "request": Request,
    "request_options": RequestOptions,
    "response": Response,
}
"""The members of ``wasi:http/types`` 0.3 (it has no free functions)."""
