"""Instantiating components (native WASI 0.2 + Python host imports) and finding exports.

A component is linked once per set of host definitions (:func:`.imports.link`), checked
against everything it imports before anything runs, then instantiated in a fresh store per
instance. Exported functions are planned once per link (:class:`.exports.ExportPlan`) and bound
to each instance as :class:`.exports.ExportFunc` objects, cached per instance.
"""

from __future__ import annotations

import ctypes
import threading
from typing import Any

from wasmtime import _ffi as ffi
from wasmtime import component as wcomponent

from ...._errors import (
    Cancelled,
    ExecutionError,
    GuestExit,
    HostFunctionError,
    InvalidModule,
    LimitExceeded,
    LinkError,
    MissingImport,
    OmniwasmError,
)
from ...._policy import Policy
from ...._wit import types as t
from ...._wit.values import Err
from ...artifact import Artifact
from ...store import StoreBox
from ...translate import translate, translating
from .exports import ExportFunc, ExportPlan
from .handles import wasm_error
from .imports import HostDefs, Linked, StoreState, link

__all__ = ["ComponentInstance", "instantiate_component", "missing_imports"]

_NATIVE_ONLY = HostDefs()
_vp = ctypes.c_void_p
_get_func = ctypes.PYFUNCTYPE(ctypes.c_bool, _vp, _vp, _vp, _vp)(
    ("wasmtime_component_instance_get_func", ffi.dll)
)
_FUNC_T = ffi.wasmtime_component_func_t
_INSTANCE_T = ffi.wasmtime_component_instance_t
_instantiate = ctypes.CFUNCTYPE(_vp, _vp, _vp, _vp, _vp)(
    ("wasmtime_component_linker_instantiate", ffi.dll)
)


