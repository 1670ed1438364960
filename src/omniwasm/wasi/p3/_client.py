"""``wasi:http/client`` 0.3 on the virtual host: ``send`` over HTTP/1.1, bodies streamed both ways.

``send`` checks a request as WASI 0.2's ``outgoing-handler`` does (the same
``Policy.allowed_hosts`` patterns, through :func:`omniwasm.wasi.http.outgoing_target`: a target
they do not allow is ``HTTP-request-denied``) and starts one thread that runs the exchange
with h11 over a blocking socket (TLS for ``https``). It sends the head, then the guest's body
stream as the guest writes it (chunked unless the guest set ``content-length``) and, when
chunked, the guest's trailers; the request's transmission future resolves when all of it went
out. ``send`` returns as soon as the response head arrives; the response body reaches the
guest's stream as it comes (the thread waits while the guest is more than
:data:`~omniwasm.wasi.http.OUTGOING_BUFFER` bytes behind), and a chunked response's trailers
reach its trailers future.

Timeouts (``request-options``, in ns; 600 s each by default, never past the guest's deadline):
connect -> ``connection-timeout``; first byte and between bytes -> ``connection-read-timeout``
(also for a guest that reads nothing of the body for that long); a write that stalls ->
``connection-write-timeout``. The response body is bounded by ``http_max_response_bytes`` as
in 0.2. Other failures are reported as wasmtime 49's ``-Sp3`` client reports them: a failed
connect ``connection-refused``, a failed name lookup ``DNS-error``, a malformed response or a
body cut short ``HTTP-protocol-error`` (through the trailers future once the body began). Each
request has its own connection (no keep-alive pool, as wasmtime's 0.3 client).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import socket
import ssl
import threading
from typing import Any

from ..._component import current_deadline, host_data
from ..._wit.values import Err, Ok, Variant
from ..http import (
    DEFAULT_MAX_RESPONSE_BYTES,
    DEFAULT_TIMEOUT_NS,
    OUTGOING_BUFFER,
    BodyFeed,
    Fields,
    Target,
    error_code,
    outgoing_target,
)
from ..http._client import DEADLINE_GRACE
from ._http import Body, Request, Response, blocking_chunks, blocking_trailers

__all__ = ["CLIENT"]

CHUNK = 1 << 16
"""Bytes read from the socket, or from the guest's body stream, at a time."""

_ssl_lock = threading.Lock()
_ssl_context: ssl.SSLContext | None = None


def _ssl() -> ssl.SSLContext:
    """One verifying context for every ``https`` request (building one costs milliseconds)."""
    global _ssl_context  # noqa: PLW0603 - built once, on the first https request
    with _ssl_lock:
        if _ssl_context is None:
            _ssl_context = ssl.create_default_context()
        return _ssl_context


class _Head:
    """A 0.3 request's head as WASI 0.2's target check reads an ``outgoing-request``."""

    def __init__(self, request: Request) -> None:
        self._request = request

    def scheme(self) -> Any:
        return self._request.get_scheme()

    def authority(self) -> str | None:
        return self._request.get_authority()

    def path_with_query(self) -> str | None:
        return self._request.get_path_with_query()


class _Failed(Exception):
    """The exchange ends with this ``error-code``."""

    def __init__(self, code: Variant) -> None:
        super().__init__(code.case)
        self.code = code


class _Exchange:
    """One request's trip, run on its own thread: what it needs, and how to stop it."""

    def __init__(self, request: Request, target: Target, timeouts: tuple[float, ...]) -> None:
        self.request = request
        self.target = target
        self.connect, self.first_byte, self.between = timeouts
        self.limit = DEFAULT_MAX_RESPONSE_BYTES
        self.answer: concurrent.futures.Future[Any] = concurrent.futures.Future()
        self.sock: socket.socket | None = None
        self.feed: BodyFeed | None = None
        self.stopped = False
        self.phase = "connect"

    def stop(self) -> None:
        """The guest gave up on the response: shut the connection (the thread then ends)."""
        self.stopped = True
        sock = self.sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def fail(self, code: Variant) -> None:
        """End whatever is still open with ``code``: the answer, the transmission, the body."""
        if not self.answer.done():
            self.answer.set_result(Err(code))
        self.request.sent.done(Err(code))
        if self.feed is not None:
            self.feed.end(code)


