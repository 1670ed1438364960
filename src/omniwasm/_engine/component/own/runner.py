"""The own runtime's instantiation: a component's compiled program run into an instance.

:func:`instantiate_own` checks the plan and the imports, compiles the plan's
:class:`~.prepare.Program` once (:mod:`.prepare`) and runs its steps for a fresh store: each
core module is instantiated through the C API with an import vector gathered from the
instance's extern slots, the exports later steps need are fetched into their slots, and the
lowered functions, built-ins and resource types are made. A :class:`Live` holds one instance's
slots and turns the program's symbols into objects (raw calls, options, lifted functions, host
functions) the first time something uses them, so an export never called costs nothing.
"""

from __future__ import annotations

import ctypes
import threading
from typing import Any

import wasmtime
from wasmtime import _ffi as ffi

from ...._binary import component_defs as c
from ...._errors import (
    InvalidModule,
    LinkError,
    OmniwasmError,
)
from ...._policy import Policy
from ...artifact import Artifact
from ...core.instance import instantiate_failure
from ...store import StoreBox
from ..stock.imports import HostDefs
from ..stock.instance import missing_imports
from .async_canon import (
    AsyncLifted,
    builtin,
)
from .async_host import lower_async
from .instance import Host, Lifted, Options, OwnInstance
from .lowered import anon_sig, builtin_binder, lower_binder
from .plan import Plan, Unsupported, imports_wasi, own_plan, unsupported_reason
from .prepare import EXTERN_SIZE, Compiler, CoreStep, Ext, HostFn, Lift, Opts, Program
from .rawfunc import RawFunc
from .rawhost import PlannedCalls, func_type_ptr, planned_funcs
from .resources import (
    HandleTable,
    RType,
    drop_builtin,
    new_builtin,
    rep_builtin,
)

_vp = ctypes.c_void_p
_instance_new = ctypes.CFUNCTYPE(_vp, _vp, _vp, _vp, ctypes.c_size_t, _vp, _vp)(
    ("wasmtime_instance_new", ffi.dll)
)
# A name lookup that never runs guest code: called holding the GIL (a third cheaper per call,
# and a componentize-py guest makes about 1,700 of them per instance).
_export_get = ctypes.PYFUNCTYPE(ctypes.c_bool, _vp, _vp, ctypes.c_char_p, ctypes.c_size_t, _vp)(
    ("wasmtime_instance_export_get", ffi.dll)
)
_INSTANCE_SIZE = ctypes.sizeof(ffi.wasmtime_instance_t)
_OF = ffi.wasmtime_extern_t.of.offset
_PROGRAM_LOCK = threading.Lock()


class Live:
    """One instance's extern slots, core instances and handle tables, and what they resolve to."""

    __slots__ = (
        "base",
        "box",
        "cores",
        "cores_base",
        "ctx",
        "defs",
        "ext",
        "memo",
        "mv",
        "objs",
        "raws",
        "tables",
        "trap",
        "trap_addr",
    )

    def __init__(self, box: StoreBox, program: Program, defs: HostDefs) -> None:
        self.box = box
        self.ctx = box.ctx
        self.defs = defs
        self.ext = program.ext_type()
        self.base = ctypes.addressof(self.ext)
        self.mv = memoryview(self.ext).cast("B")
        self.cores = program.cores_type()
        self.cores_base = ctypes.addressof(self.cores)
        self.trap = ctypes.c_void_p()
        self.trap_addr = ctypes.addressof(self.trap)
        self.tables = [HandleTable() for _ in range(program.tables)]
        self.memo: list[Any] = [None] * program.memo
        self.objs: dict[int, Any] = {}
        self.raws: dict[int, RawFunc] = {}

    def put(self, ext: Ext, func: wasmtime.Func) -> None:
        """Place a function this runtime made in its slot."""
        self.objs[ext.slot] = func
        ctypes.memmove(self.base + ext.slot * EXTERN_SIZE + _OF, ctypes.addressof(func._func), 16)

    def func(self, ext: Ext) -> wasmtime.Func:
        found = self.objs.get(ext.slot)
        if found is None:
            raw = ffi.wasmtime_func_t.from_buffer_copy(self.ext, ext.slot * EXTERN_SIZE + _OF)
            found = self.objs[ext.slot] = wasmtime.Func._from_raw(raw)
        return found

    def memory(self, ext: Ext) -> wasmtime.Memory:
        found = self.objs.get(ext.slot)
        if found is None:
            raw = ffi.wasmtime_memory_t.from_buffer_copy(self.ext, ext.slot * EXTERN_SIZE + _OF)
            found = self.objs[ext.slot] = wasmtime.Memory._from_raw(raw)
        return found

    def raw(self, ext: Ext) -> RawFunc:
        found = self.raws.get(ext.slot)
        if found is None:
            found = self.raws[ext.slot] = RawFunc(self.func(ext), self.box.store, self.ctx, ext.sig)
        return found

    def options(self, opts: Opts) -> Options:
        found = self.memo[opts.index]
        if found is None:
            found = self.memo[opts.index] = Options(
                None if opts.memory is None else self.memory(opts.memory),
                None if opts.realloc is None else self.raw(opts.realloc),
                None if opts.post_return is None else self.raw(opts.post_return),
                opts.encoding,
                self.tables[opts.table],
            )
        return found  # type: ignore[no-any-return]

    def lifted(self, lift: Lift) -> Lifted | AsyncLifted:
        found = self.memo[lift.index]
        if found is None:
            core, opts = self.raw(lift.core), self.options(lift.opts)
            if lift.callback is not None:
                found = AsyncLifted(core, self.raw(lift.callback), lift.func, opts)
            else:
                found = Lifted(core, lift.func, opts)
            self.memo[lift.index] = found
        return found  # type: ignore[no-any-return]

    def host(self, fn: HostFn) -> Host:
        found = self.memo[fn.index]
        if found is None:
            impl = self.defs.funcs.get(fn.key)
            if impl is None:
                raise LinkError((), detail=f"host function {fn.label} not provided")
            found = self.memo[fn.index] = Host(impl, fn.sig, fn.label)
        return found  # type: ignore[no-any-return]

    def value(self, sym: Any) -> Any:
        """The object a program symbol stands for in this instance."""
        if isinstance(sym, Ext):
            return self.memory(sym) if sym.kind == "memory" else self.func(sym)
        if isinstance(sym, Lift):
            return self.lifted(sym)
        if isinstance(sym, HostFn):
            return self.host(sym)
        return sym


