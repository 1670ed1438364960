"""Handles to resources that live in a component guest, held by Python code.

A :class:`GuestHandle` wraps wasmtime's ``resource_any*`` (on omniwasm's own runtime, a token
of the instance's handle table: the instance's ``drop_handle``/``forget_handle`` act on it):
dropping it runs the guest's destructor, passing an ``own`` handle to the guest moves it there,
and a forgotten handle only frees its native struct. ``wasm_error`` turns a raw
``wasmtime_error_t*`` into an exception.
"""

from __future__ import annotations

import contextlib
import ctypes
from typing import Any

import wasmtime
from wasmtime import _ffi as ffi

from ...._errors import OmniwasmError
from ...._wit import types as t

__all__ = ["GuestHandle", "any_delete", "wasm_error"]

_vp = ctypes.c_void_p
_any_drop = ctypes.CFUNCTYPE(_vp, _vp, _vp)(("wasmtime_component_resource_any_drop", ffi.dll))
# Frees the native struct and runs no wasm: called holding the GIL (PYFUNCTYPE).
any_delete = ctypes.PYFUNCTYPE(None, _vp)(("wasmtime_component_resource_any_delete", ffi.dll))


def wasm_error(ptr: int) -> wasmtime.WasmtimeError:
    """Wrap a raw ``wasmtime_error_t*`` (taking ownership) as a wasmtime exception."""
    return wasmtime.WasmtimeError._from_ptr(ctypes.cast(ptr, ctypes.POINTER(ffi.wasmtime_error_t)))


def _release(owner: Any, ptr: int) -> None:
    """Free a handle's native part (stock) or forget its token (omniwasm's own runtime)."""
    forget = getattr(owner, "forget_handle", None)
    if forget is not None:
        forget(ptr)
    else:
        any_delete(ptr)


class GuestHandle:
    """A handle to a resource that lives in the guest (``own`` unless borrowed).

    Dropped exactly once: ``drop()`` (or leaving a ``with`` block) runs the guest's destructor;
    passing an ``own`` handle to the guest moves it there. Using it afterwards is an error.

    The resource's WIT methods become attributes of a subclass under snake_case names and win
    over ``drop``/``close``/``dropped`` when they clash (``with`` always drops). Everything the
    runtime itself uses is underscore-prefixed, which no WIT name maps to.
    """

    __slots__ = ("__weakref__", "_borrowed", "_owner", "_ptr", "_resource", "_why")

    def __init__(self, ptr: int, owner: Any, resource: t.OwnType | t.BorrowType) -> None:
        self._ptr = ptr
        self._owner = owner
        self._why = ""
        self._resource = resource
        self._borrowed = isinstance(resource, t.BorrowType)

    @property
    def dropped(self) -> bool:
        """True once the handle was dropped or moved into the guest."""
        return self._ptr == 0

    def _raw(self) -> int:
        """The ``resource_any*`` (raises if the handle is no longer valid)."""
        if self._ptr == 0:
            raise OmniwasmError(
                f"resource {self._resource.resource} handle is no longer usable: {self._why}"
            )
        if self._owner.closed:
            raise OmniwasmError(f"resource {self._resource.resource}: the instance is closed")
        return self._ptr

    def _forget(self, why: str) -> None:
        """Release the native handle without running the destructor (ownership moved)."""
        if self._ptr:
            _release(self._owner, self._ptr)
            self._ptr = 0
            self._why = why

    def _drop(self) -> None:
        ptr = self._ptr
        if not ptr:
            return
        owner = self._owner
        self._ptr = 0
        self._why = "it was dropped"
        own_drop = getattr(owner, "drop_handle", None)
        if own_drop is not None:  # omniwasm's own runtime: ``ptr`` is a token of its table
            own_drop(ptr, self._borrowed)
            return
        if owner.closed:
            any_delete(ptr)
            return
        with owner.guard:
            box = owner.box
            timed = box.deadline_ticks is not None
            if timed:
                box.enter()  # the guest's destructor runs under the deadline
            try:
                err = _any_drop(box.ctx, ptr)
                any_delete(ptr)
            finally:
                if timed:
                    box.leave()
        if err:
            raise owner.failure(wasm_error(err))

    def drop(self) -> None:
        """Run the guest's destructor (or end the borrow). Idempotent."""
        self._drop()

    close = drop

    def __enter__(self) -> GuestHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self._drop()

    def __del__(self) -> None:
        # An unclosed handle frees its native struct; the guest keeps the resource (no
        # destructor runs outside an explicit drop: the store may be busy in another call).
        ptr = self._ptr
        if ptr:
            self._ptr = 0
            with contextlib.suppress(Exception):  # interpreter shutdown: nothing to do
                _release(self._owner, ptr)

    def __repr__(self) -> str:
        state = "dropped" if self._ptr == 0 else ("borrowed" if self._borrowed else "owned")
        return f"<{self._resource.resource} resource handle ({state})>"
