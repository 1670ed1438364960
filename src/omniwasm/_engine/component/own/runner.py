"""The own runtime's instantiation: the walk of a component's definitions into an instance.

:func:`instantiate_own` checks the plan and the imports, then a :class:`_Runner` evaluates the
component's definitions in order beside the static type environment: core modules instantiated
with wasmtime's core API, inline export bags and aliases as dictionaries, nested components
instantiated with their arguments, ``canon lift``/``lower`` and resource built-ins made into
functions, and Python host imports bound by name, all into one :class:`OwnInstance`.
"""

from __future__ import annotations

from typing import Any

import wasmtime

from ...._binary import component_defs as c
from ...._binary.component_types import (
    Func,
    Inst,
    Res,
    _Env,
    named_resources,
)
from ...._errors import (
    InvalidModule,
    LinkError,
)
from ...._policy import Policy
from ...._wit import types as t
from ...artifact import Artifact
from ...store import StoreBox
from ..stock.imports import HostDefs
from ..stock.instance import missing_imports
from .async_canon import (
    AsyncLifted,
    builtin,
)
from .async_host import lower_async
from .instance import Host, Lifted, Options, OwnInstance
from .lowered import _builtin, _lowered
from .plan import Unsupported, imports_wasi, own_plan, unsupported_reason
from .rawfunc import RawFunc
from .resources import (
    HandleTable,
    RType,
    drop_builtin,
    new_builtin,
    rep_builtin,
)


class _Frame:
    """Runtime index spaces of one component body, beside its static type environment."""

    def __init__(
        self, static: _Env, parent: _Frame | None, tables: list[HandleTable] | None = None
    ) -> None:
        self.static = static
        self.parent = parent
        self.spaces: dict[str, list[Any]] = {s: [] for s in c.SORTS}
        self.table = HandleTable()
        """This component instance's resource handles."""
        if tables is not None:
            tables.append(self.table)

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


class _CoreInst:
    """A core instance's exports by name."""

    def __init__(self, instance: wasmtime.Instance, store: wasmtime.Store) -> None:
        self.exports = instance.exports(store)

    def __getitem__(self, name: str) -> Any:
        return self.exports[name]


