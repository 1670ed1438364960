"""Component-model async on omniwasm's own runtime: the canon built-ins.

What ``CanonicalABI.md`` specifies for *callback* async, over wasmtime's core API:

- an export lifted ``async (callback ...)`` is an :class:`AsyncLifted`; calling it runs a task
  (``async_run``) until the guest's ``task.return``;
- an import lowered ``async`` (``async_host``) returns RETURNED at once for a plain Python
  host function, and STARTED plus a subtask handle for an ``async def`` one;
- every other built-in (``task.*``, ``waitable-set.*``, ``waitable.join``, ``subtask.*``,
  ``stream.*``, ``future.*``, ``context.*``, ``backpressure.*``, ``thread.yield``,
  ``error-context.*``) is a core function made here.

A core call can block (a synchronous ``waitable-set.wait``, stream copy or call of an
``async def`` host function) only on the host: the calling task holds the instance, so
nothing else in it can run meanwhile; when nothing the host has in flight could end the wait,
the call traps as a deadlock (wasmtime's CLI waits forever there). Stackful async (an
``async`` lift without ``callback``) and the ``thread.*`` built-ins beyond ``thread.yield``
need a suspendable wasm stack, which wasmtime's core API cannot give: such components are
refused, by the validating engine (``async_load``) or by :func:`async_refusal`.
"""

from __future__ import annotations

import functools
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import wasmtime

from ...._wit import types as t
from .abi import MAX_FLAT_PARAMS, AbiTrap, Codec, Cx, codec
from .async_buffers import GuestBuffer
from .async_run import (
    acall,
    apply_inbox,
    block_until,
    call_async,
    core_func,
    cx_of,
    settle,
    state_of,
)
from .async_state import (
    ASYNC_COPYING,
    BLOCKED,
    CANCELLING,
    DONE,
    IDLE,
    SYNC_COPYING,
    CopyResult,
    ErrorContext,
    EventCode,
    FutureEnd,
    SharedFuture,
    SharedStream,
    StreamEnd,
    Subtask,
    Task,
    Waitable,
    WaitableSet,
    same_shape,
    trap_if,
)
from .async_values import FutureReader, StreamReader

__all__ = [
    "ASYNC_OPS",
    "AsyncLifted",
    "FutureReader",
    "StreamReader",
    "acall",
    "async_refusal",
    "builtin",
    "call_async",
    "settle",
    "state_of",
]


ASYNC_OPS = frozenset(
    {
        "task.return",
        "task.cancel",
        "context.get",
        "context.set",
        "backpressure.set",
        "backpressure.inc",
        "backpressure.dec",
        "thread.yield",
        "subtask.drop",
        "subtask.cancel",
        "waitable-set.new",
        "waitable-set.wait",
        "waitable-set.poll",
        "waitable-set.drop",
        "waitable.join",
        "error-context.new",
        "error-context.debug-message",
        "error-context.drop",
    }
    | {f"stream.{op}" for op in ("new", "read", "write", "cancel-read", "cancel-write")}
    | {f"stream.drop-{end}" for end in ("readable", "writable")}
    | {f"future.{op}" for op in ("new", "read", "write", "cancel-read", "cancel-write")}
    | {f"future.drop-{end}" for end in ("readable", "writable")}
)

_NUMBERS = (t.IntType, t.F32Type, t.F64Type)
_VAL = {
    "i32": wasmtime.ValType.i32(),
    "i64": wasmtime.ValType.i64(),
    "f32": wasmtime.ValType.f32(),
    "f64": wasmtime.ValType.f64(),
}


def async_refusal(d: Any) -> str:
    """Why a canon definition cannot run here ("" when it can)."""
    op = d.op
    if op == "lift" and d.options.is_async and d.options.callback is None:
        return (
            "it lifts an async export without a callback (stackful async needs a "
            "suspendable wasm stack, which wasmtime's core API does not offer)"
        )
    if op.startswith("thread.") and op != "thread.yield":
        return f"it uses canon {op} (threads need stackful async, not supported)"
    if op in ("stream.forward", "future.forward", "resource.drop async"):
        return f"it uses canon {op} (not supported yet)"
    return ""


