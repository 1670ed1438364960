"""A component binary, parsed in full: every section, nested components, index spaces.

Pure Python, no engine. :func:`parse_component` reads the component-model binary format
(``Binary.md`` of WebAssembly/component-model, with the async and thread built-ins wasm-tools
1.2xx writes) into the plain frozen dataclasses of :mod:`.component_defs`:

- core modules stay bytes: a :class:`CoreModule` is a byte range of the outermost buffer, so an
  11 MB module is never walked (hand ``data[m.offset : m.offset + m.size]`` to the engine);
- every definition lands, in binary order, in :attr:`Component.definitions` and in the index
  space of its sort (:attr:`Component.spaces`, keyed by :data:`SORTS`), exports and aliases
  included, exactly as the binary's indices count them;
- value types are a primitive name (``"u32"``, ``"string"``, ``"error-context"``) or a type
  index into the enclosing scope's ``"type"`` space; component and instance types keep their
  declarations (their index spaces start empty, as the format says).

Hostile input ends in :class:`~omniwasm.InvalidModule`: every count is checked against the bytes
left before anything is allocated, nesting (components in components, types in types) is
bounded by :data:`MAX_DEPTH`, sections must be consumed exactly, and the work is linear in the
size of the input. Nothing is validated beyond the encoding (wasmtime validates the component
once per artifact); indices are not checked against their spaces here.
"""

from __future__ import annotations

from .._errors import InvalidModule
from .component_defs import (
    _CANON_SHAPES,
    _CORE_SORTS,
    _INDEXED_OPTIONS,
    _SORTS,
    MAX_DEPTH,
    PRIMITIVES,
    Alias,
    Borrow,
    Canon,
    CanonOptions,
    Component,
    ComponentType,
    CoreFuncType,
    CoreInlineExports,
    CoreInstantiate,
    CoreModule,
    CoreModuleType,
    CoreOtherType,
    Decl,
    Defined,
    Enum,
    Export,
    ExternDesc,
    Flags,
    FuncType,
    Future,
    Import,
    InlineExports,
    InstanceType,
    Instantiate,
    List,
    Option,
    Own,
    Prim,
    Record,
    ResourceType,
    Result,
    Start,
    Stream,
    Tuple,
    TypeDef,
    ValType,
    Value,
    Variant,
)
from .module import _Malformed, _Scan
from .reader import COMPONENT_VERSION, MAGIC, MODULE_VERSION, BinaryError

__all__ = ["parse_component"]

_MAX_START_RESULTS = 1000  # the value index space a start function may add to (🪙, rare)


# --- the parser --------------------------------------------------------------------------------


def parse_component(data: bytes | bytearray | memoryview) -> Component:
    """Parse a component binary.

    Args:
        data: the whole binary (kept by reference: core modules are ranges of it).

    Raises:
        InvalidModule: not a component, or malformed anywhere (truncated, bad LEB128, unknown
            opcode, a section not consumed exactly, nesting beyond :data:`MAX_DEPTH`).

    """
    view = memoryview(data).cast("B") if not isinstance(data, bytes) else data
    if bytes(view[:4]) != MAGIC or bytes(view[4:8]) != COMPONENT_VERSION:
        raise InvalidModule("not a component binary (bad magic or version)")
    parser = _Parser(view)
    try:
        return parser.component(8, len(view), None, 0)
    except (BinaryError, _Malformed, IndexError) as exc:
        where = f" at offset {parser.pos}"
        raise InvalidModule(f"malformed component{where}: {exc or 'bad encoding'}") from None


