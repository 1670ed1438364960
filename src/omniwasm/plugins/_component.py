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

from .. import _types as t
from .._errors import OmniwasmError, PolicyError
from .._policy import Policy
from .._runtime import Compiled, Instance, Runtime

__all__ = ["ComponentState", "component_functions", "find_function", "refuse_extism_options"]


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


class ComponentState:
    """One live instance of a component plugin."""

    __slots__ = ("box", "instance")

    def __init__(
        self,
        runtime: Runtime,
        compiled: Compiled,
        policy: Policy,
        imports: Any,
        argv0: str,
    ) -> None:
        self.instance: Instance = runtime.instantiate(
            compiled, policy, imports=imports, argv0=argv0
        )
        self.box = self.instance._inner.box
        self.box.make_cancellable()

    @property
    def poisoned(self) -> bool:
        """True when a trap (or limit) left the instance unusable."""
        return bool(getattr(self.instance._inner, "poisoned", None))

    def call(self, name: str, args: tuple[Any, ...]) -> Any:
        box = self.box
        func = self.instance.func(name)
        box.begin_call()
        try:
            return func(*args)
        finally:
            box.end_call()

    def close(self) -> None:
        self.instance.close()


def no_json(name: str) -> OmniwasmError:
    """The error for ``call_json`` on a component plugin."""
    return OmniwasmError(
        f"call_json is for Extism plugins (bytes in, bytes out); call {name!r} of a "
        "component plugin with Python values: plugin.call(name, *args)"
    )