class _Hooks:
    """The per-instance steps the compiler asks for (closures over the compiled symbols)."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.planned: list[tuple[Ext, list[str], list[str], Any, str]] = []
        """Functions this runtime makes for every instance, bound lazily (:mod:`.rawhost`)."""
        self.host_keys: set[tuple[str, str]] = set()

    @staticmethod
    def core(step: CoreStep) -> Any:
        mptr = ctypes.cast(step.module.ptr(), _vp).value
        number, count, memories = step.number, step.count, step.memories

        def run(inst: OwnInstance, live: Live) -> None:
            base = live.base
            if step.copies:
                mv = live.mv
                for to, src in step.copies:
                    mv[to] = mv[src]
            imports = base + step.start * EXTERN_SIZE if count else None
            at = live.cores_base + number * _INSTANCE_SIZE
            ctx = live.ctx
            error = _instance_new(ctx, mptr, imports, count, at, live.trap_addr)
            if error or live.trap.value:
                raise instantiate_failure(error, live.trap)
            if step.gets:  # arguments the same for every lookup go as ctypes objects
                cctx, cat = _vp(ctx), _vp(at)
                for name, size, offset in step.gets:
                    if not _export_get(cctx, cat, name, size, base + offset):
                        raise InvalidModule(f"core instance {number} has no export {name!r}")
            for ext in memories:
                inst.views.add(live.memory(ext))

        return run

    def lower(self, out: Ext, target: HostFn | Lift, opts: Opts, is_async: bool) -> Any:
        label = target.label if isinstance(target, HostFn) else "a component function"
        if not is_async:  # planned: no per-instance step of its own (see planned_step)
            hosted = isinstance(target, HostFn)
            sig = target.sig if isinstance(target, HostFn) else anon_sig(target.func)

            def resolve(inst: OwnInstance) -> tuple[Host | Lifted, Options]:
                live = inst.live
                tgt = live.host(target) if isinstance(target, HostFn) else live.lifted(target)
                return tgt, live.options(opts)

            params, results, bind = lower_binder(sig, hosted, label, resolve)
            self.planned.append((out, params, results, bind, label))
            if isinstance(target, HostFn):
                self.host_keys.add(target.key)
            return None

        def run(inst: OwnInstance, live: Live) -> None:
            tgt = live.host(target) if isinstance(target, HostFn) else live.lifted(target)
            live.put(out, lower_async(inst, tgt, live.options(opts), label))

        return run

    @staticmethod
    def resource_type(rid: int, dtor: Ext | None, table: int) -> Any:
        def run(inst: OwnInstance, live: Live) -> None:
            raw = None if dtor is None else live.raw(dtor)
            inst.rtypes[rid] = RType(f"resource {rid}", dtor=raw, impl=live.tables[table])

        return run

    @staticmethod
    def host_resources(found: list[tuple[int, str, str]]) -> Any:
        def run(inst: OwnInstance, live: Live) -> None:
            for rid, iface, name in found:
                inst.rtypes[rid] = RType(name, host=(iface, name))

        return run

    def resource_builtin(self, out: Ext, d: c.Canon, rid: int, table: int) -> Any:
        op = d.op

        def make(inst: OwnInstance) -> tuple[Any, str]:
            rt = inst.rtypes[rid]
            tab = inst.live.tables[table]
            if op == "resource.new":
                return new_builtin(tab, rt), op
            if op == "resource.rep":
                return rep_builtin(tab, rt), op
            label = f"{rt.host[0]}#[resource-drop]{rt.host[1]}" if rt.host else op
            return drop_builtin(tab, rt, inst.host_drop), label

        results = 0 if op == "resource.drop" else 1
        bind = builtin_binder(1, results, make)
        self.planned.append((out, ["i32"], ["i32"] * results, bind, f"canon {op}"))
        return None

    def planned_step(self) -> Any:
        """The step that makes every planned function of an instance (first of all steps)."""
        planned = self.planned
        if not planned:
            return None
        binders = [bind for _, _, _, bind, _ in planned]
        labels = [label for _, _, _, _, label in planned]
        offsets = [ext.slot * EXTERN_SIZE + _OF for ext, _, _, _, _ in planned]
        sigs = [(params, results) for _, params, results, _, _ in planned]
        host_keys = frozenset(self.host_keys)
        types: list[Any] = [None, []]  # [engine, its function types]

        def run(inst: OwnInstance, live: Live) -> None:
            if not live.defs.funcs.keys() >= host_keys:
                missing = sorted(f"{i}#{n}" for i, n in host_keys - live.defs.funcs.keys())
                raise LinkError((), detail=f"host function {missing[0]} not provided")
            engine = live.box.native.engine
            if types[0] is not engine:
                types[:] = [engine, [func_type_ptr(engine, p, r) for p, r in sigs]]
            base = live.base
            calls = PlannedCalls(binders, labels, inst)
            planned_funcs(live.ctx, calls, types[1], [base + o for o in offsets])

        return run

    def async_builtin(self, out: Ext, d: c.Canon, frame: Any, opts: Opts) -> Any:
        plan = self.plan

        def run(inst: OwnInstance, live: Live) -> None:
            view = _RunnerView(inst, plan, live, opts)
            live.put(out, builtin(view, d, _FrameView(live, frame)))

        return run


class _RunnerView:
    """What :func:`.async_canon.builtin` uses of the instantiation: plan, instance, options."""

    def __init__(self, inst: OwnInstance, plan: Plan, live: Live, opts: Opts) -> None:
        self.inst = inst
        self.plan = plan
        self._live = live
        self._opts = opts

    def options(self, d: Any, frame: Any) -> Options:
        del d, frame
        return self._live.options(self._opts)


class _FrameView:
    """A compiled frame's index spaces resolved in one instance (for async built-ins)."""

    def __init__(self, live: Live, frame: Any) -> None:
        self._live = live
        self._frame = frame
        self.static = frame.static

    def get(self, sort: str, index: int) -> Any:
        return self._live.value(self._frame.get(sort, index))


