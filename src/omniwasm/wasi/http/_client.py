"""``wasi:http/outgoing-handler`` in Python: the policy check and the HTTP client thread.

``handle`` checks the request (scheme, authority, path), asks the policy whether the target is
allowed, and starts one background thread that sends it with ``httpx`` (imported on first use:
an optional dependency, ``pip install 'omniwasm[http]'``). The thread resolves the
``future-incoming-response`` when the status and headers arrive, then streams the body into the
response's feed chunk by chunk, so the guest reads it as it comes.

Allowed hosts are ``scheme://host[:port]`` patterns, as Spin's ``allowed_outbound_hosts``
(the one pattern language of :mod:`omniwasm._policy.hosts`). No entry, no request: a denied
request is answered ``HTTP-request-denied``.

Timeouts (``request-options``, nanoseconds; 600 s each by default, as wasmtime): connect ->
``connection-timeout``; first byte of the response and between body bytes ->
``connection-read-timeout``. A response body may hold at most ``http_max_response_bytes`` (a
context attribute; :data:`DEFAULT_MAX_RESPONSE_BYTES` otherwise): a larger declared
``content-length`` fails the response with ``HTTP-response-body-size(some(length))``, a body
that grows past it fails its stream with ``HTTP-response-body-size(none)``.

Connections are kept alive and reused across requests (and across guests) of the process: one
``httpx`` transport holds at most ``KEEPALIVE_CONNECTIONS`` idle connections, each for
``KEEPALIVE_SECONDS``. A response whose body was not read to its end closes its connection.
"""

from __future__ import annotations

import re
import socket
import ssl
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from ..._component import current_deadline, host_data
from ..._policy.hosts import DEFAULT_PORTS, HostPattern, host_allowed
from ..._wit.values import Err, Variant
from ._body import OUTGOING_BUFFER, BodyAborted, BodyFeed
from ._fields import Fields, error_code
from ._types import (
    FutureIncomingResponse,
    IncomingResponse,
    OutgoingRequest,
    RequestOptions,
    method_name,
    scheme_name,
    valid_authority,
)

__all__ = [
    "DEFAULT_MAX_RESPONSE_BYTES",
    "DEFAULT_TIMEOUT_NS",
    "Target",
    "handle",
    "outgoing_target",
    "send",
]

DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024 * 1024
"""Largest response body accepted unless the context sets ``http_max_response_bytes``."""

DEFAULT_TIMEOUT_NS = 600 * 10**9
"""Connect, first-byte and between-bytes timeout when the guest gives none (wasmtime's)."""

_HOST_PORT = re.compile(r"(?P<host>\[[^\]]+\]|[^:\[\]]+)(?::(?P<port>\d*))?")


# --------------------------------------------------------------------------------- targets


@dataclass(frozen=True, slots=True)
class Target:
    """Where an outgoing request goes: its scheme, host, port and full URL."""

    scheme: str
    host: str
    port: int
    url: str
    path: str = "/"
    """The path and query sent in the request line."""


def _target(request: OutgoingRequest) -> Target:
    """Where a request goes.

    Raises:
        Err: ``HTTP-protocol-error`` for a scheme other than http/https,
            ``HTTP-request-URI-invalid`` for a missing or malformed authority.

    """
    scheme = scheme_name(request.scheme()) or "https"  # wasmtime's default too
    if scheme not in DEFAULT_PORTS:
        raise Err(error_code("HTTP-protocol-error"))
    authority = request.authority()
    if not authority or "@" in authority or not valid_authority(authority):
        raise Err(error_code("HTTP-request-URI-invalid"))
    m = _HOST_PORT.fullmatch(authority)
    if m is None:
        raise Err(error_code("HTTP-request-URI-invalid"))
    host, port = m["host"], int(m["port"]) if m["port"] else DEFAULT_PORTS[scheme]
    path = _path(request)
    return Target(scheme, host.strip("[]"), port, f"{scheme}://{authority}{path}", path)


def _path(request: OutgoingRequest) -> str:
    """The path and query to send: ``/`` when unset, without a fragment (``?q`` is ``/?q``)."""
    path = (request.path_with_query() or "/").partition("#")[0]  # a fragment is not sent
    return "/" + path if path.startswith("?") else path


SELF_HOSTS = ("self", "self.alt")
"""Spin's names for the application itself in ``allowed_outbound_hosts``."""


def _is_self_request(request: OutgoingRequest) -> bool:
    """A request Spin routes back to the application: no authority, or the host ``self.alt``."""
    authority = request.authority()
    return not authority or authority.lower().partition(":")[0] == "self.alt"


def _self_allowed(patterns: Iterable[str]) -> bool:
    """Whether a pattern grants self-requests (``http://self``, ``https://self.alt``, ...)."""
    for pattern in patterns:
        parsed = HostPattern.parse(pattern)
        if parsed is not None and parsed.host in SELF_HOSTS:
            return True
    return False


