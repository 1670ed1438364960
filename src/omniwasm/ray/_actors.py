"""Actors holding a live sandboxed instance: state across calls, limits per call.

A Ray actor is one worker process running one object; these hold a component or module
instance (:class:`ComponentActor`) or any plugin-like object with ``call(name, *args)``
(:class:`PluginActor`, e.g. an Extism plugin with its variables) for as long as the actor
lives. The policy's ``timeout`` and ``fuel`` apply to each call, and a call cut by them fails
with its omniwasm error (it pickles: ``ray.get`` raises an error that is an instance of the
same class) while the worker process goes on: the next call gets a fresh instance.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import ray

from .._compiled import Compiled, Source
from .._errors import ExecutionError, OmniwasmError
from .._policy import Policy
from .._runtime import Instance
from ._api import DEFAULT_POLICY
from ._calls import _plain, _unwrap
from ._code import Code, code_of, compiled, runtime

__all__ = ["ComponentActor", "PluginActor", "where"]


def where() -> dict[str, Any]:
    """Where the caller runs: ``pid`` and Ray ``node`` id."""
    node = ray.get_runtime_context().get_node_id() if ray.is_initialized() else ""
    return {"pid": os.getpid(), "node": node}


class _ComponentActor:
    """A live instance of a module or component in a Ray actor.

    Args:
        source: the code (a path, bytes, text, a registry reference, or a ``Code``).
        policy: the sandbox (``omniwasm.ray.DEFAULT_POLICY`` when None); ``timeout`` and
            ``fuel`` apply to each call.

    """

    def __init__(self, source: Code | Compiled | Source, policy: Policy | None = None) -> None:
        self._code = code_of(source)
        self._policy = policy if policy is not None else DEFAULT_POLICY
        self._inst: Instance | None = None
        self.calls = 0
        self._instance()  # fail in the constructor, not on the first call

    def _instance(self) -> Instance:
        inst = self._inst
        if inst is None or inst.closed:
            policy = self._policy
            inst = self._inst = runtime(policy).instantiate(compiled(self._code, policy), policy)
        return inst

    def call(self, function: str, *args: Any) -> Any:
        """Call ``function`` with ``args``; state stays in the instance for the next call.

        Raises:
            OmniwasmError: the call failed (a trap or a limit also replaces the instance,
                so its state starts afresh).

        """
        inst = self._instance()
        self.calls += 1
        try:
            if self._policy.fuel is not None:
                inst.refuel(self._policy.fuel)
            fn = inst.func(function)
            if inst.kind == "component":
                return _plain(_unwrap(fn(*args, raw=True), function))
            return fn(*args)
        except OmniwasmError as exc:
            if isinstance(exc, ExecutionError):
                inst.close()
                self._inst = None
            raise

    def exports(self) -> list[str]:
        """The exports of the code, as ``name: type`` lines."""
        return [f"{e.name}: {e.type}" for e in compiled(self._code, self._policy).exports]

    def where(self) -> dict[str, Any]:
        """The actor's process id and node id."""
        return where()


class _PluginActor:
    """A plugin (anything with ``call(name, *args)``) made and kept in a Ray actor.

    Args:
        make: builds the plugin on the actor, e.g. ``functools.partial(Plugin,
            "count_vowels.wasm", policy=...)``; it is pickled, so files it names must exist
            on the actor's node (or pass the bytes).

    """

    def __init__(self, make: Callable[[], Any]) -> None:
        self._make = make
        self._plugin = make()
        self.calls = 0

    def call(self, function: str, *args: Any) -> Any:
        """Call plugin function ``function``; the plugin (its variables) stays for the next.

        Raises:
            OmniwasmError: the call failed (the plugin decides whether its state survives).

        """
        self.calls += 1
        return self._plugin.call(function, *args)

    def where(self) -> dict[str, Any]:
        """The actor's process id and node id."""
        return where()


ComponentActor = ray.remote(_ComponentActor)
"""``ComponentActor.remote(source, policy)``: a Ray actor with a live instance; methods
``call(function, *args)``, ``exports()``, ``where()``."""

PluginActor = ray.remote(_PluginActor)
"""``PluginActor.remote(make)``: a Ray actor holding ``make()`` (a plugin); methods
``call(function, *args)``, ``where()``."""
