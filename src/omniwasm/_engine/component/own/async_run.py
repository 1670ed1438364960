"""The event loop of component-model async on the own runtime: tasks, host coroutines.

:func:`call_async` calls an export lifted ``async (callback ...)``: its core function returns a
packed code (EXIT / YIELD / WAIT with a waitable set), and :func:`drive` keeps resuming the
instance's tasks with events until the call's ``task.return`` arrives. Host coroutines (the
``async def`` host functions) run on an asyncio loop, the caller's or a private one for
synchronous callers, and post their completions to the instance's inbox, which the store's
thread applies between guest calls. A core call that blocks (``waitable-set.wait``, a
synchronous copy or call) waits only on the host, since the calling task holds the instance:
when nothing the host has in flight could end the wait, it traps as a deadlock.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import inspect
import queue
import threading
import weakref
from asyncio import events
from collections.abc import Callable
from typing import Any

import wasmtime

from ...._errors import ExecutionError, HostFunctionError, OmniwasmError, Trap
from ...._wit import types as t
from .abi import AbiTrap, Cx
from .async_loop import HostLoop
from .async_state import AsyncState, EventCode, Task, WaitableSet, home_of, trap_if
from .rawhost import host_func

__all__ = [
    "acall",
    "apply_inbox",
    "block_until",
    "call_async",
    "cancel_soon",
    "core_func",
    "current_instance",
    "cx_of",
    "drain",
    "drive",
    "host_failure",
    "run_core",
    "schedule",
    "settle",
    "state_of",
    "using_instance",
    "wait_host",
]


def cx_of(inst: Any, opts: Any) -> Cx:
    """The lift/lower context of a call between ``inst`` and the host (with its resources)."""
    return Cx(
        inst.views.view_fn(opts.memory),
        opts.realloc,
        opts.encoding,
        getattr(opts, "table", None),
        getattr(inst, "side", None),
    )


def state_of(inst: Any) -> AsyncState:
    """The async state of an own-runtime instance (made on first use)."""
    st: AsyncState | None = getattr(inst, "async_state", None)
    if st is None:
        st = inst.async_state = AsyncState()
    return st


# --- host coroutines ----------------------------------------------------------------------------

_loop_lock = threading.Lock()
_loops: list[asyncio.AbstractEventLoop] = []


def private_loop() -> asyncio.AbstractEventLoop:
    """The process's loop for host coroutines of synchronous callers (a daemon thread)."""
    with _loop_lock:
        if not _loops:
            loop = asyncio.new_event_loop()
            threading.Thread(
                target=loop.run_forever, name="omniwasm-host-async", daemon=True
            ).start()
            _loops.append(loop)
        return _loops[0]


def host_loop(inst: Any, st: AsyncState) -> HostLoop | None:
    """The instance's own host loop when this thread may run it now (made at first use)."""
    if st.loop is not None:  # an awaiting caller: its loop runs the host coroutines
        return None
    loop: HostLoop | None = st.host_loop
    if loop is None:
        if events._get_running_loop() is not None:
            return None
        loop = st.host_loop = HostLoop()
        closers = getattr(inst, "closers", None)
        if closers is not None:
            closers.append(loop.close)
        weakref.finalize(inst, loop.discard)  # an instance never closed
    return loop if loop.usable() else None


def schedule(st: AsyncState, awaitable: Any, inst: Any = None) -> Any:
    """Run a host coroutine; returns its future (a task, or a concurrent future).

    With ``inst`` and no awaiting caller, the coroutine starts at once on the instance's own
    loop on this thread (:mod:`.async_loop`): the task is already done when it returned
    without suspending. Otherwise it runs on the caller's loop or the process's host loop.
    """
    own = host_loop(inst, st) if inst is not None else None
    if own is not None:
        return own.start(awaitable)
    loop = st.loop if st.loop is not None else private_loop()

    async def run() -> Any:
        return await awaitable

    return asyncio.run_coroutine_threadsafe(run(), loop)


def host_failure(what: str, exc: BaseException) -> BaseException:
    """The error a failed host coroutine ends its guest's call with.

    A coroutine that read a guest's stream ran that guest meanwhile: the guest's own end (an
    exit, a trap, a limit) comes back as it is; anything else is the host's HostFunctionError.
    """
    if isinstance(exc, ExecutionError):
        return exc
    err = HostFunctionError(f"{what} raised {type(exc).__name__}: {exc}")
    err.__cause__ = exc
    return err