def _run(ex: _Exchange) -> None:
    """The thread: the whole exchange, every failure turned into an ``error-code``."""
    try:
        _exchange(ex)
    except BaseException as exc:  # every failure becomes an error-code
        ex.fail(_code(exc, ex.phase))
    finally:
        if ex.sock is not None:
            ex.sock.close()


def _exchange(ex: _Exchange) -> None:
    try:
        import h11
    except ImportError:
        msg = "outgoing HTTP needs h11: pip install 'omniwasm[http]'"
        raise _Failed(error_code("internal-error", msg)) from None
    target = ex.target
    sock = socket.create_connection((target.host, target.port), timeout=ex.connect)
    ex.sock = sock
    if target.scheme == "https":
        sock = ex.sock = _ssl().wrap_socket(sock, server_hostname=target.host)
    ex.phase = "write"
    sock.settimeout(ex.between)
    conn = h11.Connection(h11.CLIENT)
    headers, chunked = _headers(ex.request, target)
    method = _method(ex.request)
    sock.sendall(conn.send(h11.Request(method=method, target=target.path, headers=headers)) or b"")
    _send_body(ex, conn, sock, chunked=chunked)
    ex.request.sent.done(Ok(None))
    ex.phase = "first-byte"
    sock.settimeout(ex.first_byte)
    while True:
        head = _event(conn, sock)
        if not isinstance(head, h11.InformationalResponse):
            break
    if not isinstance(head, h11.Response):
        raise h11.RemoteProtocolError("no response")
    _receive(ex, conn, sock, head)


def _method(request: Request) -> str:
    method = request.get_method()
    return str(method.value) if method.case == "other" else method.case.upper()


def _headers(request: Request, target: Target) -> tuple[list[tuple[bytes, bytes]], bool]:
    """The request's header lines (``host`` added) and whether its body goes chunked."""
    entries = request.get_headers().entries()
    names = {name.lower() for name, _ in entries}
    out = [(name.encode("latin-1"), bytes(value)) for name, value in entries]
    if "host" not in names:
        authority = target.url.split("://", 1)[1].split("/", 1)[0].split("?", 1)[0]
        out.insert(0, (b"host", authority.encode("latin-1")))
    chunked = "transfer-encoding" in names
    if request.body.contents is not None and not chunked and "content-length" not in names:
        out.append((b"transfer-encoding", b"chunked"))
        chunked = True
    return out, chunked


def _send_body(ex: _Exchange, conn: Any, sock: socket.socket, *, chunked: bool) -> None:
    """The guest's contents as it writes them, then its trailers (only a chunked body has any)."""
    import h11

    body = ex.request.body
    for chunk in blocking_chunks(body.contents, CHUNK):
        if ex.stopped:
            raise _Failed(error_code("connection-terminated"))
        if chunk:
            sock.sendall(conn.send(h11.Data(data=chunk)) or b"")
    result = blocking_trailers(body.trailers)
    if isinstance(result, Err):  # the guest failed its body: the request fails with its code
        raise _Failed(result.value if result.value is not None else error_code("internal-error"))
    trailers: list[tuple[bytes, bytes]] = []
    if chunked and isinstance(result, Ok) and result.value is not None:
        trailers = [(n.encode("latin-1"), bytes(v)) for n, v in result.value.entries()]
    sock.sendall(conn.send(h11.EndOfMessage(headers=trailers)) or b"")


def _event(conn: Any, sock: socket.socket) -> Any:
    """The next h11 event, reading from the socket as needed."""
    import h11

    while True:
        event = conn.next_event()
        if event is not h11.NEED_DATA:
            return event
        conn.receive_data(sock.recv(CHUNK))


