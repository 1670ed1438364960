"""WASI p1's ``poll_oneoff`` made to end at the deadline, over wasmtime's native WASI.

wasmtime's native ``poll_oneoff`` sleeps inside the host, where epoch interruption cannot
reach, so ``sleep(30)`` under a one-second timeout used to take thirty seconds. A store that
has a deadline gets this ``poll_oneoff`` instead (it shadows the native one in the linker):

- clock-only subscriptions (``sleep``, ``nanosleep``, ``clock_nanosleep``: relative or
  absolute, realtime or monotonic) are waited for here, through the store's
  :class:`~omniwasm._deadline.Deadline`: at the deadline the call traps with ``interrupt``
  (``Timeout``), on ``cancel()`` with the cancellation message (``Cancelled``);
- anything else (a file descriptor subscription, an unknown clock) goes to the native
  function, which answers at once for every descriptor a guest can have under a deadline
  (files and stdio are always ready; an inherited stdin is a pipe then, see ``_stdin.py``).

Calling the native function from Python needs the guest's memory: wasmtime's WASI finds it as
the *calling instance's* ``memory`` export, and a host function called from the host has no
calling instance. So the native functions are called through a helper module, instantiated
once per store on first use, that imports the guest's memory, re-exports it as ``memory`` and
forwards to the native imports from WebAssembly.
"""

from __future__ import annotations

import ctypes
import struct
import threading
import time
import weakref
from dataclasses import dataclass
from typing import Any

import wasmtime
from wasmtime import _ffi as ffi

from ..._deadline import Deadline
from ..._errors import Cancelled, Timeout
from ..store import CANCELLED_MESSAGE, box_of
from .rawfunc import FINALIZER, UNCHECKED, caller_context, define_unchecked, immortal

__all__ = [
    "WASI_P1",
    "ForwarderSpec",
    "NativeFailed",
    "call_native",
    "forwarders",
    "memory_span",
    "poll_natively",
    "shadow_poll_oneoff",
    "trap_pointer",
]

WASI_P1 = "wasi_snapshot_preview1"

_vp = ctypes.c_void_p
_caller_export = ctypes.CFUNCTYPE(ctypes.c_bool, _vp, ctypes.c_char_p, ctypes.c_size_t, _vp)(
    ("wasmtime_caller_export_get", ffi.dll)
)
_memory_data = ctypes.CFUNCTYPE(_vp, _vp, _vp)(("wasmtime_memory_data", ffi.dll))
_memory_size = ctypes.CFUNCTYPE(ctypes.c_size_t, _vp, _vp)(("wasmtime_memory_data_size", ffi.dll))
_memory_type = ctypes.CFUNCTYPE(_vp, _vp, _vp)(("wasmtime_memory_type", ffi.dll))
_is_shared = ctypes.CFUNCTYPE(ctypes.c_bool, _vp)(("wasmtime_memorytype_isshared", ffi.dll))
_is64 = ctypes.CFUNCTYPE(ctypes.c_bool, _vp)(("wasmtime_memorytype_is64", ffi.dll))
_memtype_delete = ctypes.CFUNCTYPE(None, _vp)(("wasm_memorytype_delete", ffi.dll))
_linker_get = ctypes.CFUNCTYPE(
    ctypes.c_bool, _vp, _vp, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_size_t, _vp
)(("wasmtime_linker_get", ffi.dll))
_instance_new = ctypes.CFUNCTYPE(_vp, _vp, _vp, _vp, ctypes.c_size_t, _vp, _vp)(
    ("wasmtime_instance_new", ffi.dll)
)
_export_get = ctypes.CFUNCTYPE(ctypes.c_bool, _vp, _vp, ctypes.c_char_p, ctypes.c_size_t, _vp)(
    ("wasmtime_instance_export_get", ffi.dll)
)
_call_unchecked = ctypes.CFUNCTYPE(_vp, _vp, _vp, _vp, ctypes.c_size_t, _vp)(
    ("wasmtime_func_call_unchecked", ffi.dll)
)
_error_new = ctypes.CFUNCTYPE(_vp, ctypes.c_char_p)(("wasmtime_error_new", ffi.dll))
_error_delete = ctypes.CFUNCTYPE(None, _vp)(("wasmtime_error_delete", ffi.dll))
_trap_delete = ctypes.CFUNCTYPE(None, _vp)(("wasm_trap_delete", ffi.dll))