def cancel_soon(st: AsyncState, fut: Any) -> None:
    """Cancel a future :func:`schedule` gave, from the store's thread."""
    own: HostLoop | None = st.host_loop
    if isinstance(fut, asyncio.Future) and own is not None and fut.get_loop() is own.loop:
        own.cancel(fut)
    else:
        fut.cancel()


def wait_host(inst: Any, st: AsyncState, seconds: float | None) -> bool:
    """Wait up to ``seconds`` for host completions and apply them; True when any was.

    When the instance's own loop has work, this thread runs it meanwhile.
    """
    own: HostLoop | None = st.host_loop
    if own is not None and st.inbox.empty() and own.usable():
        own.run(seconds, st)
        return apply_inbox(st)
    return apply_inbox(st, seconds)


def settle(inst: Any, value: Any, label: str, result: Any = None) -> Any:
    """``value``, or what it resolves to when a host function gave an awaitable.

    A synchronous call of an ``async def`` host function blocks the store's thread until its
    coroutine finishes (at once when it does not suspend; bounded by the deadline). A function
    whose ``result`` type is a ``future`` returns its awaitable as is: it becomes the future's
    value.
    """
    if not inspect.isawaitable(value) or isinstance(result, t.FutureType):
        return value
    st = state_of(inst)
    fut = schedule(st, value, inst)
    if fut.done():
        return fut.result()
    own: HostLoop | None = st.host_loop if isinstance(fut, asyncio.Future) else None

    def ready(seconds: float | None) -> bool:
        if own is not None and own.usable():
            return own.run_until(fut, seconds, st)
        try:
            fut.result(timeout=seconds)
        except (concurrent.futures.TimeoutError, asyncio.InvalidStateError):
            return bool(fut.done())
        except BaseException:  # fut.result() below raises it
            return True
        return True

    try:
        inst.box.deadline.wait(ready, label)
    except BaseException:
        cancel_soon(st, fut)
        raise
    return fut.result()


# --- the driver ---------------------------------------------------------------------------------


def apply_inbox(st: AsyncState, block: float | None = None) -> bool:
    """Apply host completions; wait up to ``block`` seconds for the first one."""
    applied = False
    try:
        if block is not None:
            item = st.inbox.get(timeout=block) if block > 0 else st.inbox.get_nowait()
            item()
            applied = True
        while True:
            st.inbox.get_nowait()()
            applied = True
    except Exception as exc:
        if not isinstance(exc, queue.Empty):
            raise
    return applied


def block_until(inst: Any, cond: Callable[[], bool], what: str) -> None:
    """Wait inside a core call until ``cond()``.

    The calling task holds its component instance: only the host, and tasks of the other
    instances inside this component (callees of async calls between them), can make progress.
    """
    st = state_of(inst)
    apply_inbox(st)
    while not cond():
        if _step(inst, st):
            continue
        if st.host_pending == 0 and st.inbox.empty():
            raise AbiTrap(f"deadlock: {what} waits for something nothing can ever deliver")
        inst.box.deadline.wait(lambda s: wait_host(inst, st, s) or cond(), what)


def run_core(st: AsyncState, task: Task, fn: Any, *args: Any) -> None:
    """Run ``task``'s entry or callback ``fn`` (one turn) and take the code it returns."""
    outer = st.current
    st.current = task
    st.running.append(task)
    try:
        packed = fn(*args)
    finally:
        st.current = outer
        st.running.pop()
    _handle_code(st, task, int(packed) & 0xFFFFFFFF)


_run_core = run_core


def _handle_code(st: AsyncState, task: Task, packed: int) -> None:
    code = packed & 0xF
    trap_if(code > 2, f"{task.label}: the callback returned unknown code {code}")
    if code == 0:
        task.exited = True
        if task in st.tasks:
            st.tasks.remove(task)
        trap_if(task.state != Task.RESOLVED, f"{task.label}: exited without task.return")
        return
    task.code = code
    task.wset = packed >> 4
    if task not in st.tasks:
        st.tasks.append(task)


