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

from ..._errors import OmniwasmError, ValueConversionError
from .types import PYTHON_VALUES, interface_of

__all__ = ["FastFunc"]

_SLOT = ctypes.sizeof(ffi.wasmtime_val_raw)  # 16 bytes: the union includes v128
_CODES = {"i32": "i", "i64": "q", "f32": "f", "f64": "d", "v128": "16s"}
_RANGES = {
    "i32": (-(1 << 31), (1 << 32) - 1),
    "i64": (-(1 << 63), (1 << 64) - 1),
    "v128": (-(1 << 127), (1 << 128) - 1),
}

_PROTO = ctypes.CFUNCTYPE(
    ctypes.c_void_p,
    ctypes.c_void_p,
    ctypes.c_void_p,
    ctypes.c_void_p,
    ctypes.c_size_t,
    ctypes.c_void_p,
)
_call_unchecked = _PROTO(("wasmtime_func_call_unchecked", ffi.dll))


def _layout(types: tuple[str, ...]) -> struct.Struct:
    fmt = "<" + "".join(
        _CODES[t] + (f"{_SLOT - struct.calcsize(_CODES[t])}x" if t != "v128" else "") for t in types
    )
    return struct.Struct(fmt)


def _v128_in(value: Any) -> bytes:
    """A v128 argument: an int (two's complement, little-endian lanes) or 16 bytes."""
    if isinstance(value, bytes | bytearray) and len(value) == 16:
        return bytes(value)
    lo, hi = _RANGES["v128"]
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise TypeError(value)
    return (value % (1 << 128)).to_bytes(16, "little")


def _prepare(artifact: Any, name: str) -> tuple[Any, ...]:
    """A function's signature, its struct layouts, and what the call path must special-case."""
    found = interface_of(artifact).func_exports.get(name)
    if found is None:
        raise OmniwasmError(f"no exported function {name!r}")
    params, results = found
    fast = all(t in _CODES for t in (*params, *results))
    typed = [*((str(i), t) for i, t in enumerate(params)), *(("result", t) for t in results)]
    # Without the fast path, wasmtime-py converts the values, and it aborts the process on any
    # type it does not know (v128 included), so such a signature is refused before the call.
    unsupported = None
    if not fast:
        unsupported = next(((where, t) for where, t in typed if t not in PYTHON_VALUES), None)
    return (
        params,
        results,
        _layout(params) if fast else None,
        _layout(results) if fast else None,
        "v128" in params or "v128" in results,
        unsupported,
    )


class FastFunc:
    """A core export bound to its instance, callable with Python numbers at FFI speed.

    Numeric signatures (``i32``, ``i64``, ``f32``, ``f64``, ``v128``) take the fast path; a
    ``v128`` is a Python int (its 16 bytes little-endian, returned unsigned) or 16 bytes.
    Signatures of numbers and ``funcref``/``externref`` fall back to wasmtime-py's generic call
    with the same error translation. Any other signature (``anyref``, typed references, or
    ``v128`` beside a reference) has no Python conversion: calling such a function raises
    ``ValueConversionError`` before it runs.

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
        "_unsupported",
        "_v128",
        "name",
        "params",
        "results",
    )

    def __init__(self, owner: Any, name: str, func: wasmtime.Func) -> None:
        self._owner = owner
        self.name = name
        self._func = func
        # The signature and its struct layouts are the same for every instance of a module:
        # computed once per artifact (plugins resolve the same functions on every instance).
        key = ("fastcall-signature", name)
        prepared = owner.artifact.prepared
        sig = prepared.get(key)
        if sig is None:
            sig = prepared[key] = _prepare(owner.artifact, name)
        self.params, self.results, self._args, self._results, self._v128, self._unsupported = sig
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
            if self._unsupported is not None:
                where, ty = self._unsupported
                raise ValueConversionError(
                    self.name, where, f"{ty} (no Python value converts to it)", "a Python value"
                )
            return owner.call_slow(self.name, self._func, args)
        try:
            if self._v128:
                raise struct.error  # v128 arguments are converted on the checked path
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
        if self._v128:
            out = tuple(
                int.from_bytes(v, "little") if t == "v128" else v
                for v, t in zip(out, self.results, strict=True)
            )
        if len(out) == 1:
            return out[0]
        return out or None

    def _pack_checked(self, args: tuple[Any, ...]) -> None:
        """Pack with range checks; unsigned i32/i64 values are reinterpreted as signed."""
        fixed: list[int | float | bytes] = []
        for i, (value, ty) in enumerate(zip(args, self.params, strict=True)):
            if ty == "v128":
                try:
                    fixed.append(_v128_in(value))
                except TypeError:
                    raise ValueConversionError(self.name, str(i), ty, repr(value)) from None
                continue
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
