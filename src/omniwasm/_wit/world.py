"""A component's world as ``inspect`` shows it: items rendered in WIT, and the world as WIT text.

``WorldItem`` is one import or export with its type already written out (a function's
signature, a type's definition); the engine builds them from its one walk over a component's
types, writing every type with :func:`render_use` and :func:`render_definition`. A named type
is written by the name it has where it is used (the interface or the world exports it, maybe
under another name: ``use wasi:io/error.{error as io-error}``) and in full otherwise
(``record { a: u32 }``). :func:`render_world` turns the items into WIT text.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from . import types as t

__all__ = [
    "WorldItem",
    "render_definition",
    "render_func",
    "render_use",
    "render_world",
    "world_rows",
]

Naming = Callable[[t.WitType], str | None]
"""The name a named type or a resource goes by where it is used; None when it has none there
(a named type is then written in full, a resource by the name its own interface gives it)."""


@dataclass(frozen=True, slots=True)
class WorldItem:
    """One import or export of a component's world, rendered in WIT.

    Args:
        name: ``my:pkg/iface``, a function's or a type's name.
        kind: ``interface``, ``func``, ``type``, ``resource``, ``module`` or ``component``.
        type: a function's WIT signature, a type's definition (``record { a: u32 }``), or the
            kind again for interfaces and resources.
        items: the members of an interface.
        uses: resources an interface's functions use without listing them, as
            ``(interface, name)`` (what its WIT imports with ``use``).

    """

    name: str
    kind: str
    type: str
    items: tuple[WorldItem, ...] = ()
    uses: tuple[tuple[str, str], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (``items`` only for interfaces and modules)."""
        out: dict[str, Any] = {"name": self.name, "kind": self.kind, "type": self.type}
        if self.items or self.kind in ("interface", "module"):
            out["items"] = [i.to_dict() for i in self.items]
        return out


KEYWORDS = frozenset(
    "as async bool borrow char constructor enum error-context export f32 f64 flags float32 "  # noqa: SIM905 (a word list)
    "float64 func future import include interface list option own package record resource "
    "result s16 s32 s64 s8 static stream string tuple type u16 u32 u64 u8 use variant with "
    "world".split()
)
"""WIT's keywords: an identifier spelled like one is written ``%name``."""


def ident(name: str) -> str:
    """``name`` as a WIT identifier: ``%constructor`` for a keyword, else as it is."""
    return f"%{name}" if name in KEYWORDS else name


def world_rows(items: Sequence[WorldItem], *, imports: bool) -> list[tuple[str, str, str]]:
    """``(module, name, type)`` rows of a world's imports or exports, one per interface member.

    Imports are ``(interface, member, type)``; exports ``("", "interface#member", type)``.
    """
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


_NAMED = (t.RecordType, t.VariantType, t.EnumType, t.FlagsType)


def render_use(ty: t.WitType, in_scope: Naming) -> str:
    """A use of ``ty`` in WIT: named types and resources by the name they have there."""
    if isinstance(ty, _NAMED):
        name = in_scope(ty)
        if name is not None:
            return ident(name)
    if isinstance(ty, t.OwnType):
        return ident(in_scope(ty) or ty.resource)
    if isinstance(ty, t.BorrowType):
        return f"borrow<{ident(in_scope(ty) or ty.resource)}>"
    if isinstance(ty, t.ListType):
        return f"list<{render_use(ty.elem, in_scope)}>"
    if isinstance(ty, t.TupleType):
        return f"tuple<{', '.join(render_use(i, in_scope) for i in ty.items)}>"
    if isinstance(ty, t.OptionType):
        return f"option<{render_use(ty.inner, in_scope)}>"
    if isinstance(ty, t.ResultType):
        if ty.ok is None and ty.err is None:
            return "result"
        if ty.err is None:
            return f"result<{render_use(ty.ok, in_scope)}>"  # type: ignore[arg-type]
        ok = "_" if ty.ok is None else render_use(ty.ok, in_scope)
        return f"result<{ok}, {render_use(ty.err, in_scope)}>"
    if isinstance(ty, _NAMED):
        return render_definition(ty, in_scope)
    return str(ty)


def render_definition(ty: t.WitType, in_scope: Naming) -> str:
    """What a type is, without its name: ``record { a: u32 }``, ``enum { red }``, ``u64``."""
    if isinstance(ty, t.RecordType):
        return f"record {{ {_pairs(ty.fields, in_scope)} }}"
    if isinstance(ty, t.VariantType):
        cases = ", ".join(
            ident(n) if c is None else f"{ident(n)}({render_use(c, in_scope)})" for n, c in ty.cases
        )
        return f"variant {{ {cases} }}"
    if isinstance(ty, t.EnumType):
        return f"enum {{ {', '.join(ident(c) for c in ty.cases)} }}"
    if isinstance(ty, t.FlagsType):
        return f"flags {{ {', '.join(ident(n) for n in ty.names)} }}"
    return render_use(ty, in_scope)


def render_func(sig: t.FuncSig, in_scope: Naming) -> str:
    """A function's type: ``func(a: u32) -> string`` (``async func`` for an async one)."""
    word = "async func" if sig.is_async else "func"
    head = f"{word}({_pairs(sig.params, in_scope)})"
    return head if sig.result is None else f"{head} -> {render_use(sig.result, in_scope)}"


def _pairs(pairs: Sequence[tuple[str, t.WitType]], in_scope: Naming) -> str:
    return ", ".join(f"{ident(n)}: {render_use(ty, in_scope)}" for n, ty in pairs)


# --- WIT text of a whole world -----------------------------------------------------------------

_NOMINAL_WORDS = ("record ", "variant ", "enum ", "flags ")


