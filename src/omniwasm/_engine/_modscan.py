"""A core module's imports and exported functions, read straight from its binary.

wasmtime-py answers the same question through one FFI object per import and type, which costs
tens of microseconds per module; plugins link every module they load, so the engine reads the
type, import, function and export sections itself (pure Python, stops at the code section).
Anything unusual (GC types, 64-bit or custom-page limits, malformed bytes) returns None and the
caller asks the engine instead.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["FuncSig", "ModuleInterface", "module_interface"]

_MAGIC = b"\0asm"
_MODULE_VERSION = b"\x01\x00\x00\x00"

_VALTYPES = {0x7F: "i32", 0x7E: "i64", 0x7D: "f32", 0x7C: "f64", 0x7B: "v128"}
_VALTYPES.update({0x70: "funcref", 0x6F: "externref"})
FuncSig = tuple[tuple[str, ...], tuple[str, ...]]


@dataclass(frozen=True, slots=True)
class ModuleInterface:
    """A core module's imports and exported functions, read from its binary.

    ``imports`` is ``(module, name, signature or None)`` in declaration order (None for
    anything but a function); ``func_exports`` maps an exported function's name to its
    signature (param and result value types, as wasmtime writes them).
    """

    imports: list[tuple[str, str, FuncSig | None]]
    func_exports: dict[str, FuncSig]


class _Unusual(Exception):
    """A construct :func:`module_interface` leaves to the engine (GC types, 64-bit limits...)."""


def module_interface(data: bytes) -> ModuleInterface | None:
    """The imports and function exports of a core module binary, or None.

    A fast path for hosts that link the same modules often: None means "ask the engine" (the
    binary uses types this reader does not follow, e.g. GC rec groups, or is malformed; the
    engine validated it already, so nothing here needs to reject it).
    """
    try:
        return _interface(bytes(data))
    except (_Unusual, IndexError, KeyError, UnicodeDecodeError):
        return None


def _interface(data: bytes) -> ModuleInterface:
    if data[:4] != _MAGIC or data[4:8] != _MODULE_VERSION:
        raise _Unusual
    scan = _Scan(data)
    readers = {1: scan.types, 2: scan.imports, 3: scan.functions, 7: scan.exports}
    while scan.pos < scan.end:
        sid = data[scan.pos]
        scan.pos += 1
        stop = scan.leb() + scan.pos
        if sid == 10:
            break  # code, data and custom sections add no imports or exports
        read = readers.get(sid)
        if read is not None:
            read()
            if scan.pos != stop:
                raise _Unusual
        scan.pos = stop
    if scan.pos > scan.end:
        raise _Unusual
    return ModuleInterface(scan.imported, scan.exported)


class _Scan:
    """The sections :func:`module_interface` reads; ``pos`` moves through ``data``."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.end = len(data)
        self.pos = 8
        self.sigs: list[FuncSig] = []
        self.imported: list[tuple[str, str, FuncSig | None]] = []
        self.func_types: list[int] = []  # the type of every function: imported ones first
        self.exported: dict[str, FuncSig] = {}

    def leb(self) -> int:
        """A u32 (the one-byte case is by far the most common)."""
        data = self.data
        b = data[self.pos]
        self.pos += 1
        if b < 0x80:
            return b
        result, shift = b & 0x7F, 7
        while True:
            b = data[self.pos]
            self.pos += 1
            result |= (b & 0x7F) << shift
            if b < 0x80:
                return result
            shift += 7
            if shift > 28:
                raise _Unusual

    def byte(self) -> int:
        b = self.data[self.pos]
        self.pos += 1
        return b

    def name(self) -> str:
        n = self.leb()
        self.pos += n
        if self.pos > self.end:
            raise _Unusual
        return self.data[self.pos - n : self.pos].decode("utf-8")

    def valtypes(self) -> tuple[str, ...]:
        n = self.leb()
        if n == 1:  # most signatures have none or one of each
            return (_VALTYPES[self.byte()],)
        out = tuple(map(_VALTYPES.__getitem__, self.data[self.pos : self.pos + n]))  # KeyError
        self.pos += n
        return out

    def limits(self) -> None:
        flags = self.byte()
        if flags & ~0x03:  # 64-bit or custom page sizes: leave them to the engine
            raise _Unusual
        self.leb()
        if flags & 1:
            self.leb()

    def types(self) -> None:
        for _ in range(self.leb()):
            if self.byte() != 0x60:
                raise _Unusual
            params = self.valtypes()
            self.sigs.append((params, self.valtypes()))

    def imports(self) -> None:
        for _ in range(self.leb()):
            module, field = self.name(), self.name()
            kind = self.byte()
            sig: FuncSig | None = None
            if kind == 0:
                index = self.leb()
                self.func_types.append(index)
                sig = self.sigs[index]
            elif kind in (1, 3):  # table: reference type, limits; global: value type, mutability
                if self.byte() not in _VALTYPES:
                    raise _Unusual
                if kind == 1:
                    self.limits()
                else:
                    self.byte()
            elif kind == 2:
                self.limits()
            else:
                raise _Unusual
            self.imported.append((module, field, sig))

    def functions(self) -> None:
        self.func_types.extend(self.leb() for _ in range(self.leb()))

    def exports(self) -> None:
        for _ in range(self.leb()):
            name = self.name()
            kind = self.byte()
            index = self.leb()
            if kind == 0:
                self.exported[name] = self.sigs[self.func_types[index]]
