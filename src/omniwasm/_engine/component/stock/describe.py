"""Describe the imports and exports of compiled code with readable types.

Core types render as WebAssembly text writes them (``func(i32, i32) -> (i32)``); component
types render in WIT (``func(doc: document, max-words: u32) -> result<summary, string>``).

Wasmtime's component types are structural: a record knows its fields but not its WIT name.
Names come from the type exports of the enclosing instance (wit-component exports every named
type an interface uses), matched by wasmtime's type equality; unmatched types render inline.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import wasmtime
from wasmtime import component as wc

from ..._coretypes import describe_native, interface_of
from ...artifact import Artifact

__all__ = ["WitItem", "exports_of", "imports_of", "render_world", "world_of"]

_PRIMITIVES: dict[type[Any], str] = {
    wc.Bool: "bool",
    wc.S8: "s8",
    wc.S16: "s16",
    wc.S32: "s32",
    wc.S64: "s64",
    wc.U8: "u8",
    wc.U16: "u16",
    wc.U32: "u32",
    wc.U64: "u64",
    wc.F32: "f32",
    wc.F64: "f64",
    wc.Char: "char",
    wc.String: "string",
    wc.ErrorContext: "error-context",
}
# Types WIT names nominally: a use of one of these is rendered by its name when it has one.
_NOMINAL = (wc.RecordType, wc.VariantType, wc.EnumType, wc.FlagsType)
_Instances = (wc.ComponentInstanceType, wc.ModuleType, wc.ComponentType)


@dataclass(frozen=True, slots=True)
class WitItem:
    """One item of a component's world, already rendered (no wasmtime objects inside).

    Args:
        name: the item's name (``my:pkg/iface``, ``summarize``, ``document``...).
        kind: ``interface``, ``func``, ``type``, ``resource``, ``module`` or ``component``.
        type: the WIT rendering: a signature for functions, the definition for types
            (``record { a: u32 }``), ``interface`` / ``resource`` / ``module`` otherwise.
        items: the members of an interface.

    """

    name: str
    kind: str
    type: str
    items: tuple[WitItem, ...] = ()


class _Names:
    """Named types in scope: the enclosing instance's type exports first, then the world's."""

    def __init__(self, local: Sequence[tuple[str, Any]], outer: _Names | None = None) -> None:
        self.local = list(local)
        self.outer = outer

    def lookup(self, ty: Any) -> str | None:
        for name, candidate in self.local:
            if type(candidate) is type(ty) and _equal(candidate, ty):
                return name
        return self.outer.lookup(ty) if self.outer is not None else None


def _equal(a: Any, b: Any) -> bool:
    try:
        return bool(a == b)
    except (wasmtime.WasmtimeError, TypeError, ValueError):
        return False


def _resource_name(res: Any, names: _Names) -> str:
    found = names.lookup(res)
    return found if found is not None else "resource"


def render_valtype(ty: Any, names: _Names) -> str:
    """Render a use of a component value type in WIT (named types by name)."""
    prim = _PRIMITIVES.get(type(ty))
    if prim is not None:
        return prim
    if isinstance(ty, _NOMINAL):
        found = names.lookup(ty)
        if found is not None:
            return found
        return _structure(ty, names)
    if isinstance(ty, wc.OwnType):
        return _resource_name(ty.ty, names)
    if isinstance(ty, wc.BorrowType):
        return f"borrow<{_resource_name(ty.ty, names)}>"
    return _structure(ty, names)


def _fields(pairs: Iterable[tuple[str, Any]], names: _Names) -> str:
    return ", ".join(f"{n}: {render_valtype(t, names)}" for n, t in pairs)


def _structure(ty: Any, names: _Names) -> str:
    """Render a value type's own structure (for definitions and anonymous uses)."""
    if isinstance(ty, wc.ListType):
        return f"list<{render_valtype(ty.element, names)}>"
    if isinstance(ty, wc.TupleType):
        return f"tuple<{', '.join(render_valtype(t, names) for t in ty.elements)}>"
    if isinstance(ty, wc.OptionType):
        return f"option<{render_valtype(ty.payload, names)}>"
    if isinstance(ty, wc.ResultType):
        ok, err = ty.ok, ty.err
        if ok is None and err is None:
            return "result"
        if err is None:
            return f"result<{render_valtype(ok, names)}>"
        left = "_" if ok is None else render_valtype(ok, names)
        return f"result<{left}, {render_valtype(err, names)}>"
    if isinstance(ty, wc.RecordType):
        return f"record {{ {_fields(ty.fields, names)} }}"
    if isinstance(ty, wc.VariantType):
        cases = ", ".join(
            n if t is None else f"{n}({render_valtype(t, names)})" for n, t in ty.cases
        )
        return f"variant {{ {cases} }}"
    if isinstance(ty, wc.EnumType):
        return f"enum {{ {', '.join(ty.names)} }}"
    if isinstance(ty, wc.FlagsType):
        return f"flags {{ {', '.join(ty.names)} }}"
    if isinstance(ty, wc.FutureType | wc.StreamType):
        word = "future" if isinstance(ty, wc.FutureType) else "stream"
        try:
            return f"{word}<{render_valtype(ty.payload, names)}>"
        except (wasmtime.WasmtimeError, TypeError):
            return word
    if type(ty) in _PRIMITIVES or isinstance(ty, wc.OwnType | wc.BorrowType):
        return render_valtype(ty, names)  # an alias such as `type size = u64`
    return type(ty).__name__.lower()  # a kind this renderer does not know yet


