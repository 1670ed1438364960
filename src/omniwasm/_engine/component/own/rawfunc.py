"""Raw core calls for the own runtime: a core function called through wasmtime's unchecked C API.

:class:`RawFunc` calls a core export with its arguments packed into one ``wasmtime_val_raw``
buffer by a precompiled :mod:`struct` layout and its results unpacked the same way, skipping
wasmtime-py's per-call type checks and value boxing; the canonical ABI's lifted functions,
``realloc`` and ``post-return`` are called this way (and :mod:`.rawhost` the other way).
"""

from __future__ import annotations

import ctypes
import functools
import struct
from operator import and_ as _and
from typing import Any

import wasmtime
from wasmtime import _ffi as ffi

from .plan import Unsupported

_SLOT = ctypes.sizeof(ffi.wasmtime_val_raw)
_RAW_CODES = {"i32": "I", "i64": "Q", "f32": "f", "f64": "d"}
_MASKS = {"i32": 0xFFFFFFFF, "i64": 0xFFFFFFFFFFFFFFFF}
# Its own function object (wasmtime-py's has argtypes): called with ctypes values made once per
# RawFunc, so no argument is converted per call; it releases the GIL while wasm runs.
_call_unchecked = type(ffi.dll)(ffi.dll._name, handle=ffi.dll._handle).wasmtime_func_call_unchecked
_call_unchecked.restype = ctypes.c_void_p


def _raw_layout(types: list[str], tail: str = "") -> struct.Struct:
    return struct.Struct(
        "<"
        + "".join(f"{_RAW_CODES[t]}{_SLOT - struct.calcsize(_RAW_CODES[t])}x" for t in types)
        + tail
    )


def raise_failure(error: int | None, trap: int) -> None:
    """Raise what a failed unchecked call reported (a ``wasmtime_error_t`` or a trap)."""
    if error:
        raise wasmtime.WasmtimeError._from_ptr(
            ctypes.cast(error, ctypes.POINTER(ffi.wasmtime_error_t))
        )
    raise wasmtime.Trap._from_ptr(ctypes.cast(trap, ctypes.POINTER(ffi.wasm_trap_t)))


class RawFunc:
    """A core function called through ``wasmtime_func_call_unchecked`` (under 1 µs).

    The signature comes from wasmtime's own type of the function (validated code), so the
    unchecked call cannot be given a wrong layout; integer arguments are masked to their
    width. One buffer holds the argument/result slots and, after them, the slot wasmtime
    writes a trap pointer into, so one ``unpack_from`` reads the result and the trap.
    """

    __slots__ = (
        "_args",
        "_buf",
        "_func",
        "_in",
        "_ints",
        "_masks",
        "_out",
        "_zero",
        "call",
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
        slots = max(len(params), len(results), 1)
        self._buf = (ffi.wasmtime_val_raw * (slots + 1))()  # the last slot: the trap pointer
        buf_addr = ctypes.addressof(self._buf)
        trap_at = slots * _SLOT
        self._in = _raw_layout(params)
        # results (at most one is read) and the trap pointer, in one layout
        self._out = _raw_layout(results[:1], f"{trap_at - _SLOT * len(results[:1])}xQ")
        self._zero = struct.Struct(f"<{trap_at}xQ")
        self._masks = [_MASKS.get(p) for p in params]
        self._ints = all(m is not None for m in self._masks)
        self._args = (
            ctypes.c_void_p(ctx),
            ctypes.c_void_p(ctypes.addressof(func._func)),
            ctypes.c_void_p(buf_addr),
            ctypes.c_size_t(slots),
            ctypes.c_void_p(buf_addr + trap_at),
        )
        self.call = functools.partial(_call_unchecked, *self._args)
        """Call with the arguments already packed (returns the error pointer or None)."""
        if self._ints and len(params) in _BY_ARITY:  # the common shapes: no per-call loop
            self.__class__ = _BY_ARITY[len(params)]

    def __call__(self, *args: Any) -> Any:
        """Call; returns None or the single result (masked unsigned for integers)."""
        buf = self._buf
        if self._ints:
            self._in.pack_into(buf, 0, *map(_and, args, self._masks))
        else:
            self._in.pack_into(
                buf, 0, *[a if m is None else a & m for a, m in zip(args, self._masks, strict=True)]
            )
        return _finish(self, self.call())

    def fail(self, error: int | None, trap: int) -> None:
        """Raise what a failed call reported (``call``'s return value, the trap slot)."""
        if trap:
            self._zero.pack_into(self._buf, 0, 0)
        raise_failure(error, trap)


class _Raw0(RawFunc):
    __slots__ = ()

    def __call__(self, *args: Any) -> Any:
        """Call with no arguments (the same contract as :meth:`RawFunc.__call__`)."""
        if args:
            raise TypeError(f"a core function of no parameters got {len(args)} argument(s)")
        return _finish(self, self.call())


class _Raw1(RawFunc):
    __slots__ = ()

    def __call__(self, *args: Any) -> Any:
        """Call with one integer argument."""
        (a,) = args
        self._in.pack_into(self._buf, 0, a & self._masks[0])
        return _finish(self, self.call())


class _Raw2(RawFunc):
    __slots__ = ()

    def __call__(self, *args: Any) -> Any:
        """Call with two integer arguments."""
        a, b = args
        m = self._masks
        self._in.pack_into(self._buf, 0, a & m[0], b & m[1])
        return _finish(self, self.call())


class _Raw4(RawFunc):
    __slots__ = ()

    def __call__(self, *args: Any) -> Any:
        """Call with four integer arguments (``realloc``)."""
        a, b, c, d = args
        m = self._masks
        self._in.pack_into(self._buf, 0, a & m[0], b & m[1], c & m[2], d & m[3])
        return _finish(self, self.call())


def _finish(raw: RawFunc, error: int | None) -> Any:
    buf = raw._buf
    out = raw._out.unpack_from(buf, 0)
    trap = out[-1]
    if error or trap:
        raw.fail(error, trap)
    return out[0] if len(out) == 2 else None


_BY_ARITY: dict[int, type[RawFunc]] = {0: _Raw0, 1: _Raw1, 2: _Raw2, 4: _Raw4}
