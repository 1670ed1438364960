"""A parsed component's types resolved: its world as WIT descriptors, without an engine.

:func:`resolve` evaluates a :class:`~.component.Component` at the type level: every index in
its ``type``, ``func``, ``instance`` and ``component`` spaces becomes an entity (an anonymous
WIT type, a resource identity, a function type, an instance's exports...), following aliases,
outer aliases, exports and the instantiation of nested components with their arguments (how
wit-component re-exports interfaces through "shim" components). :func:`walk` then names the
types the way the stock backend names them (an interface's own type exports, then the world's,
then a synthetic name from where the type is used), so both backends and ``inspect`` describe a
component identically: :func:`world_type` and :func:`world_items`.

Anonymous types are the descriptors of ``_wit.types`` with an empty name; a resource is a
:class:`Res` identity (``own``/``borrow`` carry its id until named). Work is bounded: a
component that instantiates nested components too often is refused as ``InvalidModule``.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from .._errors import InvalidModule
from .._wit import types as t
from .._wit.members import NOMINAL, Member, world_items_of, world_type_of
from .._wit.world import WorldItem
from . import component_defs as c

__all__ = [
    "Comp",
    "Func",
    "Inst",
    "Res",
    "Resolved",
    "Unsupported",
    "named_resources",
    "resolve",
    "walk",
    "world_items",
    "world_type",
]

_PRIMS: dict[str, t.WitType] = {
    "bool": t.Bool,
    "s8": t.S8,
    "s16": t.S16,
    "s32": t.S32,
    "s64": t.S64,
    "u8": t.U8,
    "u16": t.U16,
    "u32": t.U32,
    "u64": t.U64,
    "f32": t.F32,
    "f64": t.F64,
    "char": t.Char,
    "string": t.String,
}
_WORK_LIMIT = 2_000_000  # definitions evaluated per resolve: a bound on instantiation fan-out
_RES_PREFIX = "\0res"


@dataclass(frozen=True, slots=True)
class Res:
    """A resource type's identity (fresh for each definition or ``sub resource`` import)."""

    id: int
    dtor: int | None = field(default=None, compare=False)
    owner: object = field(default=None, compare=False)

    @property
    def key(self) -> str:
        """The placeholder name an anonymous ``own``/``borrow`` carries."""
        return f"{_RES_PREFIX}{self.id}"


@dataclass(frozen=True, slots=True)
class Unsupported:
    """A type omniwasm cannot carry yet (stream, future, error-context, fixed list).

    ``elem`` is a stream's or future's element type (None without one), for the async
    built-ins of the own runtime.
    """

    word: str
    elem: Any = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class Func:
    """A component function type with anonymous types."""

    params: tuple[tuple[str, t.WitType | Unsupported], ...]
    result: t.WitType | Unsupported | None
    is_async: bool = False


@dataclass(eq=False, slots=True)
class Inst:
    """An instance: its exports by name (sort, entity)."""

    exports: dict[str, tuple[str, Any]] = field(default_factory=dict)


@dataclass(eq=False, slots=True)
class Comp:
    """A component: a type (``imports``/``exports``), or a definition to instantiate."""

    imports: dict[str, tuple[str, Any]] = field(default_factory=dict)
    exports: dict[str, tuple[str, Any]] = field(default_factory=dict)
    body: c.Component | None = None
    env: _Env | None = None


@dataclass(eq=False, slots=True)
class CoreModuleEnt:
    """A core module type: ``(kind, module.name or name, text)`` of its imports and exports."""

    items: tuple[tuple[str, str, str], ...] = ()


Entity = t.WitType | Unsupported | Res | Func | Inst | Comp | CoreModuleEnt | None


class _Budget:
    __slots__ = ("left", "res_ids")

    def __init__(self) -> None:
        self.left = _WORK_LIMIT
        self.res_ids = itertools.count(1)

    def spend(self, n: int = 1) -> None:
        self.left -= n
        if self.left < 0:
            raise InvalidModule("the component's types take too much work to resolve")


