"""WASI p1's clocks, sleeps and random bytes made deterministic over wasmtime's native WASI.

A linker given :func:`shadow_deterministic` answers, for every store it instantiates, as the
virtual WASI host does for a ``Policy(deterministic=True, seed=...)`` (:mod:`omniwasm.wasi`):

- ``clock_time_get``: the monotonic (and CPU-time) clocks start at zero and the wall clock at
  a fixed date (2023-11-14T22:13:20Z), and both move only when the guest sleeps;
- ``poll_oneoff`` with only clock subscriptions (a sleep) moves the clocks to the first due
  time at once instead of waiting; any other subscription goes to the deadline-aware
  ``poll_oneoff`` of :mod:`.wasip1`;
- ``random_get``: bytes from a generator seeded by the policy's ``seed``.

Two stores of the same policy so see the same times and bytes. Link it only for policies that
ask for it: it replaces the real clocks for every store of the linker.
"""

from __future__ import annotations

import ctypes
import random
import struct
import threading
import weakref
from typing import Any

import wasmtime

from ..._deadline import Deadline
from ..store import box_of
from .rawfunc import UNCHECKED, caller_context
from .wasifiles import define_shadow, raw_result
from .wasip1 import MAX_SUBSCRIPTIONS, memory_span, poll_natively

__all__ = ["FIXED_EPOCH_NS", "shadow_deterministic"]

FIXED_EPOCH_NS = 1_700_000_000 * 10**9
"""The deterministic wall clock's start, 2023-11-14T22:13:20Z (as ``omniwasm.wasi``'s)."""
_SLOT = 16
_ESUCCESS, _EFAULT, _EINVAL, _ENOMEM = 0, 21, 28, 48
_CLOCK_REALTIME = 0
_CLOCKS = (0, 1, 2, 3)  # realtime, monotonic, process and thread CPU time
_ABSTIME = 1
_SUB = struct.Struct("<QB7xIxxxxQQH6x")  # userdata, tag, clock id, timeout, precision, flags
_SUB_SIZE = 48
_EVENT = struct.Struct("<QHB5xQH6x")  # userdata, error, type, nbytes, flags
_EVENT_SIZE = 32
_MAX_RANDOM = 1 << 20
_U64_MAX = (1 << 64) - 1


class _Virtual:
    """One store's virtual time and seeded random bytes."""

    def __init__(self, seed: int) -> None:
        self.now = 0
        self.random = random.Random(seed)
        self.lock = threading.Lock()


_state: weakref.WeakKeyDictionary[Any, _Virtual] = weakref.WeakKeyDictionary()
_state_lock = threading.Lock()


def _virtual(ctx: int) -> _Virtual:
    box = box_of(ctx)
    if box is None:
        raise LookupError("a WASI call from a store omniwasm does not know")
    with _state_lock:
        found = _state.get(box)
        if found is None:
            found = _state[box] = _Virtual(box.policy.seed)
    return found


def _deadline(ctx: int) -> Deadline:
    box = box_of(ctx)
    if box is None:
        raise LookupError("a WASI call from a store omniwasm does not know")
    deadline: Deadline = box.deadline
    return deadline


def _write(caller: int, ctx: int, ptr: int, data: bytes) -> bool:
    base, size = memory_span(caller, ctx)
    ptr &= 0xFFFFFFFF
    if ptr + len(data) > size:
        return False
    ctypes.memmove(base + ptr, data, len(data))
    return True


def _clock_time_get(caller: int, ctx: int, slots: int) -> int:
    clock = ctypes.c_int32.from_address(slots).value
    out = ctypes.c_int32.from_address(slots + 2 * _SLOT).value
    if clock not in _CLOCKS:
        return _EINVAL
    now = _virtual(ctx).now
    value = min(FIXED_EPOCH_NS + now if clock == _CLOCK_REALTIME else now, _U64_MAX)
    return _ESUCCESS if _write(caller, ctx, out, struct.pack("<Q", value)) else _EFAULT


