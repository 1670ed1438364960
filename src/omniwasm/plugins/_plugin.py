"""Extism-compatible plugins: ``CompiledPlugin`` (compile once) and ``Plugin`` (one instance).

A plugin is a core module that imports ``extism:host/env``. The kernel (``kernel.wat``: the
allocator, input, output and error registers and the var store, with its own linear memory) is
a companion module in the plugin's store, so a plugin's calls into it never enter Python; only
``config_get``, ``http_*``, ``log_*``, ``get_log_level`` and user host functions do, through the
engine's raw host-call path.

Call semantics follow Extism: an export is callable when it takes nothing and returns nothing
or an ``i32``; a non-zero status raises :class:`omniwasm.GuestError` carrying the message the
plugin set with ``error_set``; state (memory, globals, vars) persists between calls;
``_initialize`` / ``__wasm_call_ctors`` / ``hs_init`` run once; a call to ``_start`` rebuilds the
store before the next call.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from .._compiled import Compiled, is_reference
from .._component import Linker
from .._errors import InvalidModule, LinkError, MissingImport, OmniwasmError, PolicyError
from .._linked import LinkedModule, func_exports, prepared
from .._policy import Policy
from .._runtime import Runtime
from ._component_plugin import (
    ComponentState,
    component_functions,
    find_function,
    no_json,
    plugin_imports,
    refuse_extism_options,
)
from ._hostfn import HostFunction
from ._http import HttpPolicy
from ._kernel import (
    ENV,
    ENV_FUNCS,
    INIT_EXPORTS,
    KERNEL_VAR_LIMIT,
    PRIVATE_PREFIX,
    PluginState,
    kernel_for,
    user_call,
)
from ._manifest import Manifest, load_manifest

__all__ = ["CompiledPlugin", "Plugin"]


class CompiledPlugin:
    """A plugin compiled once, from which many :class:`Plugin` instances are made.

    Args:
        source: the module (bytes, path, WAT text, or a registry reference such as
            ``oci://host/repo:tag`` or ``ns:name@1.0.0``) or an Extism manifest (a dict, or a
            path to / text of its JSON).
        manifest: an Extism manifest given separately (then ``source`` is ignored if None).
        policy: the sandbox (the manifest's memory/timeout/paths are applied on top).
        host_functions: user host functions (see :func:`omniwasm.plugins.host_fn`).
        config: plugin configuration (merged over the manifest's).
        wasi: give the plugin WASI preview 1 (stdout/stderr captured per the policy).
        allowed_hosts: host globs HTTP requests may reach (overrides the manifest's); none
            configured means no HTTP at all.
        http_response_headers: keep response headers for ``http_headers``.
        runtime: the Runtime to compile with (a shared default one otherwise).

    Raises:
        InvalidModule: the code is not a core module, or a manifest hash does not match.
        LinkError: the plugin imports something this host does not provide (all listed).
        PolicyError: the manifest is malformed.

    """

    def __init__(
        self,
        source: Any = None,
        *,
        manifest: Mapping[str, Any] | str | os.PathLike[str] | None = None,
        policy: Policy | None = None,
        host_functions: Iterable[HostFunction] = (),
        config: Mapping[str, str] | None = None,
        wasi: bool = False,
        allowed_hosts: Iterable[str] | None = None,
        http_response_headers: bool = False,
        imports: Linker | None = None,
        runtime: Runtime | None = None,
    ) -> None:
        self.runtime = runtime if runtime is not None else _default_runtime()
        spec = _resolve(source, manifest)
        hosts = spec.allowed_hosts if allowed_hosts is None else tuple(allowed_hosts)
        self.http_policy = HttpPolicy(
            allowed_hosts=hosts,
            max_response_bytes=spec.max_http_response_bytes,
            keep_headers=http_response_headers,
        )
        self.manifest = spec
        self.config = {**spec.config, **(config or {})}
        self.policy = spec.policy(policy)
        self.name = spec.name
        compiled = _load(self.runtime, spec.wasm)
        self.compiled = compiled
        self.kind = compiled.kind
        """``"module"`` (an Extism plugin: bytes in, bytes out) or ``"component"``."""
        self.wasi = wasi
        self.logger = logging.getLogger(f"omniwasm.plugins.{self.name.replace('.', '_')}")
        """Where the plugin's ``log_*`` calls go (``omniwasm.plugins.<name>``)."""
        fns = tuple(host_functions)
        self.imports = imports
        if compiled.kind == "component":
            refuse_extism_options(host_functions=fns, config=self.config, allowed_hosts=hosts or ())
            self._exports = dict.fromkeys(component_functions(compiled.world), "component")
            self._linked = plugin_imports(compiled.world, imports)
            return
        if imports is not None:
            raise PolicyError(
                "imports=Linker() implements a component's imports; an Extism plugin's host "
                "functions are given with host_functions=[...]"
            )
        self._template, self._exports, self._init = _prepare(compiled, fns, wasi, self.runtime)

    @property
    def exports(self) -> list[str]:
        """The functions a host may call.

        For an Extism plugin, the exports that take nothing and return nothing or an ``i32``.
        For a component, its exported functions: ``name`` at world level, ``interface#name``
        inside an exported interface.
        """
        return list(self._exports)

    def function_exists(self, name: str) -> bool:
        """Whether ``name`` is a callable plugin function.

        A component function may also be named ``interface.name`` or, when only one exported
        interface has it, by its bare name.
        """
        if self.kind == "component":
            return find_function(list(self._exports), name) is not None
        return name in self._exports

    def instantiate(self) -> Plugin:
        """A new, independent plugin instance (its own memory, globals and vars)."""
        return Plugin(compiled=self)

    def _new_state(self, previous: Any = None) -> Any:
        """A new instance; with ``previous``, its vars are carried over (a rebuilt store)."""
        if self.kind == "component":
            return ComponentState(self.runtime, self.compiled, self.policy, self._linked, self.name)
        guest, (kernel,) = self._template.instantiate(self.policy, argv0=self.name)
        limit = self.manifest.max_var_bytes
        state = PluginState(
            guest,
            kernel,
            config=self.config,
            max_var_bytes=limit,
            logger=self.logger,
            max_output=self.policy.max_output,
        )
        state.http_policy = self.http_policy
        guest.calls.make_cancellable()
        if limit != KERNEL_VAR_LIMIT:
            state._var_limit(min(limit, 2**63 - 1))
        if previous is not None:
            for key, value in previous.var_items():
                state.var_put(key, value)
        if self._init is not None:
            try:
                guest.func(self._init)()  # under the policy's timeout, as every call
            except BaseException:
                state.close()
                raise
        return state


_LOADED: OrderedDict[tuple[int, str], Compiled] = OrderedDict()
_LOADED_MAX = 32
_loaded_lock = threading.Lock()


def _load(runtime: Runtime, wasm: bytes) -> Compiled:
    """``runtime.load(wasm)``, remembered for the last few modules.

    The prepared plugin (its linked template) lives on the compiled code, so ``Plugin(bytes)``
    calls with the same code reuse it.
    """
    key = (id(runtime), hashlib.sha256(wasm).hexdigest())
    with _loaded_lock:
        found = _LOADED.get(key)
        if found is not None:
            _LOADED.move_to_end(key)
            return found
    compiled = runtime.load(wasm)
    with _loaded_lock:
        _LOADED[key] = compiled
        while len(_LOADED) > _LOADED_MAX:
            _LOADED.popitem(last=False)
    return compiled


def _prepare(
    compiled: Compiled, fns: tuple[HostFunction, ...], wasi: bool, runtime: Runtime
) -> tuple[LinkedModule, dict[str, str], str | None]:
    """Link a plugin module once per (module, host functions, WASI) and keep it on the code.

    ``Plugin(bytes)`` with a warm compile cache then costs one load and one instance.

    Raises:
        LinkError: the plugin imports omniwasm's private kernel functions, or anything this
            host does not provide.

    """

    def make() -> tuple[LinkedModule, dict[str, str], str | None]:
        host: dict[str, dict[str, Any]] = {ENV: dict(ENV_FUNCS)}
        for fn in fns:
            host.setdefault(fn.namespace, {})[fn.name] = user_call(fn)
        kernel = kernel_for(runtime)
        module = LinkedModule(compiled, host=host, companions=[(ENV, kernel)], wasi=wasi)
        private = [
            (m, n) for m, n in module.import_names if m == ENV and n.startswith(PRIVATE_PREFIX)
        ]
        if private:
            raise LinkError(
                tuple(MissingImport(m, n, "func") for m, n in private),
                detail="omniwasm's own kernel functions are not part of the Extism ABI",
            )
        funcs = func_exports(compiled)
        init = next((n for n in INIT_EXPORTS if n in funcs), None)
        return module, _callable_exports(funcs), init

    return prepared(compiled, ("plugin-template", wasi, fns), make)


def _callable_exports(funcs: dict[str, tuple[tuple[str, ...], tuple[str, ...]]]) -> dict[str, str]:
    out = {}
    for name, (params, results) in funcs.items():
        if not params and results in ((), ("i32",)) and name not in INIT_EXPORTS:
            out[name] = f"func() -> ({', '.join(results)})"
    return out


_default: Runtime | None = None


def _default_runtime() -> Runtime:
    global _default  # noqa: PLW0603 - one lazily created runtime shared by plugins
    if _default is None:
        _default = Runtime()
    return _default


def _resolve(source: Any, manifest: Any) -> Manifest:
    if manifest is not None:
        return load_manifest(manifest)
    if isinstance(source, Mapping):
        return load_manifest(source)
    if isinstance(source, str | os.PathLike):
        text = os.fspath(source)
        if text.lstrip().startswith("{") or text.endswith(".json"):
            return load_manifest(text)
        if text.lstrip().startswith(("(", ";;")):  # WebAssembly text
            return Manifest(wasm=text.encode(), name="main")
        path = Path(text)
        if isinstance(source, str) and is_reference(text):
            from ..registry import fetch_source

            name = text.removeprefix("oci://").split("@")[0].rsplit("/", 1)[-1]
            return Manifest(wasm=fetch_source(text), name=name.split(":")[-1] or "main")
        try:
            return Manifest(wasm=path.read_bytes(), name=path.stem)
        except FileNotFoundError as exc:
            raise InvalidModule("file not found", source=str(path)) from exc
        except OSError as exc:
            raise InvalidModule(f"cannot read file: {exc.strerror}", source=str(path)) from exc
    if isinstance(source, bytes | bytearray | memoryview):
        return Manifest(wasm=bytes(source), name="main")
    raise PolicyError(f"a plugin is bytes, a path or a manifest, not {type(source).__name__}")


class Plugin:
    """One plugin instance: call its functions.

    An Extism plugin takes bytes (or text) and returns bytes; a component plugin's functions
    take and return typed values. ``Plugin(source, ...)`` takes the same arguments as
    :class:`CompiledPlugin` (and compiles, using the compile cache);
    ``CompiledPlugin.instantiate()`` skips that. One thread at a time: calls are serialised by
    a lock (``cancel()`` is the exception: it is meant for another thread).
    """

    def __init__(
        self, source: Any = None, *, compiled: CompiledPlugin | None = None, **options: Any
    ):
        self._compiled = compiled if compiled is not None else CompiledPlugin(source, **options)
        self._lock = threading.RLock()
        self._state: Any = self._compiled._new_state()
        self._funcs: dict[str, Any] = {}
        self._restart = False

    @property
    def kind(self) -> str:
        """``"module"`` (an Extism plugin) or ``"component"``."""
        return self._compiled.kind

    @property
    def exports(self) -> list[str]:
        """The functions this plugin exports for the host to call."""
        return self._compiled.exports

    @property
    def instance(self) -> Any:
        """A component plugin's live :class:`omniwasm.Instance`; None for an Extism plugin.

        Its ``exports`` tree gives the component's resource classes and handles.

        Raises:
            OmniwasmError: the plugin is closed.

        """
        with self._lock:
            state = self._live()
            return state.instance if isinstance(state, ComponentState) else None

    def function_exists(self, name: str) -> bool:
        """Whether ``name`` is a callable plugin function."""
        return self._compiled.function_exists(name)

    def call(self, name: str, *args: Any) -> Any:
        """Call plugin function ``name``.

        An Extism plugin function takes one input, ``bytes`` or ``str`` (none means empty),
        and returns its output ``bytes``. A component function takes its WIT parameters as
        Python values and returns its result (a WIT ``result`` error raises
        ``omniwasm.Err``).

        Raises:
            GuestError: an Extism function returned a non-zero status (``.error`` has the
                message it set).
            OmniwasmError: no such function, wrong arguments, or the plugin is closed.
            LimitExceeded: the output is larger than ``Policy.max_output`` (logs past it in
                one call are dropped, with one warning).
            ExecutionError: a trap, timeout, fuel or memory limit, or a host function raised;
                the plugin stays usable for the next call.
            Cancelled: another thread called :meth:`cancel`.

        """
        if self._compiled.kind == "component":
            return self._call_component(name, args)
        if len(args) > 1:
            raise OmniwasmError(
                f"{name}: an Extism plugin function takes one input (bytes or str), "
                f"got {len(args)} arguments"
            )
        data = args[0] if args else b""
        raw = data.encode() if isinstance(data, str) else bytes(data)
        with self._lock:
            state = self._live()
            func = self._funcs.get(name)
            if func is None:
                self._check_name(name)
                func = self._funcs[name] = state.guest.func(name)
            try:
                return state.call(name, func, raw)
            finally:
                if name == "_start":
                    self._restart = True

    def _call_component(self, name: str, args: tuple[Any, ...]) -> Any:
        with self._lock:
            state = self._live()
            full = self._funcs.get(name)
            if full is None:
                found = find_function(self._compiled.exports, name)
                if found is None:
                    self._check_name(name)
                full = self._funcs[name] = found
            return state.call(full, args)

    def _check_name(self, name: str) -> None:
        if name not in self._compiled._exports:
            raise OmniwasmError(
                f"plugin {self._compiled.name} has no function {name!r} "
                f"(exports: {', '.join(self.exports) or 'none'})"
            )

    def cancel(self) -> bool:
        """Stop the call running in another thread (it raises ``omniwasm.Cancelled``).

        Safe from any thread; the plugin stays usable for the next call.

        Returns:
            True when a call was running and has been asked to stop.

        """
        state = self._state
        return False if state is None else bool(state.calls.cancel())

    def call_json(self, name: str, value: Any = None) -> Any:
        """Call with ``value`` encoded as JSON and decode the output as JSON (Extism plugins).

        Raises:
            OmniwasmError: a component plugin (call it with Python values instead).

        """
        if self._compiled.kind == "component":
            raise no_json(name)
        out = self.call(name, json.dumps(value).encode())
        return json.loads(out) if out else None

    def _live(self) -> Any:
        state = self._state
        if state is None:
            raise OmniwasmError(f"plugin {self._compiled.name} is closed")
        if isinstance(state, ComponentState):
            if state.poisoned:  # a trap ended the last call: start from a fresh instance
                self._state = None
                state.close()
                self._state = state = self._compiled._new_state()
            return state
        if self._restart:
            self._state = self._compiled._new_state(state)  # the vars outlive the old store
            state.close()
            self._funcs.clear()
            self._restart = False
        return self._state

    @property
    def closed(self) -> bool:
        """True after ``close()``."""
        return self._state is None

    def close(self) -> None:
        """Release the instance. Idempotent."""
        with self._lock:
            if self._state is not None:
                self._state.close()
                self._state = None
                self._funcs.clear()

    def __enter__(self) -> Plugin:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"<Plugin {self._compiled.name} ({state})>"