class _Env:
    """One scope's index spaces of entities (a component body or a type's declarations)."""

    def __init__(self, parent: _Env | None, budget: _Budget) -> None:
        self.parent = parent
        self.budget = budget
        self.spaces: dict[str, list[Any]] = {
            "type": [],
            "func": [],
            "instance": [],
            "component": [],
            "value": [],
            "core module": [],
            "core type": [],
        }

    def get(self, sort: str, index: int) -> Any:
        space = self.spaces.get(sort)
        if space is None:
            return None
        if not 0 <= index < len(space):
            raise InvalidModule(f"{sort} index {index} out of range")
        return space[index]

    def outer(self, count: int) -> _Env:
        env: _Env | None = self
        for _ in range(count):
            env = env.parent if env is not None else None
        if env is None:
            raise InvalidModule("an outer alias leaves the component")
        return env

    def add(self, sort: str, ent: Any) -> None:
        space = self.spaces.get(sort)
        if space is not None:
            space.append(ent)

    def fresh(self, dtor: int | None = None, owner: object = None) -> Res:
        return Res(next(self.budget.res_ids), dtor, owner)

    # --- value types -----------------------------------------------------------------------

    def val(self, vt: c.ValType) -> Any:
        """A value type: a descriptor (an :class:`Unsupported` may sit anywhere inside)."""
        if isinstance(vt, str):
            prim = _PRIMS.get(vt)
            return prim if prim is not None else Unsupported(vt)
        ent = self.get("type", vt)
        if isinstance(ent, t.WitType | Unsupported):
            return ent
        if ent is None:
            return Unsupported("unknown")
        raise InvalidModule(f"type {vt} is not a value type")

    def handle(self, index: int, own: bool) -> t.WitType:
        res = self.get("type", index)
        if not isinstance(res, Res):
            raise InvalidModule(f"type {index} is not a resource")
        return t.OwnType(res.key) if own else t.BorrowType(res.key)

    def defined(self, d: c.Defined) -> Any:
        if isinstance(d, c.Prim):
            return self.val(d.name)
        if isinstance(d, c.Record):
            return t.RecordType("", tuple((n, self.val(v)) for n, v in d.fields))
        if isinstance(d, c.Variant):
            return t.VariantType(
                "", tuple((n, None if v is None else self.val(v)) for n, v in d.cases)
            )
        if isinstance(d, c.List):
            if d.length is not None:
                return Unsupported("fixed-size list")
            return t.ListType(self.val(d.elem))
        if isinstance(d, c.Tuple):
            return t.TupleType(tuple(self.val(v) for v in d.items))
        if isinstance(d, c.Flags):
            return t.FlagsType("", d.names)
        if isinstance(d, c.Enum):
            return t.EnumType("", d.names)
        if isinstance(d, c.Option):
            return t.OptionType(self.val(d.inner))
        if isinstance(d, c.Result):
            return t.ResultType(
                None if d.ok is None else self.val(d.ok),
                None if d.err is None else self.val(d.err),
            )
        if isinstance(d, c.Own):
            return self.handle(d.type, own=True)
        if isinstance(d, c.Borrow):
            return self.handle(d.type, own=False)
        elem = None if d.elem is None else self.val(d.elem)
        return Unsupported("stream" if isinstance(d, c.Stream) else "future", elem)

    def type(self, ty: object) -> Entity:
        if isinstance(ty, c.FuncType):
            params = tuple((n, self.val(v)) for n, v in ty.params)
            result = None if ty.result is None else self.val(ty.result)
            return Func(params, result, ty.is_async)
        if isinstance(ty, c.ResourceType):
            return self.fresh(ty.dtor, self)
        if isinstance(ty, c.InstanceType):
            return self.instance_type(ty.decls)
        if isinstance(ty, c.ComponentType):
            return self.component_type(ty.decls)
        return self.defined(ty)  # type: ignore[arg-type,no-any-return]

    # --- component and instance types ------------------------------------------------------

    def extern(self, desc: c.ExternDesc) -> Entity:
        """The entity an import or export declaration describes.

        A ``sub resource`` type is a fresh resource.
        """
        if desc.sort == "type":
            if desc.bound == "sub resource":
                return self.fresh()
            return self.get("type", desc.index or 0)  # type: ignore[no-any-return]
        if desc.sort == "core module":
            return self.core_module(desc.index or 0)
        if desc.sort in ("func", "instance", "component"):
            return self.get("type", desc.index or 0)  # type: ignore[no-any-return]
        return None

    def core_module(self, index: int) -> CoreModuleEnt:
        ty = self.get("core type", index)
        return ty if isinstance(ty, CoreModuleEnt) else CoreModuleEnt()

    def decls(self, decls: Sequence[c.Decl]) -> Iterator[tuple[str, str, Any]]:
        """Evaluate declarations in a fresh scope; yield ``(kind, name, (sort, entity))``."""
        for decl in decls:
            self.budget.spend()
            item = decl.item
            if decl.kind == "type":
                self.add("type", self.type(item))
            elif decl.kind == "core type":
                self.add("core type", _core_type(item))
            elif decl.kind == "alias":
                assert isinstance(item, c.Alias)
                self.add(item.sort, self.alias(item))
            elif decl.kind in ("export", "import"):
                assert isinstance(item, c.ExternDesc)
                ent = self.extern(item)
                self.add(item.sort, ent)
                yield decl.kind, decl.name, (item.sort, ent)

    def instance_type(self, decls: Sequence[c.Decl]) -> Inst:
        scope = _Env(self, self.budget)
        return Inst({name: ent for _, name, ent in scope.decls(decls)})

    def component_type(self, decls: Sequence[c.Decl]) -> Comp:
        scope = _Env(self, self.budget)
        comp = Comp()
        for kind, name, ent in scope.decls(decls):
            (comp.imports if kind == "import" else comp.exports)[name] = ent
        return comp

    def alias(self, a: c.Alias) -> Any:
        if a.kind == "outer":
            return self.outer(a.count).get(a.sort, a.index)
        if a.kind == "core export":
            return None
        inst = self.get("instance", a.instance)
        if not isinstance(inst, Inst):
            return None
        found = inst.exports.get(a.name)
        if found is None:
            raise InvalidModule(f"instance {a.instance} has no export {a.name!r}")
        return found[1]

    # --- a component body ------------------------------------------------------------------

    def body(self, comp: c.Component, args: dict[str, tuple[str, Any]] | None) -> Comp:
        """Evaluate a component's definitions (imports bound to ``args`` when instantiated)."""
        out = Comp(body=comp, env=self)
        for d in comp.definitions:
            self.budget.spend()
            self.definition(d, out, args)
        return out

    def definition(self, d: object, out: Comp, args: dict[str, tuple[str, Any]] | None) -> None:
        if isinstance(d, c.Import):
            bound = args.get(d.name) if args is not None else None
            ent = bound[1] if bound is not None else self.extern(d.desc)
            out.imports[d.name] = (d.desc.sort, ent)
            self.add(d.desc.sort, ent)
        elif isinstance(d, c.Export):
            ent = self.get(d.sort, d.index) if d.sort in self.spaces else None
            out.exports[d.name] = (d.sort, ent)
            self.add(d.sort, ent)
        elif isinstance(d, c.Alias):
            self.add(d.sort, self.alias(d))
        elif isinstance(d, c.Canon):
            if d.op == "lift":
                self.add("func", self.get("type", d.type or 0))
        elif isinstance(d, c.InlineExports):
            exports = {}
            for name, sort, index in d.exports:
                exports[name] = (sort, self.get(sort, index))
            self.add("instance", Inst(exports))
        elif isinstance(d, c.Instantiate):
            self.add("instance", self.instantiate(d))
        elif isinstance(d, c.Component):
            self.add("component", Comp(body=d, env=self))
        elif isinstance(d, c.CoreModule):
            self.add("core module", CoreModuleEnt())
        elif isinstance(d, c.CoreModuleType | c.CoreFuncType | c.CoreOtherType):
            self.add("core type", _core_type(d))
        elif isinstance(d, c.Value):
            self.add("value", None)
        elif isinstance(d, c.Start):
            for _ in range(d.results):
                self.add("value", None)
        elif isinstance(d, c.CoreInstantiate | c.CoreInlineExports):
            pass
        else:
            self.add("type", self.type(d))

    def instantiate(self, d: c.Instantiate) -> Inst:
        comp = self.get("component", d.component)
        if not isinstance(comp, Comp):
            raise InvalidModule(f"component {d.component} is not a component")
        args = {name: (sort, self.get(sort, index)) for name, sort, index in d.args}
        if comp.body is not None and comp.env is not None:
            inner = _Env(comp.env, self.budget)
            return Inst(inner.body(comp.body, args).exports)
        return Inst(dict(comp.exports))  # an imported component: its declared exports