_EXTERN = ctypes.sizeof(ffi.wasmtime_extern_t)
_EXTERN_OF = ffi.wasmtime_extern_t.of.offset
_EXTERN_MEMORY = ffi.WASMTIME_EXTERN_MEMORY.value
_EXTERN_FUNC = ffi.WASMTIME_EXTERN_FUNC.value
_SLOT = 16  # sizeof(wasmtime_val_raw_t)
_ARGS4 = struct.Struct("<i12xi12xi12xi12x")  # poll_oneoff(in, out, nsubscriptions, nevents)
_RESULT = struct.Struct("<i")

_SUB = struct.Struct("<QB7xIxxxxQQH6x")  # userdata, tag, clock id, timeout, precision, flags
_SUB_SIZE = 48
_EVENT = struct.Struct("<QHB5xQH6x")  # userdata, error, type, nbytes, flags
_EVENT_SIZE = 32
_CLOCK_REALTIME, _CLOCK_MONOTONIC = 0, 1
_ABSTIME = 1
_ESUCCESS, _EFAULT, _EINVAL, _ENOMEM = 0, 21, 28, 48
MAX_SUBSCRIPTIONS = 4096
"""More subscriptions than this in one call are refused with ``ENOMEM`` (host CPU is not
metered by epochs: a bound keeps parsing them well inside any deadline)."""

_HELPER_WAT = """
(module
  (import "g" "memory" (memory {memory}))
  (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "clock_time_get" (func $now (param i32 i64 i32) (result i32)))
  (export "memory" (memory 0))
  (func (export "poll_oneoff") (param i32 i32 i32 i32) (result i32)
    (call $poll (local.get 0) (local.get 1) (local.get 2) (local.get 3)))
  (func (export "clock_time_get") (param i32 i64 i32) (result i32)
    (call $now (local.get 0) (local.get 1) (local.get 2))))
"""
_MEMORY_KINDS = {False: "0", True: "0 65536 shared"}


class _Interrupted(Exception):
    """The deadline passed or the call was cancelled while waiting here."""

    def __init__(self, cancelled: bool) -> None:
        super().__init__()
        self.cancelled = cancelled


class _Engines:
    """Per native engine: a linker with only native WASI, and the helper modules.

    Keyed weakly by the ``NativeEngine`` (never by ``id``: an engine collected and another
    created at the same address would get objects of the first, and wasmtime aborts the
    process when a linker or module is used with another engine).
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.linkers: weakref.WeakKeyDictionary[Any, wasmtime.Linker] = weakref.WeakKeyDictionary()
        self.helpers: weakref.WeakKeyDictionary[Any, dict[bool, wasmtime.Module]] = (
            weakref.WeakKeyDictionary()
        )
        self.forwarder_modules: weakref.WeakKeyDictionary[
            Any, dict[tuple[str, bool], wasmtime.Module]
        ] = weakref.WeakKeyDictionary()

    def native_linker(self, native: Any) -> int:
        with self.lock:
            linker = self.linkers.get(native)
            if linker is None:
                linker = self.linkers[native] = wasmtime.Linker(native.engine)
                linker.define_wasi()
            return ctypes.cast(linker.ptr(), _vp).value or 0

    def module(self, native: Any, key: tuple[str, bool], text: str) -> int:
        """A forwarder module (see :func:`forwarders`), compiled once per engine."""
        with self.lock:
            modules = self.forwarder_modules.setdefault(native, {})
            module = modules.get(key)
            if module is None:
                module = modules[key] = wasmtime.Module(native.engine, text)
            return ctypes.cast(module.ptr(), _vp).value or 0

    def helper(self, native: Any, shared: bool) -> int:
        with self.lock:
            modules = self.helpers.setdefault(native, {})
            module = modules.get(shared)
            if module is None:
                text = _HELPER_WAT.format(memory=_MEMORY_KINDS[shared])
                module = modules[shared] = wasmtime.Module(native.engine, text)
            return ctypes.cast(module.ptr(), _vp).value or 0


_engines = _Engines()


class _Helper:
    """The helper instance of one store: raw function structs of its two forwarders."""

    __slots__ = ("clock_time_get", "keep", "poll_oneoff")

    def __init__(self, poll: Any, clock: Any, keep: Any) -> None:
        self.poll_oneoff = poll
        self.clock_time_get = clock
        self.keep = keep


class _Memory:
    """The calling guest's ``memory`` export, read and written through raw addresses."""

    __slots__ = ("ctx", "extern", "item")

    def __init__(self, caller: int, ctx: int) -> None:
        self.ctx = ctx
        self.extern = ffi.wasmtime_extern_t()
        if not _caller_export(caller, b"memory", 6, ctypes.addressof(self.extern)) or (
            int(self.extern.kind) != _EXTERN_MEMORY
        ):
            raise LookupError("missing required memory export")
        self.item = ctypes.addressof(self.extern) + _EXTERN_OF

    def span(self) -> tuple[int, int]:
        return (_memory_data(self.ctx, self.item) or 0), _memory_size(self.ctx, self.item)

    def shared(self) -> bool:
        ty = _memory_type(self.ctx, self.item)
        try:
            return bool(_is_shared(ty))
        finally:
            _memtype_delete(ty)


