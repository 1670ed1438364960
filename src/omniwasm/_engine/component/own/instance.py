"""omniwasm's own component runtime: a component's core modules on wasmtime's core API.

The component binary is parsed (``_binary.component``) and its types resolved
(``_binary.component_types``) once per artifact; its core modules are compiled once and kept
with the artifact. Instantiating walks the component's definitions in order with a static type
environment in lockstep: core modules are instantiated with wasmtime's core API, inline export
"bags" and aliases are plain dictionaries, nested components are instantiated with their
arguments, ``canon lift`` makes a :class:`Lifted` function and ``canon lower`` a core function
whose callback does the canonical ABI (:mod:`.abi`) in Python.

Everything the component's memories hold is reachable here, so ``max_memory`` is classified
from the real memory sizes, and ``list<u8>`` crosses as one slice of memory.

Not yet supported (:class:`Unsupported` names it; ``components="auto"`` then uses the stock
backend): resources, component-model async and its built-ins, start functions, native WASI.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import struct
import threading
import weakref
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import wasmtime
from wasmtime import _ffi as ffi

from ...._binary import component_defs as c
from ...._binary.component import parse_component
from ...._binary.component_types import (
    Func,
    Inst,
    Res,
    Resolved,
    _Env,
    named_resources,
    resolve,
    walk,
)
from ...._errors import (
    Cancelled,
    ExecutionError,
    GuestExit,
    HostFunctionError,
    InvalidModule,
    LimitExceeded,
    LinkError,
    OmniwasmError,
    Trap,
    ValueConversionError,
)
from ...._policy import Policy
from ...._wit import types as t
from ...._wit.convert import from_python
from ...._wit.members import world_type_of
from ...._wit.values import Err, Ok
from ...artifact import Artifact
from ...memory import LinearMemory
from ...store import StoreBox
from ...translate import translate
from ..stock.imports import HostDefs, StoreState, current_thread
from ..stock.instance import ComponentInstance as _Stock
from ..stock.instance import missing_imports
from .abi import AbiTrap, BadValue, Cx, codec, flatten_func, params_codec
from .async_canon import (
    ASYNC_OPS,
    AsyncLifted,
    acall,
    async_refusal,
    builtin,
    call_async,
    settle,
)
from .async_host import lower_async
from .async_run import drain
from .resources import (
    HandleTable,
    HostSide,
    InnerSide,
    RType,
    drop_builtin,
    new_builtin,
    rep_builtin,
)

__all__ = [
    "OwnInstance",
    "Unsupported",
    "imports_wasi",
    "instantiate_own",
    "own_plan",
    "unsupported_reason",
]

_VAL = {"i32": wasmtime.ValType.i32(), "i64": wasmtime.ValType.i64()}
_VAL["f32"] = wasmtime.ValType.f32()
_VAL["f64"] = wasmtime.ValType.f64()
_local = current_thread()


class Unsupported(OmniwasmError):
    """The component uses something omniwasm's own runtime does not run yet."""


@dataclass(eq=False)
class Plan:
    """What every instance of one component shares: parse, types, world, compiled modules."""

    component: c.Component
    resolved: Resolved
    world: t.WorldType
    modules: dict[int, wasmtime.Module]
    reason: str
    lift_types: dict[int, Func] = field(default_factory=dict)
    """Each ``canon lift``'s function type, by definition, once the first instance found them."""
    sigs: dict[int, tuple[list[str], list[str]]] = field(default_factory=dict)
    """Core function signatures by the ``canon`` definition and option that uses them."""
    res_ids: dict[int, int] = field(default_factory=dict)
    """The static resource id of each resource type and ``canon resource.*`` definition."""
    host_res: dict[str, list[tuple[int, str, str]]] = field(default_factory=dict)
    """Per top-level import: the resources it brings, ``(id, interface, name)``."""
    named_res: dict[tuple[str, str], int] = field(default_factory=dict)
    """The world's resources by ``(interface, name)``: their static ids."""
    static_done: bool = False
    """Every instance after the first skips the static type walk (the types are cached)."""
    ambiguous: bool = False


_PLANS: weakref.WeakKeyDictionary[Any, OrderedDict[str, Plan]] = weakref.WeakKeyDictionary()
_PLANS_LOCK = threading.Lock()
_PLANS_KEPT = 16
"""Plans kept per engine by the binary's hash: loading the same component again (another
``Runtime.load``, a fresh compile cache) reuses its parse and compiled core modules."""


