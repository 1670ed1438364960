"""Buffers of stream and future copies: guest memory ranges and host-side data.

A copy moves elements from one buffer to another: between two guest memories, or between a
guest memory and the host, as raw bytes when the element type holds no pointers (numbers),
else as Python values lifted and lowered one by one.
"""

from __future__ import annotations

from typing import Any

from .abi import AbiTrap, Codec, Cx

__all__ = ["GuestBuffer", "HostBytes", "HostValues", "copy_elements"]

MAX_BUFFER = (1 << 28) - 1


def _trap_if(cond: bool, why: str) -> None:
    if cond:
        raise AbiTrap(why)


class GuestBuffer:
    """``length`` elements at ``ptr`` of a guest memory, consumed front to back."""

    def __init__(self, cx: Cx, elem: Codec | None, size: int, ptr: int, length: int) -> None:
        _trap_if(length > MAX_BUFFER, "stream buffer too long")
        if elem is not None and length > 0:
            cx.check(ptr, length * size, elem.align)
        self.cx = cx
        self.elem = elem
        self.size = size
        self.ptr = ptr
        self.length = length
        self.progress = 0

    def remain(self) -> int:
        return self.length - self.progress

    def read_bytes(self, n: int) -> bytes:
        """The next ``n`` elements as their bytes in memory (element types without pointers)."""
        view = self.cx.check(self.ptr, n * self.size)
        data = bytes(view[self.ptr : self.ptr + n * self.size])
        self.ptr += n * self.size
        self.progress += n
        return data

    def write_bytes(self, data: bytes | memoryview, n: int) -> None:
        view = self.cx.check(self.ptr, len(data))
        view[self.ptr : self.ptr + len(data)] = data
        self.ptr += len(data)
        self.progress += n

    def read_values(self, n: int) -> list[Any]:
        """The next ``n`` elements lifted to Python values."""
        elem = self.elem
        if elem is None:
            self.progress += n
            return [None] * n
        out = [elem.load(self.cx, self.ptr + i * self.size) for i in range(n)]
        self.ptr += n * self.size
        self.progress += n
        return out

    def write_values(self, values: list[Any]) -> None:
        elem = self.elem
        if elem is not None:
            for i, v in enumerate(values):
                elem.store(self.cx, v, self.ptr + i * self.size)
            self.ptr += len(values) * self.size
        self.progress += len(values)


def copy_elements(dst: Any, src: Any, n: int, flat: bool) -> None:
    """Move ``n`` elements from ``src`` to ``dst`` (guest or host buffers)."""
    if isinstance(dst, GuestBuffer) and isinstance(src, GuestBuffer) and flat:
        dst.write_bytes(src.read_bytes(n), n)
    elif isinstance(dst, GuestBuffer) and flat and isinstance(src, HostBytes):
        dst.write_bytes(src.take(n), n)
    elif isinstance(src, GuestBuffer) and flat and isinstance(dst, HostBytes):
        dst.put(src.read_bytes(n), n)
    elif isinstance(src, HostBytes) and isinstance(dst, HostBytes):  # the host reads its own
        dst.put(bytes(src.take(n)), n)
    else:
        dst.write_values(src.read_values(n))


class HostBytes:
    """A host-side buffer of raw element bytes (``stream<u8>`` and other pointer-free types)."""

    def __init__(self, size: int, data: bytes = b"", capacity: int = 0) -> None:
        self.size = size
        self.data = data
        self.chunks: list[bytes] = []
        """What was written into this buffer (a read's result), one piece per copy."""
        self.offset = 0
        self.length = len(data) // size if data else capacity
        self.progress = 0

    def remain(self) -> int:
        return self.length - self.progress

    def take(self, n: int) -> memoryview:
        out = memoryview(self.data)[self.offset : self.offset + n * self.size]
        self.offset += n * self.size
        self.progress += n
        return out

    def put(self, data: bytes, n: int) -> None:
        self.chunks.append(data)
        self.progress += n

    def written(self) -> bytes:
        """Everything written (no copy when one copy filled it)."""
        return self.chunks[0] if len(self.chunks) == 1 else b"".join(self.chunks)


class HostValues:
    """A host-side buffer of Python values (element types with pointers or handles)."""

    def __init__(self, values: list[Any] | None = None, capacity: int = 0) -> None:
        self.values: list[Any] = list(values) if values is not None else []
        self.offset = 0
        self.length = len(self.values) if values is not None else capacity
        self.progress = 0

    def remain(self) -> int:
        return self.length - self.progress

    def read_values(self, n: int) -> list[Any]:
        out = self.values[self.offset : self.offset + n]
        self.offset += n
        self.progress += n
        return out

    def write_values(self, values: list[Any]) -> None:
        self.values.extend(values)
        self.progress += len(values)
