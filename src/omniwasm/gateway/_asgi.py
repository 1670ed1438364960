"""The ASGI edge: HTTP requests in, ``wasi:http`` resources to a guest thread, responses out.

:class:`Gateway` is a plain ASGI 3 application (no framework). Per request it admits the
request (:mod:`._admission`), turns the ASGI scope and body into an ``incoming-request`` whose
body is a ``BodyFeed`` filled from ``receive()`` (:mod:`._messages`), runs the guest on
a pool thread (:mod:`._exchange`) and, once the guest sets its ``response-outparam``, sends the
status and headers and streams the body chunks as the guest writes them. This module is the only
async code in omniwasm; everything it calls is synchronous.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import time
from collections.abc import Callable
from typing import Any

from .._compiled import Compiled, Source
from .._errors import InvalidModule, Timeout
from .._policy import Policy
from .._runtime import Runtime
from .._wit.values import Err
from ..wasi import WasiContext, instantiate
from ..wasi import p3 as wasi_p3
from ..wasi.http import (
    FORBIDDEN_HEADERS,
    OUTGOING_BUFFER,
    IncomingRequest,
    OutgoingResponse,
    error_code,
    valid_authority,
)
from ._admission import Admission, GuestPool, QueueFull
from ._exchange import Exchange, Hooks, status_for
from ._messages import (
    TRAILERS,
    Message,
    Receive,
    RequestBody,
    Scope,
    Send,
    call_on_loop,
    header,
    path_with_query,
    refuse_head,
    send_plain,
    sends_trailers,
    server_authority,
    settle,
    stream_body,
)
from ._service import (
    DEFAULT_INSTANCE_CONCURRENCY,
    DEFAULT_INSTANCE_REUSE,
    ServiceExchange,
    ServicePool,
)

__all__ = [
    "DEFAULT_HEADER_TIMEOUT",
    "DEFAULT_MAX_BODY_BYTES",
    "DEFAULT_MAX_HEADERS",
    "DEFAULT_MAX_HEADER_BYTES",
    "DEFAULT_TIMEOUT",
    "KEEP_RESIDENT",
    "Gateway",
    "ResponseAborted",
]

DEFAULT_MAX_BODY_BYTES = 10 << 20
"""Request bodies larger than this (10 MiB) are refused with 413."""
DEFAULT_MAX_HEADER_BYTES = 64 << 10
"""Request header sections (request line and fields) larger than this (64 KiB) get 431."""
DEFAULT_MAX_HEADERS = 100
"""Requests with more header fields than this get 431 (hyper's limit: ``wasmtime serve``, Spin)."""
DEFAULT_HEADER_TIMEOUT = 10.0
"""Seconds ``omniwasm serve`` gives a client to send a request's headers, from the connection's
start or the end of its previous response (408 or a close beyond)."""
DEFAULT_TIMEOUT = 30.0
"""Seconds one request's guest may run (``Policy.timeout``) before the answer is 504."""
GRACE = 0.5
"""Seconds past the timeout before the gateway stops waiting for a guest stuck in a host call."""
QUEUE_SLACK = 0.5
"""Seconds a queued request waits for a guest thread beyond the longest a running guest may
hold one (``timeout`` plus ``GRACE``): a request queued behind guests cut at their timeout gets
the slot they free, instead of a 503 from a deadline that ends at the same moment as theirs."""
EARLY = 0.005
"""Seconds from when a guest thread takes a request that the gateway waits for the guest to
finish before it streams the response as the guest writes it (most guests are done by then:
their whole answer then costs one wake-up)."""
QUEUED_POLL = 0.02
"""How often the gateway looks whether a guest thread took a queued request (to start its
``EARLY`` wait, or answer 503 at the queue's limit)."""
KEEP_RESIDENT = 64 << 20
"""``keep_resident`` of the Runtime a gateway makes: guests are instantiated by several threads
at once, and page faults and ``madvise`` contend on the process's memory map (two threads ran
a componentize-py handler 2.9x faster with it), so more memory stays resident than the
default."""

BODILESS = frozenset({204, 304})
"""Statuses whose responses have no body (RFC 9110): what a guest writes is dropped."""

FIRST = asyncio.FIRST_COMPLETED

logger = logging.getLogger("omniwasm.gateway")


class ResponseAborted(Exception):
    """The guest failed after its response started: the body is cut short.

    Raised from the ASGI call, so the server closes the connection and the client sees an
    incomplete response rather than a complete wrong one.
    """


SERVICE_PREFIX = "wasi:http/handler@0.3."
"""The export of a WASI 0.3 ``wasi:http/service`` (``0.3.0`` or a ``0.3.0-rc-...``)."""


def _handler_interface(compiled: Compiled) -> str:
    for export in compiled.exports:
        interface, _, func = export.name.partition("#")
        if func != "handle":
            continue
        if interface.startswith(("wasi:http/incoming-handler@0.2.", SERVICE_PREFIX)):
            return interface
    raise InvalidModule(
        "the component exports neither wasi:http/incoming-handler@0.2.x nor "
        "wasi:http/handler@0.3.x",
        source=compiled.source,
    )


class Gateway:
    """An ASGI 3 application serving one ``wasi:http`` component (0.2 proxy or 0.3 service).

    A ``wasi:http/incoming-handler@0.2.x`` component gets a fresh instance per request
    (compiled once), the isolation of ``wasmtime serve``. A WASI 0.3 ``wasi:http/service``
    (``wasi:http/handler@0.3.x``, an async export) shares instances as ``wasmtime serve``
    does for 0.3: up to ``instance_concurrency`` requests in flight in one instance at once
    and ``instance_reuse`` in its life; its request and response bodies are streams copied as
    the guest reads and writes them, its trailers a future. The guest runs on a thread pool,
    never on the event loop; its response headers go out when it answers (0.2: sets the
    ``response-outparam``) and its body streams as it writes.
    Mount it in any ASGI server or framework (``app.mount("/wasm", gateway)`` in Starlette or
    FastAPI). One gateway serves one event loop at a time.

    Status codes the gateway answers itself: 400 malformed ``Host``; 413 a body over
    ``max_body_bytes`` (the guest is not called when ``content-length`` says so up front);
    431 more than ``max_headers`` header fields or a header section over ``max_header_bytes``;
    500 a trap, a host error, an ``error-code`` response, a guest that never answered, or a
    status that is not a final HTTP status (outside 200-599); 503 all ``max_concurrency``
    slots busy and ``max_queue`` requests already waiting, or no slot freed while the request
    waited ``timeout`` plus a second (longer than a running guest may keep its slot); 504 the
    guest ran out of time.
    Failures are logged on the ``omniwasm.gateway`` logger.

    A guest still stuck in a host call when its 504 goes out (``timeout`` plus half a second)
    is let go of: its thread is replaced at once, so its slot serves the next request, and
    its instance is closed when the call returns (it traps on its next instruction). At most
    ``max_concurrency`` such threads may linger; beyond that a stuck guest keeps its slot.

    Args:
        component: the component (a path, bytes, or a :class:`~omniwasm.Compiled`).
        policy: each instance's sandbox (deny by default); the guest's limits.
        runtime: the runtime to compile and instantiate with (a new one when None).
        max_body_bytes: the largest request body accepted.
        max_header_bytes: the largest header section accepted (None: no limit here; the
            HTTP server has its own, see ``omniwasm serve --max-header-bytes``).
        max_headers: the most header fields accepted (None: no limit here).
        timeout: seconds each request's guest may run; replaces ``policy.timeout`` (None:
            keep the policy's).
        max_concurrency: guests running at once (the pool's threads; default: CPU count).
        max_queue: requests that may wait for a slot (default: 8 per slot).
        executor: run guests here instead of the gateway's own thread pool (it should have
            ``max_concurrency`` threads; a stuck guest then keeps its thread until it returns).
        hooks: per-request additions (context factory, linker, instantiation timing).
        instance_concurrency: a 0.3 service's requests in flight at once in one instance
            (default 16, as ``wasmtime serve``); a guest may also hold calls back with the
            async ABI's backpressure. One instance runs one request's code at a time: the
            others wait for it (or for what they await), and a guest that traps or runs out
            of time fails every request in flight in its instance.
        instance_reuse: requests one instance of a 0.3 service serves (default 128). The
            first instance is made here, so a component that does not link fails here.

    Raises:
        InvalidModule: the component is invalid or exports no ``wasi:http`` handler.
        LinkError: a 0.3 service imports what the host does not define.

    """

    def __init__(
        self,
        component: Compiled | Source,
        *,
        policy: Policy | None = None,
        runtime: Runtime | None = None,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        max_header_bytes: int | None = DEFAULT_MAX_HEADER_BYTES,
        max_headers: int | None = DEFAULT_MAX_HEADERS,
        timeout: float | None = DEFAULT_TIMEOUT,
        max_concurrency: int | None = None,
        max_queue: int | None = None,
        executor: concurrent.futures.Executor | None = None,
        hooks: Hooks | None = None,
        instance_concurrency: int | None = None,
        instance_reuse: int | None = None,
    ) -> None:
        self.hooks = hooks
        self.runtime = (
            runtime if runtime is not None else Runtime(policy, keep_resident=KEEP_RESIDENT)
        )
        policy = policy if policy is not None else self.runtime.policy
        self.policy = policy.with_(timeout=timeout) if timeout is not None else policy
        if isinstance(component, Compiled):
            self.compiled = self.runtime._compiled(component)
        else:
            self.compiled = self.runtime.load(component, expect="component")
        self.interface = _handler_interface(self.compiled)
        self.service: ServicePool | None = None
        """A 0.3 service's shared instances (None for a 0.2 component)."""
        if self.interface.startswith(SERVICE_PREFIX):
            self.service = ServicePool(
                self._instance,
                concurrency=(
                    DEFAULT_INSTANCE_CONCURRENCY
                    if instance_concurrency is None
                    else instance_concurrency
                ),
                reuse=DEFAULT_INSTANCE_REUSE if instance_reuse is None else instance_reuse,
                wait=self.policy.timeout,
            )
            self.service.prime()
        self.max_body_bytes = max_body_bytes
        self.max_header_bytes = max_header_bytes
        self.max_headers = max_headers
        slots = max_concurrency if max_concurrency is not None else max(4, os.cpu_count() or 4)
        self._admission = Admission(slots, max_queue if max_queue is not None else 8 * slots)
        self._executor = executor
        self._guests: GuestPool | None = None

    # -- ASGI ----------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The ASGI entry point: ``http`` requests and ``lifespan`` events."""
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)
        elif kind == "websocket":
            await send({"type": "websocket.close", "code": 1003})  # wasi:http has no sockets

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self._pool()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    def _instance(self) -> tuple[Any, WasiContext]:
        """A new instance of a 0.3 service and its WASI context (the hooks' if any)."""
        hooks = self.hooks
        context = (
            hooks.context(self.policy)
            if hooks is not None and hooks.context
            else WasiContext(self.policy)
        )
        imports = hooks.imports if hooks is not None and hooks.imports else wasi_p3.linker()
        try:
            started = time.perf_counter()
            inst = instantiate(self.runtime, self.compiled, context, imports=imports)
        except BaseException:
            context.close()
            raise
        if hooks is not None and hooks.instantiated is not None:
            hooks.instantiated(time.perf_counter() - started)
        return inst, context

    def _pool(self) -> Callable[[Callable[[], None]], object]:
        """Where guests run: the given executor's ``submit``, or the gateway's own pool's."""
        if self._executor is not None:
            return self._executor.submit
        if self._guests is None:
            slots = self._admission.slots
            self._guests = GuestPool(slots, spare=slots)
        return self._guests.submit

    def _let_go(self, exchange: Exchange) -> None:
        """Free the slot of a guest stuck past its 504 (on the gateway's own pool only)."""
        guests = self._guests
        if guests is not None and exchange.detach(guests.replace):
            self._admission.release()

    async def aclose(self) -> None:
        """Wait for running guests to finish and stop the gateway's own pool (idempotent).

        Guests the gateway let go of after their 504 are not waited for, nor any guest past
        the time the gateway gives one (``timeout`` plus half a second). A later request
        starts a new pool.
        """
        if self._guests is not None:
            pool, self._guests = self._guests, None
            wait = self._shutdown_wait()
            await asyncio.get_running_loop().run_in_executor(None, pool.shutdown, wait)
        if self.service is not None:
            self.service.close()

    def close(self) -> None:
        """Synchronous :meth:`aclose`, for use outside an event loop."""
        if self._guests is not None:
            pool, self._guests = self._guests, None
            pool.shutdown(self._shutdown_wait())
        if self.service is not None:
            self.service.close()

    def _shutdown_wait(self) -> float | None:
        timeout = self.policy.timeout
        return None if timeout is None else timeout + GRACE + 0.5

    # -- one request ---------------------------------------------------------------------

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        if await refuse_head(send, scope, self.max_header_bytes, self.max_headers) is not None:
            return
        declared = header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            await send_plain(send, 413, "request body too large")
            return
        host = header(scope, b"host")
        authority = host.decode("latin-1") if host is not None else server_authority(scope)
        if authority is not None and not valid_authority(authority):
            await send_plain(send, 400, "malformed Host header")
            return
        try:
            self._admission.admit()
        except QueueFull:
            await send_plain(send, 503, "server busy", (b"retry-after", b"1"))
            return
        await self._serve(scope, receive, send, authority)

    async def _serve(
        self, scope: Scope, receive: Receive, send: Send, authority: str | None
    ) -> None:
        """Serve an admitted request; it is counted out when its guest thread is done with it."""
        body: RequestBody | None = None
        exchange: Exchange | None = None
        try:
            first = await receive()
            if first["type"] != "http.request":
                return  # the client left before sending its body
            chunk = bytes(first.get("body", b""))
            if len(chunk) > self.max_body_bytes:
                await send_plain(send, 413, "request body too large")
                return
            body = RequestBody(self.max_body_bytes)
            feed = body.start(chunk, more=bool(first.get("more_body", False)), receive=receive)
            head = (scope["method"], path_with_query(scope), scope.get("scheme", "http"), authority)
            headers = [(bytes(k).decode("latin-1"), bytes(v)) for k, v in scope.get("headers", ())]
            loop = asyncio.get_running_loop()
            answered: asyncio.Future[None] = loop.create_future()
            finished: asyncio.Future[None] = loop.create_future()
            guest = (self.runtime, self.compiled, self.interface, self.policy)
            callbacks: Any = {
                "on_response": lambda: call_on_loop(loop, settle, answered),
                "on_done": lambda detached: self._guest_done(loop, finished, detached=detached),
                "hooks": self.hooks,
            }
            if self.service is None:
                request = IncomingRequest(*head, headers, feed)
                exchange = Exchange(*guest, request, **callbacks)
                exchange.body_limit = OUTGOING_BUFFER
            else:  # as wasmtime: no hop-by-hop headers; Host is the authority, not a header
                kept = [(n, v) for n, v in headers if n.lower() not in FORBIDDEN_HEADERS]
                service = wasi_p3.Request(*head, kept, feed)
                exchange = ServiceExchange(*guest, service, pool=self.service, **callbacks)
            self._pool()(exchange.run)
            await self._respond(scope, send, exchange, body, finished=finished, answered=answered)
        finally:
            if body is not None:
                body.cancel()
            if exchange is None:
                self._admission.release()  # never handed to a guest thread
            else:
                exchange.abandon()  # skipped if still queued; its body is no longer read

    def _guest_done(
        self, loop: asyncio.AbstractEventLoop, finished: asyncio.Future[None], *, detached: bool
    ) -> None:
        """On the guest thread, done with its request: count it out, tell the loop.

        A guest the loop let go of was counted out then.
        """
        if not detached:
            self._admission.release()
        call_on_loop(loop, settle, finished)

    def _left(self, exchange: Exchange) -> float | None:
        """Seconds until the gateway gives up on the guest (None: no limit, or still queued).

        The guest's own timeout runs from when its thread took the request; the gateway
        waits ``GRACE`` longer for a guest stuck in a host call.
        """
        timeout, started = self.policy.timeout, exchange.started
        if timeout is None or started is None:
            return None
        return started + timeout + GRACE - time.monotonic()

    async def _until_answered(
        self,
        exchange: Exchange,
        finished: asyncio.Future[None],
        answered: asyncio.Future[None],
    ) -> None:
        """Wait until the guest answered or ended, or its time is up.

        Its time: ``timeout`` plus ``GRACE`` plus ``QUEUE_SLACK`` waiting for a guest thread
        (a guest holds its thread at most ``timeout`` plus ``GRACE``: waiting only ``timeout``
        raced the 504s of the guests ahead and lost under load), then ``timeout`` plus
        ``GRACE`` from when one took the request.
        """
        timeout = self.policy.timeout
        queued = time.monotonic()
        queue_limit = None if timeout is None else queued + timeout + GRACE + QUEUE_SLACK
        # Most guests finish within EARLY of starting: wait for the end alone (one wake-up
        # from the guest thread) while the request waits for a thread and until EARLY after
        # one took it, and only then ask to hear about the response as soon as it is set. (A
        # wake-up in the middle of a guest's run makes the loop and the guest thread trade
        # the GIL at each of the guest's calls: ~10% more CPU per request at 32 connections.)
        wait = EARLY
        while True:
            await asyncio.wait((finished,), timeout=wait)
            if finished.done():
                return
            now = time.monotonic()
            started = exchange.started
            if started is not None:
                wait = started + EARLY - now
                if wait <= 0:
                    break
            elif queue_limit is None:
                wait = QUEUED_POLL
            elif now >= queue_limit:
                return  # no guest thread took it in time: 503
            else:
                wait = min(QUEUED_POLL, queue_limit - now)
        exchange.announce_response()
        while not (answered.done() or finished.done()):
            left = self._left(exchange)
            if left is not None and left <= 0:
                return
            await asyncio.wait((answered, finished), timeout=left, return_when=FIRST)

    async def _respond(
        self,
        scope: Scope,
        send: Send,
        exchange: Exchange,
        body: RequestBody,
        *,
        finished: asyncio.Future[None],
        answered: asyncio.Future[None],
    ) -> None:
        where = f"{scope['method']} {scope.get('path', '')}"
        await self._until_answered(exchange, finished, answered)
        if exchange.started is None and not finished.done():
            logger.warning("%s: no guest thread free within the timeout: 503", where)
            await send_plain(send, 503, "server busy", (b"retry-after", b"1"))
            return  # the request is skipped when its turn comes (abandoned)
        if body.too_large:
            await send_plain(send, 413, "request body too large")
            return
        response = exchange.response
        if not isinstance(response, OutgoingResponse):
            await self._unanswered(send, where, exchange, body, response, finished=finished)
            return
        status = response.status_code()
        if not 200 <= status <= 599:  # 1xx are not final; 600-999 are not HTTP
            logger.error(
                "%s: the guest answered with status %d, not a final HTTP status (200-599): 500",
                where,
                status,
            )
            await send_plain(send, 500, "the handler failed")
            return
        headers = [
            (name.lower().encode("latin-1"), bytes(value))
            for name, value in response.headers().entries()
        ]
        start: Message = {"type": "http.response.start", "status": status, "headers": headers}
        out = response.outgoing_body
        bodiless = status in BODILESS or scope.get("method") == "HEAD"
        trailers = out is not None and not bodiless and sends_trailers(scope, out.feed)
        if trailers:
            start["trailers"] = True  # the server then expects an http.response.trailers
        if out is not None and not bodiless:
            # the guest's writes now wait for the client to keep up (set before the head goes
            # out: a slow client's first send must not let a fast guest buffer its whole body)
            out.feed.limit = OUTGOING_BUFFER
        await send(start)
        if out is None or bodiless:  # as hyper (wasmtime serve): no body, whatever the guest writes
            if out is not None:
                out.feed.discard()  # nobody reads it: the guest's writes must not wait
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            return
        left = self._left(exchange)
        deadline = None if left is None else asyncio.get_running_loop().time() + left
        await stream_body(send, out.feed, deadline, cut=lambda: body.too_large)
        if body.too_large:  # the guest answered before the excess arrived: cut it short
            logger.warning("%s: request body over %d bytes", where, self.max_body_bytes)
            raise ResponseAborted(f"{where}: request body over {self.max_body_bytes} bytes")
        if out.feed.error is not None:
            left = self._left(exchange)
            if not finished.done() and left is not None and left <= 0:
                self._let_go(exchange)  # stuck past its time while writing its body
            exc = exchange.error if finished.done() else None
            logger.error(
                "%s: the response body failed (%s)", where, out.feed.error.case, exc_info=exc
            )
            raise ResponseAborted(f"{where}: the response body failed: {out.feed.error.case}")
        if trailers:
            fields = out.feed.trailers
            entries = [] if fields is None else fields.entries()
            await send(
                {
                    "type": TRAILERS,
                    "headers": [(n.lower().encode("latin-1"), bytes(v)) for n, v in entries],
                    "more_trailers": False,
                }
            )

    async def _unanswered(
        self,
        send: Send,
        where: str,
        exchange: Exchange,
        body: RequestBody,
        response: Any,
        *,
        finished: asyncio.Future[None],
    ) -> None:
        """Answer for a guest that gave no response: stuck (504), failed, or an error-code."""
        if response is None:
            if not finished.done():
                body.fail(error_code("HTTP-response-timeout"))  # unblock a guest reading it
                self._let_go(exchange)
                logger.warning("%s: the guest is stuck past its timeout: 504", where)
                await send_plain(send, 504, "the handler timed out")
                return
            if exchange.error is None:
                logger.error("%s: the guest returned without setting its response", where)
                await send_plain(send, 500, "the handler did not respond")
            else:
                await self._failed(send, where, exchange.error)
            return
        code = response.value if isinstance(response, Err) else response
        logger.error("%s: the guest answered with error-code %r", where, code)
        await send_plain(send, 500, "the handler failed")

    async def _failed(self, send: Send, where: str, exc: BaseException) -> None:
        status = status_for(exc)
        if isinstance(exc, Timeout):
            logger.warning("%s: %s", where, exc)
        else:
            logger.error("%s: the guest failed: %s", where, exc, exc_info=exc)
        text = "the handler timed out" if status == 504 else "the handler failed"
        await send_plain(send, status, text)

    def __repr__(self) -> str:
        return (
            f"Gateway({self.compiled.source!r}, interface={self.interface!r}, "
            f"max_concurrency={self._admission.slots}, max_queue={self._admission.queue})"
        )