def _step(inst: Any, st: AsyncState) -> bool:
    """Resume every task that can take an event once; True when any ran."""
    ran = False
    held = {task.home for task in st.running}  # instances with a turn on the stack
    for task in list(st.tasks):
        if task.exited or task in st.running or task.home in held:
            continue
        if task.state == Task.PENDING_CANCEL:
            task.state = Task.CANCEL_DELIVERED
            event: tuple[int, int, int] = (EventCode.TASK_CANCELLED, 0, 0)
        elif task.code == 1:
            event = (EventCode.NONE, 0, 0)
        else:
            wset = st.table.get_as(task.wset, WaitableSet, "waitable set")
            if not wset.has_pending():
                continue
            event = wset.take_pending()
        _run_core(st, task, task.callback, *event)
        ran = True
        apply_inbox(st)
    return ran


_current = threading.local()


class using_instance:  # noqa: N801  (a context manager, used like a function)
    """Name the instance whose handle table this thread's stream/future values use."""

    def __init__(self, inst: Any) -> None:
        self.inst = inst
        self.prev: Any = None

    def __enter__(self) -> None:
        self.prev = getattr(_current, "inst", None)
        _current.inst = self.inst

    def __exit__(self, *exc: object) -> None:
        _current.inst = self.prev


def current_instance() -> Any:
    """The instance of the async call running on this thread.

    Raises:
        AbiTrap: none (a synchronous call moving a stream or future).

    """
    inst = getattr(_current, "inst", None)
    if inst is None:
        raise AbiTrap("stream and future values cross only in async calls on this backend")
    return inst


def drive(inst: Any, until: Callable[[], bool], what: str) -> None:
    """Run the instance's tasks and host completions until ``until()`` holds.

    Several calls may drive one instance at once (async exports awaited together): the one
    holding the instance's lock advances every task; the others wait for a signal with the
    lock released, so a new call can start meanwhile.
    """
    st = state_of(inst)
    st.drivers += 1
    try:
        with using_instance(inst):
            _drive(inst, until, what)
    finally:
        st.drivers -= 1
        st.kick()


def _drive(inst: Any, until: Callable[[], bool], what: str) -> None:
    st = state_of(inst)
    while True:
        apply_inbox(st)
        _raise_failure(st)
        if until():
            return
        if _step(inst, st):
            st.kick()
            continue
        _raise_failure(st)
        if until():
            return
        if st.host_pending == 0 and st.inbox.empty() and st.drivers <= 1:
            raise AbiTrap(f"deadlock: {what} cannot finish (every task waits, the host has none)")
        _wait_released(inst, st, what)


_SHARE = 0.005
"""Seconds a call driving beside others runs the host loop before letting them in."""


def _wait_released(inst: Any, st: AsyncState, what: str) -> None:
    """Wait for host completions or other calls' progress, letting other calls in meanwhile.

    The instance's lock is released only when this thread holds it once: deeper, a wasm frame
    of this thread may be running, and the store must stay this thread's.
    """
    guard = inst.guard
    seen = st.version
    if st.host_loop is not None and st.host_loop.usable():
        # the instance's own loop runs on the thread that holds the instance: keep it, run
        # the loop until a completion, and let other callers in between the slices
        def pumped(seconds: float | None) -> bool:
            shared = st.drivers > 1
            wait_host(inst, st, min(seconds, _SHARE) if shared and seconds else seconds)
            if shared and st.version == seen and st.inbox.empty():
                saved = guard._release_save()
                try:
                    if saved[0] == 1:
                        with st.signal:
                            if st.version == seen:
                                st.signal.wait(_SHARE)
                finally:
                    guard._acquire_restore(saved)
            return st.version != seen or not st.inbox.empty()

        inst.box.deadline.wait(pumped, what)
        return
    saved = guard._release_save()
    if saved[0] != 1:
        guard._acquire_restore(saved)
        inst.box.deadline.wait(lambda s: wait_host(inst, st, s), what)
        return

    def ready(seconds: float | None) -> bool:
        with st.signal:
            if st.version == seen and st.inbox.empty():
                st.signal.wait(seconds)
            return st.version != seen or not st.inbox.empty()

    try:
        inst.box.deadline.wait(ready, what)
    finally:
        guard._acquire_restore(saved)