class _Parser(_Scan):
    """Reads component productions; ``pos`` moves through the whole buffer."""

    def __init__(self, data: bytes | memoryview) -> None:
        # _Scan's own __init__ checks a core module header; only its state is wanted here.
        self.data = data
        self.pos = 0
        self.end = len(data)
        self.types = []
        self.memories = []
        self.memory_texts = []

    # --- primitives ------------------------------------------------------------------------

    def count(self, min_size: int = 1) -> int:
        """A vector length, refused when the bytes left cannot hold that many items."""
        n = self.u32()
        if n * min_size > self.end - self.pos:
            raise BinaryError(f"vector of {n} items is longer than the bytes left")
        return n

    def flag(self) -> bool:
        b = self.byte()
        if b > 1:
            raise BinaryError(f"expected 0 or 1, found {b:#x}")
        return b == 1

    def zero(self) -> None:
        if self.byte() != 0:
            raise BinaryError("expected a 0x00 byte")

    def core_sort(self) -> str:
        b = self.byte()
        sort = _CORE_SORTS.get(b)
        if sort is None:
            raise BinaryError(f"unknown core sort {b:#x}")
        return sort

    def sort(self) -> str:
        b = self.byte()
        if b == 0x00:
            return self.core_sort()
        sort = _SORTS.get(b)
        if sort is None:
            raise BinaryError(f"unknown sort {b:#x}")
        return sort

    def extern_name(self) -> str:
        """An import or export name (``0x00``/``0x01`` then the name)."""
        b = self.byte()
        if b not in (0x00, 0x01):
            raise BinaryError(f"unknown name form {b:#x}")
        return self.name()

    # --- the component -------------------------------------------------------------------

    def component(self, start: int, end: int, parent: Component | None, depth: int) -> Component:
        if depth > MAX_DEPTH:
            raise BinaryError(f"components nested deeper than {MAX_DEPTH}")
        comp = Component(start - 8, end - start + 8, parent=parent)
        self.pos, self.end = start, end
        while self.pos < end:
            sid = self.byte()
            size = self.u32()
            stop = self.pos + size
            if stop > end:
                raise BinaryError(f"section of {size} bytes runs past the end")
            self.end = stop
            self.section(comp, sid, stop, depth)
            if self.pos != stop:
                raise BinaryError(f"section {sid} has {stop - self.pos} trailing bytes")
            self.pos, self.end = stop, end
        return comp

    def section(self, comp: Component, sid: int, stop: int, depth: int) -> None:
        if sid == 0:  # custom
            self.name()
            self.pos = stop
        elif sid == 1:
            module = CoreModule(self.pos, stop - self.pos)
            if bytes(self.data[self.pos : self.pos + 8]) != MAGIC + MODULE_VERSION:
                raise BinaryError("a core module section does not hold a core module")
            self.pos = stop
            self.add(comp, "core module", module)
        elif sid == 4:
            if bytes(self.data[self.pos : self.pos + 8]) != MAGIC + COMPONENT_VERSION:
                raise BinaryError("a component section does not hold a component")
            nested = self.component(self.pos + 8, stop, comp, depth + 1)
            self.pos = stop
            self.add(comp, "component", nested)
        elif sid == 9:
            func = self.u32()
            args = tuple(self.u32() for _ in range(self.count()))
            results = self.u32()
            if results > _MAX_START_RESULTS:
                raise BinaryError(f"a start function with {results} results")
            start = Start(func, args, results)
            comp.definitions.append(start)
            comp.spaces["value"].extend([start] * results)
        else:
            reader = _SECTION_READERS.get(sid)
            if reader is None:
                raise BinaryError(f"unknown component section {sid}")
            for _ in range(self.count()):
                reader(self, comp, depth)

    def add(self, comp: Component, sort: str, item: object) -> None:
        comp.definitions.append(item)
        comp.spaces[sort].append(item)

    def core_instance(self, comp: Component, depth: int) -> None:
        kind = self.byte()
        if kind == 0x00:
            module = self.u32()
            args = []
            for _ in range(self.count(3)):
                name = self.name()
                if self.byte() != 0x12:
                    raise BinaryError("a core instantiation argument must be an instance")
                args.append((name, self.u32()))
            self.add(comp, "core instance", CoreInstantiate(module, tuple(args)))
        elif kind == 0x01:
            exports = []
            for _ in range(self.count(3)):
                name = self.name()
                exports.append((name, self.core_sort(), self.u32()))
            self.add(comp, "core instance", CoreInlineExports(tuple(exports)))
        else:
            raise BinaryError(f"unknown core instance form {kind:#x}")

    def instance(self, comp: Component, depth: int) -> None:
        kind = self.byte()
        items = []
        if kind == 0x00:
            component = self.u32()
            for _ in range(self.count(3)):
                name = self.name()
                items.append((name, self.sort(), self.u32()))
            self.add(comp, "instance", Instantiate(component, tuple(items)))
        elif kind == 0x01:
            for _ in range(self.count(4)):
                name = self.extern_name()
                items.append((name, self.sort(), self.u32()))
            self.add(comp, "instance", InlineExports(tuple(items)))
        else:
            raise BinaryError(f"unknown instance form {kind:#x}")

    def alias(self) -> Alias:
        sort = self.sort()
        target = self.byte()
        if target == 0x00:
            return Alias(sort, "export", instance=self.u32(), name=self.name())
        if target == 0x01:
            if not sort.startswith("core "):
                raise BinaryError("a core export alias must have a core sort")
            return Alias(sort, "core export", instance=self.u32(), name=self.name())
        if target == 0x02:
            return Alias(sort, "outer", count=self.u32(), index=self.u32())
        raise BinaryError(f"unknown alias target {target:#x}")

    def alias_def(self, comp: Component, depth: int) -> None:
        a = self.alias()
        self.add(comp, a.sort, a)

    def core_type_def(self, comp: Component, depth: int) -> None:
        for t in self.core_type(depth):
            self.add(comp, "core type", t)

    def type_def(self, comp: Component, depth: int) -> None:
        self.add(comp, "type", self.type(depth))

    def canon_def(self, comp: Component, depth: int) -> None:
        c = self.canon()
        self.add(comp, "func" if c.op == "lift" else "core func", c)

    def import_def(self, comp: Component, depth: int) -> None:
        imp = Import(self.extern_name(), self.extern_desc())
        comp.imports.append(imp)
        self.add(comp, imp.desc.sort, imp)

    def export_def(self, comp: Component, depth: int) -> None:
        name = self.extern_name()
        sort = self.sort()
        index = self.u32()
        desc = self.extern_desc() if self.flag() else None
        exp = Export(name, sort, index, desc)
        comp.exports.append(exp)
        self.add(comp, sort, exp)

    def value_def(self, comp: Component, depth: int) -> None:
        vt = self.val()
        size = self.u32()
        start = self.pos
        self.take(size)
        self.add(comp, "value", Value(vt, start, size))

    # --- types ---------------------------------------------------------------------------

    def val(self) -> ValType:
        b = self.data[self.pos] if self.pos < self.end else -1
        prim = PRIMITIVES.get(b)
        if prim is not None:
            self.pos += 1
            return prim
        index = self.sleb(5)
        if index < 0:
            raise BinaryError(f"unknown value type {b:#x}")
        return index

    def opt_valtype(self) -> ValType | None:
        return self.val() if self.flag() else None

    def labels(self) -> tuple[str, ...]:
        return tuple(self.name() for _ in range(self.count()))

    def defined(self, opcode: int) -> Defined:
        prim = PRIMITIVES.get(opcode)
        if prim is not None:
            return Prim(prim)
        if opcode == 0x72:
            return Record(tuple((self.name(), self.val()) for _ in range(self.count(2))))
        if opcode == 0x71:
            cases = []
            for _ in range(self.count(3)):
                name = self.name()
                payload = self.opt_valtype()
                if self.flag():  # a vestigial `refines` index
                    self.u32()
                cases.append((name, payload))
            return Variant(tuple(cases))
        if opcode == 0x70:
            return List(self.val())
        if opcode == 0x67:
            return List(self.val(), self.u32())
        if opcode == 0x6F:
            return Tuple(tuple(self.val() for _ in range(self.count())))
        if opcode == 0x6E:
            return Flags(self.labels())
        if opcode == 0x6D:
            return Enum(self.labels())
        if opcode == 0x6B:
            return Option(self.val())
        if opcode == 0x6A:
            return Result(self.opt_valtype(), self.opt_valtype())
        if opcode == 0x69:
            return Own(self.u32())
        if opcode == 0x68:
            return Borrow(self.u32())
        if opcode == 0x66:
            return Stream(self.opt_valtype())
        if opcode == 0x65:
            return Future(self.opt_valtype())
        raise BinaryError(f"unknown type opcode {opcode:#x}")

    def type(self, depth: int) -> TypeDef:
        if depth > MAX_DEPTH:
            raise BinaryError(f"types nested deeper than {MAX_DEPTH}")
        opcode = self.byte()
        if opcode in (0x40, 0x43):
            params = tuple((self.name(), self.val()) for _ in range(self.count(2)))
            form = self.byte()
            if form == 0x00:
                result: ValType | None = self.val()
            elif form == 0x01:
                named = [(self.name(), self.val()) for _ in range(self.count(2))]
                if len(named) > 1:
                    raise BinaryError("a function has at most one result")
                result = named[0][1] if named else None
            else:
                raise BinaryError(f"unknown result list form {form:#x}")
            return FuncType(params, result, opcode == 0x43)
        if opcode in (0x41, 0x42):
            decls = tuple(self.decl(depth + 1, opcode == 0x41) for _ in range(self.count()))
            return ComponentType(decls) if opcode == 0x41 else InstanceType(decls)
        if opcode in (0x3F, 0x3E):
            if self.byte() != 0x7F:
                raise BinaryError("a resource's representation must be i32")
            dtor = self.u32() if self.flag() else None
            callback = (self.u32() if self.flag() else None) if opcode == 0x3E else None
            return ResourceType("i32", dtor, callback, opcode == 0x3E)
        return self.defined(opcode)

    def decl(self, depth: int, component: bool) -> Decl:
        kind = self.byte()
        if kind == 0x03 and component:
            name = self.extern_name()
            return Decl("import", self.extern_desc(), name)
        if kind == 0x00:
            types = self.core_type(depth)
            if len(types) != 1:
                return Decl("core type", types)
            return Decl("core type", types[0])
        if kind == 0x01:
            return Decl("type", self.type(depth))
        if kind == 0x02:
            return Decl("alias", self.alias())
        if kind == 0x04:
            name = self.extern_name()
            return Decl("export", self.extern_desc(), name)
        raise BinaryError(f"unknown type declaration {kind:#x}")

    def extern_desc(self) -> ExternDesc:
        b = self.byte()
        if b == 0x00:
            if self.byte() != 0x11:
                raise BinaryError("a core extern must be a module")
            return ExternDesc("core module", self.u32())
        if b == 0x01:
            return ExternDesc("func", self.u32())
        if b == 0x02:
            if self.byte() == 0x00:
                return ExternDesc("value", self.u32(), "eq")
            return ExternDesc("value", value=self.val())
        if b == 0x03:
            bound = self.byte()
            if bound == 0x00:
                return ExternDesc("type", self.u32(), "eq")
            if bound == 0x01:
                return ExternDesc("type", None, "sub resource")
            raise BinaryError(f"unknown type bound {bound:#x}")
        if b == 0x04:
            return ExternDesc("component", self.u32())
        if b == 0x05:
            return ExternDesc("instance", self.u32())
        raise BinaryError(f"unknown extern kind {b:#x}")

    # --- core types ----------------------------------------------------------------------

    def core_type(self, depth: int) -> list[object]:
        """One core type definition: a module type, or a rec group of GC/function types."""
        b = self.data[self.pos] if self.pos < self.end else -1
        if b == 0x50:
            self.pos += 1
            return [CoreModuleType(tuple(self.module_decl() for _ in range(self.count())))]
        if b == 0x00:  # a non-final `sub` at the top of a component, prefixed by 0x00
            self.pos += 1
            if self.data[self.pos] != 0x50:
                raise BinaryError("expected a non-final sub type")
        return self.rec_group()

    def rec_group(self) -> list[object]:
        if self.data[self.pos] == 0x4E:
            self.pos += 1
            return [self.core_subtype() for _ in range(self.count())]
        return [self.core_subtype()]

    def core_subtype(self) -> object:
        kind, sig = self.subtype()
        if sig is not None:
            return CoreFuncType(*sig)
        return CoreOtherType(kind)

    def module_decl(self) -> Decl:
        kind = self.byte()
        if kind == 0x00:
            module, name = self.name(), self.name()
            return Decl("import", (module, *self.core_importdesc()), name)
        if kind == 0x01:
            types = self.rec_group()
            return Decl("core type", types[0] if len(types) == 1 else tuple(types))
        if kind == 0x02:
            if self.byte() != 0x10 or self.byte() != 0x01:
                raise BinaryError("a module type may only alias outer core types")
            return Decl("alias", Alias("core type", "outer", count=self.u32(), index=self.u32()))
        if kind == 0x03:
            name = self.name()
            return Decl("export", ("", *self.core_importdesc()), name)
        raise BinaryError(f"unknown module type declaration {kind:#x}")

    def core_importdesc(self) -> tuple[str, int | str]:
        b = self.byte()
        if b == 0x00:
            return "func", self.u32()
        if b == 0x01:
            return "table", self.table_type()
        if b == 0x02:
            return "memory", self.memory_type()
        if b == 0x03:
            return "global", self.global_type()
        if b == 0x04:
            if self.byte() != 0:
                raise BinaryError("unknown tag attribute")
            return "tag", self.u32()
        raise BinaryError(f"unknown core import kind {b:#x}")

    # --- canon ---------------------------------------------------------------------------

    def options(self) -> CanonOptions:
        values: dict[str, object] = {}
        for _ in range(self.count()):
            b = self.byte()
            key: str
            value: object
            if b in (0x00, 0x01, 0x02):
                key, value = "encoding", ("utf8", "utf16", "latin1+utf16")[b]
            elif b in _INDEXED_OPTIONS:
                key, value = _INDEXED_OPTIONS[b], self.u32()
            elif b == 0x06:
                key, value = "is_async", True
            elif b == 0x09:
                key, value = "gc", True
            else:
                raise BinaryError(f"unknown canonical option {b:#x}")
            if key in values:
                raise BinaryError(f"canonical option {key} given twice")
            values[key] = value
        return CanonOptions(**values)  # type: ignore[arg-type]

    def canon(self) -> Canon:
        op = self.byte()
        if op == 0x00:
            self.zero()
            func = self.u32()
            opts = self.options()
            return Canon("lift", func, self.u32(), opts)
        if op == 0x01:
            self.zero()
            return Canon("lower", self.u32(), options=self.options())
        if op == 0x09:
            form = self.byte()
            if form == 0x00:
                result = self.val()
            elif form == 0x01:
                if self.count(2) != 0:
                    raise BinaryError("task.return has at most one result")
                result = None
            else:
                raise BinaryError(f"unknown result list form {form:#x}")
            return Canon("task.return", result=result, options=self.options())
        if op in (0x0A, 0x0B):
            vt = self.byte()
            if vt != 0x7F:
                raise BinaryError("context slots are i32")
            return Canon(("context.get", "context.set")[op - 0x0A], self.u32(), core_valtype="i32")
        shape = _CANON_SHAPES.get(op)
        if shape is None:
            raise BinaryError(f"unknown canonical built-in {op:#x}")
        name, imm = shape
        if imm == "":
            return Canon(name)
        if imm == "t":
            return Canon(name, self.u32())
        if imm == "t opts":
            return Canon(name, self.u32(), options=self.options())
        if imm == "t flag":
            return Canon(name, self.u32(), flag=self.flag())
        if imm == "opts":
            return Canon(name, options=self.options())
        if imm == "flag":
            return Canon(name, flag=self.flag())
        if imm == "flag m":
            return Canon(name, flag=self.flag(), index=self.u32())
        if imm == "t tbl":
            return Canon(name, self.u32(), self.u32())
        if imm == "flag t":
            return Canon(name, flag=self.flag(), index=self.u32())
        # "flag t tbl"
        flag = self.flag()
        return Canon(name, self.u32(), self.u32(), flag=flag)


_SECTION_READERS = {
    2: _Parser.core_instance,
    3: _Parser.core_type_def,
    5: _Parser.instance,
    6: _Parser.alias_def,
    7: _Parser.type_def,
    8: _Parser.canon_def,
    10: _Parser.import_def,
    11: _Parser.export_def,
    12: _Parser.value_def,
}
