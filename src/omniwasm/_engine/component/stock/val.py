"""The layout of wasmtime's C ``wasmtime_component_val_t`` and the state of one crossing.

A value is a 32-byte struct: the kind byte at offset 0 and the payload at offset 8
(``string``/``list``/``record``... are ``{size, ptr}`` pairs; ``variant`` adds a payload pointer
at 24; ``option`` is a pointer; ``result`` an ``is_ok`` byte and a pointer). The converter layer
is built on it: :mod:`.val_write` writes values, :mod:`.val_read` reads them; both cache what they
generate on the link's :class:`ResourceHooks`.
"""

from __future__ import annotations

import ctypes
import struct
import threading
from collections.abc import Callable
from typing import Any

from wasmtime import _ffi as ffi

from ...._errors import OmniwasmError
from ...._wit import types as t

__all__ = ["EMPTY_ADDR", "Bad", "Call", "Reader", "ResourceHooks", "Writer", "bytes_address"]

VAL = 32
ENTRY = 48  # record entry: wasm_name_t (16) + val (32)
NAME = 16

(K_BOOL, K_S8, K_U8, K_S16, K_U16, K_S32, K_U32, K_S64, K_U64, K_F32, K_F64) = range(11)
(K_CHAR, K_STRING, K_LIST, K_RECORD, K_TUPLE, K_VARIANT, K_ENUM) = range(11, 18)
(K_OPTION, K_RESULT, K_FLAGS, K_RESOURCE) = range(18, 22)

_dll = ffi.dll
_vp = ctypes.c_void_p
_sz = ctypes.c_size_t


def _fn(name: str, res: Any, *args: Any) -> Any:
    return ctypes.CFUNCTYPE(res, *args)((name, _dll))


byte_vec_new = _fn("wasm_byte_vec_new", None, _vp, _sz, ctypes.c_char_p)
vallist_new_uninit = _fn("wasmtime_component_vallist_new_uninit", None, _vp, _sz)
valrecord_new_uninit = _fn("wasmtime_component_valrecord_new_uninit", None, _vp, _sz)
valtuple_new_uninit = _fn("wasmtime_component_valtuple_new_uninit", None, _vp, _sz)
valflags_new_uninit = _fn("wasmtime_component_valflags_new_uninit", None, _vp, _sz)
# moves one val to the heap: O(1), no wasm, so it keeps the GIL (see ``.imports``)
val_new = ctypes.PYFUNCTYPE(_vp, _vp)(("wasmtime_component_val_new", _dll))
val_delete = _fn("wasmtime_component_val_delete", None, _vp)

PAIR = struct.Struct("<QQ")  # {size, ptr}
PTR = struct.Struct("<Q")
TRIPLE = struct.Struct("<QQQ")
RESULT = struct.Struct("<?7xQ")


class Bad(Exception):
    """A value does not fit its WIT type; ``path`` locates it inside the parameter."""

    def __init__(self, path: str, expected: str, value: Any) -> None:
        super().__init__(path, expected)
        self.path = path
        self.expected = expected
        self.value = value


Writer = Callable[[Any, Any, int, "Call"], None]
Reader = Callable[[Any, int, "Call"], Any]