def drain(inst: Any) -> None:
    """Run the instance until the host work its calls started (host futures) has finished."""
    st: AsyncState | None = getattr(inst, "async_state", None)
    if st is None:
        return
    with inst.guard:
        box = inst.box
        box.enter()
        try:
            inst.run(lambda: drive(inst, lambda: st.host_pending == 0, "host work"))
        finally:
            box.leave()


def _raise_failure(st: AsyncState) -> None:
    failure = st.failure
    if failure is not None:
        st.failure = None
        raise failure


def call_async(export: Any, values: list[Any]) -> Any:
    """Call an async-lifted export with Python values; returns its ``task.return`` value."""
    owner = export._owner
    lifted = export._lifted  # an async_canon.AsyncLifted
    st = state_of(owner)
    sig = export.sig
    outcome: list[tuple[str, Any]] = []
    task = Task(
        export.label,
        is_async_func=bool(getattr(lifted.func, "is_async", False)),
        is_async_lift=True,
        on_resolve=outcome.append,
    )
    task.callback = lifted.callback
    task.options = lifted.options
    task.result_type = lifted.func.result  # static, as task.return's type is
    task.home = home_of(lifted.options)
    task.result_codec = None if sig.result is None else export._result
    box = getattr(_calls, "box", None)
    if box is not None:  # acall wants the task, to cancel it
        box.append(task)
    if st.backpressure > 0:
        drive(owner, lambda: st.backpressure == 0, f"{export.label} (backpressure)")
    with using_instance(owner):
        return _start(export, st, task, outcome, values)


def _start(
    export: Any, st: AsyncState, task: Task, outcome: list[tuple[str, Any]], values: list[Any]
) -> Any:
    owner = export._owner
    lifted = export._lifted
    cx = cx_of(owner, lifted.options)
    flat: list[Any] = []
    if export._pcodec is not None:
        ptr = cx.alloc(export._pcodec.align, export._pcodec.size)
        export._pcodec.store(cx, tuple(values), ptr)
        flat.append(ptr)
    else:
        for (_, cd), v in zip(export._params, values, strict=True):
            cd.lower(cx, v, flat)
    _run_core(st, task, lifted.core, *flat)
    drive(owner, lambda: bool(outcome), export.label)
    kind, value = outcome[0]
    if kind == "cancelled":
        raise OmniwasmError(f"{export.label}: the task was cancelled")
    return value


_calls = threading.local()


async def acall(export: Any, *args: Any) -> Any:
    """Await an async export: the guest runs on a worker thread, host coroutines on this loop.

    Cancelling the awaiting coroutine requests the task's cancellation: the guest sees
    TASK_CANCELLED at its next wait and ends with ``task.cancel`` (or returns anyway); the
    CancelledError is raised once it has.
    """
    loop = asyncio.get_running_loop()
    owner = export._owner
    st = state_of(owner)
    tasks: list[Task] = []

    def run() -> Any:
        _calls.box = tasks
        st.loop = loop
        try:
            return export(*args)
        finally:
            st.loop = None
            _calls.box = None

    fut = loop.run_in_executor(None, run)
    try:
        return await asyncio.shield(fut)
    except asyncio.CancelledError:
        for task in tasks:
            if task.state == Task.INITIAL:
                task.state = Task.PENDING_CANCEL
        st.post(_nothing)  # wakes a driver waiting on the host
        with contextlib.suppress(Exception):
            await fut
        raise


def _nothing() -> None:
    return None


# --- core functions -----------------------------------------------------------------------------


def core_func(
    inst: Any, params: list[str], results: list[str], fn: Callable[..., Any], label: str
) -> wasmtime.Func:
    """A core function wasm calls: ``fn(live instance, *args)``, traps and errors parked."""
    owner = weakref.ref(inst)
    state = inst.state

    def callback(*args: Any) -> Any:
        try:
            live = owner()
            if live is None:
                raise OmniwasmError(f"{label}: the instance is gone")
            return fn(live, *args)
        except AbiTrap as exc:
            err = Trap(f"wasm trap: {label}: {exc}", code="abi")
            state.park(err, label)
            raise err from None
        except BaseException as exc:
            state.park(exc, label)
            raise

    return host_func(inst.box.store, params, results, callback)