def _beside(
    linker: int, module: int, memory: _Memory, *, names: tuple[str, ...], what: str
) -> tuple[list[Any], tuple[Any, Any]]:
    """Instantiate ``module`` in the running store beside the caller, on its memory.

    Its imports are the caller's memory, then the native WASI p1 functions ``names``; returns
    its exports of the same names, and what must live as long as the instance.

    Raises:
        LookupError: native WASI lacks a name, the store has no room for ``what`` (an
            instance), or the module lacks an export.

    """
    ctx = memory.ctx
    imports = (ffi.wasmtime_extern_t * (1 + len(names)))()
    ctypes.memmove(ctypes.addressof(imports), ctypes.addressof(memory.extern), _EXTERN)
    for i, name in enumerate(names, start=1):
        at = ctypes.addressof(imports) + i * _EXTERN
        raw = name.encode()
        if not _linker_get(linker, ctx, WASI_P1.encode(), len(WASI_P1), raw, len(raw), at):
            raise LookupError(f"native WASI has no {name}")
    instance = ffi.wasmtime_instance_t()
    trap = _vp()
    error = _instance_new(
        ctx, module, ctypes.addressof(imports), len(imports), ctypes.addressof(instance),
        ctypes.addressof(trap),
    )  # fmt: skip
    if error or trap.value:
        if error:
            _error_delete(error)
        if trap.value:
            _trap_delete(trap.value)
        raise LookupError(f"the policy leaves no room for {what}")
    funcs: list[Any] = []
    for name in names:
        item = ffi.wasmtime_extern_t()
        raw = name.encode()
        ok = _export_get(ctx, ctypes.addressof(instance), raw, len(raw), ctypes.addressof(item))
        if not ok or int(item.kind) != _EXTERN_FUNC:
            raise LookupError(f"{what}: export {name} missing")
        funcs.append(item)
    return funcs, (instance, imports)


def _helper(box: Any, memory: _Memory) -> _Helper:
    """The store's helper instance (instantiated on first use, in the running store)."""
    found: _Helper | None = box.wasip1_helper
    if found is not None:
        return found
    linker = _engines.native_linker(box.native)
    module = _engines.helper(box.native, memory.shared())
    funcs, keep = _beside(
        linker,
        module,
        memory,
        names=("poll_oneoff", "clock_time_get"),
        what="poll_oneoff's helper instance",
    )
    found = box.wasip1_helper = _Helper(funcs[0], funcs[1], keep)
    return found


def _call_native(ctx: int, func: Any, args: bytes, nargs: int) -> int:
    """Call a helper forwarder with packed raw arguments; its i32 result.

    Raises:
        _NativeFailed: the native function trapped (its error is returned to the guest).

    """
    buf = ctypes.create_string_buffer(args, max(nargs, 1) * _SLOT)
    trap = _vp()
    error = _call_unchecked(
        ctx,
        ctypes.addressof(func) + _EXTERN_OF,
        ctypes.addressof(buf),
        max(nargs, 1),
        ctypes.addressof(trap),
    )
    if error or trap.value:
        raise _NativeFailed(error or trap.value or 0)
    return int(_RESULT.unpack_from(buf.raw, 0)[0])


@dataclass(frozen=True)
class ForwarderSpec:
    """Native WASI p1 functions to call from Python through a forwarder instance.

    Args:
        key: names the forwarder module in the caches (one per spec).
        imports: ``(name, signature in WebAssembly text, parameter count)`` of each function.

    """

    key: str
    imports: tuple[tuple[str, str, int], ...]

    def text(self, shared: bool) -> str:
        """The forwarder module: the guest's memory re-exported, one forwarder per function."""
        lines = ["(module", f'  (import "g" "memory" (memory {_MEMORY_KINDS[shared]}))']
        for i, (name, sig, _) in enumerate(self.imports):
            lines.append(f'  (import "{WASI_P1}" "{name}" (func $f{i} {sig}))')
        lines.append('  (export "memory" (memory 0))')
        for i, (name, sig, n) in enumerate(self.imports):
            args = " ".join(f"(local.get {j})" for j in range(n))
            lines.append(f'  (func (export "{name}") {sig} (call $f{i} {args}))')
        return "\n".join([*lines, ")"])


