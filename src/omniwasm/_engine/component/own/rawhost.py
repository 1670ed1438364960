"""Raw host functions of the own runtime: core functions wasm calls, on a raw callback.

:func:`raw_host_func` makes a core function (``wasmtime_func_new_unchecked``) whose calls
reach a Python callback with the address of the guest's argument and result slots, through
one shared ctypes trampoline, without wasmtime-py's ``Func``, which builds type objects and
boxes every argument and result in ``Val`` objects per call. The callback reads and writes the
slots through a view kept per address (:func:`slot_views`) with precompiled :mod:`struct`
layouts (:func:`slot_layout`); ``canon lower`` and the resource built-ins (:mod:`.lowered`)
are defined this way. :func:`host_func` is the simpler form for a function of numbers, which
the async built-ins and async-lowered host imports use.

A component's own functions are *planned* (:func:`planned_funcs`): their callbacks are made
once per plan as binders, and an instance makes only the native functions (one C call each),
each naming its instance and index in its ``env``; the callback for an instance is bound the
first time wasm calls that function (:class:`PlannedCalls`), so a function an instance never
calls costs one C call.
"""

from __future__ import annotations

import ctypes
import itertools
import struct
import weakref
from collections.abc import Callable
from typing import Any

import wasmtime
from wasmtime import _ffi as ffi

from ...._errors import OmniwasmError
from ...core.rawfunc import FINALIZER, UNCHECKED, immortal

__all__ = [
    "PlannedCalls",
    "func_type_ptr",
    "host_func",
    "host_trap",
    "planned_funcs",
    "raw_host_func",
    "slot_layout",
    "slot_masks",
    "slot_views",
]

_vp = ctypes.c_void_p
_func_new_unchecked = ctypes.CFUNCTYPE(None, _vp, _vp, UNCHECKED, _vp, FINALIZER, _vp)(
    ("wasmtime_func_new_unchecked", ffi.dll)
)
# Makes a function and runs no wasm: called holding the GIL (PYFUNCTYPE), once per planned
# function of every instance.
_func_new_held = ctypes.PYFUNCTYPE(None, _vp, _vp, UNCHECKED, _vp, FINALIZER, _vp)(
    ("wasmtime_func_new_unchecked", ffi.dll)
)
_trap_new = ctypes.CFUNCTYPE(_vp, ctypes.c_char_p, ctypes.c_size_t)(("wasmtime_trap_new", ffi.dll))
_SLOT = ctypes.sizeof(ffi.wasmtime_val_raw)
_RAW_CODES = {"i32": "I", "i64": "Q", "f32": "f", "f64": "d"}
_SIGNED_CODES = {"i32": "i", "i64": "q", "f32": "f", "f64": "d"}
_MASKS = {"i32": 0xFFFFFFFF, "i64": 0xFFFFFFFFFFFFFFFF}
_VALTYPES = {
    "i32": wasmtime.ValType.i32,
    "i64": wasmtime.ValType.i64,
    "f32": wasmtime.ValType.f32,
    "f64": wasmtime.ValType.f64,
}
_FUNCTYPES: weakref.WeakKeyDictionary[
    wasmtime.Engine, dict[tuple[tuple[str, ...], tuple[str, ...]], wasmtime.FuncType]
] = weakref.WeakKeyDictionary()
"""Function types by engine (wasmtime binds a type to the first engine that uses it: sharing
one between engines aborts the process) and signature: making one takes tens of µs."""
_CALLBACKS: dict[int, Callable[[int], int]] = {}
"""Each raw host function's callback by its ``env`` number, until wasmtime drops the function
(with its store): the callbacks must not hold the store, or neither is ever freed."""
_numbers = itertools.count(1)
PLAN_BITS = 20
"""A planned function's ``env``: its instance's key above these bits, its index below."""
_PLAN_MASK = (1 << PLAN_BITS) - 1
_PLANNED: dict[int, PlannedCalls] = {}
"""Each instance's planned callbacks by key, until wasmtime drops its store."""
_keys = itertools.count(1)


def host_trap(message: bytes = b"python exception") -> int:
    """A new trap to return from a raw host callback (wasmtime takes ownership of it)."""
    return int(_trap_new(message, len(message)) or 0)


