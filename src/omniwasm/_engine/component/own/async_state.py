"""The component-model async state of one instance: tasks, waitables, streams and futures.

These are the state machines of ``CanonicalABI.md`` (WebAssembly/component-model,
``design/mvp/canonical-abi/definitions.py``) for the callback form of async: a task is a
callback-lifted call in flight; subtasks, stream ends and future ends are *waitables* that a
*waitable set* collects events from; everything a guest names by an index lives in the
instance's handle table. Copies between stream/future ends move bytes between linear memories
(or between a memory and the host) without a Python value per element when the element type
has no pointers.

The runtime (``async_canon``) drives these objects on the thread that owns the store; host
coroutines finish on an asyncio loop and post their completions to :attr:`AsyncState.inbox`.
"""

from __future__ import annotations

import dataclasses
import functools
import queue
import threading
from collections.abc import Callable
from enum import IntEnum
from typing import Any

from .abi import AbiTrap, Codec
from .async_buffers import copy_elements

__all__ = [
    "BLOCKED",
    "AsyncState",
    "CopyResult",
    "ErrorContext",
    "EventCode",
    "FutureEnd",
    "SharedFuture",
    "SharedStream",
    "StreamEnd",
    "Subtask",
    "Table",
    "Task",
    "Waitable",
    "WaitableSet",
    "home_of",
    "same_shape",
    "trap_if",
]

BLOCKED = 0xFFFF_FFFF
MAX_TABLE = (1 << 28) - 1


def trap_if(cond: bool, why: str) -> None:
    """Trap (the guest broke an async rule) when ``cond`` holds."""
    if cond:
        raise AbiTrap(why)


class EventCode(IntEnum):
    """What a waitable set reports (``EventCode`` of the spec)."""

    NONE = 0
    SUBTASK = 1
    STREAM_READ = 2
    STREAM_WRITE = 3
    FUTURE_READ = 4
    FUTURE_WRITE = 5
    TASK_CANCELLED = 6


class CopyResult(IntEnum):
    """How a stream or future copy ended."""

    COMPLETED = 0
    DROPPED = 1
    CANCELLED = 2


Event = tuple[int, int, int]


class Table:
    """An instance's handle table: index 0 is never used; freed slots are reused."""

    def __init__(self) -> None:
        self.array: list[Any] = [None]
        self.free: list[int] = []

    def get(self, i: int) -> Any:
        trap_if(not 0 < i < len(self.array) or self.array[i] is None, f"unknown handle {i}")
        return self.array[i]

    def get_as(self, i: int, kind: type | tuple[type, ...], what: str) -> Any:
        item = self.get(i)
        trap_if(not isinstance(item, kind), f"handle {i} is not a {what}")
        return item

    def add(self, item: Any) -> int:
        if self.free:
            i = self.free.pop()
            self.array[i] = item
            return i
        i = len(self.array)
        trap_if(i > MAX_TABLE, "the handle table is full")
        self.array.append(item)
        return i

    def remove(self, i: int) -> Any:
        item = self.get(i)
        self.array[i] = None
        self.free.append(i)
        return item

    def live(self) -> int:
        return len(self.array) - 1 - len(self.free)


_NAMES = frozenset({"name", "resource", "interface"})


@functools.lru_cache(maxsize=256)
def _shape(ty: Any) -> Any:
    """``ty`` without type and resource names.

    The guest's own element types (from its binary) carry no names, the host's (from the
    world) do; resource handles are checked when their values cross.
    """
    if isinstance(ty, tuple):
        return tuple(_shape(v) for v in ty)
    if not dataclasses.is_dataclass(ty):
        return ty
    parts = [_shape(getattr(ty, f.name)) for f in dataclasses.fields(ty) if f.name not in _NAMES]
    return (type(ty).__name__, *parts)


_SAME: dict[tuple[int, int], tuple[Any, Any, bool]] = {}


def same_shape(a: Any, b: Any) -> bool:
    """Whether two element types are the same type but for their names.

    Asked once per stream or future crossing, with the same few type objects: the answer is
    kept by their identities (the objects with it, so the identities stay theirs).
    """
    if a is b:
        return True
    key = (id(a), id(b))
    found = _SAME.get(key)
    if found is not None and found[0] is a and found[1] is b:
        return found[2]
    same = bool(a == b or _shape(a) == _shape(b))
    if len(_SAME) >= 1024:
        _SAME.clear()
    _SAME[key] = (a, b, same)
    return same


