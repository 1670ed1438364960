"""Raw host functions for core linkers: wasmtime's ``define_func_unchecked`` and its prototypes.

A raw host function gets its caller and its arguments as ``wasmtime_val_raw_t`` slots, with no
per-call ctypes conversion: the plugin kernel's host calls (:mod:`.linked`) and the
deadline-aware WASI p1 ``poll_oneoff`` (:mod:`.wasip1`) are defined this way.
"""

from __future__ import annotations

import ctypes
from typing import TypeVar

from wasmtime import _ffi as ffi

__all__ = ["FINALIZER", "UNCHECKED", "caller_context", "define_unchecked", "immortal"]

_vp = ctypes.c_void_p

UNCHECKED = ctypes.CFUNCTYPE(ctypes.c_size_t, _vp, _vp, _vp, ctypes.c_size_t)
"""A raw host function: ``(env, caller, slots, count) -> trap or 0``."""
FINALIZER = ctypes.CFUNCTYPE(None, _vp)
"""Called with the host function's ``env`` when wasmtime drops it."""
define_unchecked = ctypes.CFUNCTYPE(
    _vp, _vp, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_size_t, _vp,
    UNCHECKED, _vp, FINALIZER,
)(("wasmtime_linker_define_func_unchecked", ffi.dll))  # fmt: skip
caller_context = ctypes.CFUNCTYPE(_vp, _vp)(("wasmtime_caller_context", ffi.dll))
_Thunk = TypeVar("_Thunk")
_incref = ctypes.pythonapi.Py_IncRef
_incref.argtypes = [ctypes.py_object]


def immortal(thunk: _Thunk) -> _Thunk:
    """Keep a module-level ctypes callback (and its Python function) for the whole process.

    wasmtime calls finalizers when it frees a store or a linker, and a store may be freed while
    the interpreter exits, after the module holding the callback was cleared: the callback's
    native thunk would be freed memory then (or, freed from inside its own teardown, it calls a
    half-destroyed function: a segfault at exit). One leaked reference keeps it callable.
    """
    _incref(thunk)
    return thunk
