"""A core instance's exported linear memory, read and written by offset from Python.

The one place above the C API where raw addresses are used: habitats that move bytes in and
out of a guest's memory (the plugin kernel's blocks and registers) go through
:class:`LinearMemory` and never see an address. Every access re-reads the memory's base
address (``memory.grow`` can move it), checks its range against the current size, and refuses
a closed store with a clean error instead of touching freed memory.
"""

from __future__ import annotations

import ctypes
import functools
from collections.abc import Callable
from typing import TYPE_CHECKING

from wasmtime import _ffi as ffi

from .._errors import OmniwasmError

if TYPE_CHECKING:
    from .store import StoreBox

__all__ = ["LinearMemory"]

_vp = ctypes.c_void_p
# PYFUNCTYPE: both getters return at once, so keeping the GIL is cheaper than releasing it.
_memory_data = ctypes.PYFUNCTYPE(_vp, _vp, _vp)(("wasmtime_memory_data", ffi.dll))
_memory_size = ctypes.PYFUNCTYPE(ctypes.c_size_t, _vp, _vp)(("wasmtime_memory_data_size", ffi.dll))
_string_at = ctypes.string_at
_memmove = ctypes.memmove
_memset = ctypes.memset


class LinearMemory:
    """An exported memory of a live core instance.

    Obtain one from ``CoreInstance.memory(name)``; it is valid as long as its store is open.

    Args:
        box: the store the memory lives in.
        handle: the address of the memory's ``wasmtime_memory_t`` (kept alive by the
            instance that looked it up).
        name: the export's name, for messages.

    """

    __slots__ = ("_box", "_ctx", "_handle", "_head", "_head_base", "_view", "_view_base", "name")

    def __init__(self, box: StoreBox, handle: int, name: str) -> None:
        self._box = box
        self._ctx = box.ctx
        self._handle = handle
        self.name = name
        self._head = memoryview(b"")
        self._head_base = 0
        self._view = memoryview(b"")
        self._view_base = 0

    def _base(self) -> int:
        if self._box.closed:
            raise OmniwasmError(f"memory {self.name!r}: the instance is closed")
        return _memory_data(self._ctx, self._handle) or 0

    def size(self) -> int:
        """The memory's current size in bytes.

        Raises:
            OmniwasmError: the store is closed.

        """
        if self._box.closed:
            raise OmniwasmError(f"memory {self.name!r}: the instance is closed")
        return int(_memory_size(self._ctx, self._handle))

    def _checked(self, offset: int, length: int) -> int:
        """The address of ``length`` bytes at ``offset``, after checking the range."""
        base = self._base()
        if offset < 0 or length < 0 or offset + length > _memory_size(self._ctx, self._handle):
            raise OmniwasmError(f"memory {self.name!r}: {offset}+{length} is out of bounds")
        return base + offset

    def read(self, offset: int, length: int) -> bytes:
        """Copy ``length`` bytes at ``offset`` out of the memory.

        Raises:
            OmniwasmError: the range is out of bounds, or the store is closed.

        """
        return _string_at(self._checked(offset, length), length) if length else b""

    def write(self, offset: int, data: bytes | bytearray | memoryview) -> None:
        """Copy ``data`` into the memory at ``offset``.

        Raises:
            OmniwasmError: the range is out of bounds, or the store is closed.

        """
        n = len(data)
        at = self._checked(offset, n)
        if n:
            _memmove(at, data if isinstance(data, bytes) else bytes(data), n)

    def fill(self, offset: int, value: int, length: int) -> None:
        """Set ``length`` bytes at ``offset`` to ``value``.

        Raises:
            OmniwasmError: the range is out of bounds, or the store is closed.

        """
        at = self._checked(offset, length)
        if length:
            _memset(at, value, length)

    def head(self, length: int) -> memoryview:
        """A writable view of the memory's first ``length`` bytes, for hot paths.

        The view is rebuilt whenever the base address has moved, and is valid only until guest
        code runs again (which may grow, and so move, the memory) or the store closes: take it
        again after every call into the instance, and never keep it.

        Raises:
            OmniwasmError: the memory is smaller than ``length``, or the store is closed.

        """
        base = self._base()
        if base != self._head_base or len(self._head) != length:
            if length > _memory_size(self._ctx, self._handle):
                raise OmniwasmError(f"memory {self.name!r}: smaller than {length} bytes")
            self._head = memoryview((ctypes.c_char * length).from_address(base)).cast("B")
            self._head_base = base
        return self._head

    def sizer(self) -> Callable[[], int]:
        """A function of no arguments giving the memory's current size in bytes, for hot paths.

        A memory moves only when it grows: a caller holding a :meth:`view` may keep using it
        while the size it had is unchanged, and takes a new one when it is not. Call it only
        while the store is open (it does not check).
        """
        return functools.partial(_memory_size, self._ctx, self._handle)

    def view(self) -> memoryview:
        """A writable view of the whole memory as it is now, for several accesses in a row.

        Like :meth:`head`, it is valid only until guest code runs again or the store closes.
        Slicing a ``memoryview`` clamps silently: check offsets against ``len(view)`` first.
        A memory moves only when it grows, so while its size is unchanged one native call
        (the size) revalidates the view: the batch ABI takes a view twice per batch.

        Raises:
            OmniwasmError: the store is closed.

        """
        if self._box.closed:
            raise OmniwasmError(f"memory {self.name!r}: the instance is closed")
        size = int(_memory_size(self._ctx, self._handle))
        if size != len(self._view) or not self._view_base:
            base = _memory_data(self._ctx, self._handle) or 0
            self._view = (
                memoryview((ctypes.c_char * size).from_address(base)).cast("B")
                if size and base
                else memoryview(b"")
            )
            self._view_base = base
        return self._view
