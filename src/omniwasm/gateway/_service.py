"""``wasi:http/service`` (WASI 0.3) components: shared instances and one request's exchange.

A 0.3 handler is an ``async`` export, so one instance may have several requests in flight:
:class:`ServicePool` keeps instances and hands each request one that has room (at most
``concurrency`` requests at once, at most ``reuse`` requests in its life, as ``wasmtime serve``
does for 0.3 components), making a new one when none has. The guest sees backpressure rules
of the async ABI: a guest that sets backpressure makes further calls wait.

:class:`ServiceExchange` is the 0.2 :class:`~._exchange.Exchange` with another guest side:
it hands the guest a :class:`~omniwasm.wasi.p3.Request` whose body is the gateway's request
feed, calls ``handle`` on a pool thread, and turns the guest's
:class:`~omniwasm.wasi.p3.Response` into the ``outgoing-response`` the ASGI side already
streams: its status and headers at once, then the guest's ``stream<u8>`` copied into the
response feed as the guest writes it (held back when the client is slow), then the trailers
future's fields. Everything else (admission, limits, timeouts, 504s, trailers over ASGI) is
the gateway's, unchanged.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from typing import Any

from .._errors import OmniwasmError
from .._wit.values import Err, Ok
from ..wasi import WasiContext
from ..wasi import p3 as wasi_p3
from ..wasi.http import Fields, OutgoingBody, OutgoingResponse, ResponseOutparam
from ..wasi.http import error_code as http_error
from ._exchange import Exchange

__all__ = [
    "DEFAULT_INSTANCE_CONCURRENCY",
    "DEFAULT_INSTANCE_REUSE",
    "ServiceExchange",
    "ServicePool",
]

DEFAULT_INSTANCE_CONCURRENCY = 16
"""Requests in flight at once in one instance of a 0.3 service (``wasmtime serve``'s default)."""
DEFAULT_INSTANCE_REUSE = 128
"""Requests one instance of a 0.3 service serves before it is dropped (``wasmtime serve``'s)."""
READ_CHUNK = 256 << 10
"""The most bytes one read of the guest's response stream asks for."""


class _Slot:
    """One live instance of the service and its counts (under the pool's lock)."""

    def __init__(self) -> None:
        self.inst: Any = None
        self.handle: Any = None
        self.context: WasiContext | None = None
        self.active = 0
        self.served = 0
        self.usable = True
        self.ready = threading.Event()
        self.error: BaseException | None = None

    def close(self) -> None:
        if self.inst is not None:
            self.inst.close()
        if self.context is not None:
            self.context.close()


class ServicePool:
    """Instances of one 0.3 service shared by concurrent requests.

    Args:
        make: creates an instance and its WASI context (on the calling thread).
        concurrency: requests one instance may have in flight at once.
        reuse: requests one instance serves in its life (then it is closed when idle).
        wait: seconds a request waits for an instance another request is creating.

    """

    def __init__(
        self,
        make: Callable[[], tuple[Any, WasiContext]],
        *,
        concurrency: int = DEFAULT_INSTANCE_CONCURRENCY,
        reuse: int = DEFAULT_INSTANCE_REUSE,
        wait: float | None = None,
    ) -> None:
        if concurrency < 1 or reuse < 1:
            raise ValueError("instance concurrency and reuse must be at least 1")
        self._make = make
        self.concurrency = concurrency
        self.reuse = reuse
        self._wait = wait
        self._lock = threading.Lock()
        self._slots: list[_Slot] = []
        self.created = 0
        """Instances made so far."""

    def lease(self) -> _Slot:
        """An instance with room for one more request (made here when none has room).

        Raises:
            OmniwasmError: the instance could not be made (a trap in its start, a limit).

        """
        with self._lock:
            slot = next(
                (
                    s
                    for s in self._slots
                    if s.usable and s.active < self.concurrency and s.served < self.reuse
                ),
                None,
            )
            fresh = slot is None
            if slot is None:
                slot = _Slot()
                self._slots.append(slot)
                self.created += 1
            slot.active += 1
            slot.served += 1
        if fresh:
            try:
                slot.inst, slot.context = self._make()
            except BaseException as exc:
                slot.error = exc
                self._retire(slot)
                raise
            finally:
                slot.ready.set()
        elif not slot.ready.wait(self._wait):
            self.release(slot)
            raise OmniwasmError("no instance of the service became ready in time")
        if slot.error is not None:
            self.release(slot)
            raise slot.error
        return slot

    def prime(self) -> None:
        """Make the first instance now (it compiles the guest's code).

        A link error then shows at once, and the first request does not pay for it. The
        instance counts no request served: the first request is its first.
        """
        slot = self.lease()
        with self._lock:
            slot.served -= 1
        self.release(slot)

    def _retire(self, slot: _Slot) -> None:
        with self._lock:
            slot.usable = False
            slot.active -= 1
            gone = slot.active == 0 and slot in self._slots
            if gone:
                self._slots.remove(slot)
        if gone:
            slot.close()

    def release(self, slot: _Slot, *, broken: bool = False) -> None:
        """A request is done with ``slot`` (``broken``: its instance failed; drop it)."""
        with self._lock:
            slot.active -= 1
            if broken or slot.served >= self.reuse:
                slot.usable = False
            gone = not slot.usable and slot.active <= 0 and slot in self._slots
            if gone:
                self._slots.remove(slot)
        if gone:
            slot.close()

    def active(self) -> list[int]:
        """Requests in flight now in each live instance."""
        with self._lock:
            return [s.active for s in self._slots]

    def close(self) -> None:
        """Close idle instances now and busy ones when their last request is done."""
        with self._lock:
            idle = [s for s in self._slots if s.active <= 0]
            for s in self._slots:
                s.usable = False
            for s in idle:
                self._slots.remove(s)
        for s in idle:
            s.close()


class ServiceExchange(Exchange):
    """One request through a ``wasi:http/handler@0.3.x`` export (see the module docstring).

    Args:
        pool: where the request's instance comes from.
        args, kwargs: those of :class:`~._exchange.Exchange`; its ``request`` is a
            :class:`~omniwasm.wasi.p3.Request`.

    """

    def __init__(self, *args: Any, pool: ServicePool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._service = pool

    def _run(self) -> None:
        pool = self._service
        slot = pool.lease()
        request: wasi_p3.Request = self.request  # type: ignore[assignment]
        broken = True
        response: wasi_p3.Response | None = None
        try:
            handle = slot.handle
            if handle is None:
                handle = slot.handle = slot.inst.func(f"{self._interface}#handle")
            answer = handle(request, raw=True)
            if isinstance(answer, Err):
                ResponseOutparam.set(self.outparam, Err(answer.value))
            else:
                response = answer.value if isinstance(answer, Ok) else answer
                if not isinstance(response, wasi_p3.Response):
                    raise OmniwasmError(f"handle returned {type(response).__name__}, no response")
                self._answer(response)
            broken = False
        finally:
            if response is not None:
                response.sent.done(self._sent_result())
            request.body.close()
            pool.release(slot, broken=broken)  # a trap or a limit: its instance is dropped

    def _sent_result(self) -> Ok | Err:
        answer = self.outparam.response
        if isinstance(answer, Ok) and isinstance(answer.value, OutgoingResponse):
            body = answer.value.outgoing_body
            if body is not None and body.feed.error is not None:
                return Err(body.feed.error)
        return Ok(None)

    def _answer(self, response: wasi_p3.Response) -> None:
        """Announce status and headers, then copy the body and trailers into the feed."""
        out = OutgoingResponse(Fields(response.get_headers().copy_all()))
        out.set_status_code(response.get_status_code())  # the gateway sends 200-599 only
        body = out.body()
        ResponseOutparam.set(self.outparam, Ok(out))
        try:
            _copy_body(response.body, body, lambda: self.abandoned)
        finally:
            response.body.close()


def _copy_body(source: wasi_p3.Body, body: OutgoingBody, abandoned: Callable[[], bool]) -> None:
    """Copy the guest's contents into the response feed, then end it with the trailers.

    A failure (the guest trapped while writing) ends the feed with an error first, so the
    gateway aborts the response.
    """
    try:
        _copy(source, body, abandoned)
    except BaseException as exc:
        body.feed.end(http_error("internal-error", f"{type(exc).__name__}: {exc}"))
        raise


def _copy(source: wasi_p3.Body, body: OutgoingBody, abandoned: Callable[[], bool]) -> None:
    feed = body.feed
    contents = source.contents
    for chunk in wasi_p3.blocking_chunks(contents, READ_CHUNK):
        if not chunk:
            continue
        while feed.room() <= 0 and not abandoned():  # the client is slower than the guest
            feed.wait_room(0.05)
        if feed.ended() or feed.discarding or abandoned():
            close = getattr(contents, "close", None)
            if close is not None:
                close()  # the guest's further writes see the reader gone
            return
        body._write(chunk)
    result = wasi_p3.blocking_trailers(source.trailers)
    if isinstance(result, Err):
        feed.end(result.value if result.value is not None else http_error("internal-error"))
        return
    fields = result.value if isinstance(result, Ok) else None
    trailers = None if fields is None else Fields(fields.copy_all())
    with contextlib.suppress(Err):  # a content-length that disagrees: the feed has the error
        OutgoingBody.finish(body, trailers)
