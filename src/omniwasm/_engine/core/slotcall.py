"""The lean call path for hot loops: arguments and results stay in a slot buffer.

``FastFunc`` takes Python numbers and packs them with ``struct`` (about 1.5 µs a call here).
A SQL function called once per row needs less: the façade writes each argument straight into
its 16-byte ``wasmtime_val_raw`` slot through a typed ``memoryview`` and reads the result back
the same way, so a call is one native call plus the per-call limits:

- the policy's timeout counts from the start of each call. The store checks its
  ``Deadline`` in an epoch callback (every 5 ms tick while guest code runs), so starting the
  clock is one attribute write (``deadline.at``), not a native call. These are leaf calls (the
  core ABIs' functions reach no Python host function), so the full ``box.enter()`` /
  ``box.leave()`` bookkeeping for nested calls and cancellation, about 0.6 µs, is skipped:
  ``cancel()`` does not reach a slot call;
- with ``fuel_per_call``, every call starts with that much fuel (one native call).

The store belongs to the thread that created the ``SlotCall``; a call from another thread
raises instead of entering the store twice (undefined behaviour in wasmtime).
"""

from __future__ import annotations

import ctypes
import threading
import time
from collections.abc import Callable
from typing import Any

import wasmtime
from wasmtime import _ffi as ffi

from ..._errors import OmniwasmError
from ..store import StoreBox
from .instance import CoreInstance, instantiate_failure
from .types import interface_of

__all__ = ["SLOT", "SlotCall", "set_fuel"]

SLOT = ctypes.sizeof(ffi.wasmtime_val_raw)
"""Bytes per argument or result slot (16: the union includes v128)."""

_vp = ctypes.c_void_p
_call_unchecked = ctypes.CFUNCTYPE(_vp, _vp, _vp, _vp, ctypes.c_size_t, _vp)(
    ("wasmtime_func_call_unchecked", ffi.dll)
)  # releases the GIL while guest code runs
_set_deadline = ctypes.CFUNCTYPE(None, _vp, ctypes.c_uint64)(
    ("wasmtime_context_set_epoch_deadline", ffi.dll)
)
_set_fuel = ctypes.CFUNCTYPE(_vp, _vp, ctypes.c_uint64)(("wasmtime_context_set_fuel", ffi.dll))
_NUMERIC = frozenset({"i32", "i64", "f32", "f64"})


def set_fuel(box: StoreBox, fuel: int) -> None:
    """Set the fuel left in ``box``'s store.

    Raises:
        OmniwasmError: the store is closed, or its engine does not meter fuel.

    """
    if box.closed:
        raise OmniwasmError("cannot set fuel: the instance is closed")
    if not box.native.settings.fuel:
        raise OmniwasmError("cannot set fuel: the Runtime was created without fuel metering")
    error = _set_fuel(box.ctx, fuel)
    if error:  # pragma: no cover - only on a store without metering, checked above
        raise OmniwasmError("wasmtime refused to set fuel")


def _tick_checked(box: StoreBox) -> None:
    """Let the store check its deadline on every epoch tick (once per store).

    The callback keeps the epoch deadline one tick ahead while guest code runs; between
    calls the epoch moves past it, so each call's first check reaches the callback again.
    """
    if not box.cancellable:
        box.make_cancellable()
        _set_deadline(box.ctx, 1)


