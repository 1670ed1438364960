"""The fast path for calling a component export from Python.

``ExportFunc`` is built once per exported function: the codecs of its parameters and result,
a preallocated argument and result buffer, and the raw address of the wasmtime function. A
call packs arguments in *borrowed* mode (no native allocation), calls
``wasmtime_component_func_call`` through a private prototype whose arguments are plain
integers, reads the result, frees it when it owns native memory, and runs ``post-return``.
Everything happens under the instance's guard, so one store is never entered by two threads.
"""

from __future__ import annotations

import ctypes
from typing import Any

from wasmtime import _ffi as ffi
from wasmtime import component as wc

from .. import _types as t
from .._errors import ValueConversionError
from ._chost import wasm_error
from ._codec import writer
from ._cval import VAL, Bad, Call, val_delete
from ._lift import is_plain, reader

__all__ = ["ExportFunc"]

_vp = ctypes.c_void_p
_sz = ctypes.c_size_t
_func_call = ctypes.CFUNCTYPE(_vp, _vp, _vp, _vp, _sz, _vp, _sz)(
    ("wasmtime_component_func_call", ffi.dll)
)
_post_return = ctypes.CFUNCTYPE(_vp, _vp, _vp)(("wasmtime_component_func_post_return", ffi.dll))
_set_deadline = ctypes.CFUNCTYPE(None, _vp, ctypes.c_uint64)(
    ("wasmtime_context_set_epoch_deadline", ffi.dll)
)
_string_at = ctypes.string_at
_memset = ctypes.memset


def short(value: Any) -> str:
    """A bounded ``repr`` for error messages."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class ExportFunc:
    """One exported component function bound to its instance.

    Args:
        owner: the ComponentInstance (exposes ``box``, ``guard``, ``closed``, ``failure``,
            ``linked``).
        label: the function's qualified name for messages (``iface#name``).
        sig: its WIT signature.
        func: the wasmtime function.

    """

    __slots__ = (
        "_aaddr",
        "_args",
        "_call",
        "_faddr",
        "_fstruct",
        "_func",
        "_n",
        "_names",
        "_nres",
        "_owner",
        "_plain",
        "_raddr",
        "_reader",
        "_res",
        "_writers",
        "label",
        "sig",
    )

    def __init__(self, owner: Any, label: str, sig: t.FuncSig, func: wc.Func) -> None:
        hooks = owner.linked.hooks
        self._owner = owner
        self.label = label
        self.sig = sig
        self._func = func
        self._fstruct = func._func
        self._faddr = ctypes.addressof(self._fstruct)
        self._names = [name for name, _ in sig.params]
        self._writers = [writer(pty, owned=False, hooks=hooks) for _, pty in sig.params]
        self._n = len(sig.params)
        self._args = ctypes.create_string_buffer(VAL * max(self._n, 1))
        self._aaddr = ctypes.addressof(self._args)
        self._res = ctypes.create_string_buffer(VAL)
        self._raddr = ctypes.addressof(self._res)
        self._nres = 0 if sig.result is None else 1
        self._reader = None if sig.result is None else reader(sig.result, hooks=hooks)
        self._plain = is_plain(sig.result)
        self._call = Call(0, hooks)

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
            if box.deadline_ticks is not None:
                _set_deadline(ctx, box.deadline_ticks)
            err = _func_call(self._faddr, ctx, self._aaddr, self._n, self._raddr, self._nres)
            if err:
                call.finish()
                raise owner.failure(wasm_error(err))
            r = self._reader
            if self._plain:
                value = None if r is None else r(self._res, 0, call)
                err = _post_return(self._faddr, ctx)
                call.finish()
            else:
                try:
                    value = r(self._res, 0, call)  # type: ignore[misc]
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
