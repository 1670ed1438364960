"""One request's trip through a guest: the thread side, and the status table for failures.

An :class:`Exchange` runs on a pool thread: it instantiates the component with a fresh
:class:`~omniwasm.wasi.WasiContext`, calls ``incoming-handler.handle`` and closes the instance.
The event loop learns what happens through thread-safe callbacks. ``on_done`` runs when the
thread is finished with the request (``handle`` returned or failed; the failure is kept in
:attr:`Exchange.error`). ``on_response`` runs when the guest sets its ``response-outparam``, but
only once the loop has asked for it with :meth:`Exchange.announce_response`: most handlers
finish within a millisecond, and for them the loop is woken once, not once for the headers,
once per body chunk and once at the end. When the loop gives up on a guest stuck past its
timeout it lets go of it (:meth:`Exchange.detach`): the thread is replaced, the request counted
out at once, and the guest's instance is closed on its old thread when its host call returns
(its deadline has passed, so it traps at its next instruction). Nothing here touches asyncio.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from .._compiled import Compiled
from .._errors import LimitExceeded, OmniwasmError, Timeout, most_specific
from .._policy import Policy
from .._runtime import Runtime
from .._wit.values import Ok
from ..wasi import WasiContext, instantiate
from ..wasi.http import IncomingRequest, OutgoingResponse, ResponseOutparam

__all__ = ["STATUS_FOR_ERROR", "Exchange", "Hooks", "status_for"]

STATUS_FOR_ERROR: dict[type[BaseException], int] = {
    Timeout: 504,
    LimitExceeded: 500,
    OmniwasmError: 500,
    BaseException: 500,
}
"""The gateway's status code for each failure, resolved by most specific class (ARCHITECTURE.md)."""


def status_for(exc: BaseException) -> int:
    """The HTTP status for a failed guest call: the entry of its nearest class in the table."""
    return most_specific(STATUS_FOR_ERROR, exc, 500)


class _Signal:
    """A flag that calls ``callback`` (once) when it is first set.

    Set on the guest's thread and never waited on, so it needs no lock or condition.
    """

    __slots__ = ("_callback", "_set")

    def __init__(self, callback: Callable[[], None]) -> None:
        self._callback = callback
        self._set = False

    def is_set(self) -> bool:
        return self._set

    def set(self) -> None:
        if not self._set:
            self._set = True
            self._callback()


class Outparam(ResponseOutparam):
    """A ``response-outparam`` that announces the guest's answer through ``on_set``."""

    def __init__(self, on_set: Callable[[], None]) -> None:
        super().__init__()
        self.done = _Signal(on_set)


class Hooks:
    """What an embedder (the manifest-driven app) adds to each request's instance.

    Args:
        context: builds the request's ``WasiContext`` from the policy (to attach more state,
            e.g. key-value access); a plain ``WasiContext(policy)`` when None.
        imports: the linker (WASI plus other interfaces); the shared WASI linker when None.
        instantiated: told how many seconds instantiation took.

    """

    __slots__ = ("context", "imports", "instantiated")

    def __init__(
        self,
        *,
        context: Callable[[Policy], WasiContext] | None = None,
        imports: Any = None,
        instantiated: Callable[[float], None] | None = None,
    ) -> None:
        self.context = context
        self.imports = imports
        self.instantiated = instantiated


_NO_HOOKS = Hooks()


