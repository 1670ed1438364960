"""The primitives of the WebAssembly binary format: header, LEB128, names, sections, constants.

Every pure-Python reader of wasm binaries in omniwasm is built on :class:`Reader`, so bounds,
LEB128 limits and UTF-8 names are checked in one place: anything malformed raises
:class:`BinaryError`, never ``IndexError`` or a silent wrong answer.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

__all__ = [
    "COMPONENT_VERSION",
    "MAGIC",
    "MODULE_VERSION",
    "BinaryError",
    "Reader",
    "const_instr",
    "header",
    "section_spans",
    "sections",
    "skip_const_expr",
    "sleb_bytes",
    "uleb_bytes",
]

MAGIC = b"\0asm"
MODULE_VERSION = b"\x01\x00\x00\x00"
COMPONENT_VERSION = b"\x0d\x00\x01\x00"


class BinaryError(ValueError):
    """The bytes are not a well-formed WebAssembly binary (truncated, bad LEB128, bad UTF-8)."""


class Reader:
    """A cursor over ``data[pos:end]`` that decodes the format's primitives.

    Args:
        data: the bytes (a ``memoryview`` slices without copying).
        pos: where to start.
        end: where to stop (the end of ``data`` by default).

    """

    __slots__ = ("data", "end", "pos")

    def __init__(self, data: bytes | memoryview, pos: int = 0, end: int | None = None) -> None:
        self.data = data
        self.pos = pos
        self.end = len(data) if end is None else end

    def done(self) -> bool:
        """Whether every byte up to ``end`` has been read."""
        return self.pos >= self.end

    def byte(self) -> int:
        """One byte.

        Raises:
            BinaryError: at the end.

        """
        pos = self.pos
        if pos >= self.end:
            raise BinaryError(f"unexpected end of data at offset {pos}")
        self.pos = pos + 1
        return self.data[pos]

    def u32(self) -> int:
        """An unsigned LEB128 integer of at most 32 bits (at most 5 bytes).

        Raises:
            BinaryError: truncated, longer than 5 bytes, or above ``2**32 - 1``.

        """
        b = self.byte()
        if b < 0x80:  # by far the most common case
            return b
        result, shift = b & 0x7F, 7
        for _ in range(4):
            b = self.byte()
            result |= (b & 0x7F) << shift
            if b < 0x80:
                if result > 0xFFFF_FFFF:
                    raise BinaryError(f"LEB128 value out of range at offset {self.pos}")
                return result
            shift += 7
        raise BinaryError(f"LEB128 value too long at offset {self.pos}")

    def uleb(self, max_bytes: int = 10) -> int:
        """An unsigned LEB128 integer of at most ``max_bytes`` bytes (10 for a u64).

        Raises:
            BinaryError: truncated or too long.

        """
        return self._leb(max_bytes, signed=False)

    def sleb(self, max_bytes: int) -> int:
        """A signed LEB128 integer of at most ``max_bytes`` bytes (5 for an s33, 10 for an s64).

        Raises:
            BinaryError: truncated or too long.

        """
        return self._leb(max_bytes, signed=True)

    def _leb(self, max_bytes: int, *, signed: bool) -> int:
        result = shift = 0
        for _ in range(max_bytes):
            b = self.byte()
            result |= (b & 0x7F) << shift
            shift += 7
            if b < 0x80:
                return result - (1 << shift) if signed and b & 0x40 else result
        raise BinaryError(f"LEB128 value too long at offset {self.pos}")

    def take(self, n: int) -> bytes | memoryview:
        """The next ``n`` bytes (a slice of ``data``).

        Raises:
            BinaryError: fewer than ``n`` bytes are left.

        """
        if n > self.end - self.pos:
            raise BinaryError(f"section of {n} bytes runs past the end at offset {self.pos}")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def name(self) -> str:
        """A length-prefixed UTF-8 name.

        Raises:
            BinaryError: truncated, or not UTF-8.

        """
        raw = bytes(self.take(self.u32()))
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise BinaryError(f"name is not UTF-8 at offset {self.pos}") from exc


def header(data: bytes | memoryview) -> str:
    """``"module"`` or ``"component"``, from the magic number and version.

    Raises:
        BinaryError: not a WebAssembly binary, or an unknown version.

    """
    if bytes(data[:4]) != MAGIC:
        raise BinaryError("missing the \\0asm magic number")
    version = bytes(data[4:8])
    if version == MODULE_VERSION:
        return "module"
    if version == COMPONENT_VERSION:
        return "component"
    raise BinaryError(f"unknown binary version {version.hex()}")


def section_spans(data: bytes | memoryview) -> Iterator[tuple[int, int, int, int]]:
    """Each section after the header: ``(id, header start, payload start, payload end)``.

    Raises:
        BinaryError: a section header is truncated or runs past the end.

    """
    r = Reader(data, 8)
    while not r.done():
        head = r.pos
        sid = r.byte()
        size = r.u32()
        start = r.pos
        r.take(size)
        yield sid, head, start, start + size


def sections(data: bytes | memoryview) -> Iterator[tuple[int, Reader]]:
    """Each section after the header: its id and a :class:`Reader` over its payload.

    Raises:
        BinaryError: a section header is truncated or runs past the end.

    """
    for sid, _, start, end in section_spans(data):
        yield sid, Reader(data, start, end)


def uleb_bytes(value: int) -> bytes:
    """``value`` (at least 0) as unsigned LEB128, in as few bytes as it takes."""
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if not value:
            out.append(byte)
            return bytes(out)
        out.append(byte | 0x80)


def sleb_bytes(value: int) -> bytes:
    """``value`` as signed LEB128, in as few bytes as it takes."""
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        done = (value == 0 and not byte & 0x40) or (value == -1 and byte & 0x40)
        out.append(byte if done else byte | 0x80)
        if done:
            return bytes(out)


def skip_const_expr(r: Reader) -> None:
    """Skip a constant expression up to and including its ``end``.

    Raises:
        BinaryError: an opcode that no constant expression may hold.

    """
    while True:
        op = r.byte()
        if op == 0x0B:
            return
        if op in (0x41, 0x42):
            r.sleb(10)
        elif op == 0x43:
            r.take(4)
        elif op == 0x44:
            r.take(8)
        elif op in (0x23, 0xD2):  # global.get, ref.func
            r.uleb()
        elif op == 0xD0:  # ref.null heaptype
            r.sleb(5)
        elif op == 0xFD:  # v128.const
            r.uleb()
            r.take(16)
        elif op in (0x6A, 0x6B, 0x6C, 0x7C, 0x7D, 0x7E):  # extended constant arithmetic
            continue
        else:
            raise BinaryError(f"unsupported opcode {op:#x} in a constant expression")


def const_instr(kind: str, value: float) -> bytes:
    """The ``i32/i64/f32/f64.const`` instruction for ``value`` (``kind`` names the type).

    Integers wrap to the type's width, as the guest stored them.
    """
    if kind == "i32":
        v = int(value) & 0xFFFFFFFF
        return b"\x41" + sleb_bytes(v - (1 << 32) if v >= 1 << 31 else v)
    if kind == "i64":
        v = int(value) & 0xFFFFFFFFFFFFFFFF
        return b"\x42" + sleb_bytes(v - (1 << 64) if v >= 1 << 63 else v)
    if kind == "f32":
        return b"\x43" + struct.pack("<f", float(value))
    return b"\x44" + struct.pack("<d", float(value))
