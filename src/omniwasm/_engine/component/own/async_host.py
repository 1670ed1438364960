"""``canon lower async`` of Python host functions on the own runtime.

A plain ``def`` answers at once (RETURNED, its result stored at the guest's return pointer);
an ``async def`` starts a subtask: its coroutine runs on the host loop, and its completion,
applied on the store's thread, stores the result and posts the SUBTASK event. A coroutine that
raises ends the export call with :class:`HostFunctionError`; ``subtask.cancel`` cancels it.
"""

from __future__ import annotations

import inspect
import weakref
from typing import Any

import wasmtime

from ...._errors import OmniwasmError
from ...._wit import types as t
from ...._wit.convert import from_python
from ...._wit.values import Err, Ok
from .abi import async_lower_layout, params_codec
from .async_run import (
    cancel_soon,
    core_func,
    cx_of,
    host_failure,
    schedule,
    state_of,
    using_instance,
)
from .async_state import EventCode, Subtask

__all__ = ["lower_async"]


def lower_async(inst: Any, target: Any, opts: Any, label: str) -> wasmtime.Func:
    """``canon lower async`` of a Python host function (``def`` or ``async def``)."""
    if not hasattr(target, "fn"):  # not a Python function: another inner instance lifted it
        from .async_fused import lower_to_guest
        from .lowered import _fused_call

        return lower_to_guest(inst, target, opts, label, _fused_call)
    call = _HostCall(inst, target, opts, label)
    return core_func(inst, call.params, ["i32"], call, label)


class _HostCall:
    """An async-lowered host function: lift the arguments, call, return or start a subtask."""

    def __init__(self, inst: Any, target: Any, opts: Any, label: str) -> None:
        from ..stock.imports import current_thread

        sig: t.FuncSig = target.sig
        self.sig = sig
        self.fn = target.fn
        self.opts = opts
        self.label = label
        self.pcodecs, self.spill, self.params, self.rcodec = async_lower_layout(sig)
        self.is_result = isinstance(sig.result, t.ResultType)
        self.local = current_thread()
        self.ctx = inst.box.ctx

    def convert(self, out: Any) -> Any:
        if self.rcodec is None or self.sig.result is None:
            return None
        if self.is_result and not isinstance(out, Ok | Err):
            out = Ok(out)
        return from_python(out, self.sig.result, function=self.label, param="result")

    def __call__(self, live: Any, *core: Any) -> int:
        with using_instance(live):
            return self._call(live, *core)

    def _call(self, live: Any, *core: Any) -> int:
        cx = cx_of(live, self.opts)
        if self.spill:
            args = list(params_codec(self.sig).load(cx, core[0]))
        else:
            it = iter(core)
            args = [cd.lift(cx, it) for cd in self.pcodecs]
        retptr = core[-1] if self.rcodec is not None else 0
        local = self.local
        outer, local.ctx = local.ctx, self.ctx
        fut: Any = None
        try:
            out = self.fn(*args)
            if inspect.isawaitable(out):  # its eager first step sees host_data() too
                st = state_of(live)
                fut = schedule(st, out, live)
        except Err as err:
            if not self.is_result:
                raise
            out = err
        finally:
            local.ctx = outer
        if fut is not None:
            if not fut.done():  # the borrows lent to the call end with its subtask
                return self.start(live, st, fut, retptr, cx)
            # finished without suspending (its first step ran here): no subtask at all
            exc = None if fut.cancelled() else fut.exception()
            if fut.cancelled() or (
                exc is not None and not (self.is_result and isinstance(exc, Err))
            ):
                raise exc if exc is not None else OmniwasmError(f"{self.label} was cancelled")
            out = exc if exc is not None else fut.result()
        if self.rcodec is not None:
            self.rcodec.store(cx, self.convert(out), retptr)
        cx.finish()  # the call's borrows end here
        return Subtask.RETURNED

    def start(self, live: Any, st: Any, fut: Any, retptr: int, cx: Any) -> int:
        sub = Subtask()
        sub.state = Subtask.STARTED
        i: int = st.table.add(sub)
        sub.index = i
        st.host_pending += 1
        sub.cancel = lambda: cancel_soon(st, fut)
        owner = weakref.ref(live)
        fut.add_done_callback(lambda f: st.post(lambda: self.finish(owner, sub, f, retptr, cx)))
        return Subtask.STARTED | (i << 4)

    def finish(self, owner: Any, sub: Subtask, fut: Any, retptr: int, lent: Any) -> None:
        """Runs on the store's thread: store the result, mark the subtask, post its event."""
        live = owner()
        if live is None:
            return
        st = state_of(live)
        st.host_pending -= 1
        if fut.cancelled():
            sub.state = Subtask.CANCELLED_BEFORE_RETURNED
        else:
            exc = fut.exception()
            if exc is not None and not (isinstance(exc, Err) and self.is_result):
                st.failure = host_failure(f"host function {self.label}", exc)
                return
            value = exc if exc is not None else fut.result()
            if self.rcodec is not None:
                lent.dirty()  # guest code ran since: the memory may have moved
                with using_instance(live):
                    self.rcodec.store(lent, self.convert(value), retptr)
            sub.state = Subtask.RETURNED
        lent.finish()  # the borrows lent to the call end with it
        i = sub.index

        def event() -> tuple[int, int, int]:
            sub.delivered = True
            return (EventCode.SUBTASK, i, sub.state)

        sub.set_pending(event)
