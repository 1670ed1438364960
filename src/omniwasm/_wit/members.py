"""A component's world walked into members, and the two views read off them.

Both component backends (and ``inspect`` on an uncompiled binary) describe a world the same
way: a walk over its types yields :class:`Member` objects (functions, types, resources,
interfaces, nested modules and components) holding omniwasm's descriptors. Two views are read
off them: :func:`world_type_of` (the :class:`~omniwasm.types.WorldType` that calls and host
imports are planned with) and :func:`world_items_of` (the world rendered in WIT, what
``inspect`` shows).
"""

from __future__ import annotations

from dataclasses import dataclass

from . import types as t
from .world import WorldItem, render_definition, render_func

__all__ = ["NOMINAL", "Member", "world_items_of", "world_type_of"]

NOMINAL = (t.RecordType, t.VariantType, t.EnumType, t.FlagsType)
"""The descriptors that carry a name of their own."""


@dataclass(frozen=True, slots=True)
class Member:
    """One item of a world or an interface, as a walk found it.

    ``kind`` is ``func`` (``sig``), ``type`` (``type``), ``resource`` (``resource``: the
    resource's own name and interface; another name for a resource defined elsewhere when
    they differ from this member's), ``interface`` (``members``), ``module`` (``members``: its
    imports and exports, each with ``text``) or ``component``.
    """

    name: str
    kind: str
    sig: t.FuncSig | None = None
    type: t.WitType | None = None
    resource: tuple[str, str] | None = None
    members: tuple[Member, ...] = ()
    text: str = ""


def _defines(member: Member, interface: str) -> bool:
    """A resource defined here under this name (not another name for one of elsewhere)."""
    return member.kind == "resource" and member.resource == (member.name, interface)


def _typed(
    members: tuple[Member, ...],
) -> tuple[list[t.InterfaceType | t.FuncSig], list[t.WitType]]:
    out: list[t.InterfaceType | t.FuncSig] = []
    types: list[t.WitType] = []
    for m in members:
        if m.kind == "interface":
            out.append(
                t.InterfaceType(
                    m.name,
                    tuple(i.sig for i in m.members if i.sig is not None),
                    tuple(i.type for i in m.members if isinstance(i.type, NOMINAL)),
                    tuple(i.name for i in m.members if _defines(i, m.name)),
                )
            )
        elif m.sig is not None:
            out.append(m.sig)
        elif isinstance(m.type, NOMINAL):
            types.append(m.type)
    return out, types


def world_type_of(imports: tuple[Member, ...], exports: tuple[Member, ...]) -> t.WorldType:
    """The :class:`WorldType` of a world's walked imports and exports."""
    imp, itypes = _typed(imports)
    exp, etypes = _typed(exports)
    return t.WorldType(tuple(imp), tuple(exp), tuple(itypes + etypes))


class _Names:
    """What named types and resources are called at one level: its own exports, then outer."""

    def __init__(self, members: tuple[Member, ...], outer: _Names | None = None) -> None:
        self.types = [m.type for m in members if isinstance(m.type, NOMINAL)]
        self.resources: dict[tuple[str, str], str] = {}
        for m in members:
            if m.resource is not None:
                self.resources.setdefault(m.resource, m.name)
        self.outer = outer

        self.missing: dict[tuple[str, str], None] = {}

    def __call__(self, ty: t.WitType) -> str | None:
        if isinstance(ty, NOMINAL):
            if ty in self.types:
                return ty.name
        elif isinstance(ty, t.OwnType | t.BorrowType):
            found = self.resources.get((ty.resource, ty.interface))
            if found is not None:
                return found
        name = self.outer(ty) if self.outer is not None else None
        if name is None and isinstance(ty, t.OwnType | t.BorrowType) and ty.interface:
            self.missing[(ty.interface, ty.resource)] = None  # used here, defined there
        return name


def _items(
    members: tuple[Member, ...], outer: _Names | None, names: _Names | None = None
) -> tuple[WorldItem, ...]:
    """Render members, naming types and resources as this level (or an outer one) calls them."""
    in_scope = names if names is not None else _Names(members, outer)
    out = []
    for m in members:
        if m.kind == "func":
            assert m.sig is not None
            out.append(WorldItem(m.name, "func", render_func(m.sig, in_scope)))
        elif m.kind == "type":
            assert m.type is not None
            out.append(WorldItem(m.name, "type", render_definition(m.type, in_scope)))
        elif m.kind == "interface":
            inner = _Names(m.members, in_scope)
            items = _items(m.members, in_scope, inner)
            uses = tuple(k for k in inner.missing if k[0] != m.name)
            out.append(WorldItem(m.name, "interface", "interface", items, uses))
        elif m.kind == "module":
            items = tuple(WorldItem(i.name, i.kind, i.text) for i in m.members)
            out.append(WorldItem(m.name, "module", "core module", items))
        else:  # resource, component
            out.append(WorldItem(m.name, m.kind, m.kind))
    return tuple(out)


def world_items_of(
    imports: tuple[Member, ...], exports: tuple[Member, ...]
) -> tuple[tuple[WorldItem, ...], tuple[WorldItem, ...]]:
    """The ``(imports, exports)`` of a walked world, rendered in WIT."""
    return _items(imports, None), _items(exports, None)