# --- waitables ----------------------------------------------------------------------------------


class Waitable:
    """Something a waitable set can wait on; it holds at most one pending event."""

    def __init__(self) -> None:
        self.pending: Callable[[], Event] | None = None
        self.wset: WaitableSet | None = None

    def set_pending(self, make: Callable[[], Event]) -> None:
        self.pending = make

    def has_pending(self) -> bool:
        return self.pending is not None

    def take_pending(self) -> Event:
        make = self.pending
        assert make is not None
        self.pending = None
        return make()

    def join(self, wset: WaitableSet | None) -> None:
        if self.wset is not None:
            self.wset.elems.remove(self)
        self.wset = wset
        if wset is not None:
            wset.elems.append(self)

    def drop(self) -> None:
        self.pending = None
        self.join(None)


class WaitableSet:
    """A set of waitables; ``wait`` takes one pending event (oldest joined first)."""

    def __init__(self) -> None:
        self.elems: list[Waitable] = []
        self.num_waiting = 0

    def has_pending(self) -> bool:
        return any(w.has_pending() for w in self.elems)

    def take_pending(self) -> Event:
        for w in self.elems:
            if w.has_pending():
                return w.take_pending()
        raise AssertionError("no pending event")

    def drop(self) -> None:
        trap_if(bool(self.elems), "waitable-set.drop of a set that still has waitables")
        trap_if(self.num_waiting > 0, "waitable-set.drop of a set a task waits on")


class Subtask(Waitable):
    """A call this instance made through an ``async`` lowered import."""

    STARTING = 0
    STARTED = 1
    RETURNED = 2
    CANCELLED_BEFORE_STARTED = 3
    CANCELLED_BEFORE_RETURNED = 4

    def __init__(self) -> None:
        super().__init__()
        self.state = Subtask.STARTING
        self.index = 0
        self.delivered = False
        self.cancel_requested = False
        self.cancel: Callable[[], object] | None = None
        """Asks the callee to stop (the host's coroutine is cancelled)."""

    def resolved(self) -> bool:
        return self.state >= Subtask.RETURNED

    def drop(self) -> None:
        trap_if(not self.delivered, "subtask.drop of a subtask that has not resolved")
        super().drop()


class ErrorContext:
    """An ``error-context`` value: its debug message."""

    def __init__(self, message: str) -> None:
        self.message = message


# --- tasks --------------------------------------------------------------------------------------


class Task:
    """One call into a lifted function: its context slots, cancel state and result.

    ``callback`` tasks are resumed by the driver with events; a sync task (a synchronous export
    or an async export lifted without callback, which is refused) only provides the context.
    """

    INITIAL = 1
    PENDING_CANCEL = 2
    CANCEL_DELIVERED = 3
    RESOLVED = 4

    def __init__(
        self,
        label: str,
        *,
        is_async_func: bool,
        is_async_lift: bool,
        result_codec: Codec | None = None,
        on_resolve: Callable[[Any], None] | None = None,
    ) -> None:
        self.label = label
        self.is_async_func = is_async_func
        self.is_async_lift = is_async_lift
        self.result_codec = result_codec
        self.on_resolve = on_resolve
        self.state = Task.INITIAL
        self.storage = [0, 0]
        self.code = 0
        """The last callback code: 0 exit, 1 yield, 2 wait."""
        self.wset = 0
        self.exited = False
        self.callback: Any = None
        self.options: Any = None
        self.result: Any = None
        self.result_type: Any = None
        """The function's result type, which ``task.return`` must match."""
        self.inner = False
        """Called by another instance inside the same component (its result crosses there)."""
        self.home: Any = None
        """The component instance it runs in (see ``home_of``)."""

    def may_block(self) -> bool:
        return self.is_async_func or self.state == Task.RESOLVED

    def return_(self, value: Any) -> None:
        trap_if(self.state == Task.RESOLVED, f"{self.label}: task.return called twice")
        self.state = Task.RESOLVED
        self.result = value
        if self.on_resolve is not None:
            self.on_resolve(("ok", value))

    def cancel(self) -> None:
        trap_if(
            self.state != Task.CANCEL_DELIVERED,
            f"{self.label}: task.cancel without a delivered cancellation",
        )
        self.state = Task.RESOLVED
        if self.on_resolve is not None:
            self.on_resolve(("cancelled", None))

    def deliver_pending_cancel(self, cancellable: bool) -> bool:
        if cancellable and self.state == Task.PENDING_CANCEL:
            self.state = Task.CANCEL_DELIVERED
            return True
        return False