def render_func(fn: Any, names: _Names) -> str:
    """Render a component function type: ``func(a: u32) -> string``."""
    sig = f"func({_fields(fn.params, names)})"
    result = fn.result
    return sig if result is None else f"{sig} -> {render_valtype(result, names)}"


def _describe_item(name: str, ty: Any, names: _Names, engine: wasmtime.Engine) -> WitItem:
    if isinstance(ty, wc.FuncType):
        return WitItem(name, "func", render_func(ty, names))
    if isinstance(ty, wc.ResourceType):
        return WitItem(name, "resource", "resource")
    if isinstance(ty, wc.ComponentInstanceType):
        return _describe_instance(name, ty, names, engine)
    if isinstance(ty, wc.ModuleType):
        imports = ty.imports(engine)
        exports = ty.exports(engine)
        items = tuple(
            WitItem(f"{i.module}.{i.name}", "import", describe_native(i.type)) for i in imports
        ) + tuple(WitItem(e.name, "export", describe_native(e.type)) for e in exports)
        return WitItem(name, "module", "core module", items)
    if isinstance(ty, wc.ComponentType):
        return WitItem(name, "component", "component")
    return WitItem(name, "type", _structure(ty, names))


def _type_exports(members: dict[str, Any]) -> list[tuple[str, Any]]:
    return [(n, t) for n, t in members.items() if not isinstance(t, (wc.FuncType, *_Instances))]


def _describe_instance(name: str, ty: Any, outer: _Names, engine: wasmtime.Engine) -> WitItem:
    members = {n: ext.ty for n, ext in ty.exports(engine).items()}
    names = _Names(_type_exports(members), outer)
    items = tuple(_describe_item(n, t, names, engine) for n, t in members.items())
    return WitItem(name, "interface", "interface", items)


def _world_side(items: dict[str, Any], engine: wasmtime.Engine) -> list[WitItem]:
    members = {n: ext.ty for n, ext in items.items()}
    names = _Names(_type_exports(members))
    return [_describe_item(n, t, names, engine) for n, t in members.items()]


def world_of(artifact: Artifact) -> tuple[list[WitItem], list[WitItem]]:
    """Return the ``(imports, exports)`` of a component's world, rendered in WIT."""
    engine = artifact.native.engine
    ctype = artifact.component.type
    return _world_side(ctype.imports(engine), engine), _world_side(ctype.exports(engine), engine)


def _rows(items: list[WitItem], *, imports: bool) -> list[tuple[str, str, str]]:
    rows: list[tuple[str, str, str]] = []
    for item in items:
        if item.kind != "interface":
            rows.append(("", item.name, item.type))
            continue
        for member in item.items:
            if imports:
                rows.append((item.name, member.name, member.type))
            else:
                rows.append(("", f"{item.name}#{member.name}", member.type))
    return rows


def imports_of(artifact: Artifact) -> list[tuple[str, str, str]]:
    """Return ``(module, name, type)`` for each import.

    Component interfaces give one row per member: ``(interface, member, WIT type)``.
    """
    if artifact.kind == "module":
        return [(i.module, i.name, i.type) for i in interface_of(artifact).import_types]
    return _rows(world_of(artifact)[0], imports=True)