def own_plan(artifact: Artifact) -> Plan:
    """The plan of a component (built once per artifact).

    Raises:
        Unsupported: the component cannot run on this backend (``reason`` says why).

    """
    cached = artifact.prepared.get("own-plan")
    if isinstance(cached, Plan):
        if cached.reason:
            raise Unsupported(cached.reason)
        return cached
    digest = artifact.sha256
    with _PLANS_LOCK:
        recent = _PLANS.setdefault(artifact.native, OrderedDict())
        plan = recent.get(digest) if digest is not None else None
    if plan is None:
        plan = _build_plan(artifact)
        if digest is not None:
            with _PLANS_LOCK:
                recent[digest] = plan
                while len(recent) > _PLANS_KEPT:
                    recent.popitem(last=False)
    with artifact.lock:
        artifact.prepared["own-plan"] = plan
    if plan.reason:
        raise Unsupported(plan.reason)
    return plan


def unsupported_reason(artifact: Artifact, defs: HostDefs | None) -> str:
    """Why this component cannot run on omniwasm's own runtime ("" when it can)."""
    del defs  # native WASI: the façade brings its Python WASI host (see ``imports_wasi``)
    try:
        own_plan(artifact)
    except Unsupported as exc:
        return str(exc)
    return ""


def imports_wasi(artifact: Artifact) -> bool:
    """Whether the component imports a ``wasi:`` interface (False if this runtime cannot run it)."""
    try:
        plan = own_plan(artifact)
    except Unsupported:
        return False
    return any(
        isinstance(i, t.InterfaceType) and i.name.startswith("wasi:") for i in plan.world.imports
    )


def _build_plan(artifact: Artifact) -> Plan:
    data = artifact.wasm
    empty = t.WorldType()
    if data is None:
        return Plan(c.Component(0, 0), None, empty, {}, "precompiled code has no binary")  # type: ignore[arg-type]
    comp = parse_component(data)
    reason = _scan(comp)
    if reason:
        return Plan(comp, None, empty, {}, reason)  # type: ignore[arg-type]
    resolved = resolve(comp)
    try:
        world = world_type_of(*walk(resolved))
    except TypeError as exc:
        return Plan(comp, resolved, empty, {}, str(exc))
    modules: dict[int, wasmtime.Module] = {}
    view = memoryview(data)
    for item in _all_modules(comp):
        code = bytes(view[item.offset : item.offset + item.size])
        modules[item.offset] = _compile_module(artifact, code)
    return Plan(comp, resolved, world, modules, "")


def _compile_module(artifact: Artifact, code: bytes) -> wasmtime.Module:
    """Compile one of the component's core modules, through the artifact's compile cache."""
    native = artifact.native
    cache = artifact.cache
    if cache is None:
        return wasmtime.Module(native.engine, code)
    key = cache.key("own-module", code, native.fingerprint)
    blob = cache.get(key)
    if blob is not None:
        try:
            return wasmtime.Module.deserialize(native.engine, blob)
        except wasmtime.WasmtimeError:
            cache.reject(key)
    module = wasmtime.Module(native.engine, code)
    cache.put(key, bytes(module.serialize()))
    return module


def _all_modules(comp: c.Component) -> list[c.CoreModule]:
    out = []
    for d in comp.definitions:
        if isinstance(d, c.CoreModule):
            out.append(d)
        elif isinstance(d, c.Component):
            out.extend(_all_modules(d))
    return out


_CANON_OPS = {"lift", "lower", "resource.new", "resource.rep", "resource.drop"}


def _scan(comp: c.Component) -> str:
    for d in comp.definitions:
        if isinstance(d, c.Canon):
            refused = async_refusal(d)  # component-model async: async_canon
            if refused:
                return refused
            if d.op not in _CANON_OPS and d.op not in ASYNC_OPS:
                return f"it uses canon {d.op} (not supported yet)"
        if isinstance(d, c.Start | c.Value):
            return "it has a component start function or values (not supported yet)"
        if isinstance(d, c.ResourceType) and (d.is_async or d.callback is not None):
            return "it defines an async resource destructor (not supported yet)"
        if isinstance(d, c.Component):
            inner = _scan(d)
            if inner:
                return inner
    return ""