def _definition(item: WorldItem) -> str:
    """A named type's WIT definition: ``record document { ... }`` or ``type id = u32``."""
    if item.kind == "resource":
        return f"resource {ident(item.name)}"
    for word in _NOMINAL_WORDS:
        if item.type.startswith(word):
            return f"{word}{ident(item.name)} {item.type[len(word) :]}"
    return f"type {ident(item.name)} = {item.type}"


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
        return f"constructor{sig[len('func') :].removesuffix(f' -> {ident(resource)}')};"
    if tag == "method":
        # drop the implicit first parameter `self: borrow<R>`
        inner = sig[len("func(") :]
        if inner.startswith("self: "):
            inner = inner[inner.index(">") + 1 :].removeprefix(", ")
        return f"{ident(member)}: func({inner};"
    return f"{ident(member)}: static {sig};"


Uses = dict[tuple[str, str, str], str]
"""Where a type or resource was first defined: (kind, name, definition) -> interface."""


def _interface_body(
    items: Sequence[WorldItem],
    indent: str,
    here: str = "",
    uses: Uses | None = None,
    extra: Sequence[tuple[str, str]] = (),
) -> list[str]:
    lines: list[str] = []
    resources: dict[str, list[str]] = {}
    funcs: list[str] = []
    imported: dict[str, list[str]] = {}
    for origin, name in extra:
        imported.setdefault(origin, []).append(ident(name))
    # a resource with methods here is defined here (methods are listed where it is defined)
    owned = {
        split[0] for i in items if i.kind == "func" and (split := _split_resource_func(i.name))
    }
    for item in items:
        if item.kind == "resource" and item.name in owned and uses is not None:
            uses[(item.kind, item.name, item.type)] = here
        elif uses is not None and item.kind in ("type", "resource"):
            # a type another interface defined (a `use` in the source WIT): use it from there.
            # The same definition, or one that had to spell out (inline) types the interface
            # that uses it cannot name, is the other's.
            origin = uses.setdefault((item.kind, item.name, item.type), here)
            if origin == here and _inlines(item.type):
                origin = next(
                    (o for (k, n, _), o in uses.items() if (k, n) == (item.kind, item.name)),
                    here,
                )
            if origin != here:
                imported.setdefault(origin, []).append(ident(item.name))
                continue
        if item.kind == "func":
            split = _split_resource_func(item.name)
            if split is not None:
                resource, tag, member = split
                resources.setdefault(resource, []).append(
                    _resource_member(resource, tag, member, item.type)
                )
            else:
                funcs.append(f"{ident(item.name)}: {item.type};")
        elif item.kind == "resource":
            resources.setdefault(item.name, [])
        elif item.kind == "type":
            text = _definition(item)
            lines.append(f"{text};" if text.startswith("type ") else text)
        else:
            funcs.append(f"/* {item.kind} {item.name}: {item.type} */")
    for resource, members in resources.items():
        if not members:
            lines.append(f"resource {ident(resource)};")
            continue
        lines.append(f"resource {ident(resource)} {{")
        lines.extend(f"  {m}" for m in members)
        lines.append("}")
    lines.extend(funcs)
    heads = [
        f"use {_use_path(origin, here)}.{{{', '.join(names)}}};"
        for origin, names in imported.items()
    ]
    return [f"{indent}{line}" for line in heads + lines]


def _inlines(definition: str) -> bool:
    """A definition that spells out a nominal type inside it (invalid WIT on its own)."""
    return any(f"{word}{{" in definition[1:] for word in _NOMINAL_WORDS)


def _use_path(origin: str, here: str) -> str:
    """How interface ``here`` names interface ``origin`` in a ``use``: short in its package."""
    theirs, ours = _package_of(origin), _package_of(here)
    if theirs is not None and ours is not None and theirs[0] == ours[0]:
        return ident(theirs[1])
    return origin


def _package_of(name: str) -> tuple[str, str] | None:
    """``wasi:cli/run@0.2.0`` -> ``("wasi:cli@0.2.0", "run")``; None for a plain name."""
    if ":" not in name or "/" not in name:
        return None
    base, _, version = name.partition("@")
    pkg, _, iface = base.rpartition("/")
    return (f"{pkg}@{version}" if version else pkg), iface


def render_world(
    imports: Sequence[WorldItem], exports: Sequence[WorldItem], name: str = "root"
) -> str:
    """Render a component's world as WIT text, with its interfaces grouped by package."""
    # A component imports what it uses before using it, so the first interface to list a type
    # defined it and later ones `use` it (what wit-component wrote)
    uses: Uses = {}
    world: list[str] = ["package root:component;", "", f"world {ident(name)} {{"]
    packages: dict[str, list[str]] = {}
    for direction, items in (("import", imports), ("export", exports)):
        for item in items:
            if item.kind == "interface":
                pkg = _package_of(item.name)
                if pkg is None:
                    world.append(f"  {direction} {ident(item.name)}: interface {{")
                    world.extend(_interface_body(item.items, "    "))
                    world.append("  }")
                    continue
                world.append(f"  {direction} {item.name};")
                block = packages.setdefault(pkg[0], [])
                block.append(f"  interface {ident(pkg[1])} {{")
                block.extend(_interface_body(item.items, "    ", item.name, uses, item.uses))
                block.append("  }")
            elif item.kind == "func":
                world.append(f"  {direction} {ident(item.name)}: {item.type};")
            elif item.kind in ("type", "resource"):
                world.extend(_interface_body([item], "  "))
            else:
                world.append(f"  /* {direction} {item.kind} {item.name} */")
    world.append("}")
    for pkg_name, block in packages.items():
        world += ["", f"package {pkg_name} {{", *block, "}"]
    return "\n".join(world) + "\n"
