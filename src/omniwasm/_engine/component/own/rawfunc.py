"""Raw core calls for the own runtime: a core function called through wasmtime's unchecked C API.

:class:`RawFunc` calls a core export with its arguments packed into one ``wasmtime_val_raw``
buffer by a precompiled :mod:`struct` layout and its results unpacked the same way, skipping
wasmtime-py's per-call type checks and value boxing; the canonical ABI's lifted functions,
``realloc`` and ``post-return`` are called this way (and :mod:`.rawhost` the other way).
"""

from __future__ import annotations

import ctypes
import struct
from typing import Any

import wasmtime
from wasmtime import _ffi as ffi

from .plan import Unsupported

_SLOT = ctypes.sizeof(ffi.wasmtime_val_raw)
_RAW_CODES = {"i32": "I", "i64": "Q", "f32": "f", "f64": "d"}
_MASKS = {"i32": 0xFFFFFFFF, "i64": 0xFFFFFFFFFFFFFFFF}
_call_unchecked = ctypes.CFUNCTYPE(
    ctypes.c_void_p,
    ctypes.c_void_p,
    ctypes.c_void_p,
    ctypes.c_void_p,
    ctypes.c_size_t,
    ctypes.c_void_p,
)(("wasmtime_func_call_unchecked", ffi.dll))


def _raw_layout(types: list[str]) -> struct.Struct:
    return struct.Struct(
        "<" + "".join(f"{_RAW_CODES[t]}{_SLOT - struct.calcsize(_RAW_CODES[t])}x" for t in types)
    )


class RawFunc:
    """A core function called through ``wasmtime_func_call_unchecked`` (about 1 µs).

    The signature comes from wasmtime's own type of the function (validated code), so the
    unchecked call cannot be given a wrong layout; arguments are masked to their width.
    """

    __slots__ = (
        "_buf",
        "_buf_addr",
        "_ctx",
        "_func",
        "_func_addr",
        "_in",
        "_keep",
        "_masks",
        "_n",
        "_out",
        "_slots",
        "_trap",
        "_trap_addr",
        "sig",
    )

    def __init__(
        self,
        func: wasmtime.Func,
        store: wasmtime.Store,
        ctx: int,
        sig: tuple[list[str], list[str]] | None = None,
    ) -> None:
        if sig is None:
            ty = func.type(store)
            sig = [str(p) for p in ty.params], [str(r) for r in ty.results]
        params, results = sig
        if any(p not in _RAW_CODES for p in (*params, *results)):
            raise Unsupported("core functions with reference or vector types")
        self.sig = sig
        self._func = func
        self._in = _raw_layout(params)
        self._out = _raw_layout(results)
        self._masks = [_MASKS.get(p) for p in params]
        self._n = len(results)
        self._slots = max(len(params), len(results), 1)
        self._buf = (ffi.wasmtime_val_raw * self._slots)()
        self._buf_addr = ctypes.addressof(self._buf)
        self._func_addr = ctypes.addressof(func._func)
        self._ctx = ctx
        self._trap = ctypes.c_void_p()
        self._trap_addr = ctypes.addressof(self._trap)

    def __call__(self, *args: Any) -> Any:
        """Call; returns None or the single result (masked unsigned for integers)."""
        self._in.pack_into(
            self._buf,
            0,
            *[a if m is None else a & m for a, m in zip(args, self._masks, strict=True)],
        )
        error = _call_unchecked(
            self._ctx, self._func_addr, self._buf_addr, self._slots, self._trap_addr
        )
        if error:
            raise wasmtime.WasmtimeError._from_ptr(
                ctypes.cast(error, ctypes.POINTER(ffi.wasmtime_error_t))
            )
        trap = self._trap.value
        if trap:
            self._trap.value = None
            raise wasmtime.Trap._from_ptr(ctypes.cast(trap, ctypes.POINTER(ffi.wasm_trap_t)))
        if self._n == 0:
            return None
        return self._out.unpack_from(self._buf, 0)[0]