class ComponentInstance:
    """A component instance with its own store (one thread at a time; ``guard`` enforces it).

    Args:
        box: the store this instance lives in.
        instance: the wasmtime component instance.
        artifact: the component it came from.
        linked: the linker (and resource rules) it was instantiated with.

    """

    def __init__(
        self,
        box: StoreBox,
        instance: wcomponent.Instance,
        artifact: Artifact,
        linked: Linked,
        state: StoreState | None = None,
    ) -> None:
        self.box = box
        self.instance = instance
        self.artifact = artifact
        self.linked = linked
        self.guard = threading.RLock()
        if state is None:
            state = StoreState(box.ctx, self, deadline=box.deadline)
        else:
            state.attach(self)
        self.state = state
        self._funcs: dict[tuple[str, str], ExportFunc] = {}
        self.poisoned: str | None = None
        """Why the instance can no longer be entered (a trap poisons a component instance)."""

    @property
    def closed(self) -> bool:
        """True once the store has been released."""
        return self.box.closed

    def unusable(self, label: str) -> OmniwasmError:
        """The error for calling into a closed or poisoned instance."""
        if self.box.closed:
            return OmniwasmError(f"{label}: the instance is closed")
        return ExecutionError(
            f"{label}: the instance cannot be entered again after {self.poisoned}; "
            "instantiate a fresh one"
        )

    @property
    def world(self) -> t.WorldType:
        """The component's imports and exports as WIT types."""
        return self.linked.world

    def failure(self, exc: BaseException) -> BaseException:
        """The error to raise for a failed call (a parked host exception wins).

        ``KeyboardInterrupt`` and ``SystemExit`` raised in a host function come back as
        themselves (the program wants out), and so do the outcomes the host layer itself
        raises: ``GuestExit`` (a Python ``wasi:cli/exit``) and ``LimitExceeded`` (too many host
        resources held). Any other host exception becomes the ``__cause__`` of a
        ``HostFunctionError``.
        """
        pending = self.state.take_pending()
        if isinstance(pending, GuestExit | LimitExceeded | Cancelled):
            self.poisoned = f"{type(pending).__name__}: {pending}"
            return pending
        if isinstance(pending, KeyboardInterrupt | SystemExit):
            self.poisoned = f"{type(pending).__name__} in a host function"
            pending.__cause__ = exc
            return pending
        if pending is not None:
            err: OmniwasmError = HostFunctionError(
                f"host function {self.state.pending_from} raised "
                f"{type(pending).__name__}: {pending}"
            )
            err.__cause__ = pending
        else:
            err = translate(exc, policy=self.box.policy)
        if isinstance(err, ExecutionError) and not isinstance(err, GuestExit):
            self.poisoned = f"{type(err).__name__}: {err}"
        return err

    def export(self, interface: str, name: str) -> ExportFunc:
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
        plan = self.linked.plans.get(key)
        if plan is None:
            plan = _export_plan(self.linked, self.artifact, interface, name)
        fstruct = _FUNC_T()
        with self.guard:
            ok = _get_func(
                ctypes.addressof(self.instance._instance),
                self.box.ctx,
                plan.index_addr,
                ctypes.addressof(fstruct),
            )
        if not ok:
            raise OmniwasmError(f"no exported function {name!r} in {interface or 'the world'}")
        found = ExportFunc(self, plan, fstruct)
        self._funcs[key] = found
        return found

    def find_func(self, name: str) -> ExportFunc:
        """Find an export by ``name``, ``interface#name`` or ``interface.name``.

        Raises:
            OmniwasmError: no such function, or a bare name exported by several interfaces.

        """
        world = self.world
        if any(isinstance(e, t.FuncSig) and e.name == name for e in world.exports):
            return self.export("", name)
        candidates: list[tuple[str, str]] = []
        iface, sep, fname = name.rpartition("#") if "#" in name else name.rpartition(".")
        ifaces = [e for e in world.exports if isinstance(e, t.InterfaceType)]
        if sep and any(i.name == iface for i in ifaces):
            candidates.append((iface, fname))
        else:
            candidates += [(i.name, name) for i in ifaces if i.func(name) is not None]
        if len(candidates) > 1:
            options = ", ".join(f"{i}#{f}" for i, f in candidates)
            raise OmniwasmError(f"{name!r} is ambiguous: qualify it as one of {options}")
        if not candidates:
            raise OmniwasmError(f"no exported function {name!r}")
        return self.export(*candidates[0])

    def call(self, name: str, *args: Any) -> Any:
        """Call an export by name (see :meth:`find_func`); results come back as Ok/Err."""
        return self.find_func(name)(*args)

    def run_command(self) -> int:
        """Run ``wasi:cli/run``; return 0 on ``ok``, 1 on ``err``, or the code of an exit.

        Raises:
            InvalidModule: the component does not export ``wasi:cli/run`` (as a core module
                without ``_start``).
            ExecutionError: the guest trapped or hit a limit.

        """
        run_iface = next(
            (
                e.name
                for e in self.world.exports
                if isinstance(e, t.InterfaceType) and e.name.startswith("wasi:cli/run@")
            ),
            None,
        )
        if run_iface is None:
            raise InvalidModule(
                "no wasi:cli/run export: not a WASI command", source=self.artifact.source
            )
        func = self.export(run_iface, "run")
        try:
            result = func()
        except GuestExit as exit_:
            return exit_.code
        return 1 if isinstance(result, Err) else 0

    def close(self) -> None:
        """Release the store. Idempotent.

        Raises:
            OmniwasmError: called from a host function while this instance is running (the
                store is in use: closing it there would free it under the running call).

        """
        if self.guard._is_owned() and not self.box.closed:  # type: ignore[attr-defined]
            raise OmniwasmError(
                "cannot close a component instance from inside one of its own calls"
            )
        with self.guard:
            self.box.close()


def _export_sig(world: t.WorldType, interface: str, name: str) -> t.FuncSig:
    for item in world.exports:
        if interface and isinstance(item, t.InterfaceType) and item.name == interface:
            sig = item.func(name)
            if sig is not None:
                return sig
        elif not interface and isinstance(item, t.FuncSig) and item.name == name:
            return item
    where = interface or "the world"
    raise OmniwasmError(f"no exported function {name!r} in {where}")