# --- functions ----------------------------------------------------------------------------------


@dataclass(eq=False)
class Options:
    """A canon definition's options, resolved to this instance's core items."""

    memory: wasmtime.Memory | None
    realloc: RawFunc | None
    post_return: RawFunc | None
    encoding: str
    table: HandleTable


@dataclass(eq=False)
class Lifted:
    """A core function lifted to a component function."""

    core: RawFunc
    func: Func
    options: Options


@dataclass(eq=False)
class Host:
    """A component function provided by Python."""

    fn: Any
    sig: t.FuncSig
    label: str


class _Views:
    """Memory views for an instance's memories (re-taken after guest code runs)."""

    def __init__(self, inst: OwnInstance) -> None:
        self.inst = inst
        self.mems: dict[bytes, LinearMemory] = {}

    def add(self, memory: wasmtime.Memory) -> LinearMemory:
        """Track a memory (the policy's ``max_memory`` is judged on all of them)."""
        raw = memory._memory
        key = ctypes.string_at(ctypes.addressof(raw), ctypes.sizeof(raw))  # store id + index
        lm = self.mems.get(key)
        if lm is None:
            lm = LinearMemory(self.inst.box, ctypes.addressof(raw), "memory")
            self.mems[key] = lm
            self.inst.keep.append(memory)
        return lm

    def view_fn(self, memory: wasmtime.Memory | None) -> Any:
        if memory is None:
            return None
        return self.add(memory).view

    def total(self) -> int:
        return sum(m.size() for m in self.mems.values())


def _cx(inst: OwnInstance, opts: Options) -> Cx:
    return Cx(inst.views.view_fn(opts.memory), opts.realloc, opts.encoding, opts.table, inst.side)


