"""The own runtime's pre-instantiated form: a component's definitions compiled once per plan.

A component's definitions (core instances, export bags, aliases, nested components, ``canon``
functions, resource types) are walked once per plan, beside the static type environment, into
a :class:`Program`: the minimal per-instance sequence of steps, in the spirit of wasmtime's
``InstancePre``. Every core extern an instance needs (an export of a core instance, or a
function the runtime makes) gets a slot in the instance's extern buffer; bags and aliases are
resolved away here, so an instantiation only instantiates each core module with an import vector
gathered from its slots (one C call), fetches the exports later steps use (one C call each) and
makes the lowered functions. Lifted exports, their options and raw calls are described by
symbols (:class:`Lift`, :class:`Opts`, :class:`Ext`) that an instance turns into objects the
first time they are used (:mod:`.runner`).
"""

from __future__ import annotations

import ctypes
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import wasmtime

from ...._binary import component_defs as c
from ...._binary.component_types import (
    Comp,
    Func,
    Inst,
    Res,
    _Env,
    named_resources,
)
from ...._errors import InvalidModule, LinkError
from ...._wit import types as t
from .plan import Plan, Unsupported

EXTERN_SIZE = ctypes.sizeof(wasmtime._ffi.wasmtime_extern_t)
_INSTANCE_SIZE = ctypes.sizeof(wasmtime._ffi.wasmtime_instance_t)
_NUMERIC = frozenset({"i32", "i64", "f32", "f64"})

Step = Callable[[Any, Any], None]
"""One per-instance step: ``step(inst, live)``."""


@dataclass(eq=False)
class Ext:
    """A core extern of an instance: slot ``slot`` of its extern buffer."""

    slot: int
    kind: str
    """``func``, ``memory``, ``global`` or ``table``."""
    sig: tuple[list[str], list[str]] | None = None
    """A core function's type when static (None: a function this runtime makes)."""
    used: bool = False


@dataclass(eq=False)
class Opts:
    """A ``canon`` definition's options, as slots (one object per distinct combination)."""

    memory: Ext | None
    realloc: Ext | None
    post_return: Ext | None
    encoding: str
    table: int
    index: int
    """The per-instance memo index of the resolved :class:`~.instance.Options`."""


@dataclass(eq=False)
class Lift:
    """A ``canon lift``: the core function, its component type and options."""

    core: Ext
    func: Func
    opts: Opts
    callback: Ext | None
    is_async: bool
    index: int


@dataclass(eq=False)
class HostFn:
    """A function the host provides (a top-level import), by ``(interface, name)``."""

    key: tuple[str, str]
    sig: t.FuncSig
    label: str
    index: int


@dataclass(eq=False)
class _Core:
    """A core instance while compiling: its number, export kinds and the exports fetched."""

    number: int
    exports: dict[str, tuple[str, tuple[list[str], list[str]] | None]]
    fetched: dict[str, Ext] = field(default_factory=dict)


@dataclass(eq=False)
class CoreStep:
    """Instantiate one core module: complete its import vector, call the C API, fetch exports.

    The import vector is slots ``start .. start + count`` of the instance's extern buffer
    (:meth:`Compiler.layout`): each extern lives in the vector of its first user, where its
    maker (an export fetch, a made function) puts it, and ``copies`` brings in the others.
    """

    number: int
    module: wasmtime.Module
    sources: list[Ext]
    count: int
    fetch: list[tuple[bytes, int, Ext]]
    memories: list[Ext]
    start: int = 0
    copies: list[tuple[slice, slice]] = field(default_factory=list)
    """``(to, from)`` byte ranges of the extern buffer copied before instantiating."""
    gets: list[tuple[bytes, Any, int]] = field(default_factory=list)
    """The fetches as the C call takes them: name, its length (a ``c_size_t``), and the byte
    offset of the extern's slot (made by :meth:`Compiler.layout`)."""