def _triple(item: object) -> tuple[str, str, object]:
    assert isinstance(item, tuple)
    return item[0], item[1], item[2]


def _core_type(item: object) -> Any:
    if isinstance(item, c.CoreModuleType):
        items = []
        for decl in item.decls:
            if decl.kind == "import":
                module, kind, what = _triple(decl.item)
                text = what if isinstance(what, str) else f"{kind} (type {what})"
                items.append(("import", f"{module}.{decl.name}", text))
            elif decl.kind == "export":
                _, kind, what = _triple(decl.item)
                text = what if isinstance(what, str) else f"{kind} (type {what})"
                items.append(("export", decl.name, text))
        return CoreModuleEnt(tuple(items))
    return item


@dataclass(eq=False, slots=True)
class Resolved:
    """A component resolved: its top-level imports and exports as ``(sort, entity)``."""

    component: c.Component
    imports: dict[str, tuple[str, Any]]
    exports: dict[str, tuple[str, Any]]
    env: _Env


def resolve(comp: c.Component) -> Resolved:
    """Evaluate ``comp``'s types (see the module docstring).

    Raises:
        InvalidModule: an index is out of range or of the wrong kind, or resolving takes
            more than a fixed amount of work.

    """
    env = _Env(None, _Budget())
    top = env.body(comp, None)
    return Resolved(comp, top.imports, top.exports, env)


