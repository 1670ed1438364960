"""A core module's imports and exports with their types, read straight from its binary.

Pure Python, and the engine's only source of core import/export types. Two reasons:

- wasmtime's C API aborts the whole process when asked the kind of a value type it cannot
  express (``wasm_valtype_kind`` on ``v128``, ``anyref``, a typed reference...) and panics
  reading a 64-bit table's limits (``wasm_tabletype_limits``). The types a guest declares are
  guest-controlled input, so they are never read through those calls.
- wasmtime-py answers the same question through one FFI object per import and type, which
  costs tens of microseconds per module; plugins link every module they load.

The reader follows everything wasmtime compiles: GC types (rec groups, subtypes, structs,
arrays, typed references), exceptions (tags, ``exnref``), memory64, table64, shared memories,
custom page sizes and multiple memories. It stops at the code section (exports come before it).
"""

from __future__ import annotations

from dataclasses import dataclass

from .reader import MAGIC, MODULE_VERSION, BinaryError, Reader

__all__ = [
    "PROBE_PREFIX",
    "CoreExtern",
    "FuncSig",
    "MemoryInfo",
    "ModuleInterface",
    "module_interface",
    "render_sig",
    "scan_module",
]

PROBE_PREFIX = "\0omniwasm:"
"""Exports omniwasm adds to a module for itself (``_engine.core.growprobe``): never shown."""

FuncSig = tuple[tuple[str, ...], tuple[str, ...]]
"""A function's parameter and result types as WebAssembly text writes them."""

_NUMERIC = {0x7F: "i32", 0x7E: "i64", 0x7D: "f32", 0x7C: "f64", 0x7B: "v128"}
# Abstract heap types: their text name, and the shorthand of the nullable reference to them.
_HEAP = {
    0x70: ("func", "funcref"),
    0x6F: ("extern", "externref"),
    0x6E: ("any", "anyref"),
    0x6D: ("eq", "eqref"),
    0x6C: ("i31", "i31ref"),
    0x6B: ("struct", "structref"),
    0x6A: ("array", "arrayref"),
    0x69: ("exn", "exnref"),
    0x74: ("noexn", "nullexnref"),
    0x73: ("nofunc", "nullfuncref"),
    0x72: ("noextern", "nullexternref"),
    0x71: ("none", "nullref"),
}
_KINDS = {0: "func", 1: "table", 2: "memory", 3: "global", 4: "tag"}


@dataclass(frozen=True, slots=True)
class CoreExtern:
    """One import or export of a core module.

    Args:
        module: the import's module name ("" for exports).
        name: the item's name.
        kind: ``func``, ``table``, ``memory``, ``global`` or ``tag``.
        type: the type as messages write it, e.g. ``func(i32) -> (i32)``, ``memory(1, 2)``.
        sig: a function's (or a tag's) parameter and result types; None for other kinds.

    """

    module: str
    name: str
    kind: str
    type: str
    sig: FuncSig | None = None


@dataclass(frozen=True, slots=True)
class MemoryInfo:
    """One memory of a module's memory index space (imported ones first)."""

    is64: bool
    page_size: int
    minimum: int
    maximum: int | None


@dataclass(frozen=True, slots=True)
class ModuleInterface:
    """A core module's imports and exports, read from its binary.

    ``imports`` is ``(module, name, signature or None)`` in declaration order (None for
    anything but a function); ``func_exports`` maps an exported function's name to its
    signature. ``import_types`` and ``export_types`` describe every item with its type;
    ``memories`` is the memory index space.
    """

    imports: list[tuple[str, str, FuncSig | None]]
    func_exports: dict[str, FuncSig]
    import_types: tuple[CoreExtern, ...] = ()
    export_types: tuple[CoreExtern, ...] = ()
    memories: tuple[MemoryInfo, ...] = ()


class _Malformed(Exception):
    """The bytes do not follow the binary format (or use a construct the reader lacks)."""


def render_sig(sig: FuncSig, word: str = "func") -> str:
    """``func(i32, i64) -> (f32)``: a signature as messages write it."""
    params, results = sig
    return f"{word}({', '.join(params)}) -> ({', '.join(results)})"


def module_interface(data: bytes | bytearray | memoryview) -> ModuleInterface | None:
    """The imports and exports of a core module binary, or None when it is malformed.

    The engine validated the module already, so None only happens for bytes that are not a
    module (or a construct newer than this reader: the caller then reports no types rather
    than asking the engine).
    """
    try:
        return _Scan(bytes(data)).run()
    except (_Malformed, BinaryError, IndexError, KeyError, ValueError):
        return None


