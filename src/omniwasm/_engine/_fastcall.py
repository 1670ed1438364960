"""The fast path for calling a core export from Python.

wasmtime-py's ``Func.__call__`` re-reads the function type and rebuilds ctypes values on every
call (~24 µs here). ``FastFunc`` resolves the signature once, keeps one preallocated
``wasmtime_val_raw_t`` buffer, packs arguments with a precompiled ``struct.Struct`` and calls
``wasmtime_func_call_unchecked`` through a private ctypes prototype whose arguments are plain
integers (no per-call ctypes conversions). The buffer and the raw store/func addresses belong to
the owning store: every call checks the owner is open, so a closed instance raises a clean
error instead of touching freed memory.
"""

from __future__ import annotations

import ctypes
import struct
from typing import Any

import wasmtime
from wasmtime import _ffi as ffi

from .._errors import OmniwasmError, ValueConversionError

__all__ = ["FastFunc", "signature_of"]

_SLOT = ctypes.sizeof(ffi.wasmtime_val_raw)  # 16 bytes: the union includes v128
_CODES = {"i32": "i", "i64": "q", "f32": "f", "f64": "d"}
_RANGES = {"i32": (-(1 << 31), (1 << 32) - 1), "i64": (-(1 << 63), (1 << 64) - 1)}

_PROTO = ctypes.CFUNCTYPE(
    ctypes.c_void_p,
    ctypes.c_void_p,
    ctypes.c_void_p,
    ctypes.c_void_p,
    ctypes.c_size_t,
    ctypes.c_void_p,
)
_call_unchecked = _PROTO(("wasmtime_func_call_unchecked", ffi.dll))


def signature_of(func: wasmtime.Func, store: wasmtime.Store) -> tuple[list[str], list[str]]:
    """Return the parameter and result type names (``i32``, ``f64``, ...) of a core function."""
    ty = func.type(store)
    return [str(t) for t in ty.params], [str(t) for t in ty.results]


def _layout(types: list[str]) -> struct.Struct:
    fmt = "<" + "".join(f"{_CODES[t]}{_SLOT - struct.calcsize(_CODES[t])}x" for t in types)
    return struct.Struct(fmt)


class FastFunc:
    """A core export bound to its instance, callable with Python numbers at FFI speed.

    Only numeric signatures (``i32``, ``i64``, ``f32``, ``f64``) take the fast path; any other
    signature falls back to wasmtime-py's generic call with the same error translation.

    Args:
        owner: the object that owns the store (must expose ``closed``, ``box``, ``guard``).
        name: the export's name, for messages.
        func: the wasmtime function.

    """

    __slots__ = (
        "_args",
        "_buf",
        "_buf_addr",
        "_ctx",
        "_func",
        "_func_addr",
        "_func_struct",
        "_nargs",
        "_owner",
        "_results",
        "_slots",
        "_trap",
        "_trap_addr",
        "name",
        "params",
        "results",
    )

    def __init__(self, owner: Any, name: str, func: wasmtime.Func) -> None:
        store = owner.box.store
        self._owner = owner
        self.name = name
        self._func = func
        # The signature and its struct layouts are the same for every instance of a module:
        # computed once per artifact (plugins resolve the same functions on every instance).
        key = ("fastcall-signature", name)
        prepared = owner.artifact.prepared
        sig = prepared.get(key)
        if sig is None:
            params, results = signature_of(func, store)
            fast = all(t in _CODES for t in (*params, *results))
            sig = prepared[key] = (
                params,
                results,
                _layout(params) if fast else None,
                _layout(results) if fast else None,
            )
        self.params, self.results, self._args, self._results = sig
        self._nargs = len(self.params)
        self._slots = max(len(self.params), len(self.results), 1)
        self._buf = (ffi.wasmtime_val_raw * self._slots)()
        self._buf_addr = ctypes.addressof(self._buf)
        self._func_struct = func._func  # kept alive by self._func
        self._func_addr = ctypes.addressof(self._func_struct)
        self._ctx = owner.box.ctx
        self._trap = ctypes.c_void_p()
        self._trap_addr = ctypes.addressof(self._trap)

    @property
    def signature(self) -> str:
        """The function's type as WebAssembly text writes it, e.g. ``(i32, i32) -> i32``."""
        return f"({', '.join(self.params)}) -> ({', '.join(self.results)})"

    def __call__(self, *args: Any) -> Any:
        """Call the export; returns None, one value, or a tuple for several results."""
        owner = self._owner
        if owner.closed:
            raise OmniwasmError(f"{self.name}: the instance is closed")
        if len(args) != self._nargs:
            raise ValueConversionError(
                self.name,
                "*",
                f"{self._nargs} argument(s) {self.signature}",
                f"{len(args)} argument(s)",
            )
        packer = self._args
        if packer is None:
            return owner.call_slow(self.name, self._func, args)
        try:
            packer.pack_into(self._buf, 0, *args)
        except struct.error:
            self._pack_checked(args)
        with owner.guard:
            box = owner.box
            timed = box.deadline_ticks is not None
            if timed:
                box.enter()
            try:
                error = _call_unchecked(
                    self._ctx, self._func_addr, self._buf_addr, self._slots, self._trap_addr
                )
                if error or self._trap.value:
                    raise owner.failure(self._take_failure(error))
                out = self._results.unpack_from(self._buf, 0)
            finally:
                if timed:
                    box.leave()  # raises Timeout if the host cut a wait short at the deadline
        if len(out) == 1:
            return out[0]
        return out or None

    def _pack_checked(self, args: tuple[Any, ...]) -> None:
        """Pack with range checks; unsigned i32/i64 values are reinterpreted as signed."""
        fixed: list[int | float] = []
        for i, (value, ty) in enumerate(zip(args, self.params, strict=True)):
            if ty in _RANGES:
                lo, hi = _RANGES[ty]
                if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
                    raise ValueConversionError(self.name, str(i), ty, repr(value))
                bits = 32 if ty == "i32" else 64
                fixed.append(value - (1 << bits) if value >= 1 << (bits - 1) else value)
                continue
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueConversionError(self.name, str(i), ty, repr(value))
            fixed.append(value)
        self._args.pack_into(self._buf, 0, *fixed)

    def _take_failure(self, error: int | None) -> BaseException:
        """Wrap the raw error or trap pointer left by a failed call as a wasmtime exception."""
        if error:
            return wasmtime.WasmtimeError._from_ptr(
                ctypes.cast(error, ctypes.POINTER(ffi.wasmtime_error_t))
            )
        trap_ptr = self._trap.value or 0
        self._trap.value = None
        return wasmtime.Trap._from_ptr(ctypes.cast(trap_ptr, ctypes.POINTER(ffi.wasm_trap_t)))