def _export_plan(linked: Linked, artifact: Artifact, interface: str, name: str) -> ExportPlan:
    """The plan of an export (built once per link; a missing export is not remembered)."""
    sig = _export_sig(linked.world, interface, name)
    fidx = _export_index(artifact, interface, name)
    if fidx is None:
        raise OmniwasmError(f"no exported function {name!r} in {interface or 'the world'}")
    label = f"{interface}#{name}" if interface else name
    plan: ExportPlan = linked.plans.setdefault(
        (interface, name), ExportPlan(label, sig, fidx, linked.hooks)
    )
    return plan


def missing_imports(world: t.WorldType, defs: HostDefs) -> list[MissingImport]:
    """Every non-WASI import (function or resource) ``defs`` leaves undefined."""
    missing: list[MissingImport] = []
    for item in world.imports:
        if isinstance(item, t.FuncSig):
            if ("", item.name) not in defs.funcs:
                missing.append(MissingImport(item.name, "", str(item).partition(": ")[2]))
            continue
        if defs.wasi and item.name.startswith("wasi:"):
            continue
        missing += [
            MissingImport(item.name, res, "resource")
            for res in item.resources
            if (item.name, res) not in defs.drops
        ]
        missing += [
            MissingImport(item.name, f.name, str(f).partition(": ")[2])
            for f in item.funcs
            if (item.name, f.name) not in defs.funcs
        ]
    return missing


def _export_index(artifact: Artifact, interface: str, name: str) -> Any:
    """The component-level export index of a function (the same for every instance: cached)."""
    key = ("component-export-index", interface, name)
    prepared = artifact.prepared
    if key in prepared:
        return prepared[key]
    component = artifact.component
    if interface:
        idx = component.get_export_index(interface)
        found = None if idx is None else component.get_export_index(name, idx)
    else:
        found = component.get_export_index(name)
    with artifact.lock:
        prepared[key] = found
    return found


def instantiate_component(
    artifact: Artifact,
    policy: Policy,
    *,
    defs: HostDefs | None = None,
    argv0: str = "main",
    data: Any = None,
) -> ComponentInstance:
    """Instantiate a component: native WASI 0.2 from ``policy`` plus Python host imports.

    ``data`` is the embedder's per-instance object, which host functions reach through
    :func:`current_state` (``omniwasm.host_data()``). Without native WASI (``defs.wasi``
    False) the store gets no native WASI context at all.

    Raises:
        LinkError: imports are missing (all of them are listed) or have the wrong type.
        PolicyError: the policy cannot be applied.

    """
    defs = defs if defs is not None else _NATIVE_ONLY
    linked = defs._linked.get(artifact)
    if linked is None:
        with translating(policy, source=artifact.source):
            linked = link(artifact, defs)
    missing = linked.missing
    if missing is None:
        missing = linked.missing = tuple(missing_imports(linked.world, defs))
    if missing:
        raise LinkError(missing)
    box = StoreBox(artifact.native, policy, wasi=defs.wasi, argv0=argv0)
    ctx = box.ctx
    # before instantiating: start code may call in
    state = StoreState(ctx, None, data, deadline=box.deadline)
    try:
        box.enter()
        try:
            raw = _INSTANCE_T()
            err = _instantiate(
                linked.linker_addr, ctx, linked.component_addr, ctypes.addressof(raw)
            )
        finally:
            box.leave()
        if err:
            failure = wasm_error(err)
            pending = state.take_pending()
            if isinstance(pending, GuestExit | LimitExceeded | Cancelled):
                raise pending from failure  # e.g. a host wait ran into the deadline
            with translating(policy, source=artifact.source):
                raise failure
    except BaseException:
        box.close()
        raise
    instance = wcomponent.Instance._from_raw(raw)
    return ComponentInstance(box, instance, artifact, linked, state)
