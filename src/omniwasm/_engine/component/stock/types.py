"""The one walk over wasmtime's component types: WIT descriptors and the world's items.

wasmtime's types are structural: a record knows its fields but not its name. Names come from
the type exports of the enclosing instance (wit-component exports every named type an
interface uses, ``use``-d ones included), matched by wasmtime's type equality, then from the
world's own type exports. A named type nobody exports gets a synthetic name from where it is
used (``summarize-result``), so generated classes are still stable; rendered as WIT for
``inspect`` it is written out in full instead (``record { a: u32 }``), since no such name exists.

A component's world is walked once into members (functions, types, resources, interfaces,
nested modules and components) holding omniwasm's descriptors. Two views are read off them:
:func:`world_type` (the :class:`~omniwasm.types.WorldType` that calls and host imports are
planned with) and :func:`world_items` (the world rendered in WIT, what ``inspect`` shows).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import wasmtime
from wasmtime import component as wc

from ...._wit import types as t
from ...._wit.members import Member, world_items_of, world_type_of
from ...._wit.world import WorldItem
from ...artifact import Artifact
from ...core.types import describe_native

__all__ = ["world_items", "world_type"]

_PRIMS: dict[type[Any], t.WitType] = {
    wc.Bool: t.Bool,
    wc.S8: t.S8,
    wc.S16: t.S16,
    wc.S32: t.S32,
    wc.S64: t.S64,
    wc.U8: t.U8,
    wc.U16: t.U16,
    wc.U32: t.U32,
    wc.U64: t.U64,
    wc.F32: t.F32,
    wc.F64: t.F64,
    wc.Char: t.Char,
    wc.String: t.String,
}
# Component-model async types: the engine is configured without that feature, so it refuses
# any component using them when loading it; they are named here so the walk says so clearly.
_ASYNC = {wc.ErrorContext: "error-context", wc.FutureType: "future", wc.StreamType: "stream"}
_NAMED = (wc.RecordType, wc.VariantType, wc.EnumType, wc.FlagsType, wc.ResourceType)


def _equal(a: Any, b: Any) -> bool:
    try:
        return bool(a == b)
    except (wasmtime.WasmtimeError, TypeError, ValueError):
        return False


class _Scope:
    """Named types visible from one place: an interface's own exports, then the world's."""

    def __init__(
        self, interface: str, local: Sequence[tuple[str, Any]], outer: _Scope | None = None
    ) -> None:
        self.interface = interface
        self.local = [(n, ty) for n, ty in local if isinstance(ty, _NAMED)]
        self.outer = outer

    def lookup(self, ty: Any) -> tuple[str, str] | None:
        for name, candidate in self.local:
            if type(candidate) is type(ty) and _equal(candidate, ty):
                return name, self.interface
        return self.outer.lookup(ty) if self.outer is not None else None


class _Converter:
    """wasmtime value and function types to descriptors, naming types from a scope."""

    def __init__(self, scope: _Scope, owners: Sequence[tuple[str, str, Any]] = ()) -> None:
        self.scope = scope
        self.owners = owners

    def name(self, ty: Any, hint: str) -> str:
        found = self.scope.lookup(ty)
        return found[0] if found is not None else hint

    def resource(self, ty: Any) -> tuple[str, str]:
        # A resource `use`d by another interface is the same type: name it by its definer.
        for iface, name, candidate in self.owners:
            if _equal(candidate, ty):
                return name, iface
        found = self.scope.lookup(ty)
        return found if found is not None else ("resource", self.scope.interface)

    def val(self, ty: Any, hint: str) -> t.WitType:
        prim = _PRIMS.get(type(ty))
        if prim is not None:
            return prim
        if isinstance(ty, wc.ListType):
            return t.ListType(self.val(ty.element, hint))
        if isinstance(ty, wc.TupleType):
            return t.TupleType(tuple(self.val(e, hint) for e in ty.elements))
        if isinstance(ty, wc.OptionType):
            return t.OptionType(self.val(ty.payload, hint))
        if isinstance(ty, wc.ResultType):
            ok, err = ty.ok, ty.err
            return t.ResultType(
                None if ok is None else self.val(ok, hint),
                None if err is None else self.val(err, f"{hint}-error"),
            )
        if isinstance(ty, wc.RecordType):
            name = self.name(ty, hint)
            fields = tuple((n, self.val(ft, f"{name}-{n}")) for n, ft in ty.fields)
            return t.RecordType(name, fields)
        if isinstance(ty, wc.VariantType):
            name = self.name(ty, hint)
            cases = tuple(
                (n, None if ct is None else self.val(ct, f"{name}-{n}")) for n, ct in ty.cases
            )
            return t.VariantType(name, cases)
        if isinstance(ty, wc.EnumType):
            return t.EnumType(self.name(ty, hint), tuple(ty.names))
        if isinstance(ty, wc.FlagsType):
            return t.FlagsType(self.name(ty, hint), tuple(ty.names))
        if isinstance(ty, wc.OwnType):
            return t.OwnType(*self.resource(ty.ty))
        if isinstance(ty, wc.BorrowType):
            return t.BorrowType(*self.resource(ty.ty))
        word = _ASYNC.get(type(ty), type(ty).__name__)
        raise TypeError(f"{word} values are not supported by omniwasm yet")

    def func(self, name: str, fn: Any) -> t.FuncSig:
        hint = name.rpartition("]")[2].replace(".", "-")
        params = tuple((n, self.val(p, f"{hint}-{n}")) for n, p in fn.params)
        result = fn.result
        return t.FuncSig(name, params, None if result is None else self.val(result, hint))


_Member = Member


def _member(name: str, ty: Any, conv: _Converter, engine: wasmtime.Engine) -> _Member:
    if isinstance(ty, wc.FuncType):
        return _Member(name, "func", sig=conv.func(name, ty))
    if isinstance(ty, wc.ResourceType):
        return _Member(name, "resource", resource=conv.resource(ty))
    if isinstance(ty, wc.ComponentInstanceType):
        members = {n: ext.ty for n, ext in ty.exports(engine).items()}
        return _interface(name, members, conv.scope, conv.owners, engine)
    if isinstance(ty, wc.ModuleType):
        items = tuple(
            _Member(f"{i.module}.{i.name}", "import", text=describe_native(i.type))
            for i in ty.imports(engine)
        ) + tuple(
            _Member(e.name, "export", text=describe_native(e.type)) for e in ty.exports(engine)
        )
        return _Member(name, "module", members=items)
    if isinstance(ty, wc.ComponentType):
        return _Member(name, "component")
    return _Member(name, "type", type=conv.val(ty, name))


def _interface(
    name: str,
    members: dict[str, Any],
    outer: _Scope,
    owners: Sequence[tuple[str, str, Any]],
    engine: wasmtime.Engine,
) -> _Member:
    conv = _Converter(_Scope(name, list(members.items()), outer), owners)
    found = tuple(_member(n, ty, conv, engine) for n, ty in members.items())
    return _Member(name, "interface", members=found)


def _owners(*sides: dict[str, Any], engine: wasmtime.Engine) -> list[tuple[str, str, Any]]:
    """Every resource with the interface that defines it (imports first, then exports).

    A resource is defined where it appears first; interfaces that ``use`` it alias it.
    """
    found: list[tuple[str, str, Any]] = []
    for side in sides:
        for iface, ext in side.items():
            if not isinstance(ext.ty, wc.ComponentInstanceType):
                continue
            for name, item in ext.ty.exports(engine).items():
                ty = item.ty
                if isinstance(ty, wc.ResourceType) and not any(
                    _equal(ty, seen) for _, _, seen in found
                ):
                    found.append((iface, name, ty))
    return found


def _side(
    items: dict[str, Any], owners: Sequence[tuple[str, str, Any]], engine: wasmtime.Engine
) -> tuple[_Member, ...]:
    members = {n: ext.ty for n, ext in items.items()}
    conv = _Converter(_Scope("", list(members.items())), owners)
    return tuple(_member(n, ty, conv, engine) for n, ty in members.items())


def _walk(artifact: Artifact) -> tuple[tuple[_Member, ...], tuple[_Member, ...]]:
    """The ``(imports, exports)`` of a compiled component's world, walked once (cached)."""
    cached = artifact.prepared.get("component-walk")
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    if getattr(artifact.code, "own_only", False) and artifact.wasm is not None:
        # component-model async: no stock compile; the parsed binary has the same world
        from ...._binary.component import parse_component
        from ...._binary.component_types import resolve, walk

        walked = walk(resolve(parse_component(artifact.wasm)))
    else:
        engine = artifact.native.engine
        ctype = artifact.component.type
        imports, exports = ctype.imports(engine), ctype.exports(engine)
        owners = _owners(imports, exports, engine=engine)
        walked = _side(imports, owners, engine), _side(exports, owners, engine)
    with artifact.lock:
        artifact.prepared["component-walk"] = walked
    return walked


def world_type(artifact: Artifact) -> t.WorldType:
    """The imports and exports of a compiled component as :class:`WorldType` (cached)."""
    cached = artifact.prepared.get("world-type")
    if isinstance(cached, t.WorldType):
        return cached
    world = world_type_of(*_walk(artifact))
    with artifact.lock:
        artifact.prepared["world-type"] = world
    return world


def world_items(artifact: Artifact) -> tuple[tuple[WorldItem, ...], tuple[WorldItem, ...]]:
    """The ``(imports, exports)`` of a compiled component's world, rendered in WIT."""
    return world_items_of(*_walk(artifact))