def program_of(plan: Plan) -> Program:
    """The plan's compiled program (compiled by the first instantiation, then shared).

    Raises:
        Unsupported: the compile found something this runtime does not run (remembered in
            the plan's ``reason``).

    """
    program = plan.program
    if program is not None:
        return program  # type: ignore[no-any-return]
    with _PROGRAM_LOCK:
        if plan.program is None:
            hooks = _Hooks(plan)
            try:
                compiled = Compiler(plan, hooks).compile()
            except Unsupported as exc:
                plan.reason = str(exc)
                raise
            first = hooks.planned_step()
            if first is not None:
                compiled.steps.insert(0, first)
            plan.ambiguous = compiled.ambiguous
            plan.program = compiled
    return plan.program  # type: ignore[no-any-return]


def prepare_own(artifact: Artifact) -> str:
    """Build a component's plan and program ahead of its first instance (at load).

    Returns:
        why this runtime cannot run the component ("" when it can); an error the compile
        meets is raised again by the first instantiation.

    """
    try:
        program_of(own_plan(artifact))
    except OmniwasmError as exc:
        return str(exc)
    return ""


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
    if defs not in plan.complete:
        missing = missing_imports(plan.world, defs)
        if missing:
            raise LinkError(tuple(missing))
        plan.complete.add(defs)
    program = program_of(plan)
    box = StoreBox(artifact.native, policy, wasi=False, argv0=argv0)
    inst = OwnInstance(box, artifact, plan, defs, data)
    try:
        box.enter()
        try:
            inst.run(lambda: _run(inst, program))
        finally:
            box.leave()
    except BaseException:
        box.close()
        raise
    inst.poisoned = None
    if not plan.ambiguous:
        plan.static_done = True  # async built-ins keep their static types from here on
    return inst


def _run(inst: OwnInstance, program: Program) -> None:
    live = inst.live = Live(inst.box, program, inst.defs)
    inst.tables = live.tables
    for step in program.steps:
        step(inst, live)
    inst.exported = program.exports
    named = inst.side.named
    for key, rid in program.named_res.items():
        rt = inst.rtypes.get(rid)
        if rt is not None:
            rt.name = key[1]
            named[key] = rt
