"""Async calls between two component instances inside one component (own runtime).

- :func:`call_fused` runs a **synchronous** call (a plain ``canon lower``) into another inner
  instance's export lifted ``async (callback ...)``: the callee runs as a task, driven until
  its ``task.return``, while the caller's core frame waits (sync calls into async functions);
- :class:`GuestCall` is an ``async``-lowered import whose target another inner instance
  lifted: a synchronous callee runs to its end and the call returns RETURNED; an async one
  starts a task, and returns RETURNED when it returned in its first turn, else STARTED and a
  subtask whose SUBTASK event the callee's ``task.return`` posts (async calls into sync and
  async functions). ``subtask.cancel`` delivers TASK_CANCELLED to the callee at once.

The values cross as in synchronous calls between inner instances (``_fused_call``): lifted
from one side's memory, lowered into the other's, handles through the inner tables. Every inner
instance shares the outer instance's async state (one handle table, one backpressure count);
while a turn is on the stack (a synchronous call or wait inside it), no task of its
instance (told apart by handle table, :func:`.async_state.home_of`) is resumed, those of the others
are; a synchronously lifted caller has no turn, so its instance's async tasks are not held.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import wasmtime

from ...._errors import OmniwasmError
from ...._wit import types as t
from .abi import AbiTrap, async_lower_layout, flatten_func, lower_params, params_codec
from .async_run import core_func, drive, run_core, state_of, using_instance
from .async_state import EventCode, Subtask, Task, home_of, trap_if

__all__ = ["GuestCall", "call_fused"]


def _sig(func: Any) -> t.FuncSig:
    return t.FuncSig("", func.params, func.result)


def _start(
    inst: Any, callee: Any, args: list[Any], label: str, on_resolve: Callable[[Any], None]
) -> Task:
    """Lower ``args`` into ``callee`` and run its first turn as a new task."""
    sig = _sig(callee.func)
    task = Task(label, is_async_func=True, is_async_lift=True, on_resolve=on_resolve)
    task.callback = callee.callback
    task.options = callee.options
    task.result_type = callee.func.result
    task.inner = True
    task.home = home_of(callee.options)
    cx = inst.cx(callee.options, inner=True)
    try:
        flat = lower_params(cx, sig, args, flatten_func(sig, lower=False)[2])
    finally:
        cx.finish()
    run_core(state_of(inst), task, callee.core, *flat)
    return task


def call_fused(inst: Any, callee: Any, args: list[Any], label: str) -> Any:
    """A synchronous call into an async export of another instance inside this component."""
    if inst is None:
        raise OmniwasmError("the instance is gone")
    outcome: list[tuple[str, Any]] = []
    caller = state_of(inst).task()
    with using_instance(inst):
        _start(inst, callee, args, label, outcome.append)
        # the may-block rule: only a caller that may block waits for a callee still running
        trap_if(
            not outcome and not caller.may_block(),
            f"{label}: a synchronous task cannot block before it returns",
        )
        drive(inst, lambda: bool(outcome), label)
    kind, value = outcome[0]
    if kind == "cancelled":
        raise AbiTrap(f"{label}: the callee cancelled a synchronous call")
    return value


class GuestCall:
    """An ``async``-lowered import whose target is a function another inner instance lifted."""

    def __init__(
        self, inst: Any, target: Any, opts: Any, label: str, sync_call: Callable[..., Any]
    ) -> None:
        sig = _sig(target.func)
        self.target = target
        self.sync_call = sync_call
        """``(inst, callee, sig, args) -> value``: a synchronous call between inner instances."""
        self.sig = sig
        self.opts = opts
        self.label = label
        self.pcodecs, self.spill, self.params, self.rcodec = async_lower_layout(sig)
        self.func = core_func(inst, self.params, ["i32"], self, label)

    def __call__(self, live: Any, *core: Any) -> int:
        with using_instance(live):
            cx = live.cx(self.opts, inner=True)
            try:
                if self.spill:
                    args = list(params_codec(self.sig).load(cx, core[0]))
                else:
                    it = iter(core)
                    args = [cd.lift(cx, it) for cd in self.pcodecs]
            finally:
                cx.finish()
            retptr = core[-1] if self.rcodec is not None else 0
            if not hasattr(self.target, "callback"):  # a synchronous callee: run to its end
                self._store(live, self.sync_call(live, self.target, self.sig, args), retptr)
                return Subtask.RETURNED
            return self._start_async(live, args, retptr)

    def _store(self, live: Any, value: Any, retptr: int) -> None:
        if self.rcodec is None:
            return
        cx = live.cx(self.opts, inner=True)
        try:
            self.rcodec.store(cx, value, retptr)
        finally:
            cx.finish()

    def _start_async(self, live: Any, args: list[Any], retptr: int) -> int:
        st = state_of(live)
        box: dict[str, Any] = {}

        def resolved(outcome: tuple[str, Any]) -> None:
            box["outcome"] = outcome
            sub: Subtask | None = box.get("sub")
            if sub is None:  # still in the first turn: the call answers RETURNED
                return
            kind, value = outcome
            if kind == "ok":
                self._store(live, value, retptr)
                sub.state = Subtask.RETURNED
            else:
                sub.state = Subtask.CANCELLED_BEFORE_RETURNED
            i = sub.index

            def event() -> tuple[int, int, int]:
                sub.delivered = True
                return (EventCode.SUBTASK, i, sub.state)

            sub.set_pending(event)

        task = _start(live, self.target, args, self.label, resolved)
        outcome = box.get("outcome")
        if outcome is not None:
            if outcome[0] != "ok":
                raise AbiTrap(f"{self.label}: cancelled before it was asked to")
            self._store(live, outcome[1], retptr)
            return Subtask.RETURNED
        sub = Subtask()
        sub.state = Subtask.STARTED
        sub.index = st.table.add(sub)
        box["sub"] = sub

        def cancel() -> None:  # subtask.cancel: the callee sees TASK_CANCELLED now
            if task.state == Task.INITIAL and not task.exited:
                task.state = Task.CANCEL_DELIVERED
                run_core(st, task, task.callback, EventCode.TASK_CANCELLED, 0, 0)

        sub.cancel = cancel
        return Subtask.STARTED | (sub.index << 4)


def lower_to_guest(
    inst: Any, target: Any, opts: Any, label: str, sync_call: Callable[..., Any]
) -> wasmtime.Func:
    """``canon lower async`` of a function another inner instance lifted."""
    return GuestCall(inst, target, opts, label, sync_call).func