@dataclass(eq=False)
class AsyncLifted:
    """An export lifted ``async`` with a callback: the core entry, callback, type and options."""

    core: Any
    callback: Any
    func: Any
    options: Any


_STATIC: weakref.WeakKeyDictionary[Any, dict[int, Any]] = weakref.WeakKeyDictionary()
"""What each built-in needs of the static types, per plan and definition (after the first
instance, the runner skips the static type walk)."""


@dataclass(frozen=True)
class _CopyType:
    """A stream or future type: its element's descriptor, codec, size, and copy mode."""

    elem: t.WitType | None
    codec: Codec | None
    size: int
    flat: bool


def _copy_type(elem: Any) -> _CopyType:
    if elem is None:
        return _CopyType(None, None, 0, True)
    try:
        cd = codec(elem)
    except TypeError:
        raise AbiTrap(f"stream or future of an unsupported element type ({elem})") from None
    return _CopyType(elem, cd, cd.size, isinstance(elem, _NUMBERS))


def builtin(runner: Any, d: Any, frame: Any) -> wasmtime.Func:
    """The core function of an async canon built-in ``d`` (see the module docstring)."""
    cache = _STATIC.setdefault(runner.plan, {})
    if id(d) in cache and runner.plan.static_done:
        static = cache[id(d)]
    else:
        static = cache[id(d)] = _static(d, frame)
    op = d.op
    b = _Builder(runner, d, frame, static)
    if op == "task.return":
        return b.task_return()
    if op == "task.cancel":
        return b.func([], [], _task_cancel)
    if op in ("context.get", "context.set"):
        return b.context()
    if op.startswith("backpressure."):
        return b.backpressure()
    if op == "thread.yield":
        cancellable = d.flag

        def thread_yield(live: Any) -> int:
            st = state_of(live)
            apply_inbox(st)
            return int(st.task().deliver_pending_cancel(cancellable))

        return b.func([], ["i32"], thread_yield)
    if op in ("waitable-set.wait", "waitable-set.poll"):
        return b.wait_or_poll()
    if op == "subtask.cancel":
        return b.func(["i32"], ["i32"], functools.partial(_subtask_cancel, d.flag))
    simple = _SIMPLE.get(op)
    if simple is not None:
        params, results, fn = simple
        return b.func(params, results, fn)
    if op.startswith("error-context."):
        return b.error_context()
    kind, elem = static
    ct = _copy_type(elem)
    if op.endswith(".new"):
        return b.func([], ["i64"], functools.partial(_new_pair, kind, ct))
    if op.endswith((".read", ".write")):
        return b.copy(kind, ct)
    if ".cancel-" in op:
        return b.cancel_copy(kind, ct)
    end = StreamEnd if kind == "stream" else FutureEnd
    return b.func(["i32"], [], functools.partial(_drop_end, (op, end, ct, op.endswith("readable"))))


def _task_cancel(live: Any) -> None:
    task = state_of(live).task()
    trap_if(not task.is_async_lift, "task.cancel outside an async task")
    task.cancel()


def _wset_drop(live: Any, i: int) -> None:
    st = state_of(live)
    st.table.get_as(i, WaitableSet, "waitable set")
    st.table.remove(i).drop()


def _join(live: Any, wi: int, si: int) -> None:
    st = state_of(live)
    w = st.table.get_as(wi, Waitable, "waitable")
    w.join(None if si == 0 else st.table.get_as(si, WaitableSet, "waitable set"))


def _subtask_drop(live: Any, i: int) -> None:
    st = state_of(live)
    st.table.get_as(i, Subtask, "subtask")
    st.table.remove(i).drop()


def _subtask_cancel(is_async: bool, live: Any, i: int) -> int:
    st = state_of(live)
    trap_if(
        not st.task().may_block() and not is_async, "subtask.cancel in a task that may not block"
    )
    sub = st.table.get_as(i, Subtask, "subtask")
    trap_if(sub.delivered, "subtask.cancel of a subtask whose result was delivered")
    trap_if(sub.cancel_requested, "subtask.cancel twice")
    if not sub.resolved():
        sub.cancel_requested = True
        if sub.cancel is not None:
            sub.cancel()
        apply_inbox(st)
        if not sub.resolved():
            if is_async:
                return BLOCKED
            block_until(live, sub.resolved, "subtask.cancel")
    return int(sub.take_pending()[2])