class ResourceHooks:
    """How resources cross for one linked component (the façade fills these in).

    ``host_type(ty)`` returns the host type id when ``ty`` is a resource the host implements,
    else None. The other hooks are called with the per-call :class:`Call`.
    """

    def __init__(self) -> None:
        self.writers: dict[tuple[t.WitType, bool], Writer] = {}
        self.readers: dict[t.WitType, Reader] = {}

    def host_type(self, ty: t.OwnType | t.BorrowType) -> int | None:
        """The host type id of ``ty`` when the host implements it, else None."""
        return None

    def lower_host(
        self, call: Call, ty: t.OwnType | t.BorrowType, obj: Any, tid: int, owned: bool
    ) -> int:
        """Return a ``resource_any*`` for a host object (freed after the call unless owned)."""
        raise Bad("", str(ty), obj)

    def lower_guest(self, call: Call, ty: t.OwnType | t.BorrowType, obj: Any, owned: bool) -> int:
        """Return a ``resource_any*`` for a guest handle object."""
        raise Bad("", str(ty), obj)

    def lift_host(self, call: Call, ty: t.OwnType | t.BorrowType, ptr: int) -> Any:
        """Return the host object a ``resource_any*`` of a host type refers to."""
        raise OmniwasmError(f"{ty}: no host resources are linked here")

    def lift_guest(self, call: Call, ty: t.OwnType | t.BorrowType, ptr: int) -> Any:
        """Wrap a guest ``resource_any*`` (the hook clones it; the val keeps its own)."""
        raise OmniwasmError(f"{ty}: no guest resources are linked here")

    def host_lifter(self, ty: t.OwnType | t.BorrowType) -> Callable[[Call, int], Any]:
        """``lift_host`` for one type, as a closure (built once per type by the readers)."""
        return lambda call, ptr: self.lift_host(call, ty, ptr)

    def host_lowerer(
        self, ty: t.OwnType | t.BorrowType, tid: int, owned: bool
    ) -> Callable[[Call, Any], int]:
        """``lower_host`` for one type and mode, as a closure (built once by the writers)."""
        return lambda call, obj: self.lower_host(call, ty, obj, tid, owned)


class Call:
    """State of one crossing: the store context, buffers to keep alive, cleanups to run.

    ``state`` is the host state of the store (``.imports.StoreState``), looked up on first
    use by the resource hooks.
    """

    __slots__ = ("after", "ctx", "hooks", "keep", "state")

    def __init__(self, ctx: int, hooks: ResourceHooks, state: Any = None) -> None:
        self.ctx = ctx
        self.hooks = hooks
        self.state = state
        self.keep: list[Any] = []
        self.after: list[Callable[[], None]] = []

    def finish(self) -> None:
        """Run the cleanups registered during the crossing (in order) and forget buffers."""
        if self.after:
            after, self.after = self.after, []
            for fn in after:
                fn()
        if self.keep:
            self.keep.clear()


INTS: dict[type[Any], tuple[int, str, int, int]] = {
    t.S8Type: (K_S8, "b", -(1 << 7), (1 << 7) - 1),
    t.U8Type: (K_U8, "B", 0, (1 << 8) - 1),
    t.S16Type: (K_S16, "h", -(1 << 15), (1 << 15) - 1),
    t.U16Type: (K_U16, "H", 0, (1 << 16) - 1),
    t.S32Type: (K_S32, "i", -(1 << 31), (1 << 31) - 1),
    t.U32Type: (K_U32, "I", 0, (1 << 32) - 1),
    t.S64Type: (K_S64, "q", -(1 << 63), (1 << 63) - 1),
    t.U64Type: (K_U64, "Q", 0, (1 << 64) - 1),
}


def _bytes_offset() -> int | None:
    """Offset of a ``bytes`` object's data from its ``id()`` (CPython), verified once."""
    probe = b"omniwasm-probe"
    for off in (32, 24, 40):
        try:
            if ctypes.string_at(id(probe) + off, len(probe)) == probe:
                return off
        except (OSError, ValueError):  # pragma: no cover - never on CPython
            pass
    return None  # pragma: no cover


_BYTES_OFF = _bytes_offset()


def bytes_address(data: bytes) -> int:
    """The address of an immutable ``bytes`` object's contents (valid while it lives)."""
    if _BYTES_OFF is not None:
        return id(data) + _BYTES_OFF
    return ctypes.cast(ctypes.c_char_p(data), ctypes.c_void_p).value or 0  # pragma: no cover


_EMPTY = ctypes.create_string_buffer(VAL)  # a valid non-null address for empty lists and flags
EMPTY_ADDR = ctypes.addressof(_EMPTY)


lock = threading.Lock()