def home_of(options: Any) -> Any:
    """Which component instance a lift with these options runs in.

    The instances inside one component share the outer instance's async state; each has its
    own resource handle table, which the lift's options name. None without options.
    """
    table = getattr(options, "table", None)
    return None if table is None else id(table)


# --- streams and futures ------------------------------------------------------------------------


class SharedStream:
    """The shared middle of a stream: at most one side waits with a buffer (spec rendezvous)."""

    def __init__(self, elem: Codec | None, size: int, flat: bool) -> None:
        self.elem = elem
        self.size = size
        self.flat = flat
        """Elements hold no pointers or handles: they copy as bytes."""
        self.dropped = False
        self.pending_owner: Any = None
        self.pending_buffer: Any = None
        self.pending_on_copy: Callable[[Callable[[], None]], None] | None = None
        self.pending_done: Callable[[int], None] | None = None

    def _set(self, owner: Any, buf: Any, on_copy: Any, done: Any) -> None:
        self.pending_owner = owner
        self.pending_buffer = buf
        self.pending_on_copy = on_copy
        self.pending_done = done

    def reset(self) -> None:
        self._set(None, None, None, None)

    def notify(self, result: int) -> None:
        done = self.pending_done
        self.reset()
        assert done is not None
        done(result)

    def cancel(self) -> None:
        self.notify(CopyResult.CANCELLED)

    def drop(self) -> None:
        if not self.dropped:
            self.dropped = True
            if self.pending_buffer is not None:
                self.notify(CopyResult.DROPPED)

    def _check_same(self, owner: Any) -> None:
        trap_if(
            owner is self.pending_owner and owner != "host" and not self.flat,
            "a stream of this element type cannot be copied within one component instance",
        )

    def read(self, owner: Any, dst: Any, on_copy: Any, done: Callable[[int], None]) -> None:
        if self.dropped:
            done(CopyResult.DROPPED)
        elif self.pending_buffer is None:
            self._set(owner, dst, on_copy, done)
        else:
            self._check_same(owner)
            src = self.pending_buffer
            if src.remain() > 0:
                if dst.remain() > 0:
                    copy_elements(dst, src, min(dst.remain(), src.remain()), self.flat)
                    assert self.pending_on_copy is not None
                    self.pending_on_copy(self.reset)
                done(CopyResult.COMPLETED)
            else:
                self.notify(CopyResult.COMPLETED)
                self._set(owner, dst, on_copy, done)

    def write(self, owner: Any, src: Any, on_copy: Any, done: Callable[[int], None]) -> None:
        if self.dropped:
            done(CopyResult.DROPPED)
        elif self.pending_buffer is None:
            self._set(owner, src, on_copy, done)
        else:
            self._check_same(owner)
            dst = self.pending_buffer
            if dst.remain() > 0:
                if src.remain() > 0:
                    copy_elements(dst, src, min(dst.remain(), src.remain()), self.flat)
                    assert self.pending_on_copy is not None
                    self.pending_on_copy(self.reset)
                done(CopyResult.COMPLETED)
            elif src.length == 0 and dst.length == 0:
                done(CopyResult.COMPLETED)
            else:
                self.notify(CopyResult.COMPLETED)
                self._set(owner, src, on_copy, done)