def forwarders(box: Any, caller: int, ctx: int, spec: ForwarderSpec) -> list[Any]:
    """The raw function externs of ``spec``'s forwarders in the calling store.

    Instantiated on first use in the running store (with the calling guest's ``memory``) and
    kept on the store (``box.forwarders``); pass them to :func:`call_native`.

    Raises:
        LookupError: the caller has no memory export, or the store has no room for it.

    """
    found: list[Any] | None = box.forwarders.get(spec.key)
    if found is not None:
        return found
    memory = _Memory(caller, ctx)
    linker = _engines.native_linker(box.native)
    shared = memory.shared()
    module = _engines.module(box.native, (spec.key, shared), spec.text(shared))
    names = tuple(name for name, _, _ in spec.imports)
    funcs, keep = _beside(
        linker, module, memory, names=names, what=f"the {spec.key} forwarder instance"
    )
    box.forwarders[spec.key] = funcs
    box.forwarders[f"{spec.key}:keep"] = list(keep)
    return funcs


class _NativeFailed(Exception):
    """The native function failed with this error (or trap) pointer: hand it to the guest."""

    def __init__(self, pointer: int) -> None:
        super().__init__()
        self.pointer = pointer


NativeFailed = _NativeFailed
call_native = _call_native


def memory_span(caller: int, ctx: int) -> tuple[int, int]:
    """The calling guest's ``memory`` export: its base address and size now.

    Raises:
        LookupError: the caller exports no memory.

    """
    return _Memory(caller, ctx).span()


def poll_natively(  # noqa: PLR0917 - poll_oneoff's own four arguments, after the caller's two
    caller: int, ctx: int, sub_ptr: int, event_ptr: int, n: int, nevents_ptr: int
) -> int:
    """The deadline-aware ``poll_oneoff`` (its errno); failures as :func:`trap_pointer` takes."""
    return _poll(caller, ctx, sub_ptr, event_ptr, n, nevents_ptr)


def trap_pointer(name: str, exc: BaseException) -> int:
    """What a raw WASI p1 function returns to wasmtime for ``exc``: an error that traps.

    A ``Timeout`` or ``Cancelled`` (from the store's deadline) ends the call as the deadline
    does; anything else is a trap naming ``name``.
    """
    if isinstance(exc, _Interrupted):
        message = CANCELLED_MESSAGE.encode() if exc.cancelled else b"wasm trap: interrupt"
        return int(_error_new(message) or 0)
    if isinstance(exc, Cancelled):
        return int(_error_new(CANCELLED_MESSAGE.encode()) or 0)
    if isinstance(exc, Timeout):
        return int(_error_new(b"wasm trap: interrupt") or 0)
    if isinstance(exc, _NativeFailed):
        return exc.pointer
    return int(_error_new(f"{WASI_P1}::{name} failed: {exc}".encode()) or 0)


def _native_monotonic(ctx: int, helper: _Helper, memory: _Memory, scratch: int) -> int:
    """Read wasmtime's monotonic clock (ns since the store's WASI context began).

    Read through the native ``clock_time_get``, which writes it at ``scratch`` (the events
    buffer of the running ``poll_oneoff``, which the guest gave for writing).
    """
    args = struct.pack("<i12xq8xi12x", _CLOCK_MONOTONIC, 1, scratch)
    errno = _call_native(ctx, helper.clock_time_get, args, 3)
    if errno:
        raise LookupError(f"clock_time_get failed with errno {errno}")
    base, size = memory.span()
    if scratch + 8 > size:
        raise LookupError("clock_time_get scratch out of bounds")
    return int(struct.unpack("<Q", ctypes.string_at(base + scratch, 8))[0])


def _clocks(raw: bytes, n: int) -> list[tuple[int, int, int, int]] | None:
    """``(userdata, clock id, timeout, flags)`` of each subscription.

    None if any is not a realtime or monotonic clock: the native function then answers.
    """
    subs = []
    for userdata, tag, clock, timeout, _precision, flags in _SUB.iter_unpack(raw[: n * _SUB_SIZE]):
        if tag != 0 or clock not in (_CLOCK_REALTIME, _CLOCK_MONOTONIC) or flags & ~_ABSTIME:
            return None
        subs.append((userdata, clock, timeout, flags))
    return subs


