"""Component plugins: a component with a WIT world, called through the same ``Plugin`` API.

An Extism plugin takes bytes and returns bytes; a component plugin's functions take and return
typed values (records, lists, variants, resources: see the component API). Everything else is
shared with Extism plugins: the ``Policy`` (memory, fuel, timeout, files, env), ``cancel()``
from another thread, ``CompiledPlugin`` -> many instances, ``PluginPool``.

A trap poisons a component instance (a component-model rule); the plugin then rebuilds its
instance before the next call, so a failed call never makes the plugin unusable (the state of
the failed instance is lost, as it would be with Extism's ``_start`` reset).
"""

from __future__ import annotations

from typing import Any

from .. import wasi
from .._compiled import Compiled
from .._component import Linker
from .._errors import OmniwasmError, PolicyError
from .._linked import poisoned, store_calls
from .._policy import Policy
from .._runtime import Runtime
from .._wit import types as t

__all__ = [
    "ComponentState",
    "component_functions",
    "find_function",
    "plugin_imports",
    "refuse_extism_options",
]


def component_functions(world: t.WorldType) -> list[str]:
    """The exported functions of ``world``: ``name`` at world level, ``interface#name`` inside.

    Resource constructors and methods are left out: they are reached through the resource's
    handle class (``plugin.instance.exports``).
    """
    out = []
    for export in world.exports:
        if isinstance(export, t.FuncSig):
            out.append(export.name)
        elif isinstance(export, t.InterfaceType):
            out += [f"{export.name}#{f.name}" for f in export.funcs if not f.name.startswith("[")]
    return out


def find_function(functions: list[str], name: str) -> str | None:
    """The full name ``name`` stands for (itself, ``iface.func``, or a unique bare name)."""
    if name in functions:
        return name
    iface, dot, func = name.rpartition(".")
    if dot and f"{iface}#{func}" in functions:
        return f"{iface}#{func}"
    matches = [f for f in functions if f.rpartition("#")[2] == name]
    return matches[0] if len(matches) == 1 else None


def refuse_extism_options(
    *, host_functions: tuple[Any, ...], config: dict[str, str], allowed_hosts: tuple[str, ...]
) -> None:
    """Reject the Extism-only options for a component plugin, naming what to use instead.

    Raises:
        PolicyError: one of them was given.

    """
    if host_functions:
        raise PolicyError(
            "host_functions are Extism host functions; a component plugin's imports are "
            "implemented with imports=omniwasm.Linker()"
        )
    if config:
        raise PolicyError(
            "config is an Extism plugin setting (config_get); give a component plugin its "
            "settings through its imports or Policy(env=...)"
        )
    if allowed_hosts:
        raise PolicyError(
            "allowed_hosts applies to Extism's http_request; a component plugin has no "
            "outgoing HTTP here"
        )


def plugin_imports(world: t.WorldType, imports: Linker | None) -> tuple[Linker | None, bool]:
    """The linker a component plugin is instantiated with, and whether its WASI is virtual.

    A plugin's WASI 0.2 imports are served by the virtual WASI host (``omniwasm.wasi``): its
    waits end at the policy's timeout and at ``cancel()``, which wasmtime's native WASI waits
    cannot. The embedder's own definitions join it; a ``Linker(wasi=False)`` is used as given
    (the embedder provides WASI itself, or the component needs none).
    """
    if imports is not None and not imports._wasi:
        return imports, False
    if not any(
        isinstance(item, t.InterfaceType) and item.name.startswith("wasi:")
        for item in world.imports
    ):
        return imports, False
    if imports is None:
        return wasi.linker(), True
    return wasi.add_to_linker(imports.without_native_wasi()), True


class ComponentState:
    """One live instance of a component plugin (on the virtual WASI host when it uses WASI)."""

    __slots__ = ("calls", "context", "instance")

    def __init__(
        self,
        runtime: Runtime,
        compiled: Compiled,
        policy: Policy,
        imports: tuple[Linker | None, bool],
        argv0: str,
    ) -> None:
        linker, virtual = imports
        self.context: wasi.WasiContext | None = None
        if virtual:
            self.context = wasi.WasiContext(policy, argv0=argv0)
            try:
                self.instance = wasi.instantiate(runtime, compiled, self.context, imports=linker)
            except BaseException:
                self.context.close()
                raise
        else:
            self.instance = runtime.instantiate(compiled, policy, imports=linker, argv0=argv0)
        self.calls = store_calls(self.instance)
        self.calls.make_cancellable()

    @property
    def poisoned(self) -> bool:
        """True when a trap (or limit) left the instance unusable."""
        return poisoned(self.instance)

    def call(self, name: str, args: tuple[Any, ...]) -> Any:
        calls = self.calls
        func = self.instance.func(name)
        calls.begin()
        try:
            return func(*args)
        finally:
            calls.end()

    def close(self) -> None:
        self.instance.close()
        if self.context is not None:
            self.context.close()


def no_json(name: str) -> OmniwasmError:
    """The error for ``call_json`` on a component plugin."""
    return OmniwasmError(
        f"call_json is for Extism plugins (bytes in, bytes out); call {name!r} of a "
        "component plugin with Python values: plugin.call(name, *args)"
    )