class OwnExport:
    """An exported function of an :class:`OwnInstance`, called with Python values."""

    def __init__(self, owner: OwnInstance, lifted: Lifted, sig: t.FuncSig, label: str) -> None:
        self._owner = owner
        self._lifted = lifted
        self.sig = sig
        self.label = label
        self._params = [(n, codec(ty)) for n, ty in sig.params]
        self._result = None if sig.result is None else codec(sig.result)
        _, _, self._spill_p, self._spill_r = flatten_func(sig, lower=False)
        self._pcodec = params_codec(sig) if self._spill_p else None

    def __call__(self, *args: Any) -> Any:
        """Call with Python values; ``result`` types come back as ``Ok``/``Err`` objects."""
        owner = self._owner
        if owner.box.closed or owner.poisoned:
            raise owner.unusable(self.label)
        sig = self.sig
        if len(args) != len(sig.params):
            raise ValueConversionError(
                self.label, "*", f"{len(sig.params)} argument(s): {sig}", f"{len(args)} argument(s)"
            )
        values = [
            from_python(a, ty, function=self.label, param=n)
            for a, (n, ty) in zip(args, sig.params, strict=True)
        ]
        with owner.guard:
            box = owner.box
            timed = box.deadline_ticks is not None
            if timed:
                box.enter()
            try:
                return owner.run(lambda: self._run(values))
            finally:
                if timed:
                    box.leave()

    def _run(self, values: list[Any]) -> Any:
        owner = self._owner
        lifted = self._lifted
        cx = _cx(owner, lifted.options)
        flat: list[Any] = []
        name = "*"
        try:
            if self._pcodec is not None:
                ptr = cx.alloc(self._pcodec.align, self._pcodec.size)
                self._pcodec.store(cx, tuple(values), ptr)
                flat.append(ptr)
            else:
                for (pname, cd), v in zip(self._params, values, strict=True):
                    name = pname
                    cd.lower(cx, v, flat)
        except BadValue as exc:
            cx.finish()
            raise ValueConversionError(self.label, name, exc.expected, _short(exc.value)) from None
        try:
            raw = lifted.core(*flat)
            cx.dirty()
            rc = self._result
            if rc is None:
                value = None
            elif self._spill_r:
                value = rc.load(cx, int(raw) & 0xFFFFFFFF)
            else:
                value = rc.lift(cx, iter([raw]))
            if cx.borrows:
                raise AbiTrap(f"{self.label} returned without dropping {cx.borrows} borrow(s)")
            post = lifted.options.post_return
            if post is not None:
                post(*([] if raw is None else [raw]))
        finally:
            cx.finish()
        return value


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _lowered(inst: OwnInstance, target: Host | Lifted, opts: Options, label: str) -> wasmtime.Func:
    """A core function that calls ``target`` through the canonical ABI (``canon lower``)."""
    sig = target.sig if isinstance(target, Host) else _anon_sig(target.func)
    params, results, spill_p, spill_r = flatten_func(sig, lower=True)
    ftype = wasmtime.FuncType([_VAL[p] for p in params], [_VAL[r] for r in results])
    pcodecs = [codec(ty) for _, ty in sig.params]
    pcodec = params_codec(sig) if spill_p else None
    rcodec = None if sig.result is None else codec(sig.result)
    is_result = isinstance(sig.result, t.ResultType)
    # The callback lives in wasmtime-py's global function slab until the store is freed: it
    # must not hold the instance (which holds the store) strongly, or neither is ever freed.
    owner = weakref.ref(inst)
    state = inst.state
    ctx = inst.box.ctx
    hosted = isinstance(target, Host)

    def callback(*core: Any) -> Any:
        try:
            live = owner()
            if live is None:
                raise OmniwasmError(f"{label}: the instance is gone")
            cx = _cx(live, opts) if hosted else _inner_cx(live, opts)
            try:
                return _host_call(cx, core)
            finally:
                cx.finish()
        except BaseException as exc:
            state.park(exc, label)
            raise

    def _host_call(cx: Cx, core: tuple[Any, ...]) -> Any:
        if pcodec is not None:
            args = list(pcodec.load(cx, int(core[0]) & 0xFFFFFFFF))
        else:
            it = iter(core)
            args = [cd.lift(cx, it) for cd in pcodecs]
        if isinstance(target, Host):
            out = _call_host(target, args, ctx, is_result=is_result, inst=owner(), label=label)
            if rcodec is None:
                return None
            assert sig.result is not None
            out = from_python(out, sig.result, function=label, param="<return>")
        else:
            out = _fused_call(owner(), target, sig, args)
            if rcodec is None:
                return None
        cx.dirty()
        try:
            if spill_r:
                rcodec.store(cx, out, int(core[-1]) & 0xFFFFFFFF)
                return None
            flat: list[Any] = []
            rcodec.lower(cx, out, flat)
        except BadValue as exc:
            raise ValueConversionError(label, "<return>", exc.expected, _short(exc.value)) from None
        return flat[0]

    return wasmtime.Func(inst.box.store, ftype, callback)


def _call_host(
    target: Host, args: list[Any], ctx: int, *, is_result: bool, inst: Any, label: str
) -> Any:
    """Call a Python host function (``host_data()`` finds this store meanwhile)."""
    outer = _local.ctx
    _local.ctx = ctx
    try:
        out = settle(inst, target.fn(*args), label, target.sig.result)  # async def: awaited
    except Err as err:
        if not is_result:
            raise
        out = err
    finally:
        _local.ctx = outer
    if is_result and not isinstance(out, Ok | Err):
        out = Ok(out)
    return out


def _inner_cx(inst: OwnInstance, opts: Options) -> Cx:
    return Cx(inst.views.view_fn(opts.memory), opts.realloc, opts.encoding, opts.table, inst.inner)


def _fused_call(inst: Any, callee: Lifted, sig: t.FuncSig, args: list[Any]) -> Any:
    """Call a function another component instance of this component lifted.

    The arguments were lifted from the caller (handles as ``Transit``); they are lowered into
    the callee, and its result lifted back for the caller to lower.
    """
    if inst is None:
        raise OmniwasmError("the instance is gone")
    cx = _inner_cx(inst, callee.options)
    flat: list[Any] = []
    _, _, spill_p, spill_r = flatten_func(sig, lower=False)
    try:
        if spill_p:
            pc = params_codec(sig)
            ptr = cx.alloc(pc.align, pc.size)
            pc.store(cx, tuple(args), ptr)
            flat.append(ptr)
        else:
            for (_, ty), v in zip(sig.params, args, strict=True):
                codec(ty).lower(cx, v, flat)
        raw = callee.core(*flat)
        cx.dirty()
        value = None
        if sig.result is not None:
            rc = codec(sig.result)
            value = rc.load(cx, int(raw) & 0xFFFFFFFF) if spill_r else rc.lift(cx, iter([raw]))
        if cx.borrows:
            raise AbiTrap(f"a component function returned without dropping {cx.borrows} borrow(s)")
        post = callee.options.post_return
        if post is not None:
            post(*([] if raw is None else [raw]))
    finally:
        cx.finish()
    return value


