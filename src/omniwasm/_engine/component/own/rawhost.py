"""Raw host functions of the own runtime: core functions wasm calls, on a raw callback.

:func:`host_func` makes a core function (``wasmtime_func_new_unchecked``) whose Python
callback gets its arguments unpacked from the raw value slots by a precompiled :mod:`struct`
layout, without wasmtime-py's per-call type objects and value boxing: the async built-ins and
async-lowered host imports are defined this way.
"""

from __future__ import annotations

import ctypes
import itertools
import struct
from collections.abc import Callable
from typing import Any

import wasmtime
from wasmtime import _ffi as ffi

from ...._errors import OmniwasmError
from ...core.rawfunc import FINALIZER, UNCHECKED

__all__ = ["host_func"]

_vp = ctypes.c_void_p
_func_new_unchecked = ctypes.CFUNCTYPE(None, _vp, _vp, UNCHECKED, _vp, FINALIZER, _vp)(
    ("wasmtime_func_new_unchecked", ffi.dll)
)
_SLOT = ctypes.sizeof(ffi.wasmtime_val_raw)
_RAW_CODES = {"i32": "I", "i64": "Q", "f32": "f", "f64": "d"}
_MASKS = {"i32": 0xFFFFFFFF, "i64": 0xFFFFFFFFFFFFFFFF}


def _raw_layout(types: list[str]) -> struct.Struct:
    return struct.Struct(
        "<" + "".join(f"{_RAW_CODES[t]}{_SLOT - struct.calcsize(_RAW_CODES[t])}x" for t in types)
    )


_VALTYPES = {
    "i32": wasmtime.ValType.i32,
    "i64": wasmtime.ValType.i64,
    "f32": wasmtime.ValType.f32,
    "f64": wasmtime.ValType.f64,
}
_HOSTS: dict[
    int, tuple[Callable[..., Any], struct.Struct, struct.Struct, int, int | None, Any]
] = {}
_host_ids = itertools.count(1)


@UNCHECKED  # type: ignore[untyped-decorator]
def _host_trampoline(env: int | None, caller: int | None, vals: int | None, nvals: int) -> int:
    entry = _HOSTS.get(env or 0)
    try:
        if entry is None:
            raise RuntimeError("host function was released")
        fn, args, results, nparams, mask, buf_type = entry
        buf = buf_type.from_address(vals or 0)
        out = fn(*args.unpack_from(buf, 0)) if nparams else fn()
        if mask is not None:
            results.pack_into(buf, 0, out if mask == 0 else out & mask)
        return 0
    except BaseException as exc:  # nothing may unwind into native code
        from wasmtime import _func as wasmtime_func

        wasmtime_func.LAST_EXCEPTION = exc  # type: ignore[assignment]  # re-raised by the call
        trap = wasmtime.Trap(f"host function raised {type(exc).__name__}")
        return int(ctypes.cast(trap._consume(), ctypes.c_void_p).value or 0)


@FINALIZER  # type: ignore[untyped-decorator]
def _host_finalize(env: int | None) -> None:
    _HOSTS.pop(env or 0, None)


def host_func(
    store: wasmtime.Store, params: list[str], results: list[str], fn: Callable[..., Any]
) -> wasmtime.Func:
    """A core function calling ``fn(*args)`` through a raw callback (at most one result).

    Integer arguments arrive unsigned; ``fn`` returns the result (or None). An exception
    ``fn`` raises becomes a trap and is re-raised by wasmtime-py's ``LAST_EXCEPTION`` rule.
    """
    if len(results) > 1 or any(p not in _RAW_CODES for p in (*params, *results)):
        raise OmniwasmError("raw host functions take numbers and give at most one result")
    ty = wasmtime.FuncType([_VALTYPES[p]() for p in params], [_VALTYPES[r]() for r in results])
    size = max(len(params), len(results), 1) * _SLOT
    idx = next(_host_ids)
    _HOSTS[idx] = (
        fn,
        _raw_layout(params),
        _raw_layout(results),
        len(params),
        None if not results else _MASKS.get(results[0], 0),
        ctypes.c_char * size,
    )
    raw = ffi.wasmtime_func_t()
    _func_new_unchecked(
        ctypes.cast(store._context(), _vp).value,
        ctypes.cast(ty.ptr(), _vp).value,
        _host_trampoline,
        idx,
        _host_finalize,
        ctypes.addressof(raw),
    )
    return wasmtime.Func._from_raw(raw)