class SharedFuture:
    """The shared middle of a future: one value, written once."""

    def __init__(self, elem: Codec | None, size: int, flat: bool) -> None:
        self.elem = elem
        self.size = size
        self.flat = flat
        self.dropped = False
        self.pending_owner: Any = None
        self.pending_buffer: Any = None
        self.pending_done: Callable[[int], None] | None = None

    def reset(self) -> None:
        self.pending_owner = self.pending_buffer = self.pending_done = None

    def notify(self, result: int) -> None:
        done = self.pending_done
        self.reset()
        assert done is not None
        done(result)

    def cancel(self) -> None:
        self.notify(CopyResult.CANCELLED)

    def drop(self) -> None:
        # The end dropped has no copy in progress (dropping one traps), so a pending copy is
        # the other end's: a waiting read sees the writer go, a waiting write the reader.
        if not self.dropped:
            self.dropped = True
            if self.pending_buffer is not None:
                self.notify(CopyResult.DROPPED)

    def _check_same(self, owner: Any) -> None:
        trap_if(
            owner is self.pending_owner and owner != "host" and not self.flat,
            "a future of this element type cannot be copied within one component instance",
        )

    def read(self, owner: Any, dst: Any, done: Callable[[int], None]) -> None:
        if self.dropped:  # only the host drops a writer that never wrote (a cancelled value)
            done(CopyResult.DROPPED)
        elif self.pending_buffer is None:
            self.pending_owner, self.pending_buffer, self.pending_done = owner, dst, done
        else:
            self._check_same(owner)
            copy_elements(dst, self.pending_buffer, 1, self.flat)
            self.notify(CopyResult.COMPLETED)
            done(CopyResult.COMPLETED)

    def write(self, owner: Any, src: Any, done: Callable[[int], None]) -> None:
        if self.dropped:
            done(CopyResult.DROPPED)
        elif self.pending_buffer is None:
            self.pending_owner, self.pending_buffer, self.pending_done = owner, src, done
        else:
            self._check_same(owner)
            copy_elements(self.pending_buffer, src, 1, self.flat)
            self.notify(CopyResult.COMPLETED)
            done(CopyResult.COMPLETED)


IDLE, SYNC_COPYING, ASYNC_COPYING, CANCELLING, DONE = range(5)


class _End(Waitable):
    """A readable or writable end of a stream or future in a handle table."""

    def __init__(self, shared: Any, *, readable: bool, type_key: Any) -> None:
        super().__init__()
        self.shared = shared
        self.readable = readable
        self.type_key = type_key
        self.copy_state = IDLE

    def copying(self) -> bool:
        return self.copy_state in (SYNC_COPYING, ASYNC_COPYING, CANCELLING)

    def drop(self) -> None:
        trap_if(self.copying(), "dropping a stream or future end while a copy is in progress")
        self.shared.drop()
        super().drop()


class StreamEnd(_End):
    """A stream end."""


class FutureEnd(_End):
    """A future end (the writable end must have written before it is dropped)."""

    def drop(self) -> None:
        trap_if(
            not self.readable and self.copy_state != DONE,
            "dropping a future's writable end before it wrote its value",
        )
        super().drop()


# --- the instance's async state -----------------------------------------------------------------


class AsyncState:
    """Per instance: the handle table, backpressure, the running tasks and the host inbox."""

    def __init__(self) -> None:
        self.table = Table()
        self.backpressure = 0
        self.tasks: list[Task] = []
        """Callback tasks that have not exited, in the order they started."""
        self.current: Task | None = None
        """The task whose core code runs now (None between calls)."""
        self.running: list[Task] = []
        """The tasks with a turn on the stack (innermost last)."""
        self.idle_task = Task("(sync)", is_async_func=False, is_async_lift=False)
        self.inbox: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        """Completions posted by host coroutines, applied on the store's thread."""
        self.host_pending = 0
        """Host coroutines started and not yet posted back."""
        self.waiting_to_enter: list[Callable[[], None]] = []
        self.loop: Any = None
        """The asyncio loop host coroutines run on during the current drive."""
        self.failure: BaseException | None = None
        """A host coroutine's error, raised by the driver on the store's thread."""
        self.signal = threading.Condition()
        """Wakes drivers waiting with the instance released (host posts, task progress)."""
        self.version = 0
        self.drivers = 0
        """Calls driving the instance now (one holds it; the others wait for a signal)."""
        self.host_loop: Any = None
        """The instance's own host loop (:mod:`.async_loop`), made at the first need."""
        self.pumping: Any = None
        """That loop while the store's thread runs it waiting for the host (a kick stops it)."""

    def post(self, item: Callable[[], None]) -> None:
        """Hand a completion to the store's thread (any thread) and wake the drivers."""
        self.inbox.put(item)
        self.kick()

    def kick(self) -> None:
        """Wake drivers waiting with the instance released: something changed."""
        with self.signal:
            self.version += 1
            self.signal.notify_all()
        loop = self.pumping
        if loop is not None:
            loop.call_soon_threadsafe(loop.stop)

    def task(self) -> Task:
        """The current task (a synchronous call's context when no async task runs)."""
        return self.current if self.current is not None else self.idle_task