def _builtin(inst: OwnInstance, fn: Any, params: int, results: int, label: str) -> wasmtime.Func:
    """A core function for a ``canon`` built-in (``fn`` takes and returns i32s)."""
    i32 = _VAL["i32"]
    ftype = wasmtime.FuncType([i32] * params, [i32] * results)
    state = inst.state

    def callback(*core: Any) -> Any:
        try:
            return fn(*core)
        except BaseException as exc:
            state.park(exc, label)
            raise

    return wasmtime.Func(inst.box.store, ftype, callback)


def _anon_sig(func: Func) -> t.FuncSig:
    return t.FuncSig("", func.params, func.result)  # type: ignore[arg-type]


# --- the instance -------------------------------------------------------------------------------


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


class OwnInstance:
    """A component instance on omniwasm's own runtime (one thread at a time: ``guard``).

    It offers what the façade uses of the stock backend's instance: ``export``,
    ``find_func``, ``call``, ``run_command``, ``world``, ``box``, ``close``.
    """

    find_func = _Stock.find_func
    call = _Stock.call
    run_command = _Stock.run_command
    drain_host = drain  # component-model async: wait for the host futures calls started

    def __init__(
        self, box: StoreBox, artifact: Artifact, plan: Plan, defs: HostDefs, data: Any
    ) -> None:
        self.box = box
        self.artifact = artifact
        self.plan = plan
        self.defs = defs
        self.guard = threading.RLock()
        self.poisoned: str | None = None
        self.state = StoreState(box.ctx, self, data, deadline=box.deadline)
        self.views = _Views(self)
        self.keep: list[Any] = []
        self.exported: dict[str, tuple[str, Any]] = {}
        self._funcs: dict[tuple[str, str], OwnExport] = {}
        self.linked = _Linked()
        self.backend = "omniwasm"
        self.rtypes: dict[int, RType] = {}
        """Resource types by static id."""
        self.side = HostSide(self, {}, self.state, defs.classes, self._handle_class)
        self.inner = InnerSide(self.rtypes)
        self.closers: list[Any] = []
        self.tables: list[HandleTable] = []
        """Every component instance's handle table (host objects the guest still holds are
        dropped when the instance closes, as wasmtime drops a store's)."""
        """Called once when the instance closes (the Python WASI host's context)."""

    def _handle_class(self, ty: Any) -> Any:
        return self.linked.hooks.handle_class(ty)

    def drop_handle(self, token: int, borrowed: bool) -> None:
        """Python drops a guest resource handle: an owning one runs the destructor."""
        found = self.side.take(token)
        if found is None or borrowed or self.box.closed:
            return
        rt, rep = found
        dtor = rt.dtor
        if dtor is None:
            return
        with self.guard:
            box = self.box
            timed = box.deadline_ticks is not None
            if timed:
                box.enter()  # the guest's destructor runs under the deadline
            try:
                self.run(lambda: dtor(rep))
            finally:
                if timed:
                    box.leave()

    def _drop_host_objects(self) -> None:
        """Run the drop hooks of the host objects the guest still holds (the store is gone)."""
        tables, self.tables = self.tables, []
        for table in tables:
            for h in table.entries:
                if h is not None and h.own and h.rt.host is not None:
                    with contextlib.suppress(Exception):
                        self.host_drop(h.rt, h.rep)
        self.state.table.clear()

    def forget_handle(self, token: int) -> None:
        """Python lets go of a guest resource handle without running its destructor."""
        self.side.forget(token)

    def host_drop(self, rt: RType, rep: int) -> None:
        """The guest dropped a host resource: forget its object and run the drop hook."""
        obj = self.state.table.pop(rep, None)
        assert rt.host is not None
        hook = self.defs.drops.get(rt.host)
        if hook is None or obj is None:
            return
        outer = _local.ctx
        _local.ctx = self.box.ctx
        try:
            hook(obj)
        finally:
            _local.ctx = outer

    @property
    def world(self) -> t.WorldType:
        """The component's imports and exports as WIT types."""
        return self.plan.world

    @property
    def closed(self) -> bool:
        """True once the store has been released."""
        return self.box.closed

    def unusable(self, label: str) -> OmniwasmError:
        """The error for calling into a closed or poisoned instance."""
        return _Stock.unusable(self, label)  # type: ignore[arg-type]

    def run(self, fn: Any) -> Any:
        """Run guest code, turning every failure into an omniwasm error (and poisoning)."""
        err: BaseException
        try:
            return fn()
        except (OmniwasmError, KeyboardInterrupt, SystemExit) as exc:
            pending = self.state.take_pending()
            if pending is None:
                raise
            err = self._from_pending(pending, exc)
            raise err from err.__cause__
        except AbiTrap as exc:
            self.poisoned = f"Trap: {exc}"
            pending = self.state.take_pending()
            if pending is None:
                raise Trap(f"wasm trap: {exc}", code="abi") from None
            hosted = self._from_pending(pending, exc)
            raise hosted from hosted.__cause__
        except (wasmtime.WasmtimeError, wasmtime.Trap) as exc:
            failed = self.failure(exc)
            raise failed from failed.__cause__
        except Exception as exc:  # a host function's exception, re-raised by wasmtime-py
            pending = self.state.take_pending()
            if pending is None:
                raise
            err = self._from_pending(pending, exc)
            raise err from err.__cause__

    def _from_pending(self, pending: BaseException, exc: BaseException) -> BaseException:
        if isinstance(pending, AbiTrap):
            self.poisoned = f"Trap: {pending}"
            return Trap(f"wasm trap: {pending}", code="abi")
        builtin = isinstance(pending, Trap) and self.state.pending_from.startswith("canon ")
        if builtin or isinstance(pending, GuestExit | LimitExceeded | Cancelled | Unsupported):
            self.poisoned = f"{type(pending).__name__}: {pending}"
            return pending
        if isinstance(pending, KeyboardInterrupt | SystemExit):
            self.poisoned = f"{type(pending).__name__} in a host function"
            pending.__cause__ = exc
            return pending
        err = HostFunctionError(
            f"host function {self.state.pending_from} raised {type(pending).__name__}: {pending}"
        )
        err.__cause__ = pending
        self.poisoned = f"HostFunctionError: {err}"
        return err

    def failure(self, exc: BaseException) -> BaseException:
        """The error to raise for a failed call (a parked host exception wins)."""
        from wasmtime import _func as wasmtime_func

        wasmtime_func.LAST_EXCEPTION = None
        pending = self.state.take_pending()
        if pending is not None:
            return self._from_pending(pending, exc)
        err = translate(exc, policy=self.box.policy, memory=self.views.total)
        if isinstance(err, ExecutionError) and not isinstance(err, GuestExit):
            self.poisoned = f"{type(err).__name__}: {err}"
        return err

    def export(self, interface: str, name: str) -> OwnExport:
        """The export ``name`` of ``interface`` (``""`` for a world-level function).

        Raises:
            OmniwasmError: no such export.

        """
        key = (interface, name)
        found = self._funcs.get(key)
        if found is not None:
            return found
        if self.closed:
            raise OmniwasmError(f"{name}: the instance is closed")
        where = interface or "the world"
        if interface:
            _, item = self.exported.get(interface, ("", None))
            target = item.get(name) if isinstance(item, dict) else None
            sig = next(
                (
                    e.func(name)
                    for e in self.world.exports
                    if isinstance(e, t.InterfaceType) and e.name == interface
                ),
                None,
            )
            lifted = target[1] if target is not None else None
        else:
            _, lifted = self.exported.get(name, ("", None))
            sig = next(
                (e for e in self.world.exports if isinstance(e, t.FuncSig) and e.name == name),
                None,
            )
        if not isinstance(lifted, Lifted | AsyncLifted) or sig is None:
            raise OmniwasmError(f"no exported function {name!r} in {where}")
        label = f"{interface}#{name}" if interface else name
        found = self._funcs[key] = OwnExport(self, lifted, sig, label)  # type: ignore[arg-type]
        if isinstance(lifted, AsyncLifted):  # its calls run the task to task.return
            found._run = functools.partial(call_async, found)  # type: ignore[method-assign]
            found.acall = functools.partial(acall, found)  # type: ignore[attr-defined]
        return found

    def close(self) -> None:
        """Release the store. Idempotent."""
        if self.guard._is_owned() and not self.box.closed:  # type: ignore[attr-defined]
            raise OmniwasmError(
                "cannot close a component instance from inside one of its own calls"
            )
        with self.guard:
            self.keep.clear()
            self.box.close()
            self._drop_host_objects()
            closers, self.closers = self.closers, []
            for fn in closers:
                fn()


