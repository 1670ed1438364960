"""The fast path for calling a component export from Python.

``ExportPlan`` is built once per linked component and exported function: the codecs of its
parameters and result and its export index. ``ExportFunc`` binds a plan to one instance: a
preallocated argument and result buffer and the raw address of the wasmtime function. A
call packs arguments in *borrowed* mode (no native allocation), calls
``wasmtime_component_func_call`` through a private prototype whose arguments are plain
integers, reads the result, frees it when it owns native memory, and runs ``post-return``.
Everything happens under the instance's guard, so one store is never entered by two threads.
"""

from __future__ import annotations

import ctypes
from typing import Any

from wasmtime import _ffi as ffi

from ...._errors import ValueConversionError
from ...._wit import types as t
from .handles import wasm_error
from .imports import current_thread
from .val import VAL, Bad, Call, val_delete
from .val_read import is_plain, reader
from .val_write import writer

__all__ = ["ExportFunc", "ExportPlan"]

_vp = ctypes.c_void_p
_sz = ctypes.c_size_t
_func_call = ctypes.CFUNCTYPE(_vp, _vp, _vp, _vp, _sz, _vp, _sz)(
    ("wasmtime_component_func_call", ffi.dll)
)
_post_return = ctypes.CFUNCTYPE(_vp, _vp, _vp)(("wasmtime_component_func_post_return", ffi.dll))
_string_at = ctypes.string_at
_thread = current_thread()
_memset = ctypes.memset


def short(value: Any) -> str:
    """A bounded ``repr`` for error messages."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class ExportPlan:
    """What calling one export needs that is the same for every instance of a linked component.

    Built once per linked component and export (codecs are per link): the signature, the
    codecs of its parameters and result, and the component's export index.

    Args:
        label: the function's qualified name for messages (``iface#name``).
        sig: its WIT signature.
        index: the component-level export index (``wasmtime.component.ExportIndex``).
        hooks: the link's resource hooks (they own the codec caches).

    """

    __slots__ = (
        "buftype",
        "index",
        "index_addr",
        "label",
        "n",
        "names",
        "nres",
        "plain",
        "reader",
        "sig",
        "writers",
    )

    def __init__(self, label: str, sig: t.FuncSig, index: Any, hooks: Any) -> None:
        self.label = label
        self.sig = sig
        self.index = index  # keeps the native index alive for index_addr
        self.index_addr = ctypes.cast(index.ptr(), ctypes.c_void_p).value or 0
        self.names = [name for name, _ in sig.params]
        self.writers = [writer(pty, owned=False, hooks=hooks) for _, pty in sig.params]
        self.n = len(sig.params)
        self.nres = 0 if sig.result is None else 1
        self.reader = None if sig.result is None else reader(sig.result, hooks=hooks)
        self.plain = is_plain(sig.result)
        # arguments, then one result slot: one buffer per bound function
        self.buftype = ctypes.c_char * (VAL * (max(self.n, 1) + 1))


class ExportFunc:
    """One exported component function bound to its instance.

    Args:
        owner: the ComponentInstance (exposes ``box``, ``guard``, ``closed``, ``failure``,
            ``linked``).
        plan: the function's per-link plan.
        fstruct: the instance's ``wasmtime_component_func_t`` for it (kept alive here).

    """

    __slots__ = (
        "_aaddr",
        "_args",
        "_call",
        "_faddr",
        "_fstruct",
        "_n",
        "_names",
        "_nres",
        "_owner",
        "_plain",
        "_raddr",
        "_reader",
        "_roff",
        "_writers",
        "label",
        "sig",
    )

    def __init__(self, owner: Any, plan: ExportPlan, fstruct: Any) -> None:
        self._owner = owner
        self.label = plan.label
        self.sig = plan.sig
        self._fstruct = fstruct
        self._faddr = ctypes.addressof(fstruct)
        self._names = plan.names
        self._writers = plan.writers
        self._n = n = plan.n
        self._args = buf = plan.buftype()
        self._aaddr = ctypes.addressof(buf)
        self._roff = roff = VAL * max(n, 1)
        self._raddr = self._aaddr + roff
        self._nres = plan.nres
        self._reader = plan.reader
        self._plain = plan.plain
        self._call = Call(0, owner.linked.hooks, owner.state)

    def __call__(self, *args: Any) -> Any:
        """Call with Python values; ``result`` types come back as ``Ok``/``Err`` objects."""
        owner = self._owner
        box = owner.box
        if box.closed or owner.poisoned:
            raise owner.unusable(self.label)
        if len(args) != self._n:
            raise ValueConversionError(
                self.label, "*", f"{self._n} argument(s): {self.sig}", f"{len(args)} argument(s)"
            )
        with owner.guard:
            ctx = box.ctx
            call = self._call
            call.ctx = ctx
            buf = self._args
            i = 0
            try:
                for w in self._writers:
                    w(args[i], buf, i * VAL, call)
                    i += 1
            except Bad as exc:
                call.finish()
                raise ValueConversionError(
                    self.label, self._names[i] + exc.path, exc.expected, short(exc.value)
                ) from None
            timed = box.deadline_ticks is not None
            if timed:
                box.enter()
            try:
                return self._run(owner, ctx, call, buf)
            finally:
                if timed:
                    box.leave()  # raises Timeout if the host cut a wait short at the deadline

    def _run(self, owner: Any, ctx: int, call: Call, buf: Any) -> Any:
        """The call itself, its result and ``post-return`` (arguments are written)."""
        local = _thread
        outer = local.state
        local.state = call.state  # the host calls of this call need not look it up
        try:
            err = _func_call(self._faddr, ctx, self._aaddr, self._n, self._raddr, self._nres)
        finally:
            local.state = outer
        if err:
            call.finish()
            raise owner.failure(wasm_error(err))
        r = self._reader
        if self._plain:
            value = None if r is None else r(buf, self._roff, call)
            err = _post_return(self._faddr, ctx)
            call.finish()
        else:
            try:
                value = r(buf, self._roff, call)  # type: ignore[misc]
            finally:
                # wasmtime assigns into the result slot, dropping what it holds: leave
                # a plain `false` there, never the freed value.
                val_delete(self._raddr)
                _memset(self._raddr, 0, VAL)
                err = _post_return(self._faddr, ctx)
                call.finish()
        if err:
            raise owner.failure(wasm_error(err))
        return value
