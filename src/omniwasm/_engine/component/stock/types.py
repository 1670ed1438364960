"""Convert wasmtime's component types into omniwasm's pure-Python WIT descriptors.

wasmtime's types are structural: a record knows its fields but not its name. Names come from
the type exports of the enclosing instance (wit-component exports every named type an
interface uses, ``use``-d ones included), matched by wasmtime's type equality, then from the
world's own type exports. A named type nobody exports gets a synthetic name from where it is
used (``summarize-result``), so generated classes are still stable.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import wasmtime
from wasmtime import component as wc

from ...._wit import types as t
from ...artifact import Artifact

__all__ = ["convert_func", "world_type"]

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
_NAMED = (wc.RecordType, wc.VariantType, wc.EnumType, wc.FlagsType, wc.ResourceType)
_INSTANCES = (wc.ComponentInstanceType, wc.ModuleType, wc.ComponentType)


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
        raise TypeError(f"{type(ty).__name__} values are not supported by omniwasm yet")

    def func(self, name: str, fn: Any) -> t.FuncSig:
        hint = name.rpartition("]")[2].replace(".", "-")
        params = tuple((n, self.val(p, f"{hint}-{n}")) for n, p in fn.params)
        result = fn.result
        return t.FuncSig(name, params, None if result is None else self.val(result, hint))


def convert_func(name: str, fn: Any, scope: _Scope | None = None) -> t.FuncSig:
    """Convert one wasmtime ``FuncType`` to a :class:`FuncSig` (anonymous scope by default)."""
    return _Converter(scope or _Scope("", ())).func(name, fn)


def _interface(
    name: str,
    members: dict[str, Any],
    outer: _Scope,
    owners: Sequence[tuple[str, str, Any]],
) -> t.InterfaceType:
    scope = _Scope(name, list(members.items()), outer)
    conv = _Converter(scope, owners)
    funcs: list[t.FuncSig] = []
    types: list[t.WitType] = []
    resources: list[str] = []
    for member, mty in members.items():
        if isinstance(mty, wc.FuncType):
            funcs.append(conv.func(member, mty))
        elif isinstance(mty, wc.ResourceType) and conv.resource(mty) == (member, name):
            # Defined here under this name: `type headers = fields` is another name for an
            # existing resource, not a resource of its own.
            resources.append(member)
        elif isinstance(mty, wc.RecordType | wc.VariantType | wc.EnumType | wc.FlagsType):
            types.append(conv.val(mty, member))
    return t.InterfaceType(name, tuple(funcs), tuple(types), tuple(resources))


def _members(items: dict[str, Any], engine: wasmtime.Engine) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, ext in items.items():
        ty = ext.ty
        if isinstance(ty, wc.ComponentInstanceType):
            out[name] = (ty, {n: e.ty for n, e in ty.exports(engine).items()})
        else:
            out[name] = ty
    return out


def _owners(*sides: dict[str, Any]) -> list[tuple[str, str, Any]]:
    """Every resource with the interface that defines it (imports first, then exports).

    A resource is defined where it appears first; interfaces that ``use`` it alias it.
    """
    found: list[tuple[str, str, Any]] = []
    for side in sides:
        for iface, item in side.items():
            if isinstance(item, tuple):
                for name, ty in item[1].items():
                    if isinstance(ty, wc.ResourceType) and not any(
                        _equal(ty, seen) for _, _, seen in found
                    ):
                        found.append((iface, name, ty))
    return found


def _side(
    members: dict[str, Any], owners: Sequence[tuple[str, str, Any]]
) -> tuple[list[t.InterfaceType | t.FuncSig], list[t.WitType]]:
    flat = {n: (m[0] if isinstance(m, tuple) else m) for n, m in members.items()}
    scope = _Scope("", list(flat.items()))
    conv = _Converter(scope, owners)
    out: list[t.InterfaceType | t.FuncSig] = []
    types: list[t.WitType] = []
    for name, item in members.items():
        ty = flat[name]
        if isinstance(item, tuple):
            out.append(_interface(name, item[1], scope, owners))
        elif isinstance(ty, wc.FuncType):
            out.append(conv.func(name, ty))
        elif isinstance(ty, wc.RecordType | wc.VariantType | wc.EnumType | wc.FlagsType):
            types.append(conv.val(ty, name))
    return out, types


def world_type(artifact: Artifact) -> t.WorldType:
    """The imports and exports of a compiled component as :class:`WorldType` (cached)."""
    cached = artifact.prepared.get("world-type")
    if isinstance(cached, t.WorldType):
        return cached
    engine = artifact.native.engine
    ctype = artifact.component.type
    imp = _members(ctype.imports(engine), engine)
    exp = _members(ctype.exports(engine), engine)
    owners = _owners(imp, exp)
    imports, itypes = _side(imp, owners)
    exports, etypes = _side(exp, owners)
    world = t.WorldType(tuple(imports), tuple(exports), tuple(itypes + etypes))
    with artifact.lock:
        artifact.prepared["world-type"] = world
    return world
