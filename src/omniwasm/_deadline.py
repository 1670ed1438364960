"""The wall-clock deadline of one store's running call, for host code that waits.

Epoch interruption stops a guest's *WebAssembly* at its timeout, but a guest blocked inside a
host call (sleeping, reading stdin, waiting for an HTTP response) runs no WebAssembly, so the
host itself must stop waiting. Every store owns one :class:`Deadline`. The engine enters it
when a call goes into the store from outside (an export call, an instantiation, a plugin
call) and leaves it when that call returns; calls nested inside host functions keep the outer
call's deadline. Host code waits through it (:meth:`Deadline.sleep`, :meth:`Deadline.wait`):
those return early and raise ``Timeout`` at the deadline, or ``Cancelled`` once
``cancel()`` was called from another thread.

Pure Python (stdlib only): the engine, the WASI hosts and the habitats all use it.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable
from typing import Any, TypeVar

from ._errors import Cancelled, ExecutionError, Timeout

__all__ = ["SLICE", "Deadline", "call_within", "sleep", "watch_overruns"]

T = TypeVar("T")

_monotonic = time.monotonic
_wake_lock = threading.Lock()

SLICE = 0.05
"""Longest single wait (seconds) between looks at a cancellation, in :meth:`Deadline.wait`."""


class Deadline:
    """When the running call of one store must end.

    Args:
        timeout: the policy's seconds per call, or None for no limit (the deadline can still
            be cancelled).

    """

    __slots__ = ("__weakref__", "_wake", "at", "cancelled", "cut", "depth", "timeout")

    def __init__(self, timeout: float | None = None) -> None:
        self.timeout = timeout
        self.at: float | None = None
        """``time.monotonic()`` at which the running call must end (None: no call, no limit)."""
        self.depth = 0
        """Calls into the store now running on its thread (host functions may call back in)."""
        self.cancelled = False
        self.cut = False
        """The host ended something early at the deadline (e.g. closed the guest's stdin): the
        call must end in ``Timeout`` even if the guest then returns normally."""
        self._wake: threading.Event | None = None
        """Set by :meth:`cancel` to end a wait early; made on first use (most stores never
        wait in the host nor are cancelled, and an Event costs as much as the rest here)."""

    def enter(self) -> None:
        """A call enters the store; the outermost one starts the clock."""
        depth = self.depth
        self.depth = depth + 1
        if depth == 0:
            timeout = self.timeout
            self.at = None if timeout is None else _monotonic() + timeout
            if self.cancelled:  # only cancel() sets the event: clear both together
                self.cancelled = False
                self._event().clear()
            self.cut = False
            if _watch is not None:
                _watch.add(self)

    def extend(self) -> None:
        """Another call joins the running one (async calls in flight together in one store).

        The store then runs until the later of the two deadlines: each call gets its whole
        timeout, and a guest past all of them still stops.
        """
        at, timeout = self.at, self.timeout
        if self.depth > 0 and at is not None and timeout is not None:
            self.at = max(at, _monotonic() + timeout)

    def leave(self) -> bool:
        """A call leaves the store; True when the outermost one ends and the host cut it short."""
        self.depth -= 1
        if self.depth > 0:
            return False
        self.depth = 0
        self.at = None
        if _watch is not None:
            _watch.discard(self)
        cut, self.cut = self.cut, False
        return cut

    @property
    def active(self) -> bool:
        """True while a call runs in the store."""
        return self.depth > 0

    def remaining(self) -> float | None:
        """Seconds left for the running call (negative once past), or None without a limit."""
        at = self.at
        return None if at is None else at - time.monotonic()

    def expired(self) -> bool:
        """True once the running call is past its deadline or cancelled."""
        if self.cancelled:
            return True
        at = self.at
        return at is not None and time.monotonic() >= at

    def error(self, where: str = "") -> ExecutionError:
        """The error ending the call: ``Cancelled``, or ``Timeout`` naming ``where`` it waited."""
        if self.cancelled:
            return Cancelled("the call was cancelled by the host")
        detail = f" (blocked in {where})" if where else ""
        return Timeout(f"guest ran past its {self.timeout}s timeout{detail}", limit=self.timeout)

    def check(self, where: str = "") -> None:
        """Raise :meth:`error` if the call is past its deadline or cancelled.

        Raises:
            Timeout: past the deadline.
            Cancelled: ``cancel()`` was called.

        """
        if self.expired():
            raise self.error(where)

    def sleep(self, seconds: float, where: str = "") -> None:
        """Sleep ``seconds``, unless the deadline or a cancellation comes first.

        Raises:
            Timeout: the deadline came first.
            Cancelled: ``cancel()`` was called.

        """
        end = time.monotonic() + max(0.0, seconds)
        while True:
            self.check(where)
            now = time.monotonic()
            if now >= end:
                return
            step = end - now
            at = self.at
            if at is not None:
                step = min(step, max(0.0, at - now))
            self._event().wait(step)

    def wait(self, ready: Callable[[float | None], bool], where: str = "") -> None:
        """Call ``ready(seconds)`` (it waits up to that long, True once ready) until ready.

        Waits last at most :data:`SLICE` each, so a cancellation is seen within one slice; the
        last one ends exactly at the deadline.

        Raises:
            Timeout: the deadline came first.
            Cancelled: ``cancel()`` was called.

        """
        while True:
            self.check(where)
            left = self.remaining()
            if ready(SLICE if left is None else max(0.0, min(SLICE, left))):
                return

    def cancel(self) -> bool:
        """Ask the running call to stop (any thread); False when no call is running."""
        if self.depth <= 0:
            return False
        self.cancelled = True
        self._event().set()
        return True

    def _event(self) -> threading.Event:
        """The wake event, made once even when a waiter and ``cancel`` race to make it."""
        wake = self._wake
        if wake is None:
            with _wake_lock:
                wake = self._wake
                if wake is None:
                    wake = self._wake = threading.Event()
        return wake

    def __repr__(self) -> str:
        left = self.remaining()
        state = "idle" if not self.depth else "no limit" if left is None else f"{left:.3f}s left"
        return f"<Deadline timeout={self.timeout} {state}>"


def sleep(seconds: float, deadline: Deadline | None, where: str = "") -> None:
    """``deadline.sleep(seconds)``, or a plain sleep without a deadline."""
    if deadline is None:
        time.sleep(max(0.0, seconds))
    else:
        deadline.sleep(seconds, where)


def call_within(deadline: Deadline | None, fn: Callable[[], T], where: str) -> T:
    """``fn()`` on a helper thread, waited for no longer than the deadline allows.

    Only for host work that never touches the store (a network request, a file read): at the
    deadline the caller gets ``Timeout`` while the helper runs on to its own end, and its
    result is dropped. Without a running call it is a plain ``fn()``.

    Raises:
        Timeout: the deadline came first (``Cancelled``: the call was cancelled).

    """
    if deadline is None or not deadline.active:
        return fn()
    done = threading.Event()
    outcome: list[Any] = []

    def run() -> None:
        try:
            outcome.append((True, fn()))
        except BaseException as exc:  # handed to the waiting caller
            outcome.append((False, exc))
        finally:
            done.set()

    threading.Thread(target=run, name=f"omniwasm-{where}", daemon=True).start()
    deadline.wait(done.wait, where)
    ok, value = outcome[0]
    if not ok:
        raise value
    return value  # type: ignore[no-any-return]


class _Watch:
    """The calls running in the process, for a backstop that ends the process past a deadline."""

    def __init__(self, on_overrun: Callable[[Deadline], None], grace: float) -> None:
        self.on_overrun = on_overrun
        self.grace = grace
        self.running: weakref.WeakSet[Deadline] = weakref.WeakSet()
        self.lock = threading.Lock()

    def add(self, deadline: Deadline) -> None:
        with self.lock:
            self.running.add(deadline)

    def discard(self, deadline: Deadline) -> None:
        with self.lock:
            self.running.discard(deadline)

    def loop(self) -> None:
        while True:
            time.sleep(SLICE)
            now = time.monotonic()
            with self.lock:
                late = [d for d in self.running if d.at is not None and now > d.at + self.grace]
            for deadline in late:
                self.on_overrun(deadline)


_watch: _Watch | None = None


def watch_overruns(on_overrun: Callable[[Deadline], None], grace: float) -> None:
    """Call ``on_overrun(deadline)`` when any call runs ``grace`` seconds past its deadline.

    For a process that runs one guest and can end itself (the CLI): a last line of defence for
    host waits nothing else can interrupt. Installed once per process; the watcher is a daemon
    thread.
    """
    global _watch  # noqa: PLW0603 - one watcher per process, installed by the CLI
    if _watch is not None:
        return
    _watch = _Watch(on_overrun, grace)
    threading.Thread(target=_watch.loop, name="omniwasm-overrun", daemon=True).start()