class _Runner:
    """Evaluates a component's definitions into an :class:`OwnInstance`."""

    def __init__(self, inst: OwnInstance) -> None:
        self.inst = inst
        self.store = inst.box.store
        self.plan = inst.plan
        self.top_static: Any = None

    def top(self) -> None:
        resolved = self.plan.resolved
        frame = _Frame(_Env(None, resolved.env.budget), None, self.inst.tables)
        self.inst.exported = self.body(self.plan.component, frame, None, top=True)
        plan = self.plan
        if not plan.static_done:
            st = self.top_static
            plan.named_res = {k: r.id for k, r in named_resources(st.imports, st.exports).items()}
        named = self.inst.side.named
        for key, rid in plan.named_res.items():
            rt = self.inst.rtypes.get(rid)
            if rt is not None:
                rt.name = key[1]
                named[key] = rt
        if not plan.ambiguous:
            plan.static_done = True

    def body(
        self,
        comp: c.Component,
        frame: _Frame,
        args: dict[str, tuple[str, Any, Any]] | None,
        *,
        top: bool = False,
    ) -> dict[str, tuple[str, Any]]:
        from ...._binary.component_types import Comp

        static_out = Comp()
        static_args = None if args is None else {n: (s, st) for n, (s, _, st) in args.items()}
        exports: dict[str, tuple[str, Any]] = {}
        walk_types = not self.plan.static_done
        for d in comp.definitions:
            if walk_types:
                frame.static.definition(d, static_out, static_args)
                if isinstance(d, c.ResourceType):
                    self.plan.res_ids[id(d)] = frame.static.spaces["type"][-1].id
                elif isinstance(d, c.Canon) and d.op.startswith("resource."):
                    res = frame.static.get("type", d.index or 0)
                    if not isinstance(res, Res):
                        raise InvalidModule(f"canon {d.op}: type {d.index} is not a resource")
                    self.plan.res_ids[id(d)] = res.id
                elif isinstance(d, c.Import) and args is None:
                    self.plan.host_res[d.name] = _host_resources(d.name, static_out.imports)
            self.step(d, frame, args, exports, top)
        if top:
            self.top_static = static_out
        return exports

    def step(
        self,
        d: object,
        frame: _Frame,
        args: dict[str, tuple[str, Any, Any]] | None,
        exports: dict[str, tuple[str, Any]],
        top: bool,
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
            self.resource_type(d, frame)
        elif isinstance(d, c.Canon):
            self.canon(d, frame)
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
                for rid, iface, name in self.plan.host_res.get(d.name, ()):
                    # an interface that ``use``s another's resource re-exports the same type:
                    # it belongs to the first import that brings it (as ``walk`` names it)
                    if rid not in self.inst.rtypes:
                        self.inst.rtypes[rid] = RType(name, host=(iface, name))
            if d.desc.sort != "type":
                sp[d.desc.sort].append(item)
        elif isinstance(d, c.Export):
            item = frame.get(d.sort, d.index) if d.sort != "type" else None
            if d.sort != "type":
                sp[d.sort].append(item)
            exports[d.name] = (d.sort, item)
        elif isinstance(d, c.CoreModuleType | c.CoreFuncType | c.CoreOtherType):
            pass
        elif isinstance(d, c.Start | c.Value):
            raise Unsupported("component start functions and values")
        # value and component type definitions live in the static environment only

    def canon(self, d: c.Canon, frame: _Frame) -> None:
        sp = frame.spaces
        if d.op == "lift":
            func = self.lift_type(d, frame)
            core = self.raw(frame.get("core func", d.index or 0), (id(d), 0))
            opts = self.options(d, frame)
            if d.options.is_async:
                cb = self.raw(frame.get("core func", d.options.callback or 0), (id(d), 3))
                sp["func"].append(AsyncLifted(core, cb, func, opts))
            else:
                sp["func"].append(Lifted(core, func, opts))
        elif d.op == "lower":
            target = frame.get("func", d.index or 0)
            label = target.label if isinstance(target, Host) else "a component function"
            lower = lower_async if d.options.is_async else _lowered
            sp["core func"].append(lower(self.inst, target, self.options(d, frame), label))
        elif d.op.startswith("resource."):
            sp["core func"].append(self.resource_builtin(d, frame))
        else:
            sp["core func"].append(builtin(self, d, frame))

    def resource_type(self, d: c.ResourceType, frame: _Frame) -> None:
        dtor = None
        if d.dtor is not None:
            dtor = self.raw(frame.get("core func", d.dtor), (id(d), 3))
        rid = self.plan.res_ids[id(d)]
        self.inst.rtypes[rid] = RType(f"resource {rid}", dtor=dtor, impl=frame.table)

    def resource_builtin(self, d: c.Canon, frame: _Frame) -> wasmtime.Func:
        rid = self.plan.res_ids[id(d)]
        rt = self.inst.rtypes.get(rid)
        if rt is None:
            raise Unsupported(f"canon {d.op} of a resource this runtime cannot place")
        table = frame.table
        inst = self.inst
        if d.op == "resource.new":
            return _builtin(inst, new_builtin(table, rt), 1, 1, d.op)
        if d.op == "resource.rep":
            return _builtin(inst, rep_builtin(table, rt), 1, 1, d.op)
        label = f"{rt.host[0]}#[resource-drop]{rt.host[1]}" if rt.host else d.op
        return _builtin(inst, drop_builtin(table, rt, inst.host_drop), 1, 0, label)

    def options(self, d: c.Canon, frame: _Frame) -> Options:
        o = d.options
        return Options(
            None if o.memory is None else frame.get("core memory", o.memory),
            None if o.realloc is None else self.raw(frame.get("core func", o.realloc), (id(d), 1)),
            None
            if o.post_return is None
            else self.raw(frame.get("core func", o.post_return), (id(d), 2)),
            o.encoding,
            frame.table,
        )

    def raw(self, func: wasmtime.Func, key: tuple[int, int]) -> RawFunc:
        sigs = self.plan.sigs
        sig = sigs.get(hash(key)) if self.plan.static_done else None
        raw = RawFunc(func, self.store, self.inst.box.ctx, sig)
        if sig is None:
            sigs[hash(key)] = raw.sig
        return raw

    def lift_type(self, d: c.Canon, frame: _Frame) -> Func:
        plan = self.plan
        if plan.static_done:
            return plan.lift_types[id(d)]
        func: Func = frame.static.get("type", d.type or 0)
        seen = plan.lift_types.setdefault(id(d), func)
        if seen != func:  # one definition, two types (a nested component used twice)
            plan.ambiguous = True
        return func

    def alias(self, a: c.Alias, frame: _Frame) -> Any:
        if a.sort in {"type", "core type"}:
            return None
        if a.kind == "outer":
            return frame.outer(a.count).get(a.sort, a.index)
        if a.kind == "core export":
            inst = frame.get("core instance", a.instance)
            try:
                return inst[a.name]
            except KeyError:
                raise InvalidModule(
                    f"core instance {a.instance} has no export {a.name!r}"
                ) from None
        inst = frame.get("instance", a.instance)
        if not isinstance(inst, dict) or a.name not in inst:
            raise InvalidModule(f"instance {a.instance} has no export {a.name!r}")
        return inst[a.name][1]

    def core_instantiate(self, d: c.CoreInstantiate, frame: _Frame) -> _CoreInst:
        module: wasmtime.Module = frame.get("core module", d.module)
        named = {n: frame.get("core instance", i) for n, i in d.args}
        externs = []
        for imp in module.imports:
            src = named.get(imp.module)
            if src is None:
                raise LinkError((), detail=f"core module import {imp.module!r} not provided")
            try:
                externs.append(src[imp.name or ""])
            except KeyError:
                raise LinkError(
                    (), detail=f"core import {imp.module}.{imp.name} not provided"
                ) from None
        instance = wasmtime.Instance(self.store, module, externs)
        core = _CoreInst(instance, self.store)
        for ext in core.exports.values():
            if isinstance(ext, wasmtime.Memory):
                self.inst.views.add(ext)
        return core

    def instantiate(self, d: c.Instantiate, frame: _Frame) -> dict[str, tuple[str, Any]]:
        comp, def_frame = frame.get("component", d.component)
        args = {}
        for name, sort, index in d.args:
            rt = frame.get(sort, index) if sort != "type" else None
            walk = not self.plan.static_done and sort in frame.static.spaces
            st = frame.static.get(sort, index) if walk else None
            args[name] = (sort, rt, st)
        inner = _Frame(_Env(def_frame.static, frame.static.budget), def_frame, self.inst.tables)
        return self.body(comp, inner, args)

    def host_import(self, d: c.Import) -> Any:
        defs = self.inst.defs
        world = self.plan.world
        if d.desc.sort == "func":
            sig = next(i for i in world.imports if isinstance(i, t.FuncSig) and i.name == d.name)
            return Host(defs.funcs[("", d.name)], sig, d.name)
        if d.desc.sort == "instance":
            iface = next(
                (i for i in world.imports if isinstance(i, t.InterfaceType) and i.name == d.name),
                None,
            )
            out: dict[str, tuple[str, Any]] = {}
            if iface is not None:
                for sig in iface.funcs:
                    fn = defs.funcs.get((d.name, sig.name))
                    if fn is not None:
                        out[sig.name] = ("func", Host(fn, sig, f"{d.name}#{sig.name}"))
            return out
        return None


def _host_resources(name: str, imports: dict[str, tuple[str, Any]]) -> list[tuple[int, str, str]]:
    """The resources a top-level import brings: ``(static id, interface, name)``."""
    _, ent = imports.get(name, ("", None))
    if isinstance(ent, Res):
        return [(ent.id, "", name)]
    if isinstance(ent, Inst):
        return [(e.id, name, n) for n, (_, e) in ent.exports.items() if isinstance(e, Res)]
    return []


_EMPTY = HostDefs(wasi=False)


def instantiate_own(
    artifact: Artifact,
    policy: Policy,
    *,
    defs: HostDefs | None = None,
    argv0: str = "main",
    data: Any = None,
) -> OwnInstance:
    """Instantiate a component on omniwasm's own runtime.

    Raises:
        Unsupported: the component uses something this runtime does not run yet.
        LinkError: imports are missing (all of them are listed).
        ExecutionError: a core module's start function failed.

    """
    defs = defs if defs is not None else _EMPTY
    reason = unsupported_reason(artifact, defs)
    if not reason and defs.wasi and imports_wasi(artifact):
        reason = "it imports WASI, which this runtime takes from a Python host (wasi=False)"
    if reason:
        raise Unsupported(f"omniwasm's component runtime cannot run this component: {reason}")
    plan = own_plan(artifact)
    missing = missing_imports(plan.world, defs)
    if missing:
        raise LinkError(tuple(missing))
    box = StoreBox(artifact.native, policy, wasi=False, argv0=argv0)
    inst = OwnInstance(box, artifact, plan, defs, data)
    try:
        box.enter()
        try:
            inst.run(_Runner(inst).top)
        finally:
            box.leave()
    except BaseException:
        box.close()
        raise
    inst.poisoned = None
    return inst
