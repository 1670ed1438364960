"""Instantiating components against native WASI 0.2, running commands, calling exports.

This is the native-WASI component path the CLI's ``run`` uses for ``wasi:cli/run`` commands.
Typed values and Python host imports are the component façade's job; here a call converts
values with wasmtime-py's stock converters.
"""

from __future__ import annotations

import threading
from typing import Any

import wasmtime
from wasmtime import component as wcomponent

from .._errors import GuestExit, OmniwasmError
from .._policy import Policy
from ._artifact import Artifact
from ._store import StoreBox
from ._translate import translate, translating

__all__ = ["ComponentInstance", "instantiate_component"]


def _linker(artifact: Artifact) -> wcomponent.Linker:
    with artifact.lock:
        linker = artifact.prepared.get("component-wasip2")
        if linker is None:
            linker = wcomponent.Linker(artifact.native.engine)
            linker.add_wasip2()
            artifact.prepared["component-wasip2"] = linker
        return linker


class ComponentInstance:
    """A component instance with its own store (one thread at a time; ``guard`` enforces it).

    Args:
        box: the store this instance lives in.
        instance: the wasmtime component instance.
        artifact: the component it came from.

    """

    def __init__(self, box: StoreBox, instance: wcomponent.Instance, artifact: Artifact) -> None:
        self.box = box
        self.instance = instance
        self.artifact = artifact
        self.guard = threading.Lock()

    @property
    def closed(self) -> bool:
        """True once the store has been released."""
        return self.box.closed

    def export_names(self) -> dict[str, Any]:
        """The component's top-level exports as ``{name: wasmtime type}``."""
        return self.artifact.component.type.exports(self.artifact.native.engine)

    def find_func(self, name: str) -> tuple[wcomponent.Func, str]:
        """Find an exported function by ``name`` or ``interface.name`` / ``interface#name``.

        Raises:
            OmniwasmError: no such function, or a bare name exported by several interfaces.

        """
        if self.closed:
            raise OmniwasmError(f"{name}: the instance is closed")
        store = self.box.store
        func = self.instance.get_func(store, name)
        if func is not None:
            return func, name
        iface, sep, fname = name.rpartition("#") if "#" in name else name.rpartition(".")
        candidates = []
        exports = self.export_names()
        if sep and iface in exports:
            candidates.append((iface, fname))
        else:
            for export, ty in exports.items():
                if isinstance(ty, wcomponent.ComponentInstanceType) and name in ty.exports(
                    self.artifact.native.engine
                ):
                    candidates.append((export, name))
        if len(candidates) > 1:
            options = ", ".join(f"{i}.{f}" for i, f in candidates)
            raise OmniwasmError(f"{name!r} is ambiguous: qualify it as one of {options}")
        for iface_name, fname in candidates:
            idx = self.instance.get_export_index(store, iface_name)
            if idx is not None:
                fidx = self.instance.get_export_index(store, fname, idx)
                if fidx is not None:
                    func = self.instance.get_func(store, fidx)
                    if func is not None:
                        return func, f"{iface_name}#{fname}"
        raise OmniwasmError(f"no exported function {name!r}")

    def call(self, name: str, *args: Any) -> Any:
        """Call an exported function with wasmtime-py's stock value conversion."""
        func, _ = self.find_func(name)
        with self.guard, translating(self.box.policy):
            self.box.arm_deadline()
            result = func(self.box.store, *args)
            func.post_return(self.box.store)
            return result

    def run_command(self) -> int:
        """Run ``wasi:cli/run``; return 0 on ``ok``, 1 on ``err``, or the code of an exit.

        Raises:
            OmniwasmError: the component does not export ``wasi:cli/run``.
            ExecutionError: the guest trapped or hit a limit.

        """
        run_iface = next((n for n in self.export_names() if n.startswith("wasi:cli/run@")), None)
        if run_iface is None:
            raise OmniwasmError("component does not export wasi:cli/run (not a command)")
        func, _ = self.find_func(f"{run_iface}#run")
        store = self.box.store
        with self.guard:
            self.box.arm_deadline()
            try:
                result = func(store)
                func.post_return(store)
            except (wasmtime.WasmtimeError, wasmtime.Trap) as exc:
                err = translate(exc, policy=self.box.policy)
                if isinstance(err, GuestExit):
                    return err.code
                raise err from exc
        return 1 if _is_err(result) else 0

    def close(self) -> None:
        """Release the store. Idempotent."""
        with self.guard:
            self.box.close()


def _is_err(result: Any) -> bool:
    # `result` (no payloads) comes back from the stock converter as a Variant or None.
    tag = getattr(result, "tag", None)
    return tag == "err"


def instantiate_component(
    artifact: Artifact, policy: Policy, *, argv0: str = "main"
) -> ComponentInstance:
    """Instantiate a component with native WASI 0.2 configured from ``policy``.

    Raises:
        LinkError: the component imports something native WASI does not provide.
        PolicyError: the policy cannot be applied.

    """
    linker = _linker(artifact)
    box = StoreBox(artifact.native, policy, wasi=True, argv0=argv0)
    try:
        box.arm_deadline()
        with translating(policy, source=artifact.source):
            instance = linker.instantiate(box.store, artifact.component)
    except BaseException:
        box.close()
        raise
    return ComponentInstance(box, instance, artifact)