# --- naming, as the stock backend names ---------------------------------------------------------


class _Scope:
    """Named types visible from one place: an interface's own exports, then the world's."""

    def __init__(
        self, interface: str, local: Sequence[tuple[str, Any]], outer: _Scope | None = None
    ) -> None:
        self.interface = interface
        self.local = [(n, e) for n, e in local if isinstance(e, (*NOMINAL, Res))]
        self.outer = outer

    def lookup(self, ent: Any) -> tuple[str, str] | None:
        for name, candidate in self.local:
            if type(candidate) is type(ent) and candidate == ent:
                return name, self.interface
        return self.outer.lookup(ent) if self.outer is not None else None


class _Namer:
    def __init__(self, scope: _Scope, owners: Sequence[tuple[str, str, Res]]) -> None:
        self.scope = scope
        self.owners = owners
        self.by_key = {r.key: r for _, _, r in owners}

    def name(self, ty: Any, hint: str) -> str:
        found = self.scope.lookup(ty)
        return found[0] if found is not None else hint

    def resource(self, res: Res) -> tuple[str, str]:
        for iface, name, candidate in self.owners:
            if candidate == res:
                return name, iface
        found = self.scope.lookup(res)
        return found if found is not None else ("resource", self.scope.interface)

    def val(self, ty: Any, hint: str) -> t.WitType:
        if isinstance(ty, Unsupported) and ty.word in ("stream", "future"):
            elem = None if ty.elem is None else self.val(ty.elem, hint)
            return t.StreamType(elem) if ty.word == "stream" else t.FutureType(elem)
        if isinstance(ty, Unsupported):
            raise TypeError(f"{ty.word} values are not supported by omniwasm yet")
        if isinstance(ty, t.ListType):
            return t.ListType(self.val(ty.elem, hint))
        if isinstance(ty, t.TupleType):
            return t.TupleType(tuple(self.val(e, hint) for e in ty.items))
        if isinstance(ty, t.OptionType):
            return t.OptionType(self.val(ty.inner, hint))
        if isinstance(ty, t.ResultType):
            return t.ResultType(
                None if ty.ok is None else self.val(ty.ok, hint),
                None if ty.err is None else self.val(ty.err, f"{hint}-error"),
            )
        if isinstance(ty, t.RecordType):
            name = self.name(ty, hint)
            return t.RecordType(
                name, tuple((n, self.val(ft, f"{name}-{n}")) for n, ft in ty.fields)
            )
        if isinstance(ty, t.VariantType):
            name = self.name(ty, hint)
            return t.VariantType(
                name,
                tuple(
                    (n, None if ct is None else self.val(ct, f"{name}-{n}")) for n, ct in ty.cases
                ),
            )
        if isinstance(ty, t.EnumType):
            return t.EnumType(self.name(ty, hint), ty.cases)
        if isinstance(ty, t.FlagsType):
            return t.FlagsType(self.name(ty, hint), ty.names)
        if isinstance(ty, t.OwnType | t.BorrowType):
            res = self.by_key.get(ty.resource) or self._local_res(ty.resource)
            name, iface = self.resource(res) if res is not None else ("resource", "")
            return (
                t.OwnType(name, iface) if isinstance(ty, t.OwnType) else t.BorrowType(name, iface)
            )
        return ty  # type: ignore[no-any-return]

    def _local_res(self, key: str) -> Res | None:
        scope: _Scope | None = self.scope
        while scope is not None:
            for _, e in scope.local:
                if isinstance(e, Res) and e.key == key:
                    return e
            scope = scope.outer
        try:
            return Res(int(key[len(_RES_PREFIX) :]))
        except ValueError:
            return None

    def func(self, name: str, fn: Func) -> t.FuncSig:
        hint = name.rpartition("]")[2].replace(".", "-")
        params = tuple((n, self.val(p, f"{hint}-{n}")) for n, p in fn.params)
        result = fn.result
        result_ty = None if result is None else self.val(result, hint)
        return t.FuncSig(name, params, result_ty, fn.is_async)