def scan_module(data: bytes) -> _Scan | None:
    """The scanner after reading a module's header sections (its index spaces), or None."""
    try:
        scan = _Scan(bytes(data))
        scan.run()
    except (_Malformed, BinaryError, IndexError, KeyError, ValueError):
        return None
    return scan


class _Scan(Reader):
    """The sections the interface needs; ``pos`` moves through ``data``.

    After :meth:`run`: ``types`` (every type, rec groups flattened), ``funcs`` (each function's
    type index, imported first), ``globals`` and ``memories`` are the module's index spaces.
    """

    def __init__(self, data: bytes) -> None:
        if data[:4] != MAGIC or data[4:8] != MODULE_VERSION:
            raise _Malformed
        super().__init__(data, 8)
        self.types: list[tuple[str, FuncSig | None]] = []  # (kind, signature of a func type)
        self.funcs: list[int] = []  # the type index of every function, imported ones first
        self.tables: list[str] = []
        self.memories: list[MemoryInfo] = []
        self.memory_texts: list[str] = []
        self.globals: list[str] = []
        self.tags: list[int] = []
        self.imports: list[CoreExtern] = []
        self.exports: list[CoreExtern] = []

    def run(self) -> ModuleInterface:
        readers = {
            1: self.type_section,
            2: self.import_section,
            3: self.function_section,
            4: self.table_section,
            5: self.memory_section,
            6: self.global_section,
            7: self.export_section,
            13: self.tag_section,
        }
        while not self.done():
            sid = self.byte()
            size = self.u32()
            stop = self.pos + size
            if stop > self.end:
                raise _Malformed
            if sid == 10:
                break  # code, data and custom sections add no imports or exports
            read = readers.get(sid)
            if read is not None:
                read()
                if self.pos != stop:
                    raise _Malformed
            self.pos = stop
        imports = [(e.module, e.name, e.sig if e.kind == "func" else None) for e in self.imports]
        func_exports = {e.name: e.sig for e in self.exports if e.kind == "func" and e.sig}
        return ModuleInterface(
            imports,
            func_exports,
            tuple(self.imports),
            tuple(self.exports),
            tuple(self.memories),
        )

    # --- types -------------------------------------------------------------------------------

    def heaptype(self) -> tuple[str, str | None]:
        """A heap type's text name and, for abstract ones, the nullable shorthand."""
        b = self.data[self.pos]
        if b in _HEAP:
            self.pos += 1
            return _HEAP[b]
        index = self.sleb(5)
        if index < 0:
            raise _Malformed  # shared or future abstract heap types
        return f"${index}", None

    def valtype(self) -> str:
        b = self.byte()
        if b in _NUMERIC:
            return _NUMERIC[b]
        if b in _HEAP:
            return _HEAP[b][1]
        if b in (0x63, 0x64):  # (ref null ht), (ref ht)
            heap, short = self.heaptype()
            if b == 0x63:
                return short or f"(ref null {heap})"
            return f"(ref {heap})"
        raise _Malformed

    def valtypes(self) -> tuple[str, ...]:
        return tuple(self.valtype() for _ in range(self.u32()))

    def storage(self) -> None:
        if self.data[self.pos] in (0x78, 0x77):  # i8, i16 (packed struct/array fields)
            self.pos += 1
        else:
            self.valtype()
        if self.byte() > 1:
            raise _Malformed

    def comptype(self) -> tuple[str, FuncSig | None]:
        form = self.byte()
        if form == 0x60:
            params = self.valtypes()
            return "func", (params, self.valtypes())
        if form == 0x5F:
            for _ in range(self.u32()):
                self.storage()
            return "struct", None
        if form == 0x5E:
            self.storage()
            return "array", None
        raise _Malformed

    def subtype(self) -> tuple[str, FuncSig | None]:
        if self.data[self.pos] in (0x50, 0x4F):  # sub, sub final
            self.pos += 1
            for _ in range(self.u32()):
                self.u32()
        return self.comptype()

    def type_section(self) -> None:
        for _ in range(self.u32()):
            if self.data[self.pos] == 0x4E:  # rec group
                self.pos += 1
                self.types.extend(self.subtype() for _ in range(self.u32()))
            else:
                self.types.append(self.subtype())

    def func_sig(self, index: int) -> FuncSig:
        kind, sig = self.types[index]
        if kind != "func" or sig is None:
            raise _Malformed
        return sig

    def limits(self) -> tuple[bool, bool, int, int | None, int]:
        """``(is64, shared, min, max, page size)`` of a memory or table type."""
        flags = self.byte()
        if flags & ~0x0F:
            raise _Malformed
        is64 = bool(flags & 0x04)
        lo = self.uleb() if is64 else self.u32()
        hi = (self.uleb() if is64 else self.u32()) if flags & 0x01 else None
        page = 1 << self.u32() if flags & 0x08 else 65536
        return is64, bool(flags & 0x02), lo, hi, page

    def table_type(self) -> str:
        element = self.valtype()
        is64, _, lo, hi, _ = self.limits()
        bounds = f"{'i64 ' if is64 else ''}{lo}{'' if hi is None else f', {hi}'}"
        return f"table({bounds}, {element})"

    def memory_type(self) -> str:
        is64, shared, lo, hi, page = self.limits()
        self.memories.append(MemoryInfo(is64, page, lo, hi))
        bounds = f"{'i64 ' if is64 else ''}{lo}{'' if hi is None else f', {hi}'}"
        extra = (" shared" if shared else "") + ("" if page == 65536 else f" pagesize {page}")
        text = f"memory({bounds}){extra}"
        self.memory_texts.append(text)
        return text

    def global_type(self) -> str:
        content = self.valtype()
        mutable = self.byte()
        if mutable > 1:
            raise _Malformed
        return f"global({'mut ' if mutable else ''}{content})"

    def tag_type(self) -> int:
        if self.byte() != 0:  # the only tag attribute: exception
            raise _Malformed
        index = self.u32()
        self.func_sig(index)
        return index

    # --- sections ----------------------------------------------------------------------------

    def import_section(self) -> None:
        for _ in range(self.u32()):
            module, field = self.name(), self.name()
            kind = self.byte()
            sig: FuncSig | None = None
            if kind == 0:
                index = self.u32()
                sig = self.func_sig(index)
                self.funcs.append(index)
                text = render_sig(sig)
            elif kind == 1:
                text = self.table_type()
                self.tables.append(text)
            elif kind == 2:
                text = self.memory_type()
            elif kind == 3:
                text = self.global_type()
                self.globals.append(text)
            elif kind == 4:
                index = self.tag_type()
                self.tags.append(index)
                sig = self.func_sig(index)
                text = render_sig(sig, "tag")
            else:
                raise _Malformed
            self.imports.append(CoreExtern(module, field, _KINDS[kind], text, sig))

    def function_section(self) -> None:
        for _ in range(self.u32()):
            index = self.u32()
            self.func_sig(index)
            self.funcs.append(index)

    def table_section(self) -> None:
        for _ in range(self.u32()):
            if self.data[self.pos] == 0x40:  # a table with an initialiser expression
                self.pos += 1
                if self.byte() != 0:
                    raise _Malformed
                self.tables.append(self.table_type())
                self.const_expr()
            else:
                self.tables.append(self.table_type())

    def memory_section(self) -> None:
        for _ in range(self.u32()):
            self.memory_type()

    def global_section(self) -> None:
        for _ in range(self.u32()):
            self.globals.append(self.global_type())
            self.const_expr()

    def tag_section(self) -> None:
        for _ in range(self.u32()):
            self.tags.append(self.tag_type())

    def export_section(self) -> None:
        for _ in range(self.u32()):
            name = self.name()
            kind = self.byte()
            index = self.u32()
            sig: FuncSig | None = None
            if kind == 0:
                sig = self.func_sig(self.funcs[index])
                text = render_sig(sig)
            elif kind == 1:
                text = self.tables[index]
            elif kind == 2:
                text = self.memory_texts[index]
            elif kind == 3:
                text = self.globals[index]
            elif kind == 4:
                sig = self.func_sig(self.tags[index])
                text = render_sig(sig, "tag")
            else:
                raise _Malformed
            self.exports.append(CoreExtern("", name, _KINDS[kind], text, sig))

    def const_expr(self) -> None:
        """Skip an initialiser expression (the constant instructions wasmtime accepts)."""
        while True:
            op = self.byte()
            if op == 0x0B:  # end
                return
            if op in (0x41, 0x42):  # i32.const, i64.const
                self.sleb(10)
            elif op == 0x43:
                self.pos += 4
            elif op == 0x44:
                self.pos += 8
            elif op in (0x23, 0xD2):  # global.get, ref.func
                self.u32()
            elif op == 0xD0:  # ref.null
                self.heaptype()
            elif op in (0x6A, 0x6B, 0x6C, 0x7C, 0x7D, 0x7E):  # extended constant arithmetic
                pass
            elif op == 0xFD:  # v128.const
                if self.u32() != 12:
                    raise _Malformed
                self.pos += 16
            elif op == 0xFB:
                self._gc_const(self.u32())
            else:
                raise _Malformed

    def _gc_const(self, sub: int) -> None:
        if sub in (0, 1, 6, 7):  # struct.new, struct.new_default, array.new(_default)
            self.u32()
        elif sub == 8:  # array.new_fixed
            self.u32()
            self.u32()
        elif sub not in (26, 27, 28):  # any.convert_extern, extern.convert_any, ref.i31
            raise _Malformed