def _poll(  # noqa: PLR0917 - poll_oneoff's own four arguments, after the caller's two
    caller: int, ctx: int, sub_ptr: int, event_ptr: int, n: int, nevents_ptr: int
) -> int:
    """The deadline-aware ``poll_oneoff``; returns its errno."""
    box = box_of(ctx)
    if box is None:
        raise LookupError("poll_oneoff called from a store omniwasm does not know")
    deadline: Deadline = box.deadline
    memory = _Memory(caller, ctx)
    if n == 0:
        return _EINVAL  # indefinite sleep is not supported (as natively)
    if n > MAX_SUBSCRIPTIONS:
        return _ENOMEM
    base, size = memory.span()
    sub_ptr &= 0xFFFFFFFF
    event_ptr &= 0xFFFFFFFF
    nevents_ptr &= 0xFFFFFFFF
    in_bounds = (
        sub_ptr % 8 == 0
        and event_ptr % 8 == 0
        and nevents_ptr % 4 == 0
        and sub_ptr + n * _SUB_SIZE <= size
        and event_ptr + n * _EVENT_SIZE <= size
        and nevents_ptr + 4 <= size
    )
    if not in_bounds:
        return _EFAULT
    subs = _clocks(ctypes.string_at(base + sub_ptr, n * _SUB_SIZE), n)
    if subs is None:
        helper = _helper(box, memory)
        args = _ARGS4.pack(sub_ptr, event_ptr, n, nevents_ptr)
        return _call_native(ctx, helper.poll_oneoff, args, 4)
    now = time.monotonic()
    dues = []
    for _userdata, clock, timeout, flags in subs:
        if not flags & _ABSTIME:
            dues.append(now + timeout / 1e9)
        elif clock == _CLOCK_REALTIME:
            dues.append(now + max(0, timeout - time.time_ns()) / 1e9)
        else:
            native = _native_monotonic(ctx, _helper(box, memory), memory, event_ptr)
            dues.append(time.monotonic() + max(0, timeout - native) / 1e9)
    while True:
        now = time.monotonic()
        ready = [i for i, due in enumerate(dues) if due <= now]
        if ready:
            break
        wait = min(dues) - now
        try:
            deadline.sleep(wait, "poll_oneoff")
        except Cancelled:
            raise _Interrupted(cancelled=True) from None
        except Exception:
            raise _Interrupted(cancelled=False) from None
    base, size = memory.span()  # nothing ran that could grow it, but re-read all the same
    events = b"".join(_EVENT.pack(subs[i][0], _ESUCCESS, 0, 0, 0) for i in ready)
    ctypes.memmove(base + event_ptr, events, len(events))
    ctypes.memmove(base + nevents_ptr, struct.pack("<I", len(ready)), 4)
    return _ESUCCESS


@immortal
@UNCHECKED  # type: ignore[untyped-decorator]
def _poll_oneoff(env: int | None, caller: int | None, vals: int | None, nvals: int) -> int:
    """The native callback: never raises (a failure becomes the guest's trap)."""
    try:
        ctx = caller_context(caller) or 0
        buf = (ctypes.c_char * (4 * _SLOT)).from_address(vals or 0)
        errno = _poll(caller or 0, ctx, *_ARGS4.unpack_from(buf, 0))
        _RESULT.pack_into(buf, 0, errno)
        return 0
    except _Interrupted as stop:
        message = CANCELLED_MESSAGE.encode() if stop.cancelled else b"wasm trap: interrupt"
        return int(_error_new(message) or 0)
    except _NativeFailed as failed:
        return failed.pointer
    except BaseException as exc:  # nothing may unwind into native code
        text = f"wasi_snapshot_preview1::poll_oneoff failed: {exc}".encode()
        return int(_error_new(text) or 0)


@immortal
@FINALIZER  # type: ignore[untyped-decorator]
def _no_finalizer(env: int | None) -> None:
    return None


def shadow_poll_oneoff(linker: wasmtime.Linker) -> None:
    """Define the deadline-aware ``poll_oneoff`` in ``linker`` (after ``define_wasi``).

    Raises:
        wasmtime.WasmtimeError: wasmtime refused the definition.

    """
    # A new type per definition: wasmtime binds a type to the first engine it is used with,
    # and one shared across engines (two Runtimes with other settings) aborts the process.
    i32 = wasmtime.ValType.i32
    poll_type = wasmtime.FuncType([i32(), i32(), i32(), i32()], [i32()])
    linker.allow_shadowing = True
    module, name = WASI_P1.encode(), b"poll_oneoff"
    ty = ctypes.cast(poll_type.ptr(), _vp).value
    err = define_unchecked(
        ctypes.cast(linker.ptr(), _vp).value, module, len(module), name, len(name), ty,
        _poll_oneoff, None, _no_finalizer,
    )  # fmt: skip
    if err:
        raise wasmtime.WasmtimeError._from_ptr(
            ctypes.cast(err, ctypes.POINTER(ffi.wasmtime_error_t))
        )