class Exchange:
    """What one request needs on its pool thread.

    Args:
        runtime: the gateway's runtime.
        compiled: the component (compiled once).
        interface: the full name of its ``incoming-handler`` export.
        policy: the sandbox of the request's instance.
        request: the request resource handed to the guest.
        on_response: called (from any thread) once the guest has set the outparam and the
            loop has asked for it (:meth:`announce_response`).
        on_done: called (from the guest's thread) when :meth:`run` ends, however it ends,
            with whether the loop had let go of it (:meth:`detach`) by then.

    """

    def __init__(
        self,
        runtime: Runtime,
        compiled: Compiled,
        interface: str,
        policy: Policy,
        request: IncomingRequest,
        *,
        on_response: Callable[[], None],
        on_done: Callable[[bool], None] | None = None,
        hooks: Hooks | None = None,
    ) -> None:
        self._hooks = hooks if hooks is not None else _NO_HOOKS
        self._runtime = runtime
        self._compiled = compiled
        self._interface = interface
        self._policy = policy
        self.request = request
        self.error: BaseException | None = None
        """What :meth:`run` raised, if it failed."""
        self.started: float | None = None
        """``time.monotonic()`` when a guest thread took the request (None while it waits)."""
        self.detached = False
        """Set when the loop let go of the guest (:meth:`detach`): its thread was replaced."""
        self._thread: threading.Thread | None = None
        self._ended = False
        self.abandoned = False
        """Set by the loop when nobody awaits the answer any more: a request still waiting
        for a thread is then skipped rather than run."""
        self._on_response = on_response
        self._on_done = on_done
        self._wanted = False
        self._announced = False
        self._lock = threading.Lock()
        self.body_limit: int | None = None
        """Bytes of response body the host buffers once the guest has answered (None: no
        bound): a guest that answers and streams is then held back by its reader from the
        start, however late the loop gets to the response."""
        self.outparam = Outparam(self._response_set)

    def abandon(self) -> None:
        """Nobody awaits the answer any more (from the loop, when it is done with the request).

        A request still waiting for a thread is skipped; a response body still being written
        is discarded, so a guest waiting for room to write finishes instead of waiting forever.
        """
        self.abandoned = True
        answer = self.outparam.response
        if isinstance(answer, Ok) and isinstance(answer.value, OutgoingResponse):
            body = answer.value.outgoing_body
            if body is not None:
                body.feed.discard()

    def detach(self, replace: Callable[[threading.Thread], bool]) -> bool:
        """Let go of a guest still running past its time (from the loop, after its 504).

        ``replace(thread)`` (the pool's) starts a new thread in place of the guest's. True
        when it did: the caller counts the request out now, and ``on_done`` will say so.
        False when the guest already ended, has not started, or the pool said no.
        """
        with self._lock:
            if self._ended or self._thread is None or not replace(self._thread):
                return False
            self.detached = True
            return True

    def announce_response(self) -> None:
        """Ask for ``on_response`` (at once if the guest has answered already)."""
        with self._lock:
            self._wanted = True
            ready = self.outparam.done.is_set() and not self._announced
            self._announced |= ready
        if ready:
            self._on_response()

    def _response_set(self) -> None:
        limit = self.body_limit
        answer = self.outparam.response
        if limit is not None and isinstance(answer, Ok):
            body = getattr(answer.value, "outgoing_body", None)
            if body is not None and body.feed.limit is None:
                body.feed.limit = limit  # from here the guest's writes wait for the reader
        with self._lock:
            ready = self._wanted and not self._announced
            self._announced |= ready
        if ready:
            self._on_response()

    @property
    def response(self) -> OutgoingResponse | Any | None:
        """The guest's ``OutgoingResponse``, its ``error-code`` (an ``Err``), or None yet."""
        answer = self.outparam.response
        return answer.value if isinstance(answer, Ok) else answer

    def run(self) -> None:
        """Instantiate, call ``handle``, close (on a pool thread); then call ``on_done``.

        A response body the guest left unfinished (it trapped, or returned without finishing)
        ends with an error, so whoever streams it stops. A failure (the guest trapped, timed
        out or hit a limit, or the instance could not be created) is kept in :attr:`error`.
        """
        with self._lock:
            self._thread = threading.current_thread()
        self.started = time.monotonic()
        try:
            if not self.abandoned:
                self._run()
        except BaseException as exc:  # reported to the loop through self.error
            self.error = exc
        finally:
            with self._lock:
                self._ended = True
                detached = self.detached
            if self._on_done is not None:
                self._on_done(detached)

    def _run(self) -> None:
        hooks = self._hooks
        context = hooks.context(self._policy) if hooks.context else WasiContext(self._policy)
        try:
            started = time.perf_counter()
            with instantiate(self._runtime, self._compiled, context, imports=hooks.imports) as inst:
                if hooks.instantiated is not None:
                    hooks.instantiated(time.perf_counter() - started)
                inst.exports[self._interface].handle(self.request, self.outparam)
        finally:
            context.close()
            answer = self.outparam.response
            if isinstance(answer, Ok) and isinstance(answer.value, OutgoingResponse):
                body = answer.value.outgoing_body
                if body is not None:
                    body.close()  # a no-op when the guest finished it