def _member(name: str, sort: str, ent: Any, namer: _Namer) -> Member:
    if isinstance(ent, Func):
        return Member(name, "func", sig=namer.func(name, ent))
    if isinstance(ent, Res):
        return Member(name, "resource", resource=namer.resource(ent))
    if isinstance(ent, Inst):
        return _interface(name, ent.exports, namer.scope, namer.owners)
    if isinstance(ent, CoreModuleEnt) or sort == "core module":
        items = ent.items if isinstance(ent, CoreModuleEnt) else ()
        return Member(name, "module", members=tuple(Member(n, k, text=x) for k, n, x in items))
    if isinstance(ent, Comp) or sort == "component":
        return Member(name, "component")
    return Member(name, "type", type=namer.val(ent, name))


def _interface(
    name: str, members: dict[str, tuple[str, Any]], outer: _Scope, owners: Sequence[Any]
) -> Member:
    namer = _Namer(_Scope(name, [(n, e) for n, (_, e) in members.items()], outer), owners)
    found = tuple(_member(n, s, e, namer) for n, (s, e) in members.items())
    return Member(name, "interface", members=found)


def _owners(*sides: dict[str, tuple[str, Any]]) -> list[tuple[str, str, Res]]:
    found: list[tuple[str, str, Res]] = []
    seen: set[Res] = set()
    for side in sides:
        for iface, (_, ent) in side.items():
            if not isinstance(ent, Inst):
                continue
            for name, (_, item) in ent.exports.items():
                if isinstance(item, Res) and item not in seen:
                    seen.add(item)
                    found.append((iface, name, item))
    return found


def named_resources(
    imports: dict[str, tuple[str, Any]], exports: dict[str, tuple[str, Any]]
) -> dict[tuple[str, str], Res]:
    """A world's resources by ``(interface, name)``, named as :func:`walk` names them.

    A resource imported or exported at the world level has the interface ``""``.
    """
    found = {(iface, name): res for iface, name, res in _owners(imports, exports)}
    for side in (imports, exports):
        for name, (_, ent) in side.items():
            if isinstance(ent, Res):
                found.setdefault(("", name), ent)
    return found


def _side(items: dict[str, tuple[str, Any]], owners: Sequence[Any]) -> tuple[Member, ...]:
    namer = _Namer(_Scope("", [(n, e) for n, (_, e) in items.items()]), owners)
    return tuple(_member(n, s, e, namer) for n, (s, e) in items.items())


def walk(resolved: Resolved) -> tuple[tuple[Member, ...], tuple[Member, ...]]:
    """The ``(imports, exports)`` of a resolved component's world, as named members.

    Raises:
        TypeError: the world uses a type omniwasm cannot carry yet (stream, future...).

    """
    owners = _owners(resolved.imports, resolved.exports)
    return _side(resolved.imports, owners), _side(resolved.exports, owners)


def world_type(comp: c.Component) -> t.WorldType:
    """The imports and exports of a parsed component as :class:`WorldType` (no engine).

    Raises:
        InvalidModule: the component's types do not resolve.
        TypeError: the world uses a type omniwasm cannot carry yet.

    """
    return world_type_of(*walk(resolve(comp)))


def world_items(comp: c.Component) -> tuple[tuple[WorldItem, ...], tuple[WorldItem, ...]]:
    """The ``(imports, exports)`` of a parsed component's world rendered in WIT (no engine).

    Raises:
        InvalidModule: the component's types do not resolve.
        TypeError: the world uses a type omniwasm cannot carry yet.

    """
    return world_items_of(*walk(resolve(comp)))