class SlotCall:
    """A core export called with its arguments already written into ``slots``.

    Write parameter ``i`` at byte ``16 * i`` of ``slots`` (little-endian, i32 and f32 in the
    low four bytes), call ``run()``, read result ``i`` at byte ``16 * i``. ``run`` raises
    ``ExecutionError`` (a subclass says which) when the guest traps or hits a limit, and
    ``OmniwasmError`` when the instance is closed or called from another thread.

    Args:
        inner: the instance that exports the function.
        name: the export's name.
        fuel_per_call: fuel each call starts with (None: the store's fuel runs down).

    Raises:
        OmniwasmError: no such function, a non-numeric signature, or a closed instance.

    """

    __slots__ = (
        "__weakref__",
        "_box",
        "_buf",
        "_buf_addr",
        "_ctx",
        "_fuel",
        "_func",
        "_func_addr",
        "_inner",
        "_n",
        "_thread",
        "_timeout",
        "_trap",
        "_trap_addr",
        "name",
        "params",
        "results",
        "run",
        "slots",
    )

    def __init__(self, inner: CoreInstance, name: str, *, fuel_per_call: int | None = None) -> None:
        item = inner.export(name) if not inner.closed else None
        if not isinstance(item, wasmtime.Func):
            raise OmniwasmError(f"no exported function {name!r}")
        box = inner.box
        found = interface_of(inner.artifact).func_exports.get(name)
        if found is None:
            raise OmniwasmError(f"no exported function {name!r}")
        params, results = found
        if not set(params) | set(results) <= _NUMERIC:
            raise OmniwasmError(f"{name}: only numeric parameters and results take the slot path")
        self._inner = inner
        self._box = box
        self.name = name
        self.params = tuple(params)
        self.results = tuple(results)
        self._func = item
        self._func_addr = ctypes.addressof(item._func)
        self._n = max(len(params), len(results), 1)
        self._buf = (ffi.wasmtime_val_raw * self._n)()
        self._buf_addr = ctypes.addressof(self._buf)
        self.slots = memoryview(self._buf).cast("B")
        self._ctx = box.ctx
        self._trap = ctypes.c_void_p()
        self._trap_addr = ctypes.addressof(self._trap)
        self._timeout = box.policy.timeout
        if fuel_per_call is not None and not box.native.settings.fuel:
            raise OmniwasmError("fuel per call needs a Runtime with fuel metering")
        self._fuel = fuel_per_call
        self._thread = threading.get_ident()
        if self._timeout is not None:
            _tick_checked(box)
        self.run = self._runner()

    def _runner(self) -> Callable[[], None]:
        """The call as a closure over locals (a method call costs ~0.3 µs more per row)."""
        box, inner, trap, deadline = self._box, self._inner, self._trap, self._box.deadline
        args = (self._ctx, self._func_addr, self._buf_addr, self._n, self._trap_addr)
        timeout, fuel, ctx, owner = self._timeout, self._fuel, self._ctx, self._thread
        ident, monotonic, call, set_fuel_ = (
            threading.get_ident,
            time.monotonic,
            _call_unchecked,
            _set_fuel,
        )

        def run() -> None:
            if box.closed or ident() != owner:
                raise self._misuse()
            if timeout is not None:
                deadline.at = monotonic() + timeout
            if fuel is not None:
                set_fuel_(ctx, fuel)
            error = call(*args)
            if error or trap.value:
                raise inner.failure(instantiate_failure(error, trap))

        return run

    def unary(
        self,
        param: str,
        result: str,
        *,
        bad_value: Callable[[Any], BaseException],
        nulls: bool = False,
        failure: Callable[[BaseException, Any], BaseException] | None = None,
        fallback: Callable[[Any], Any] | None = None,
    ) -> Callable[[Any], Any]:
        """A one-argument call as one closure: store the argument, run, load the result.

        The per-row hot path (a SQLite function): one Python frame per call, every check
        that is not needed on the way through moved to the paths that fail.

        Args:
            param: the ``memoryview`` format the argument is stored with (``q``, ``d`` ...).
            result: the format the result is loaded with.
            bad_value: makes the exception for an argument the format does not take.
            nulls: None in gives None out, without a call.
            failure: makes the exception to raise from the translated one of a failed call.
            fallback: called instead when this is not the owning thread or the store is closed
                (None: raise an ``OmniwasmError``).

        """
        pv = self.slots.cast(param)  # type: ignore[call-overload]
        rv = self.slots.cast(result)  # type: ignore[call-overload]
        box, inner, trap, deadline = self._box, self._inner, self._trap, self._box.deadline
        args = (self._ctx, self._func_addr, self._buf_addr, self._n, self._trap_addr)
        timeout, fuel, ctx, owner = self._timeout, self._fuel, self._ctx, self._thread
        ident, monotonic = threading.get_ident, time.monotonic
        call, set_fuel_ = _call_unchecked, _set_fuel
        bad = (TypeError, ValueError, OverflowError)

        def unary(value: Any) -> Any:
            try:
                pv[0] = value
            except bad:
                if value is None and nulls:
                    return None
                raise bad_value(value) from None
            if box.closed or ident() != owner:
                if fallback is not None:
                    return fallback(value)
                raise self._misuse()
            if timeout is not None:
                deadline.at = monotonic() + timeout
            if fuel is not None:
                set_fuel_(ctx, fuel)
            error = call(*args)
            if error or trap.value:
                exc = inner.failure(instantiate_failure(error, trap))
                raise exc if failure is None else failure(exc, value)
            return rv[0]

        return unary

    def _misuse(self) -> OmniwasmError:
        if self._box.closed:
            return OmniwasmError(f"{self.name}: the instance is closed")
        return OmniwasmError(f"{self.name}: called from a thread that does not own the instance")
