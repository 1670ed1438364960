"""WASI p1's ``path_open`` and ``fd_close`` counted, so a store's open files have a limit.

wasmtime's native WASI gives every file a guest opens a host file descriptor, with no limit of
its own: a guest looping on ``open()`` would take all of the host process's descriptors. A
store linked with :func:`shadow_file_calls` counts the files its guests opened and not yet
closed (:attr:`StoreBox.open_files`); past :attr:`StoreBox.max_open_files` a ``path_open``
fails with ``EMFILE`` (the guest sees "too many open files") and the store counts the refusal
(:attr:`StoreBox.open_files_refused`).

The count is an upper bound of the host descriptors the guest added: a ``fd_close`` of a file
it opened lowers it, ``fd_renumber`` (which may close a descriptor) leaves it as it is, and it
never goes below zero, so closing the descriptors a store starts with (stdio, preopened
directories) gives back at most that many. The native functions are called through a helper
instance as in :mod:`.wasip1` (they find the guest's memory as their caller's export).
"""

from __future__ import annotations

import ctypes
import struct
from collections.abc import Callable
from typing import Any

import wasmtime
from wasmtime import _ffi as ffi

from ..store import box_of
from .rawfunc import FINALIZER, UNCHECKED, caller_context, define_unchecked, immortal
from .wasip1 import WASI_P1, ForwarderSpec, call_native, forwarders, trap_pointer

__all__ = ["EMFILE", "define_shadow", "raw_result", "shadow_file_calls"]

EMFILE = 33
"""WASI's errno ``mfile``: too many open files."""
_SLOT = 16
_OPEN_ARGS = 9
_RESULT = struct.Struct("<i")

_SPEC = ForwarderSpec(
    key="files",
    imports=(
        ("path_open", "(param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)", 9),
        ("fd_close", "(param i32) (result i32)", 1),
    ),
)


def _open(caller: int, ctx: int, slots: int) -> int:
    box = box_of(ctx)
    if box is None:
        raise LookupError("path_open called from a store omniwasm does not know")
    limit = box.max_open_files
    if limit is not None and box.open_files >= limit:
        box.open_files_refused += 1
        return EMFILE
    native = forwarders(box, caller, ctx, _SPEC)
    errno = call_native(ctx, native[0], ctypes.string_at(slots, _OPEN_ARGS * _SLOT), _OPEN_ARGS)
    if errno == 0:
        box.open_files += 1
    return errno


def _close(caller: int, ctx: int, slots: int) -> int:
    box = box_of(ctx)
    if box is None:
        raise LookupError("fd_close called from a store omniwasm does not know")
    native = forwarders(box, caller, ctx, _SPEC)
    errno = call_native(ctx, native[1], ctypes.string_at(slots, _SLOT), 1)
    if errno == 0 and box.open_files > 0:
        box.open_files -= 1
    return errno


def raw_result(name: str, body: Callable[[], int], vals: int | None) -> int:
    """Run a raw WASI p1 function's ``body`` and store its errno as the result; never raises.

    Returns 0, or the error (a trap) wasmtime gets for what ``body`` raised.
    """
    try:
        errno = body()
        _RESULT.pack_into((ctypes.c_char * _SLOT).from_address(vals or 0), 0, errno)
        return 0
    except BaseException as exc:  # nothing may unwind into native code
        return trap_pointer(name, exc)


def _raw(name: str, body: Callable[[int, int, int], int]) -> Any:
    @UNCHECKED  # type: ignore[untyped-decorator]
    def callback(env: int | None, caller: int | None, vals: int | None, nvals: int) -> int:
        """The native callback: never raises (a failure becomes the guest's trap)."""
        return raw_result(
            name, lambda: body(caller or 0, caller_context(caller) or 0, vals or 0), vals
        )

    return callback


_CALLBACKS = {"path_open": _raw("path_open", _open), "fd_close": _raw("fd_close", _close)}


@immortal
@FINALIZER  # type: ignore[untyped-decorator]
def _no_finalizer(env: int | None) -> None:
    return None


def define_shadow(linker: wasmtime.Linker, name: str, ty: wasmtime.FuncType, callback: Any) -> None:
    """Define raw ``callback`` as WASI p1's ``name`` in ``linker``, over what it had.

    Raises:
        wasmtime.WasmtimeError: wasmtime refused the definition.

    """
    linker.allow_shadowing = True
    module, raw = WASI_P1.encode(), name.encode()
    err = define_unchecked(
        ctypes.cast(linker.ptr(), ctypes.c_void_p).value, module, len(module), raw, len(raw),
        ctypes.cast(ty.ptr(), ctypes.c_void_p).value, callback, None, _no_finalizer,
    )  # fmt: skip
    if err:
        raise wasmtime.WasmtimeError._from_ptr(
            ctypes.cast(err, ctypes.POINTER(ffi.wasmtime_error_t))
        )


def shadow_file_calls(linker: wasmtime.Linker) -> None:
    """Define the counting ``path_open`` and ``fd_close`` in ``linker`` (after ``define_wasi``).

    Raises:
        wasmtime.WasmtimeError: wasmtime refused a definition.

    """
    i32, i64 = wasmtime.ValType.i32, wasmtime.ValType.i64
    types = {
        "path_open": wasmtime.FuncType(
            [i32(), i32(), i32(), i32(), i32(), i64(), i64(), i32(), i32()], [i32()]
        ),
        "fd_close": wasmtime.FuncType([i32()], [i32()]),
    }
    for name, ty in types.items():
        define_shadow(linker, name, ty, _CALLBACKS[name])