@immortal
@UNCHECKED  # type: ignore[untyped-decorator]
def _trampoline(env: int | None, caller: int | None, slots: int | None, count: int) -> int:
    try:
        return _CALLBACKS[env or 0](slots or 0)
    except BaseException:  # pragma: no cover - callbacks catch everything; nothing may unwind
        return host_trap(b"host function was released")


@immortal
@FINALIZER  # type: ignore[untyped-decorator]
def _finalize(env: int | None, callbacks: dict[int, Any] = _CALLBACKS) -> None:
    # bound at definition: a store freed while the interpreter exits sees module globals None
    callbacks.pop(env or 0, None)


@immortal
@UNCHECKED  # type: ignore[untyped-decorator]
def _plan_trampoline(env: int | None, caller: int | None, slots: int | None, count: int) -> int:
    try:
        env = env or 0
        calls = _PLANNED[env >> PLAN_BITS]
        index = env & _PLAN_MASK
        callback = calls[index]
        if callback is None:
            callback = calls.bind(index)
        return callback(slots or 0)  # type: ignore[no-any-return]
    except BaseException:  # pragma: no cover - callbacks catch everything; nothing may unwind
        return host_trap(b"host function was released")


@immortal
@FINALIZER  # type: ignore[untyped-decorator]
def _plan_finalize(env: int | None, planned: dict[int, Any] = _PLANNED) -> None:
    # carried by an instance's first planned function only: its store is gone
    planned.pop((env or 0) >> PLAN_BITS, None)


_NO_FINALIZER = FINALIZER()  # a null function pointer


class PlannedCalls(list):  # type: ignore[type-arg]
    """One instance's planned callbacks: None until wasm first calls that function.

    The table lives in a global until wasmtime frees the store, and a bound callback may hold
    what holds the store (a canon option's ``realloc``, its memory's view): the callbacks are
    dropped when the instance is collected, or the store would never be freed (and would be
    freed only while the interpreter exits, from this very table, which crashed it).
    """

    __slots__ = ("__weakref__", "binders", "labels", "owner")

    def __init__(self, binders: list[Callable[[Any], Any]], labels: list[str], owner: Any) -> None:
        super().__init__([None] * len(binders))
        self.binders = binders
        """Per index, ``bind(owner) -> callback`` (made once per plan)."""
        self.labels = labels
        self.owner = weakref.ref(owner, _unbinder(weakref.ref(self)))
        """The instance (weakly: this table lives in a global until the store is freed)."""

    def bind(self, index: int) -> Callable[[int], int]:
        """The callback of function ``index`` for this instance (bound once)."""
        owner = self.owner()
        try:
            if owner is None:
                raise OmniwasmError(f"{self.labels[index]}: the instance is gone")
            callback: Callable[[int], int] = self.binders[index](owner)
        except BaseException as exc:
            if owner is None:
                return _released
            owner.state.park(exc, self.labels[index])
            return _released
        self[index] = callback
        return callback


def _unbinder(calls: weakref.ref[PlannedCalls]) -> Callable[[Any], None]:
    """The weakref callback that drops a table's bound callbacks when its instance dies."""

    def unbind(_: Any) -> None:
        table = calls()
        if table is not None:
            table[:] = [None] * len(table)

    return unbind


def _released(address: int) -> int:
    return host_trap(b"host function was released")


def planned_funcs(ctx: int, calls: PlannedCalls, types: list[int], addresses: list[int]) -> None:
    """Make an instance's planned functions into their extern slots.

    ``types[i]`` is the address of function ``i``'s type (:func:`func_type_ptr`, for the
    store's engine) and ``addresses[i]`` where its ``wasmtime_func_t`` goes (the slot's
    ``of`` field; the slot's kind must already say "function", which is 0).
    """
    if not types:
        return
    key = next(_keys)
    _PLANNED[key] = calls
    env = key << PLAN_BITS
    new = _func_new_held
    trampoline = _plan_trampoline
    none = _NO_FINALIZER
    new(ctx, types[0], trampoline, env, _plan_finalize, addresses[0])
    for i in range(1, len(types)):
        new(ctx, types[i], trampoline, env | i, none, addresses[i])