def _receive(ex: _Exchange, conn: Any, sock: socket.socket, head: Any) -> None:
    """Answer with the response, then feed its body and trailers to the guest."""
    import h11

    headers = Fields((bytes(n).decode("latin-1"), bytes(v)) for n, v in head.headers)
    declared = next((bytes(v) for n, v in head.headers if bytes(n) == b"content-length"), b"")
    if declared.isdigit() and int(declared) > ex.limit:
        raise _Failed(error_code("HTTP-response-body-size", int(declared)))
    feed = ex.feed = BodyFeed(limit=OUTGOING_BUFFER)
    ex.answer.set_result(Ok(Response(head.status_code, headers, Body(feed))))
    ex.phase = "body"
    sock.settimeout(ex.between)
    received = 0
    while True:
        event = _event(conn, sock)
        if isinstance(event, h11.EndOfMessage):
            trailers = [(bytes(n).decode("latin-1"), bytes(v)) for n, v in event.headers]
            feed.end(trailers=Fields(trailers) if trailers else None)
            return
        if not isinstance(event, h11.Data):
            raise h11.RemoteProtocolError("the response ended early")
        received += len(event.data)
        if received > ex.limit:
            raise _Failed(error_code("HTTP-response-body-size", None))
        if not feed.wait_room(ex.between):  # the guest stopped reading
            raise TimeoutError
        if feed.discarding or ex.stopped:  # the guest dropped the body: stop reading it
            return
        feed.put(bytes(event.data))


_TIMEOUTS = {"connect": "connection-timeout", "write": "connection-write-timeout"}


def _code(exc: BaseException, phase: str) -> Variant:
    """The ``error-code`` for a failure during ``phase`` of an exchange."""
    if isinstance(exc, _Failed):
        return exc.code
    if isinstance(exc, TimeoutError):
        return error_code(_TIMEOUTS.get(phase, "connection-read-timeout"))
    if isinstance(exc, socket.gaierror):  # wasmtime's payload for a failed lookup
        return error_code("DNS-error", {"rcode": "address not available", "info-code": 0})
    if isinstance(exc, ssl.SSLCertVerificationError):
        return error_code("TLS-certificate-error")
    if isinstance(exc, ssl.SSLError):
        return error_code("TLS-protocol-error")
    if isinstance(exc, OSError):
        return error_code("connection-refused" if phase == "connect" else "connection-terminated")
    import h11  # there was an exchange: h11 is there

    if isinstance(exc, h11.RemoteProtocolError):  # a malformed or cut-short response
        return error_code("HTTP-protocol-error")
    if isinstance(exc, h11.LocalProtocolError):  # the body disagrees with its content-length
        return error_code("HTTP-request-body-size", None)
    return error_code("internal-error", f"{type(exc).__name__}: {exc}")


def _seconds(ns: int | None, cap: float) -> float:
    return min(cap, (ns if ns is not None else DEFAULT_TIMEOUT_NS) / 1e9)


def _send(request: Request) -> Any:
    """``client.send``: checked and started here; the response is awaited by the caller."""
    ctx = host_data()
    deadline = current_deadline()
    allowed = ctx.policy.allowed_hosts
    origin = getattr(ctx, "http_self_origin", None)
    try:
        # read through the same methods as a 0.2 outgoing-request
        target = outgoing_target(_Head(request), allowed, origin)  # type: ignore[arg-type]
    except Err as err:  # refused: the request's transmission fails with the same error
        request.sent.done(Err(err.value))
        raise
    left = None if deadline is None else deadline.remaining()
    # the guest's deadline, not a client timeout racing it, ends a wait for all of it
    cap = float("inf") if left is None else max(0.001, left + DEADLINE_GRACE)
    opts = request.options
    timeouts = tuple(
        _seconds(None if opts is None else opts.timeouts[key], cap)
        for key in ("connect", "first", "between")
    )
    ex = _Exchange(request, target, timeouts)
    ex.limit = getattr(ctx, "http_max_response_bytes", None) or DEFAULT_MAX_RESPONSE_BYTES
    threading.Thread(target=_run, args=(ex,), name="omniwasm-wasi-http-p3", daemon=True).start()
    return _answer(ex)


async def _answer(ex: _Exchange) -> Any:
    try:
        return await asyncio.wrap_future(ex.answer)
    except asyncio.CancelledError:  # the guest cancelled its call: the connection goes
        ex.stop()
        raise


CLIENT: dict[str, Any] = {"send": _send}
"""Member definitions of ``wasi:http/client`` 0.3, for ``Linker.define``."""
