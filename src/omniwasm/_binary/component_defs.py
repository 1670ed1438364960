"""The data of a parsed component: value types, types, definitions and :class:`Component`.

:func:`.component.parse_component` makes them (its module docstring says how they are laid
out); the encoding tables it reads canonical options and built-ins with stay here, beside the
types they produce. Import the types from here and the parser from :mod:`.component`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from .._errors import InvalidModule

__all__ = [
    "MAX_DEPTH",
    "PRIMITIVES",
    "SORTS",
    "Alias",
    "Borrow",
    "Canon",
    "CanonOptions",
    "Component",
    "ComponentType",
    "CoreFuncType",
    "CoreInlineExports",
    "CoreInstantiate",
    "CoreModule",
    "CoreModuleType",
    "CoreOtherType",
    "Decl",
    "Defined",
    "Enum",
    "Export",
    "ExternDesc",
    "Flags",
    "FuncType",
    "Future",
    "Import",
    "InlineExports",
    "InstanceType",
    "Instantiate",
    "List",
    "Option",
    "Own",
    "Prim",
    "Record",
    "ResourceType",
    "Result",
    "Start",
    "Stream",
    "Tuple",
    "TypeDef",
    "ValType",
    "Value",
    "Variant",
]

MAX_DEPTH = 64
"""How deeply components and types may nest before the binary is refused."""

PRIMITIVES = {
    0x7F: "bool",
    0x7E: "s8",
    0x7D: "u8",
    0x7C: "s16",
    0x7B: "u16",
    0x7A: "s32",
    0x79: "u32",
    0x78: "s64",
    0x77: "u64",
    0x76: "f32",
    0x75: "f64",
    0x74: "char",
    0x73: "string",
    0x64: "error-context",
}
"""Primitive value types by their opcode."""

_CORE_SORTS = {
    0x00: "core func",
    0x01: "core table",
    0x02: "core memory",
    0x03: "core global",
    0x10: "core type",
    0x11: "core module",
    0x12: "core instance",
}
_SORTS = {0x01: "func", 0x02: "value", 0x03: "type", 0x04: "component", 0x05: "instance"}
SORTS = (*_CORE_SORTS.values(), *_SORTS.values())
"""Every index space of a component."""

ValType = str | int
"""A value type: a primitive's name, or an index into the scope's type space."""


# --- value types -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Prim:
    """A defined type that is a primitive (``(type u32)``)."""

    name: str


@dataclass(frozen=True, slots=True)
class Record:
    """``record``: labelled fields in order."""

    fields: tuple[tuple[str, ValType], ...]


@dataclass(frozen=True, slots=True)
class Variant:
    """``variant``: labelled cases, each with an optional payload."""

    cases: tuple[tuple[str, ValType | None], ...]


@dataclass(frozen=True, slots=True)
class List:
    """``list<elem>``, or the fixed-size ``list<elem, length>``."""

    elem: ValType
    length: int | None = None


@dataclass(frozen=True, slots=True)
class Tuple:
    """``tuple<...>``."""

    items: tuple[ValType, ...]


@dataclass(frozen=True, slots=True)
class Flags:
    """``flags``."""

    names: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Enum:
    """``enum``."""

    names: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Option:
    """``option<inner>``."""

    inner: ValType


@dataclass(frozen=True, slots=True)
class Result:
    """``result<ok, err>``, either side optional."""

    ok: ValType | None
    err: ValType | None


@dataclass(frozen=True, slots=True)
class Own:
    """``own<resource>``: ``type`` indexes the resource type."""

    type: int


@dataclass(frozen=True, slots=True)
class Borrow:
    """``borrow<resource>``."""

    type: int


@dataclass(frozen=True, slots=True)
class Stream:
    """``stream<elem>`` (elem None: a stream without payload)."""

    elem: ValType | None


@dataclass(frozen=True, slots=True)
class Future:
    """``future<elem>``."""

    elem: ValType | None


Defined = (
    Prim | Record | Variant | List | Tuple | Flags | Enum | Option | Result | Own | Borrow | Stream
) | Future
"""A defined value type."""


# --- other types -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FuncType:
    """A component function type: named parameters, at most one result."""

    params: tuple[tuple[str, ValType], ...]
    result: ValType | None
    is_async: bool = False


@dataclass(frozen=True, slots=True)
class ResourceType:
    """A resource defined here: its core representation and destructor (a core func index)."""

    rep: str
    dtor: int | None
    callback: int | None = None
    is_async: bool = False


@dataclass(frozen=True, slots=True)
class ExternDesc:
    """What an import or export is: a sort and its type.

    ``index`` is the type index (``core module``, ``func``, ``component``, ``instance``), or for
    ``type`` the index an ``eq`` bound names (None for ``sub resource``); ``value`` describes a
    ``value`` import.
    """

    sort: str
    index: int | None = None
    bound: Literal["eq", "sub resource", ""] = ""
    value: ValType | None = None


@dataclass(frozen=True, slots=True)
class Alias:
    """An alias: ``export`` of an instance, ``core export`` of a core instance, or ``outer``.

    ``instance``/``name`` name the export; ``count``/``index`` the outer definition.
    """

    sort: str
    kind: Literal["export", "core export", "outer"]
    instance: int = 0
    name: str = ""
    count: int = 0
    index: int = 0


@dataclass(frozen=True, slots=True)
class Decl:
    """One declaration of a component or instance type (or of a core module type).

    ``kind`` is ``core type``, ``type``, ``alias``, ``export`` or ``import``; ``item`` is the type,
    the :class:`Alias`, or the :class:`ExternDesc` of a named export or import.
    """

    kind: str
    item: object
    name: str = ""


@dataclass(frozen=True, slots=True)
class ComponentType:
    """A component type: its declarations (with their own, initially empty, index spaces)."""

    decls: tuple[Decl, ...]


@dataclass(frozen=True, slots=True)
class InstanceType:
    """An instance type: its declarations."""

    decls: tuple[Decl, ...]


@dataclass(frozen=True, slots=True)
class CoreFuncType:
    """A core function type, as WebAssembly text writes its value types."""

    params: tuple[str, ...]
    results: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class CoreOtherType:
    """A core GC type (struct, array): kept only so core type indices count right."""

    kind: str


@dataclass(frozen=True, slots=True)
class CoreModuleType:
    """A core module type: imports ``(module, name, kind, type index or text)`` and exports."""

    decls: tuple[Decl, ...]


# --- definitions -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CoreModule:
    """A core module: its byte range in the outermost buffer."""

    offset: int
    size: int


@dataclass(frozen=True, slots=True)
class CoreInstantiate:
    """A core instance from a module and named core instance arguments."""

    module: int
    args: tuple[tuple[str, int], ...]


@dataclass(frozen=True, slots=True)
class CoreInlineExports:
    """A core instance made of named core items ("bag"): ``(name, core sort, index)``."""

    exports: tuple[tuple[str, str, int], ...]


@dataclass(frozen=True, slots=True)
class Instantiate:
    """A component instance from a component and named arguments ``(name, sort, index)``."""

    component: int
    args: tuple[tuple[str, str, int], ...]


@dataclass(frozen=True, slots=True)
class InlineExports:
    """A component instance made of named items: ``(name, sort, index)``."""

    exports: tuple[tuple[str, str, int], ...]


@dataclass(frozen=True, slots=True)
class CanonOptions:
    """The canonical options of a built-in (None or False when absent)."""

    encoding: Literal["utf8", "utf16", "latin1+utf16"] = "utf8"
    memory: int | None = None
    realloc: int | None = None
    post_return: int | None = None
    is_async: bool = False
    callback: int | None = None
    core_type: int | None = None
    gc: bool = False


@dataclass(frozen=True, slots=True)
class Canon:
    """A ``canon`` definition.

    ``op`` is the built-in's name (``lift``, ``lower``, ``resource.new``, ``stream.read`` ...).
    ``index`` is its first immediate: the core func of ``lift``, the func of ``lower``, the type
    of ``resource.*``/``stream.*``/``future.*``/``task.return``'s result, the memory of
    ``waitable-set.wait``; ``type`` the function type of ``lift`` (or ``thread.*``'s table);
    ``flag`` the ``async``/``cancellable``/``shared`` immediate. Everything but ``lift``
    defines a core function.
    """

    op: str
    index: int | None = None
    type: int | None = None
    options: CanonOptions = field(default_factory=CanonOptions)
    flag: bool = False
    result: ValType | None = None
    core_valtype: str = ""


@dataclass(frozen=True, slots=True)
class Start:
    """A start function: ``func`` called with the values ``args``, giving ``results`` values."""

    func: int
    args: tuple[int, ...]
    results: int


@dataclass(frozen=True, slots=True)
class Import:
    """An import: its name and what it is."""

    name: str
    desc: ExternDesc


@dataclass(frozen=True, slots=True)
class Export:
    """An export of the item ``(sort, index)``, optionally ascribed a type."""

    name: str
    sort: str
    index: int
    desc: ExternDesc | None = None


@dataclass(frozen=True, slots=True)
class Value:
    """A value definition (🪙): its type and encoded bytes' range."""

    type: ValType
    offset: int
    size: int


TypeDef = Defined | FuncType | ResourceType | ComponentType | InstanceType


@dataclass(eq=False, slots=True)
class Component:
    """A parsed component.

    Attributes:
        offset: where its binary starts in the outermost buffer.
        size: its binary's size.
        definitions: every definition in binary order.
        spaces: each sort's index space (:data:`SORTS`); an entry is the definition that
            created the index (an :class:`Import`, :class:`Alias`, :class:`Export`, a type...).
        imports: the imports, in order.
        exports: the exports, in order.
        components: the nested components parsed (also in ``spaces["component"]``).
        parent: the enclosing component (outer aliases count outwards through it).

    """

    offset: int
    size: int
    definitions: list[object] = field(default_factory=list)
    spaces: dict[str, list[object]] = field(default_factory=lambda: {s: [] for s in SORTS})
    imports: list[Import] = field(default_factory=list)
    exports: list[Export] = field(default_factory=list)
    parent: Component | None = None

    def __repr__(self) -> str:
        counts = ", ".join(f"{s}={len(v)}" for s, v in self.spaces.items() if v)
        return f"<Component {self.size} bytes at {self.offset}: {counts}>"

    def module_bytes(self, data: bytes | memoryview, index: int) -> memoryview:
        """The bytes of core module ``index`` (an alias of an outer module is followed).

        Raises:
            InvalidModule: the index is out of range, or not a module defined in a component.

        """
        item = _lookup(self, "core module", index)
        if not isinstance(item, CoreModule):
            raise InvalidModule(f"core module {index} is not defined in a component")
        return memoryview(data)[item.offset : item.offset + item.size]


def _lookup(component: Component, sort: str, index: int) -> object:
    """The definition behind ``index`` in ``sort``, following outer aliases."""
    seen = 0
    scope: Component | None = component
    while scope is not None and seen <= MAX_DEPTH:
        space = scope.spaces[sort]
        if not 0 <= index < len(space):
            raise InvalidModule(f"{sort} index {index} out of range")
        item = space[index]
        if isinstance(item, Alias) and item.kind == "outer":
            for _ in range(item.count):
                scope = scope.parent if scope is not None else None
            index = item.index
            seen += 1
            continue
        return item
    raise InvalidModule(f"outer alias of {sort} leaves the component")


_INDEXED_OPTIONS = {0x03: "memory", 0x04: "realloc", 0x05: "post_return", 0x07: "callback"}
_INDEXED_OPTIONS[0x08] = "core_type"

# op -> (name, immediates): t a type index, opts canonical options, flag an async/cancellable/
# shared byte, m a memory index, tbl a table index.
_CANON_SHAPES: dict[int, tuple[str, str]] = {
    0x02: ("resource.new", "t"),
    0x03: ("resource.drop", "t"),
    0x07: ("resource.drop async", "t"),
    0x04: ("resource.rep", "t"),
    0x05: ("task.cancel", ""),
    0x06: ("subtask.cancel", "flag"),
    0x08: ("backpressure.set", ""),
    0x0C: ("thread.yield", "flag"),
    0x0D: ("subtask.drop", ""),
    0x0E: ("stream.new", "t"),
    0x0F: ("stream.read", "t opts"),
    0x10: ("stream.write", "t opts"),
    0x11: ("stream.cancel-read", "t flag"),
    0x12: ("stream.cancel-write", "t flag"),
    0x13: ("stream.drop-readable", "t"),
    0x14: ("stream.drop-writable", "t"),
    0x15: ("future.new", "t"),
    0x16: ("future.read", "t opts"),
    0x17: ("future.write", "t opts"),
    0x18: ("future.cancel-read", "t flag"),
    0x19: ("future.cancel-write", "t flag"),
    0x1A: ("future.drop-readable", "t"),
    0x1B: ("future.drop-writable", "t"),
    0x1C: ("error-context.new", "opts"),
    0x1D: ("error-context.debug-message", "opts"),
    0x1E: ("error-context.drop", ""),
    0x1F: ("waitable-set.new", ""),
    0x20: ("waitable-set.wait", "flag m"),
    0x21: ("waitable-set.poll", "flag m"),
    0x22: ("waitable-set.drop", ""),
    0x23: ("waitable.join", ""),
    0x24: ("backpressure.inc", ""),
    0x25: ("backpressure.dec", ""),
    0x26: ("thread.index", ""),
    0x27: ("thread.new-indirect", "t tbl"),
    0x28: ("thread.resume-later", ""),
    0x29: ("thread.suspend", "flag"),
    0x2A: ("thread.suspend-then-resume", "flag"),
    0x2B: ("thread.yield-then-resume", "flag"),
    0x2C: ("thread.suspend-then-promote", "flag"),
    0x2D: ("thread.yield-then-promote", "flag"),
    0x2E: ("stream.forward", "t"),
    0x2F: ("future.forward", "t"),
    0x40: ("thread.spawn-ref", "flag t"),
    0x41: ("thread.spawn-indirect", "flag t tbl"),
    0x42: ("thread.available-parallelism", "flag"),
}