def func_type_ptr(engine: wasmtime.Engine, params: list[str], results: list[str]) -> int:
    """The address of a function type for ``engine`` (kept as long as the engine)."""
    ftype = _func_type(engine, params, results)
    return ctypes.cast(ftype.ptr(), _vp).value or 0


def _func_type(engine: wasmtime.Engine, params: list[str], results: list[str]) -> wasmtime.FuncType:
    key = (tuple(params), tuple(results))
    types = _FUNCTYPES.get(engine)
    if types is None:
        types = _FUNCTYPES.setdefault(engine, {})
    ftype = types.get(key)
    if ftype is None:
        ftype = types[key] = wasmtime.FuncType(
            [_VALTYPES[p]() for p in params], [_VALTYPES[r]() for r in results]
        )
    return ftype


def raw_host_func(
    store: wasmtime.Store, params: list[str], results: list[str], callback: Callable[[int], int]
) -> wasmtime.Func:
    """A core function of ``store`` that calls ``callback(slots)``.

    ``slots`` is the address of the ``wasmtime_val_raw`` slots holding the arguments, where
    the results go (:func:`slot_views`); ``callback`` returns 0, or a trap from
    :func:`host_trap`, and must not raise.
    """
    ftype = _func_type(store.engine, params, results)
    env = next(_numbers)
    _CALLBACKS[env] = callback
    out = ffi.wasmtime_func_t()
    _func_new_unchecked(
        ctypes.addressof(store._context().contents),
        ctypes.cast(ftype.ptr(), _vp).value,
        _trampoline,
        env,
        _finalize,
        ctypes.addressof(out),
    )
    return wasmtime.Func._from_raw(out)


def host_func(
    store: wasmtime.Store, params: list[str], results: list[str], fn: Callable[..., Any]
) -> wasmtime.Func:
    """A core function calling ``fn(*args)`` through a raw callback (at most one result).

    Integer arguments arrive unsigned; ``fn`` returns the result (or None). An exception
    ``fn`` raises becomes a trap and is re-raised by wasmtime-py's ``LAST_EXCEPTION`` rule.
    """
    if len(results) > 1 or any(p not in _RAW_CODES for p in (*params, *results)):
        raise OmniwasmError("raw host functions take numbers and give at most one result")
    view_at = slot_views(max(len(params), len(results)))
    read = slot_layout(params).unpack_from
    write = slot_layout(results).pack_into
    mask = slot_masks(results)[0] if results else None
    has_result = bool(results)

    def callback(address: int) -> int:
        try:
            view = view_at(address)
            out = fn(*read(view, 0))
            if has_result:
                write(view, 0, out if mask is None else out & mask)
            return 0
        except BaseException as exc:  # nothing may unwind into native code
            from wasmtime import _func as wasmtime_func

            wasmtime_func.LAST_EXCEPTION = exc  # type: ignore[assignment]  # re-raised by the call
            return host_trap(f"host function raised {type(exc).__name__}".encode())

    return raw_host_func(store, params, results, callback)


def slot_views(count: int) -> Callable[[int], memoryview]:
    """``view(address)``: a writable view of ``count`` raw slots at ``address``.

    A host function is usually called with its slots at the same few addresses (the caller's
    stack), so the views are kept by address (a few dozen at most); a view is used only
    during a call whose slots are at its address.
    """
    size = max(count, 1) * _SLOT
    views: dict[int, memoryview] = {}

    def view(address: int) -> memoryview:
        found = views.get(address)
        if found is None:
            if len(views) >= 64:
                views.clear()
            found = memoryview((ctypes.c_char * size).from_address(address)).cast("B")
            views[address] = found
        return found

    return view


def slot_layout(types: list[str], *, signed: bool = False) -> struct.Struct:
    """The :mod:`struct` layout of raw slots holding values of these core types.

    Integers are read unsigned (as the canonical ABI lifts them), or with ``signed`` as
    wasmtime-py's ``Func`` hands them to Python.
    """
    codes = _SIGNED_CODES if signed else _RAW_CODES
    return struct.Struct(
        "<" + "".join(f"{codes[t]}{_SLOT - struct.calcsize(codes[t])}x" for t in types)
    )


def slot_masks(types: list[str]) -> list[int | None]:
    """Per core type, the mask that makes an integer fit its unsigned slot (None: a float)."""
    return [_MASKS.get(t) for t in types]