def _error_drop(live: Any, i: int) -> None:
    st = state_of(live)
    st.table.get_as(i, ErrorContext, "error-context")
    st.table.remove(i)


_SIMPLE: dict[str, tuple[list[str], list[str], Callable[..., Any]]] = {
    "waitable-set.new": ([], ["i32"], lambda live: state_of(live).table.add(WaitableSet())),
    "waitable-set.drop": (["i32"], [], _wset_drop),
    "waitable.join": (["i32", "i32"], [], _join),
    "subtask.drop": (["i32"], [], _subtask_drop),
    "error-context.drop": (["i32"], [], _error_drop),
}


def _new_pair(kind: str, ct: _CopyType, live: Any) -> int:
    st = state_of(live)
    is_stream = kind == "stream"
    shared = (SharedStream if is_stream else SharedFuture)(ct.codec, ct.size, ct.flat)
    end = StreamEnd if is_stream else FutureEnd
    ri = st.table.add(end(shared, readable=True, type_key=ct.elem))
    wi = st.table.add(end(shared, readable=False, type_key=ct.elem))
    return ri | (wi << 32)


_Where = tuple[str, type, _CopyType, bool]
"""A copy built-in: its name, end class, stream/future type, and which end it takes."""


def _end_of(where: _Where, live: Any, i: int) -> Any:
    op, end, ct, readable = where
    e = state_of(live).table.get_as(i, end, f"{op.split('.', 1)[0]} end")
    trap_if(e.readable != readable, f"{op}: handle {i} is the wrong end")
    trap_if(not same_shape(e.type_key, ct.elem), f"{op}: handle {i} is of another element type")
    return e


def _drop_end(where: _Where, live: Any, i: int) -> None:
    _end_of(where, live, i)
    state_of(live).table.remove(i).drop()


_EVENTS = {
    ("stream", True): EventCode.STREAM_READ,
    ("stream", False): EventCode.STREAM_WRITE,
    ("future", True): EventCode.FUTURE_READ,
    ("future", False): EventCode.FUTURE_WRITE,
}