@dataclass(eq=False)
class Program:
    """The per-instance steps of a component (see the module docstring)."""

    steps: list[Any]
    slots: int
    cores: int
    tables: int
    memo: int
    exports: dict[str, tuple[str, Any]]
    named_res: dict[tuple[str, str], int]
    ambiguous: bool
    """An async built-in is made more than once (its static types are not cached)."""
    core_steps: list[CoreStep]
    ext_type: Any
    """The ctypes array type of an instance's extern slots."""
    cores_type: Any
    """The ctypes array type of an instance's core instances."""

    @property
    def fetched(self) -> list[list[bytes]]:
        """The export names each core instance's step fetches, in instantiation order."""
        return [[name for name, _, _ in step.fetch] for step in self.core_steps]


class _Frame:
    """One component body while compiling: symbolic index spaces and the static environment."""

    def __init__(self, static: _Env, parent: _Frame | None, table: int) -> None:
        self.static = static
        self.parent = parent
        self.spaces: dict[str, list[Any]] = {s: [] for s in c.SORTS}
        self.table = table

    def get(self, sort: str, index: int) -> Any:
        space = self.spaces[sort]
        if not 0 <= index < len(space):
            raise InvalidModule(f"{sort} index {index} out of range")
        return space[index]

    def outer(self, count: int) -> _Frame:
        frame: _Frame | None = self
        for _ in range(count):
            frame = frame.parent if frame is not None else None
        if frame is None:
            raise InvalidModule("an outer alias leaves the component")
        return frame


def _core_types(module: wasmtime.Module) -> dict[str, tuple[str, Any]]:
    out: dict[str, tuple[str, Any]] = {}
    for e in module.exports:
        ty = e.type
        if isinstance(ty, wasmtime.FuncType):
            out[e.name] = ("func", ([str(p) for p in ty.params], [str(r) for r in ty.results]))
        elif isinstance(ty, wasmtime.MemoryType):
            out[e.name] = ("memory", None)
        elif isinstance(ty, wasmtime.GlobalType):
            out[e.name] = ("global", None)
        else:
            out[e.name] = ("table", None)
    return out


