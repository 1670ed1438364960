"""The own runtime's plan of a component: the definition scan, type resolution and compiled modules.

Before a component runs on omniwasm's own runtime it is parsed and its types resolved once per
artifact, its definitions are scanned for anything the runtime does not run yet (the reason
:class:`Unsupported` names, which sends ``components="auto"`` to the stock backend), and its core
modules are compiled; the resulting :class:`Plan` is kept per artifact in a small LRU, and the
first instantiation compiles it into the per-instance program every instance runs
(:mod:`.prepare`). ``imports_wasi`` tells whether the world imports
WASI, which this runtime takes only from a Python host.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import wasmtime

from ...._binary import component_defs as c
from ...._binary.component import parse_component
from ...._binary.component_types import (
    Resolved,
    resolve,
    walk,
)
from ...._errors import (
    OmniwasmError,
)
from ...._wit import types as t
from ...._wit.members import world_type_of
from ...artifact import Artifact
from ..stock.imports import HostDefs
from .async_canon import (
    ASYNC_OPS,
    async_refusal,
)


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
    program: Any = None
    """The compiled per-instance program (:mod:`.prepare`), made by the first instance."""
    static_done: bool = False
    """Every instance after the first skips the static type walk (the types are cached)."""
    ambiguous: bool = False
    linked: Any = None
    """The façade's resource hooks (its handle classes depend only on the world): made by the
    first instance and shared by every later one, as the stock backend shares its link's."""
    complete: weakref.WeakSet[HostDefs] = field(default_factory=weakref.WeakSet)
    """Definitions already found to leave no import of this component undefined (a linker's
    definitions are resolved once per component and then reused: checked once too)."""


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
