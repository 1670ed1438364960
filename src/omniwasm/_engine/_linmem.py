"""A core instance's exported linear memory as a bounds-checked byte view, for buffer ABIs.

The façade's columnar and scalar ABIs (``_columnar``, ``_coreabi``) move whole buffers in and
out of guest memory: ``view()`` gives them a writable ``memoryview`` over the memory as it is
now, so a copy is one slice assignment (a ``memcpy``) and descriptors are read and written with
``struct``. Bounds are the view's own: a slice past the end raises instead of touching memory
outside the sandbox.

Interim home: the architecture work (#13) introduces ``_engine/memory.py`` (``LinearMemory``)
as the one engine object for raw memory access; this is the minimal accessor the columnar ABI
needs until it lands, and should fold into it.
"""

from __future__ import annotations

import ctypes
import threading
from collections.abc import Callable

from wasmtime import _ffi as ffi

from .._errors import OmniwasmError
from ._core import CoreInstance

__all__ = ["LinearMemory"]

_EMPTY = memoryview(bytearray())
_vp = ctypes.c_void_p
# PYFUNCTYPE: the two getters return at once, so keeping the GIL is cheaper than releasing it.
_memory_data = ctypes.PYFUNCTYPE(_vp, _vp, _vp)(("wasmtime_memory_data", ffi.dll))
_memory_size = ctypes.PYFUNCTYPE(ctypes.c_size_t, _vp, _vp)(("wasmtime_memory_data_size", ffi.dll))


class LinearMemory:
    """An exported memory of one core instance.

    A view is valid until the next guest call (which may grow the memory and, on engines
    without a reserved address range, move it) or until the instance closes: callers take a
    fresh ``view()`` after every call and never keep one. The instance belongs to one thread
    (the thread that created this object); another thread's use raises.

    Args:
        inner: the engine instance that exports the memory.
        name: the export's name.

    Raises:
        OmniwasmError: no exported memory of that name, or the instance is closed.

    """

    __slots__ = ("_name", "view")

    def __init__(self, inner: CoreInstance, name: str = "memory") -> None:
        self._name = name
        inner.memory_span(name)  # fails now, not on first use, when there is no such memory
        self.view = self._viewer(inner, inner._memory(name))

    @property
    def size(self) -> int:
        """Bytes of the memory now."""
        return len(self.view())

    def _viewer(self, inner: CoreInstance, mem: int) -> Callable[[], memoryview]:
        """``view()``: a writable byte view of the whole memory as it is now.

        It raises ``OmniwasmError`` once the instance is closed, or from another thread.
        """
        box, ctx, owner, name = inner.box, inner.box.ctx, threading.get_ident(), self._name
        ident = threading.get_ident
        key = [0, -1]
        current = [_EMPTY]

        def view() -> memoryview:
            if box.closed or ident() != owner:
                why = "the instance is closed" if box.closed else "used from another thread"
                raise OmniwasmError(f"memory {name!r}: {why}")
            # A memory moves only when it grows, so an unchanged size means an unchanged base:
            # one native call in the common case.
            size = _memory_size(ctx, mem)
            if size != key[1]:
                base = _memory_data(ctx, mem) or 0
                key[0], key[1] = base, size
                current[0] = (
                    memoryview((ctypes.c_char * size).from_address(base)).cast("B")
                    if size and base
                    else _EMPTY
                )
            return current[0]

        return view