class _Linked:
    """Stand-in for the stock link's resource hooks (the façade sets ``handle_class``)."""

    def __init__(self) -> None:
        self.hooks = _Hooks()


class _Hooks:
    handle_class: Any = None


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


# --- raw core calls -----------------------------------------------------------------------------

_SLOT = ctypes.sizeof(ffi.wasmtime_val_raw)
_RAW_CODES = {"i32": "I", "i64": "Q", "f32": "f", "f64": "d"}
_MASKS = {"i32": 0xFFFFFFFF, "i64": 0xFFFFFFFFFFFFFFFF}
_call_unchecked = ctypes.CFUNCTYPE(
    ctypes.c_void_p,
    ctypes.c_void_p,
    ctypes.c_void_p,
    ctypes.c_void_p,
    ctypes.c_size_t,
    ctypes.c_void_p,
)(("wasmtime_func_call_unchecked", ffi.dll))


def _raw_layout(types: list[str]) -> struct.Struct:
    return struct.Struct(
        "<" + "".join(f"{_RAW_CODES[t]}{_SLOT - struct.calcsize(_RAW_CODES[t])}x" for t in types)
    )


class RawFunc:
    """A core function called through ``wasmtime_func_call_unchecked`` (about 1 µs).

    The signature comes from wasmtime's own type of the function (validated code), so the
    unchecked call cannot be given a wrong layout; arguments are masked to their width.
    """

    __slots__ = (
        "_buf",
        "_buf_addr",
        "_ctx",
        "_func",
        "_func_addr",
        "_in",
        "_keep",
        "_masks",
        "_n",
        "_out",
        "_slots",
        "_trap",
        "_trap_addr",
        "sig",
    )

    def __init__(
        self,
        func: wasmtime.Func,
        store: wasmtime.Store,
        ctx: int,
        sig: tuple[list[str], list[str]] | None = None,
    ) -> None:
        if sig is None:
            ty = func.type(store)
            sig = [str(p) for p in ty.params], [str(r) for r in ty.results]
        params, results = sig
        if any(p not in _RAW_CODES for p in (*params, *results)):
            raise Unsupported("core functions with reference or vector types")
        self.sig = sig
        self._func = func
        self._in = _raw_layout(params)
        self._out = _raw_layout(results)
        self._masks = [_MASKS.get(p) for p in params]
        self._n = len(results)
        self._slots = max(len(params), len(results), 1)
        self._buf = (ffi.wasmtime_val_raw * self._slots)()
        self._buf_addr = ctypes.addressof(self._buf)
        self._func_addr = ctypes.addressof(func._func)
        self._ctx = ctx
        self._trap = ctypes.c_void_p()
        self._trap_addr = ctypes.addressof(self._trap)

    def __call__(self, *args: Any) -> Any:
        """Call; returns None or the single result (masked unsigned for integers)."""
        self._in.pack_into(
            self._buf,
            0,
            *[a if m is None else a & m for a, m in zip(args, self._masks, strict=True)],
        )
        error = _call_unchecked(
            self._ctx, self._func_addr, self._buf_addr, self._slots, self._trap_addr
        )
        if error:
            raise wasmtime.WasmtimeError._from_ptr(
                ctypes.cast(error, ctypes.POINTER(ffi.wasmtime_error_t))
            )
        trap = self._trap.value
        if trap:
            self._trap.value = None
            raise wasmtime.Trap._from_ptr(ctypes.cast(trap, ctypes.POINTER(ffi.wasm_trap_t)))
        if self._n == 0:
            return None
        return self._out.unpack_from(self._buf, 0)[0]