class _Builder:
    """Makes the core function of one built-in definition in one instance."""

    def __init__(self, runner: Any, d: Any, frame: Any, static: Any) -> None:
        self.runner = runner
        self.inst = runner.inst
        self.d = d
        self.frame = frame
        self.static = static
        self.label = f"canon {d.op}"

    def func(self, params: list[str], results: list[str], fn: Callable[..., Any]) -> wasmtime.Func:
        return core_func(self.inst, params, results, fn, self.label)

    def opts(self) -> Any:
        return self.runner.options(self.d, self.frame)

    def cx_for(self) -> Callable[[], Cx]:
        inst, opts = self.inst, self.opts()
        return lambda: cx_of(inst, opts)

    def task_return(self) -> wasmtime.Func:
        raw, rty = self.static  # the static type (compared), and as the world names it
        rcodec = None if rty is None else codec(rty)
        flat = [] if rcodec is None else list(rcodec.flat)
        spill = len(flat) > MAX_FLAT_PARAMS
        opts = self.opts()

        def task_return(live: Any, *args: Any) -> None:
            task = state_of(live).current
            trap_if(task is None or not task.is_async_lift, "task.return outside an async task")
            assert task is not None
            trap_if(task.state == Task.RESOLVED, f"{task.label}: task.return called twice")
            trap_if(
                task.result_type != raw,
                f"{task.label}: task.return's type is not the function's result type",
            )
            trap_if(
                task.options is not None and task.options.memory is not opts.memory,
                f"{task.label}: task.return's options differ from the lift's",
            )
            cx = live.cx(opts, inner=True) if task.inner else cx_of(live, opts)
            lift = task.result_codec if task.result_codec is not None else rcodec
            if lift is None:
                value = None
            elif spill:
                value = lift.load(cx, args[0])
            else:
                value = lift.lift(cx, iter(args))
            task.return_(value)

        return self.func(["i32"] if spill else flat, [], task_return)

    def context(self) -> wasmtime.Func:
        slot = self.d.index or 0
        trap_if(slot > 1, f"context slot {slot} does not exist")
        if self.d.op == "context.get":
            return self.func([], ["i32"], lambda live: state_of(live).task().storage[slot])

        def context_set(live: Any, v: int) -> None:
            state_of(live).task().storage[slot] = v

        return self.func(["i32"], [], context_set)

    def backpressure(self) -> wasmtime.Func:
        op = self.d.op
        if op == "backpressure.set":

            def set_(live: Any, v: int) -> None:
                state_of(live).backpressure = int(bool(v))

            return self.func(["i32"], [], set_)
        step = 1 if op == "backpressure.inc" else -1

        def change(live: Any) -> None:
            st = state_of(live)
            trap_if(not 0 <= st.backpressure + step < 1 << 16, f"{op}: out of range")
            st.backpressure += step

        return self.func([], [], change)

    def wait_or_poll(self) -> wasmtime.Func:
        op = self.d.op
        view = self.inst.views.view_fn(self.frame.get("core memory", self.d.index or 0))
        cancellable = self.d.flag
        wait = op == "waitable-set.wait"

        def wait_or_poll(live: Any, si: int, ptr: int) -> int:
            st = state_of(live)
            task = st.task()
            trap_if(wait and not task.may_block(), f"{op} in a task that may not block")
            wset = st.table.get_as(si, WaitableSet, "waitable set")
            if task.deliver_pending_cancel(cancellable):
                event: tuple[int, int, int] = (EventCode.TASK_CANCELLED, 0, 0)
            elif wait:
                wset.num_waiting += 1
                try:
                    block_until(live, wset.has_pending, op)
                finally:
                    wset.num_waiting -= 1
                event = wset.take_pending()
            else:
                apply_inbox(st)
                event = wset.take_pending() if wset.has_pending() else (EventCode.NONE, 0, 0)
            mem = view()
            trap_if(bool(ptr & 3) or ptr + 8 > len(mem), f"{op}: bad event pointer {ptr:#x}")
            mem[ptr : ptr + 4] = (event[1] & 0xFFFFFFFF).to_bytes(4, "little")
            mem[ptr + 4 : ptr + 8] = (event[2] & 0xFFFFFFFF).to_bytes(4, "little")
            return int(event[0])

        return self.func(["i32", "i32"], ["i32"], wait_or_poll)

    def error_context(self) -> wasmtime.Func:
        string = codec(t.String)
        cx_for = self.cx_for()
        if self.d.op == "error-context.new":

            def new(live: Any, ptr: int, n: int) -> int:
                msg = string.from_pair(cx_for(), ptr, n)  # type: ignore[attr-defined]
                return state_of(live).table.add(ErrorContext(msg))

            return self.func(["i32", "i32"], ["i32"], new)

        def debug(live: Any, i: int, ptr: int) -> None:
            err = state_of(live).table.get_as(i, ErrorContext, "error-context")
            string.store(cx_for(), err.message, ptr)

        return self.func(["i32", "i32"], [], debug)

    def copy(self, kind: str, ct: _CopyType) -> wasmtime.Func:
        op = self.d.op
        readable = op.endswith(".read")
        is_stream = kind == "stream"
        is_async = self.d.options.is_async
        code = _EVENTS[(kind, readable)]
        end = StreamEnd if is_stream else FutureEnd
        cx_for = self.cx_for()

        def copy(live: Any, i: int, ptr: int, n: int = 1) -> int:
            st = state_of(live)
            trap_if(not st.task().may_block() and not is_async, f"{op}: a sync copy here")
            e = _end_of((op, end, ct, readable), live, i)
            trap_if(e.copy_state != IDLE, f"{op}: a copy is already in progress")
            buf = GuestBuffer(cx_for(), ct.codec, ct.size, ptr, n)

            def event(result: int, reclaim: Callable[[], None]) -> tuple[int, int, int]:
                reclaim()
                if is_stream:
                    e.copy_state = DONE if result == CopyResult.DROPPED else IDLE
                    return (code, i, result | (buf.progress << 4))
                done = result in (CopyResult.DROPPED, CopyResult.COMPLETED)
                e.copy_state = DONE if done else IDLE
                return (code, i, result)

            def on_copy(reclaim: Callable[[], None]) -> None:
                e.set_pending(lambda: event(CopyResult.COMPLETED, reclaim))

            def on_done(result: int) -> None:
                e.set_pending(lambda: event(result, _nothing))

            if is_stream:
                getattr(e.shared, "read" if readable else "write")(st, buf, on_copy, on_done)
            else:
                getattr(e.shared, "read" if readable else "write")(st, buf, on_done)
            if not e.has_pending():
                if is_async:
                    e.copy_state = ASYNC_COPYING
                    return BLOCKED
                e.copy_state = SYNC_COPYING
                block_until(live, e.has_pending, op)
            return int(e.take_pending()[2])

        return self.func(["i32", "i32", "i32"] if is_stream else ["i32", "i32"], ["i32"], copy)

    def cancel_copy(self, kind: str, ct: _CopyType) -> wasmtime.Func:
        op = self.d.op
        readable = op.endswith("-read")
        is_async = self.d.flag
        end = StreamEnd if kind == "stream" else FutureEnd

        def cancel(live: Any, i: int) -> int:
            st = state_of(live)
            trap_if(not st.task().may_block() and not is_async, f"{op}: may not block here")
            e = _end_of((op, end, ct, readable), live, i)
            trap_if(e.copy_state != ASYNC_COPYING, f"{op}: no async copy in progress")
            e.copy_state = CANCELLING
            if not e.has_pending():
                e.shared.cancel()
                if not e.has_pending():
                    if is_async:
                        return BLOCKED
                    block_until(live, e.has_pending, op)
            return int(e.take_pending()[2])

        return self.func(["i32"], ["i32"], cancel)