def exports_of(artifact: Artifact) -> list[tuple[str, str, str]]:
    """Return ``("", name, type)`` for each export.

    Members of an exported component interface are named ``interface#member``, the form
    ``Instance.func`` accepts.
    """
    if artifact.kind == "module":
        return [("", e.name, e.type) for e in interface_of(artifact).export_types]
    return _rows(world_of(artifact)[1], imports=False)


# --- WIT text of a whole world -----------------------------------------------------------------

_NOMINAL_WORDS = ("record ", "variant ", "enum ", "flags ")


def _definition(item: WitItem) -> str:
    """A named type's WIT definition: ``record document { ... }`` or ``type id = u32``."""
    if item.kind == "resource":
        return f"resource {item.name}"
    for word in _NOMINAL_WORDS:
        if item.type.startswith(word):
            return f"{word}{item.name} {item.type[len(word) :]}"
    return f"type {item.name} = {item.type}"


def _split_resource_func(name: str) -> tuple[str, str, str] | None:
    """``[method]blob.size`` -> ``("blob", "method", "size")``; None for plain functions."""
    if not name.startswith("["):
        return None
    tag, _, rest = name[1:].partition("]")
    if tag == "constructor":
        return rest, tag, ""
    resource, _, member = rest.partition(".")
    return resource, tag, member


def _resource_member(resource: str, tag: str, member: str, sig: str) -> str:
    if tag == "constructor":
        return f"constructor{sig[len('func') :].removesuffix(f' -> {resource}')};"
    if tag == "method":
        # drop the implicit first parameter `self: borrow<R>`
        inner = sig[len("func(") :]
        if inner.startswith("self: "):
            inner = inner[inner.index(">") + 1 :].removeprefix(", ")
        return f"{member}: func({inner};"
    return f"{member}: static {sig};"


def _interface_body(items: Sequence[WitItem], indent: str) -> list[str]:
    lines: list[str] = []
    resources: dict[str, list[str]] = {}
    funcs: list[str] = []
    for item in items:
        if item.kind == "func":
            split = _split_resource_func(item.name)
            if split is not None:
                resource, tag, member = split
                resources.setdefault(resource, []).append(
                    _resource_member(resource, tag, member, item.type)
                )
            else:
                funcs.append(f"{item.name}: {item.type};")
        elif item.kind == "resource":
            resources.setdefault(item.name, [])
        elif item.kind == "type":
            text = _definition(item)
            lines.append(f"{text};" if text.startswith("type ") else text)
        else:
            funcs.append(f"/* {item.kind} {item.name}: {item.type} */")
    for resource, members in resources.items():
        if not members:
            lines.append(f"resource {resource};")
            continue
        lines.append(f"resource {resource} {{")
        lines.extend(f"  {m}" for m in members)
        lines.append("}")
    lines.extend(funcs)
    return [f"{indent}{line}" for line in lines]


def _package_of(name: str) -> tuple[str, str] | None:
    """``wasi:cli/run@0.2.0`` -> ``("wasi:cli@0.2.0", "run")``; None for a plain name."""
    if ":" not in name or "/" not in name:
        return None
    base, _, version = name.partition("@")
    pkg, _, iface = base.rpartition("/")
    return (f"{pkg}@{version}" if version else pkg), iface


def render_world(imports: Sequence[WitItem], exports: Sequence[WitItem], name: str = "root") -> str:
    """Render a component's world as WIT text, with its interfaces grouped by package."""
    world: list[str] = [f"world {name} {{"]
    packages: dict[str, list[str]] = {}
    for direction, items in (("import", imports), ("export", exports)):
        for item in items:
            if item.kind == "interface":
                pkg = _package_of(item.name)
                if pkg is None:
                    world.append(f"  {direction} {item.name}: interface {{")
                    world.extend(_interface_body(item.items, "    "))
                    world.append("  }")
                    continue
                world.append(f"  {direction} {item.name};")
                block = packages.setdefault(pkg[0], [])
                block.append(f"  interface {pkg[1]} {{")
                block.extend(_interface_body(item.items, "    "))
                block.append("  }")
            elif item.kind == "func":
                world.append(f"  {direction} {item.name}: {item.type};")
            elif item.kind in ("type", "resource"):
                world.extend(_interface_body([item], "  "))
            else:
                world.append(f"  /* {direction} {item.kind} {item.name} */")
    world.append("}")
    for pkg_name, block in packages.items():
        world += ["", f"package {pkg_name} {{", *block, "}"]
    return "\n".join(world) + "\n"