def _self_target(request: OutgoingRequest, origin: str) -> Target:
    """The application's own address, with the request's path and query."""
    scheme, _, authority = origin.partition("://")
    m = _HOST_PORT.fullmatch(authority)
    if m is None:
        raise Err(error_code("internal-error", f"bad self origin {origin!r}"))
    host, port = m["host"], int(m["port"]) if m["port"] else DEFAULT_PORTS[scheme]
    path = _path(request)
    return Target(scheme, host.strip("[]"), port, f"{scheme}://{authority}{path}", path)


# ----------------------------------------------------------------------------------- errors


def _causes(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        yield cur
        cur = cur.__cause__ or cur.__context__


def _error_code_of(exc: BaseException) -> Variant:
    """The ``error-code`` for an exception raised while sending or receiving."""
    import httpx

    if isinstance(exc, BodyAborted):
        return exc.code
    if isinstance(exc, httpx.ConnectTimeout):
        return error_code("connection-timeout")
    if isinstance(exc, httpx.ReadTimeout):
        return error_code("connection-read-timeout")
    if isinstance(exc, httpx.WriteTimeout):
        return error_code("connection-write-timeout")
    if isinstance(exc, httpx.PoolTimeout):
        return error_code("connection-limit-reached")
    causes = list(_causes(exc))
    if isinstance(exc, httpx.ConnectError):
        if any(isinstance(c, socket.gaierror) for c in causes):
            # wasmtime's payload for a failed lookup
            return error_code("DNS-error", {"rcode": "address not available", "info-code": 0})
        if any(isinstance(c, ssl.SSLCertVerificationError) for c in causes):
            return error_code("TLS-certificate-error")
        if any(isinstance(c, ssl.SSLError) for c in causes):
            return error_code("TLS-protocol-error")
        return error_code("connection-refused")  # wasmtime's answer for any other failure
    if isinstance(exc, httpx.RemoteProtocolError):
        if "message body" in str(exc):  # the peer closed in the middle of the body
            return error_code("HTTP-response-incomplete")
        return error_code("HTTP-protocol-error")  # also wasmtime's for a close before any reply
    if isinstance(exc, httpx.ReadError | httpx.WriteError):
        return error_code("connection-terminated")
    if isinstance(exc, httpx.ProtocolError | httpx.UnsupportedProtocol | httpx.InvalidURL):
        return error_code("HTTP-protocol-error")
    return error_code("internal-error", f"{type(exc).__name__}: {exc}")


# ------------------------------------------------------------------------------ the client

_ssl_lock = threading.Lock()
_ssl_context: ssl.SSLContext | None = None
_transport: Any = None

KEEPALIVE_CONNECTIONS = 64
"""Idle connections to upstream servers kept for reuse (the whole process)."""
KEEPALIVE_SECONDS = 15.0
"""How long an idle upstream connection is kept."""


def _ssl_unlocked() -> ssl.SSLContext:
    """One verifying SSL context for every request (building one costs milliseconds)."""
    global _ssl_context  # noqa: PLW0603 - built once, on the first request
    if _ssl_context is None:
        import httpx

        _ssl_context = httpx.create_ssl_context()
    return _ssl_context


def _shared_transport() -> Any:
    """The process's ``httpx`` transport: one connection pool for every outgoing request."""
    global _transport  # noqa: PLW0603 - built once, on the first request
    with _ssl_lock:
        if _transport is None:
            import httpx

            limits = httpx.Limits(
                max_connections=None,
                max_keepalive_connections=KEEPALIVE_CONNECTIONS,
                keepalive_expiry=KEEPALIVE_SECONDS,
            )
            _transport = httpx.HTTPTransport(verify=_ssl_unlocked(), trust_env=False, limits=limits)
        return _transport


def _seconds(ns: int | None) -> float:
    return (ns if ns is not None else DEFAULT_TIMEOUT_NS) / 1e9


@dataclass(frozen=True, slots=True)
class _Job:
    method: str
    target: Target
    headers: list[tuple[bytes, bytes]]
    body: bytes | BodyFeed | None
    connect: float
    first_byte: float
    between_bytes: float
    limit: int


def _fetch(job: _Job, future: FutureIncomingResponse) -> None:
    """Send ``job`` and deliver its response (runs on its own thread)."""
    try:
        import httpx
    except ImportError:
        msg = "outgoing HTTP needs httpx: pip install 'omniwasm[http]'"
        future.resolve(error_code("internal-error", msg))
        return
    transport = _shared_transport()
    content: Any = job.body.chunks() if isinstance(job.body, BodyFeed) else job.body
    timeouts = {
        "connect": job.connect,
        "read": job.first_byte,
        "write": job.between_bytes,
        "pool": job.connect,
    }
    request = httpx.Request(
        job.method,
        job.target.url,
        headers=job.headers,
        content=content,
        extensions={"timeout": timeouts},
    )
    try:
        response = transport.handle_request(request)
    except Exception as exc:  # every failure becomes an error-code
        future.resolve(_error_code_of(exc))
        return
    try:
        _deliver(job, future, response, timeouts)
    finally:
        response.close()  # back to the pool if read to its end, else closed


def _deliver(
    job: _Job, future: FutureIncomingResponse, response: Any, timeouts: dict[str, float]
) -> None:
    declared = response.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > job.limit:
        future.resolve(error_code("HTTP-response-body-size", int(declared)))
        return
    feed = BodyFeed()
    headers = Fields((k.decode("latin-1"), v) for k, v in response.headers.raw)
    incoming = IncomingResponse(response.status_code, headers, feed)
    # httpcore reads this dict when the body starts: later reads wait between-bytes at most
    timeouts["read"] = job.between_bytes
    future.resolve(incoming)
    received = 0
    try:
        for chunk in response.stream:
            if feed.cancelled:
                break
            received += len(chunk)
            if received > job.limit:
                feed.end(error_code("HTTP-response-body-size", None))
                return
            feed.put(chunk)
    except Exception as exc:  # every failure becomes an error-code
        feed.end(_error_code_of(exc))
        return
    response.close()  # the connection goes back to the pool before the guest sees the end
    feed.end()


def outgoing_target(
    request: OutgoingRequest, allowed_hosts: Iterable[str], self_origin: str | None = None
) -> Target:
    """Where ``request`` goes, if ``allowed_hosts`` lets it (see :func:`send`).

    Raises:
        Err: ``HTTP-request-denied``, ``HTTP-request-URI-invalid``, ``HTTP-protocol-error``.

    """
    allowed_hosts = tuple(allowed_hosts)
    if self_origin is not None and _is_self_request(request):
        if not _self_allowed(allowed_hosts):
            raise Err(error_code("HTTP-request-denied"))
        return _self_target(request, self_origin)
    target = _target(request)
    if not host_allowed(allowed_hosts, target.scheme, target.host, target.port):
        raise Err(error_code("HTTP-request-denied"))
    return target


def send(
    request: OutgoingRequest,
    options: RequestOptions | None = None,
    *,
    allowed_hosts: Iterable[str] = (),
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    self_origin: str | None = None,
    max_wait: float | None = None,
) -> FutureIncomingResponse:
    """Send ``request`` on a background thread if ``allowed_hosts`` permits its target.

    Args:
        request: the request (its body may still be written after this returns).
        options: timeouts (600 s each when None).
        allowed_hosts: Spin-style ``scheme://host[:port]`` patterns.
        max_response_bytes: bound on the response body.
        self_origin: the application's own ``scheme://host:port`` when it is served: a
            request with no authority, or to the host ``self.alt``, goes there (Spin's
            self-requests), if a pattern names the host ``self`` or ``self.alt``.
        max_wait: an upper bound on each of the three timeouts (the seconds the sending
            guest has left), so the client thread does not outlive its guest for long.

    Raises:
        Err: an ``error-code``: ``HTTP-request-denied`` for a target the patterns do not
            allow, ``HTTP-request-URI-invalid``, ``HTTP-protocol-error`` (not http/https).

    """
    target = outgoing_target(request, allowed_hosts, self_origin)
    headers = [(n.encode("latin-1"), v) for n, v in request.headers().entries()]
    body: bytes | BodyFeed | None = None
    out = request.outgoing_body
    if out is not None:
        feed = out.feed
        finished = feed.ended() and feed.error is None
        body = b"".join(feed.chunks()) if finished else feed  # finished: send it whole
        feed.limit = OUTGOING_BUFFER  # it has a reader now: the guest's writes wait for it
    opts = options if options is not None else RequestOptions()
    cap = float("inf") if max_wait is None else max(0.001, max_wait)
    job = _Job(
        method_name(request.method()),
        target,
        headers,
        body,
        min(cap, _seconds(opts.connect_timeout())),
        min(cap, _seconds(opts.first_byte_timeout())),
        min(cap, _seconds(opts.between_bytes_timeout())),
        max_response_bytes,
    )
    future = FutureIncomingResponse()
    threading.Thread(
        target=_fetch, args=(job, future), name="omniwasm-wasi-http", daemon=True
    ).start()
    return future


DEADLINE_GRACE = 1.0
"""Seconds the client's timeouts outlast the guest's deadline: a guest waiting for the whole
deadline ends with Timeout, not with a client timeout that raced the deadline and won."""


def handle(request: OutgoingRequest, options: RequestOptions | None) -> FutureIncomingResponse:
    """``outgoing-handler.handle``: send under the instance's policy (see :func:`send`).

    The guest waits for the response through pollables, which end at its deadline; the
    client's own timeouts are capped at what the deadline leaves (plus ``DEADLINE_GRACE``).
    """
    ctx = host_data()
    deadline = current_deadline()
    left = None if deadline is None else deadline.remaining()
    return send(
        request,
        options,
        allowed_hosts=ctx.policy.allowed_hosts,
        max_response_bytes=getattr(ctx, "http_max_response_bytes", DEFAULT_MAX_RESPONSE_BYTES),
        self_origin=getattr(ctx, "http_self_origin", None),
        max_wait=None if left is None else left + DEADLINE_GRACE,
    )