def _with_handles(ty: Any) -> Any:
    """A static type with its streams and futures as WIT descriptors (the world's form)."""
    from ...._binary.component_types import Unsupported as Word

    if isinstance(ty, Word) and ty.word in ("stream", "future"):
        elem = None if ty.elem is None else _with_handles(ty.elem)
        return t.StreamType(elem) if ty.word == "stream" else t.FutureType(elem)
    if isinstance(ty, t.ListType):
        return t.ListType(_with_handles(ty.elem))
    if isinstance(ty, t.OptionType):
        return t.OptionType(_with_handles(ty.inner))
    if isinstance(ty, t.TupleType):
        return t.TupleType(tuple(_with_handles(x) for x in ty.items))
    if isinstance(ty, t.ResultType):
        return t.ResultType(
            None if ty.ok is None else _with_handles(ty.ok),
            None if ty.err is None else _with_handles(ty.err),
        )
    if isinstance(ty, t.RecordType):
        return t.RecordType(ty.name, tuple((n, _with_handles(x)) for n, x in ty.fields))
    if isinstance(ty, t.VariantType):
        return t.VariantType(
            ty.name, tuple((n, None if x is None else _with_handles(x)) for n, x in ty.cases)
        )
    return ty


def _static(d: Any, frame: Any) -> Any:
    """What a built-in needs from the static types (first instance only; then cached)."""
    from ...._binary.component_types import Unsupported as Word

    if d.op == "task.return":
        if d.result is None:
            return (None, None)
        raw = frame.static.val(d.result)
        return (raw, _with_handles(raw))
    if d.op.startswith(("stream.", "future.")):
        ent = frame.static.get("type", d.index or 0)
        if not isinstance(ent, Word) or ent.word not in ("stream", "future"):
            raise AbiTrap(f"canon {d.op}: type {d.index} is not a stream or future type")
        return (ent.word, None if ent.elem is None else _with_handles(ent.elem))
    return ()


def _nothing() -> None:
    return None