def _random_get(caller: int, ctx: int, slots: int) -> int:
    ptr = ctypes.c_int32.from_address(slots).value
    length = ctypes.c_uint32.from_address(slots + _SLOT).value
    _, size = memory_span(caller, ctx)
    if (ptr & 0xFFFFFFFF) + length > size:
        return _EFAULT
    state = _virtual(ctx)
    deadline = _deadline(ctx)
    done = 0
    while done < length:  # in pieces: no huge host buffer, and the deadline holds between them
        deadline.check("random_get")
        n = min(length - done, _MAX_RANDOM)
        with state.lock:
            data = state.random.randbytes(n)
        if not _write(caller, ctx, ptr + done, data):
            return _EFAULT
        done += n
    return _ESUCCESS


def _poll_oneoff(caller: int, ctx: int, slots: int) -> int:
    sub_ptr, event_ptr, n, nevents_ptr = (
        ctypes.c_uint32.from_address(slots + i * _SLOT).value for i in range(4)
    )
    if n == 0:
        return _EINVAL
    if n > MAX_SUBSCRIPTIONS:
        return _ENOMEM
    base, size = memory_span(caller, ctx)
    if not (
        sub_ptr % 8 == 0
        and event_ptr % 8 == 0
        and nevents_ptr % 4 == 0
        and sub_ptr + n * _SUB_SIZE <= size
        and event_ptr + n * _EVENT_SIZE <= size
        and nevents_ptr + 4 <= size
    ):
        return _EFAULT
    raw = ctypes.string_at(base + sub_ptr, n * _SUB_SIZE)
    subs = list(_SUB.iter_unpack(raw))
    if any(
        tag != 0 or clock not in _CLOCKS or flags & ~_ABSTIME for _, tag, clock, _, _, flags in subs
    ):
        return poll_natively(caller, ctx, sub_ptr, event_ptr, n, nevents_ptr)
    state = _virtual(ctx)
    with state.lock:
        dues = []
        for _userdata, _tag, clock, timeout, _precision, flags in subs:
            if not flags & _ABSTIME:
                dues.append(state.now + timeout)
            elif clock == _CLOCK_REALTIME:
                dues.append(timeout - FIXED_EPOCH_NS)
            else:
                dues.append(timeout)
        state.now = max(state.now, min(dues))
        ready = [subs[i][0] for i, due in enumerate(dues) if due <= state.now]
    events = b"".join(_EVENT.pack(userdata, _ESUCCESS, 0, 0, 0) for userdata in ready)
    ctypes.memmove(base + event_ptr, events, len(events))
    ctypes.memmove(base + nevents_ptr, struct.pack("<I", len(ready)), 4)
    return _ESUCCESS


def _raw(name: str, body: Any) -> Any:
    @UNCHECKED  # type: ignore[untyped-decorator]
    def callback(env: int | None, caller: int | None, vals: int | None, nvals: int) -> int:
        """The native callback: never raises (a failure becomes the guest's trap)."""
        return raw_result(
            name, lambda: body(caller or 0, caller_context(caller) or 0, vals or 0), vals
        )

    return callback


_CALLBACKS = {
    "clock_time_get": _raw("clock_time_get", _clock_time_get),
    "random_get": _raw("random_get", _random_get),
    "poll_oneoff": _raw("poll_oneoff", _poll_oneoff),
}


def shadow_deterministic(linker: wasmtime.Linker) -> None:
    """Define the deterministic clocks, sleeps and random bytes in ``linker``.

    Call it after ``define_wasi`` and the deadline-aware ``poll_oneoff``, which it replaces.

    Raises:
        wasmtime.WasmtimeError: wasmtime refused a definition.

    """
    i32, i64 = wasmtime.ValType.i32, wasmtime.ValType.i64
    types = {
        "clock_time_get": wasmtime.FuncType([i32(), i64(), i32()], [i32()]),
        "random_get": wasmtime.FuncType([i32(), i32()], [i32()]),
        "poll_oneoff": wasmtime.FuncType([i32(), i32(), i32(), i32()], [i32()]),
    }
    for name, ty in types.items():
        define_shadow(linker, name, ty, _CALLBACKS[name])