class Compiler:
    """Walks a plan's definitions into a :class:`Program` (once per plan)."""

    def __init__(self, plan: Plan, hooks: Any) -> None:
        self.plan = plan
        self.hooks = hooks
        """The per-instance makers (:mod:`.runner`): lowered functions, built-ins, resources."""
        self.steps: list[Any] = []
        self.slots = 0
        self.cores: list[_Core] = []
        self.tables = 0
        self.memo = 0
        self.opts: dict[tuple[Any, ...], Opts] = {}
        self.placed: set[int] = set()
        """Resource ids an instance has a type for, in definition order."""
        self.steps_fetch: list[CoreStep] = []
        self.module_types: dict[int, dict[str, tuple[str, Any]]] = {}
        self.exts: list[Ext] = []
        self.builtins: Counter[int] = Counter()
        """How often each async built-in definition is made (twice: a nested component used
        twice, whose static types may differ between the two)."""

    def compile(self) -> Program:
        resolved = self.plan.resolved
        frame = _Frame(_Env(None, resolved.env.budget), None, self._table())
        static_out = Comp()
        exports = self.body(self.plan.component, frame, None, static_out)
        named = {
            k: r.id for k, r in named_resources(static_out.imports, static_out.exports).items()
        }
        for step in self.steps_fetch:  # only the exports something uses are fetched
            step.fetch[:] = [f for f in step.fetch if f[2].used]
        self.layout()
        ambiguous = any(n > 1 for n in self.builtins.values())
        return Program(
            self.steps,
            self.slots,
            len(self.cores),
            self.tables,
            self.memo,
            exports,
            named,
            ambiguous,
            self.steps_fetch,
            ctypes.c_char * max(1, self.slots * EXTERN_SIZE),
            ctypes.c_char * max(1, len(self.cores) * _INSTANCE_SIZE),
        )

    # --- numbering ------------------------------------------------------------------------

    def _table(self) -> int:
        self.tables += 1
        return self.tables - 1

    def _memo(self) -> int:
        self.memo += 1
        return self.memo - 1

    def _add(self, step: Step | None) -> None:
        """Append a per-instance step (None: the hook needs none, e.g. a planned function)."""
        if step is not None:
            self.steps.append(step)

    def ext(self, kind: str, sig: Any = None) -> Ext:
        self.slots += 1
        found = Ext(self.slots - 1, kind, sig)
        self.exts.append(found)
        return found

    def layout(self) -> None:
        """Renumber the slots so that each core module's import vector is contiguous.

        An instance then passes the C API a pointer into its extern buffer instead of
        gathering a vector per module; an extern used by several imports is copied from its
        first user's vector (about a fifth of a componentize-py guest's imports).
        """
        size = EXTERN_SIZE
        home: dict[int, int] = {}
        later: list[list[tuple[int, Ext]]] = []
        at = 0
        for step in self.steps_fetch:
            step.start = at
            mine: list[tuple[int, Ext]] = []
            for ext in step.sources:
                if id(ext) in home:
                    mine.append((at, ext))
                else:
                    home[id(ext)] = at
                at += 1
            later.append(mine)
        for ext in self.exts:
            if id(ext) not in home:
                home[id(ext)] = at
                at += 1
        for ext in self.exts:
            ext.slot = home[id(ext)]
        for step, mine in zip(self.steps_fetch, later, strict=True):
            step.copies = [
                (slice(to * size, (to + 1) * size), slice(e.slot * size, (e.slot + 1) * size))
                for to, e in mine
            ]
            step.gets = [(name, ctypes.c_size_t(n), e.slot * size) for name, n, e in step.fetch]
        self.slots = at

    # --- the walk -------------------------------------------------------------------------

    def body(
        self,
        comp: c.Component,
        frame: _Frame,
        args: dict[str, tuple[str, Any, Any]] | None,
        static_out: Comp,
    ) -> dict[str, tuple[str, Any]]:
        static_args = None if args is None else {n: (s, st) for n, (s, _, st) in args.items()}
        exports: dict[str, tuple[str, Any]] = {}
        for d in comp.definitions:
            frame.static.definition(d, static_out, static_args)
            rid = None
            if isinstance(d, c.ResourceType):
                rid = frame.static.spaces["type"][-1].id
            elif isinstance(d, c.Canon) and d.op.startswith("resource."):
                res = frame.static.get("type", d.index or 0)
                if not isinstance(res, Res):
                    raise InvalidModule(f"canon {d.op}: type {d.index} is not a resource")
                rid = res.id
            self.step(d, frame, args, exports, static_out, rid)
        return exports

    def step(  # noqa: PLR0917 - the walk's state
        self,
        d: object,
        frame: _Frame,
        args: dict[str, tuple[str, Any, Any]] | None,
        exports: dict[str, tuple[str, Any]],
        static_out: Comp,
        rid: int | None,
    ) -> None:
        sp = frame.spaces
        if isinstance(d, c.CoreModule):
            sp["core module"].append(self.plan.modules[d.offset])
        elif isinstance(d, c.Component):
            sp["component"].append((d, frame))
        elif isinstance(d, c.CoreInstantiate):
            sp["core instance"].append(self.core_instantiate(d, frame))
        elif isinstance(d, c.CoreInlineExports):
            sp["core instance"].append({n: frame.get(s, i) for n, s, i in d.exports})
        elif isinstance(d, c.Alias):
            sp[d.sort].append(self.alias(d, frame))
        elif isinstance(d, c.ResourceType):
            assert rid is not None
            self.resource_type(d, frame, rid)
        elif isinstance(d, c.Canon):
            self.canon(d, frame, rid)
        elif isinstance(d, c.Instantiate):
            sp["instance"].append(self.instantiate(d, frame))
        elif isinstance(d, c.InlineExports):
            sp["instance"].append(
                {n: (s, frame.get(s, i) if s != "type" else None) for n, s, i in d.exports}
            )
        elif isinstance(d, c.Import):
            if args is not None:
                found = args.get(d.name)
                item = found[1] if found is not None else None
            else:
                item = self.host_import(d)
                self.host_resources(d.name, static_out)
            if d.desc.sort != "type":
                sp[d.desc.sort].append(item)
        elif isinstance(d, c.Export):
            item = frame.get(d.sort, d.index) if d.sort != "type" else None
            if d.sort != "type":
                sp[d.sort].append(item)
            exports[d.name] = (d.sort, item)
        elif isinstance(d, c.Start | c.Value):
            raise Unsupported("component start functions and values")
        # core types live nowhere; value and component types in the static environment only

    def member(self, src: Any, name: str, where: str) -> Ext:
        """Export ``name`` of a core instance or an export bag (fetched once per instance)."""
        if isinstance(src, _Core):
            found = src.fetched.get(name)
            if found is None:
                kind_sig = src.exports.get(name)
                if kind_sig is None:
                    raise InvalidModule(f"core instance {where} has no export {name!r}")
                found = src.fetched[name] = self.ext(*kind_sig)
                raw = name.encode()
                self.steps_fetch[src.number].fetch.append((raw, len(raw), found))
            return found
        if isinstance(src, dict):
            item = src.get(name)
            if not isinstance(item, Ext):
                raise InvalidModule(f"core instance {where} has no export {name!r}")
            return item
        raise InvalidModule(f"core instance {where} is not an instance")

    def alias(self, a: c.Alias, frame: _Frame) -> Any:
        if a.sort in {"type", "core type"}:
            return None
        if a.kind == "outer":
            return frame.outer(a.count).get(a.sort, a.index)
        if a.kind == "core export":
            return self.member(frame.get("core instance", a.instance), a.name, str(a.instance))
        inst = frame.get("instance", a.instance)
        if not isinstance(inst, dict) or a.name not in inst:
            raise InvalidModule(f"instance {a.instance} has no export {a.name!r}")
        return inst[a.name][1]

    def core_instantiate(self, d: c.CoreInstantiate, frame: _Frame) -> _Core:
        module: wasmtime.Module = frame.get("core module", d.module)
        named = {n: frame.get("core instance", i) for n, i in d.args}
        sources: list[Ext] = []
        for imp in module.imports:
            src = named.get(imp.module)
            if src is None:
                raise LinkError((), detail=f"core module import {imp.module!r} not provided")
            try:
                ext = self.member(src, imp.name or "", imp.module)
            except InvalidModule:
                raise LinkError(
                    (), detail=f"core import {imp.module}.{imp.name} not provided"
                ) from None
            ext.used = True
            sources.append(ext)
        types = self.module_types.get(id(module))
        if types is None:
            types = self.module_types[id(module)] = _core_types(module)
        core = _Core(len(self.cores), types)
        self.cores.append(core)
        step = CoreStep(core.number, module, sources, len(sources), [], [])
        self.steps_fetch.append(step)
        self.steps.append(self.hooks.core(step))
        for name, (kind, _) in types.items():
            if kind == "memory":  # every memory counts toward max_memory
                ext = self.member(core, name, str(core.number))
                ext.used = True
                step.memories.append(ext)
        return core

    def instantiate(self, d: c.Instantiate, frame: _Frame) -> dict[str, tuple[str, Any]]:
        comp, def_frame = frame.get("component", d.component)
        args = {}
        for name, sort, index in d.args:
            rt = frame.get(sort, index) if sort != "type" else None
            st = frame.static.get(sort, index) if sort in frame.static.spaces else None
            args[name] = (sort, rt, st)
        inner = _Frame(_Env(def_frame.static, frame.static.budget), def_frame, self._table())
        return self.body(comp, inner, args, Comp())

    def host_import(self, d: c.Import) -> Any:
        world = self.plan.world
        if d.desc.sort == "func":
            sig = next(i for i in world.imports if isinstance(i, t.FuncSig) and i.name == d.name)
            return HostFn(("", d.name), sig, d.name, self._memo())
        if d.desc.sort == "instance":
            iface = next(
                (i for i in world.imports if isinstance(i, t.InterfaceType) and i.name == d.name),
                None,
            )
            out: dict[str, tuple[str, Any]] = {}
            if iface is not None:
                for sig in iface.funcs:
                    label = f"{d.name}#{sig.name}"
                    out[sig.name] = ("func", HostFn((d.name, sig.name), sig, label, self._memo()))
            return out
        return None

    def host_resources(self, name: str, static_out: Comp) -> None:
        """The resources a top-level import brings get their types (the first import wins)."""
        _, ent = static_out.imports.get(name, ("", None))
        found: list[tuple[int, str, str]] = []
        if isinstance(ent, Res):
            found = [(ent.id, "", name)]
        elif isinstance(ent, Inst):
            found = [(e.id, name, n) for n, (_, e) in ent.exports.items() if isinstance(e, Res)]
        # an interface that ``use``s another's resource re-exports the same type: it belongs
        # to the first import that brings it (as ``walk`` names it)
        fresh = [f for f in found if f[0] not in self.placed]
        if fresh:
            self.placed.update(f[0] for f in fresh)
            self.steps.append(self.hooks.host_resources(fresh))

    def resource_type(self, d: c.ResourceType, frame: _Frame, rid: int) -> None:
        dtor = None
        if d.dtor is not None:
            dtor = self.callable(frame.get("core func", d.dtor))
        self.placed.add(rid)
        self.steps.append(self.hooks.resource_type(rid, dtor, frame.table))

    def callable(self, ext: Any) -> Ext:
        """A core function a raw call will use (its type must be numbers only)."""
        if not isinstance(ext, Ext) or ext.kind != "func":
            raise InvalidModule("a canon option names something that is not a core function")
        if ext.sig is not None and any(p not in _NUMERIC for p in (*ext.sig[0], *ext.sig[1])):
            raise Unsupported("core functions with reference or vector types")
        ext.used = True
        return ext

    def options(self, d: c.Canon, frame: _Frame) -> Opts:
        o = d.options
        memory = None if o.memory is None else frame.get("core memory", o.memory)
        if memory is not None:
            if not isinstance(memory, Ext) or memory.kind != "memory":
                raise InvalidModule("a canon memory option names something that is not a memory")
            memory.used = True
        realloc = None if o.realloc is None else self.callable(frame.get("core func", o.realloc))
        post = None
        if o.post_return is not None:
            post = self.callable(frame.get("core func", o.post_return))
        key = (
            None if memory is None else memory.slot,
            None if realloc is None else realloc.slot,
            None if post is None else post.slot,
            o.encoding,
            frame.table,
        )
        found = self.opts.get(key)
        if found is None:
            found = self.opts[key] = Opts(memory, realloc, post, o.encoding, frame.table, 0)
            found.index = self._memo()
        return found

    def canon(self, d: c.Canon, frame: _Frame, rid: int | None) -> None:
        sp = frame.spaces
        if d.op == "lift":
            func: Func = frame.static.get("type", d.type or 0)
            core = self.callable(frame.get("core func", d.index or 0))
            opts = self.options(d, frame)
            cb = None
            if d.options.is_async:
                cb = self.callable(frame.get("core func", d.options.callback or 0))
            sp["func"].append(Lift(core, func, opts, cb, d.options.is_async, self._memo()))
            return
        out = self.ext("func")
        if d.op == "lower":
            target = frame.get("func", d.index or 0)
            if not isinstance(target, HostFn | Lift):
                raise InvalidModule(f"canon lower of func {d.index}, which is not a function")
            opts = self.options(d, frame)
            self._add(self.hooks.lower(out, target, opts, d.options.is_async))
        elif d.op.startswith("resource."):
            assert rid is not None
            if rid not in self.placed:
                raise Unsupported(f"canon {d.op} of a resource this runtime cannot place")
            self._add(self.hooks.resource_builtin(out, d, rid, frame.table))
        else:  # component-model async built-ins (async_canon)
            self.builtins[id(d)] += 1
            opts = self.options(d, frame)
            self.steps.append(self.hooks.async_builtin(out, d, frame, opts))
        sp["core func"].append(out)
