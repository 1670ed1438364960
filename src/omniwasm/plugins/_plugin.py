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

import ctypes
import functools
import hashlib
import json
import logging
import os
import struct
import threading
import weakref
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping, MutableMapping
from importlib import resources
from pathlib import Path
from typing import Any

from .. import _engine as eng
from .._errors import GuestError, LinkError, MissingImport, OmniwasmError, PolicyError, Trap
from .._policy import Policy
from .._runtime import Compiled, Runtime
from ._hostfn import CurrentPlugin, HostFunction
from ._http import HttpPolicy, HttpState, http_request
from ._manifest import Manifest, load_manifest

__all__ = ["CompiledPlugin", "Plugin"]

ENV = "extism:host/env"
_INIT_EXPORTS = ("_initialize", "__wasm_call_ctors", "hs_init")
_LEVELS = ((logging.DEBUG - 1, 0), (logging.DEBUG, 1), (logging.INFO, 2), (logging.WARNING, 3))
_OFF = 2**31 - 1
_STATES: weakref.WeakValueDictionary[int, _State] = weakref.WeakValueDictionary()
_HEADER = struct.Struct("<B3xII")  # block header: status, size, used (kernel.wat)
_REGISTERS = struct.Struct("<QQQQQ")  # error, input offset/length, output offset/length
_U64 = struct.Struct("<Q")
_ERROR, _INPUT_OFFSET, _INPUT_LENGTH = 25, 33, 41
_FAULT = 2  # root byte the kernel sets when it fails a call itself, then traps (kernel.wat)
_VAR_ENTRY = struct.Struct("<II")  # var store entry: key length, value length (kernel.wat)
_KERNEL_VAR_LIMIT = 1 << 20  # kernel.wat's own default max_var_bytes
_PRIVATE = "omniwasm_"  # kernel exports for the host only: a plugin may not import them
_FIRST_HANDLE = 77
_FREE = 2
_string_at = ctypes.string_at
_memmove = ctypes.memmove
_memset = ctypes.memset
_KERNEL_FUNCS = {
    "_begin": "omniwasm_begin",
    "_alloc": "alloc",
    "_free": "free",
    "_length": "length",
    "_reset": "reset",
    "_input_set": "input_set",
    "_out_off": "output_offset",
    "_out_len": "output_length",
    "_err": "error_get",
    "_var_set": "var_set",
    "_var_bounds": "omniwasm_vars",
    "_var_limit": "omniwasm_var_limit",
}
_kernels: dict[int, Compiled] = {}
_kernel_lock = threading.Lock()


def _kernel(runtime: Runtime) -> Compiled:
    """The kernel module compiled for ``runtime``'s engine (once per engine)."""
    key = id(runtime._native)
    with _kernel_lock:
        found = _kernels.get(key)
        if found is None:
            text = resources.files("omniwasm.plugins").joinpath("kernel.wat").read_text()
            found = _kernels[key] = runtime.load(text)
    return found


def _log_level(logger: logging.Logger) -> int:
    level = logger.getEffectiveLevel()
    if level > logging.ERROR:
        return _OFF
    for bound, code in _LEVELS:
        if level <= bound:
            return code
    return 4


class _State(CurrentPlugin):
    """One live plugin instance: the guest, its kernel, vars and config."""

    def __init__(
        self,
        guest: eng.CoreInstance,
        kernel: eng.CoreInstance,
        *,
        config: Mapping[str, str],
        max_var_bytes: int,
        logger: logging.Logger,
    ) -> None:
        self.guest = guest
        self.kernel = kernel
        self.config = config
        self.max_var_bytes = max_var_bytes
        self.logger = logger
        self.http = HttpState()
        self.http_policy = HttpPolicy()
        self._span: tuple[int, int] | None = None
        _STATES[guest.box.ctx] = self

    def span(self) -> tuple[int, int]:
        """The kernel memory's (base, size), read once until something may have grown it."""
        span = self._span
        if span is None:
            span = self._span = self.kernel.memory_span()
        return span

    @functools.cached_property
    def vars(self) -> MutableMapping[str, bytes]:  # type: ignore[override]
        """The plugin's vars, live in its kernel."""
        return _KernelVars(self)

    def __getattr__(self, attr: str) -> Any:
        # Kernel functions are resolved on first use: most instances call only a few.
        name = _KERNEL_FUNCS.get(attr)
        if name is None:
            raise AttributeError(attr)
        func = self.kernel.func(name)
        object.__setattr__(self, attr, func)
        return func

    # CurrentPlugin: kernel memory helpers for host functions. Blocks are read and released
    # straight from the kernel's memory (its layout is ours: kernel.wat), which saves two
    # calls into the kernel per handle; every access is bounds-checked against the memory.
    def _block(self, handle: int) -> tuple[int, int, int]:
        """``(base, data length, size of memory)`` for an active block, else length 0."""
        base, size = self.span()
        if handle < _FIRST_HANDLE or handle > size:
            return base, 0, size
        status, _, used = _HEADER.unpack(_string_at(base + handle - _HEADER.size, _HEADER.size))
        if status != 1 or handle + used > size:
            return base, 0, size
        return base, used, size

    def read(self, handle: int) -> bytes:
        if not handle:
            return b""
        base, used, _ = self._block(handle)
        return _string_at(base + handle, used) if used else b""

    def write(self, data: bytes | bytearray | memoryview | str) -> int:
        raw = data.encode() if isinstance(data, str) else bytes(data)
        handle = int(self._alloc(len(raw)))
        self._span = None  # alloc may have grown the memory
        if not handle:
            if raw:
                raise OmniwasmError(f"plugin kernel could not allocate {len(raw)} bytes")
            return 0
        base, _ = self.span()
        _memmove(base + handle, raw, len(raw))
        return handle

    def alloc(self, size: int) -> int:
        self._span = None
        return int(self._alloc(size))

    def free(self, handle: int) -> None:
        if handle:
            self._free(handle)

    def take(self, handle: int) -> bytes:
        """Read a handle the guest passed to the host, then free it (handles are consumed)."""
        if not handle:
            return b""
        base, used, _ = self._block(handle)
        if not used:
            self.free(handle)  # let the kernel decide what an odd handle is
            return b""
        data = _string_at(base + handle, used)
        _memset(base + handle - _HEADER.size, _FREE, 1)  # what the kernel's free does
        if _U64.unpack(_string_at(base + _INPUT_OFFSET, 8))[0] == handle:
            _memset(base + _INPUT_LENGTH, 0, 8)
        return data

    def call(self, name: str, func: Any, data: bytes) -> bytes:
        box = self.guest.box
        box.begin_call()
        try:
            return self._call(name, func, data)
        finally:
            box.end_call()

    def _call(self, name: str, func: Any, data: bytes) -> bytes:
        n = len(data)
        handle = int(self._begin(n))
        self._span = None
        if n:
            if not handle:
                raise OmniwasmError(f"plugin kernel could not allocate {n} bytes of input")
            base, _ = self.span()
            _memmove(base + handle, data, n)
        try:
            rc = func()
        except Trap as exc:
            failed = self._kernel_failure(exc, name)
            if failed is None:
                raise
            raise failed from exc
        self._span = None
        base, size = self.span()
        err, _, _, out, out_len = _REGISTERS.unpack(_string_at(base + _ERROR, _REGISTERS.size))
        if rc:
            raise GuestError(int(rc), self.read(err).decode("utf-8", "replace"), function=name)
        if out_len and out + out_len <= size:
            return _string_at(base + out, out_len)
        return b""

    def _kernel_failure(self, exc: Trap, name: str) -> GuestError | None:
        """The error a kernel trap stands for (it failed a var call), or None for a real trap."""
        self._span = None
        base, _ = self.span()
        if _string_at(base + _FAULT, 1) == b"\0":
            return None
        _memset(base + _FAULT, 0, 1)
        err = _U64.unpack(_string_at(base + _ERROR, 8))[0]
        message = self.read(err).decode("utf-8", "replace") or "the plugin kernel failed"
        return GuestError(1, message, function=name, frames=exc.frames)

    # The var store lives in the kernel (kernel.wat, "Vars"), so plugins reach it without
    # Python; these serve the ``vars`` view and carry vars over when the store is rebuilt.
    def var_items(self) -> list[tuple[bytes, bytes]]:
        """Every var as raw ``(key, value)`` bytes, in store order."""
        start, end = self._var_bounds()
        self._span = None
        base, size = self.span()
        end = min(int(end), size)
        items = []
        at = int(start)
        while at + _VAR_ENTRY.size <= end:
            klen, vlen = _VAR_ENTRY.unpack(_string_at(base + at, _VAR_ENTRY.size))
            stop = at + _VAR_ENTRY.size + klen + vlen
            if stop > end:
                break
            raw = _string_at(base + at + _VAR_ENTRY.size, klen + vlen)
            items.append((raw[:klen], raw[klen:]))
            at = stop
        return items

    def var_put(self, key: bytes, value: bytes | None) -> None:
        """Set (or with None delete) a var through the kernel's ``var_set``.

        Raises:
            GuestError: the store is full or vars are disabled (the kernel's message).

        """
        k = self.write(key)
        v = 0 if value is None else self.write(value)
        try:
            self._var_set(k, v)
        except Trap as exc:
            failed = self._kernel_failure(exc, "var_set")
            if failed is None:
                raise
            raise failed from exc
        finally:
            self._span = None


class _KernelVars(MutableMapping[str, bytes]):
    """A plugin's vars, live in its kernel's var store (keys are UTF-8 text).

    Keys and values are non-empty (in the Extism ABI an empty value cannot be set: value
    handle 0 deletes). Setting a value raises :class:`omniwasm.GuestError` when the store is
    full or vars are disabled.
    """

    __slots__ = ("_ref",)

    def __init__(self, state: _State) -> None:
        self._ref = weakref.ref(state)  # the state holds this view: no reference cycle

    def _state(self) -> _State:
        state = self._ref()
        if state is None:
            raise OmniwasmError("the plugin instance is gone")
        return state

    def __getitem__(self, key: str) -> bytes:
        raw = key.encode()
        for k, v in self._state().var_items():
            if k == raw:
                return v
        raise KeyError(key)

    def __setitem__(self, key: str, value: bytes) -> None:
        if not key or not value:
            raise ValueError("var keys and values are non-empty")
        self._state().var_put(key.encode(), bytes(value))

    def __delitem__(self, key: str) -> None:
        if key not in self:
            raise KeyError(key)
        self._state().var_put(key.encode(), None)

    def __iter__(self) -> Iterator[str]:
        return iter([k.decode("utf-8", "replace") for k, _ in self._state().var_items()])

    def __len__(self) -> int:
        return len(self._state().var_items())


def _state(ctx: int) -> _State:
    state = _STATES.get(ctx)
    if state is None:
        raise OmniwasmError("plugin host call from an unknown store")
    state._span = None  # the guest ran since the last look: its kernel calls may have grown it
    return state


def _config_get(ctx: int, key: int) -> int:
    st = _state(ctx)
    value = st.config.get(st.take(key).decode("utf-8", "replace"))
    return 0 if value is None else st.write(value)


def _logger(level: int) -> Any:
    def log(ctx: int, handle: int) -> None:
        st = _state(ctx)
        st.logger.log(level, "%s", st.take(handle).decode("utf-8", "replace"))

    return log


def _get_log_level(ctx: int) -> int:
    return _log_level(_state(ctx).logger)


def _http_request(ctx: int, request: int, body: int) -> int:
    st = _state(ctx)
    req = st.take(request)
    data = st.take(body) if body else None
    return st.write(http_request(st.http_policy, st.http, req, data))


def _http_status_code(ctx: int) -> int:
    return _state(ctx).http.status


def _http_headers(ctx: int) -> int:
    st = _state(ctx)
    headers = st.http.headers
    return 0 if headers is None else st.write(headers)


_ENV_FUNCS: dict[str, Any] = {
    "config_get": _config_get,
    "log_trace": _logger(logging.DEBUG - 5),
    "log_debug": _logger(logging.DEBUG),
    "log_info": _logger(logging.INFO),
    "log_warn": _logger(logging.WARNING),
    "log_error": _logger(logging.ERROR),
    "get_log_level": _get_log_level,
    "http_request": _http_request,
    "http_status_code": _http_status_code,
    "http_headers": _http_headers,
}


def _user_call(fn: HostFunction) -> Any:
    def call(ctx: int, *args: int) -> Any:
        return fn.invoke(_state(ctx), args)

    return call


class CompiledPlugin:
    """A plugin compiled once, from which many :class:`Plugin` instances are made.

    Args:
        source: the module (bytes, path, WAT text) or an Extism manifest (a dict, or a path to
            / text of its JSON).
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
        if compiled.kind != "module":
            raise PolicyError(
                "component plugins are called through the component API (issue #4 item 4)"
            )
        self.compiled = compiled
        self.wasi = wasi
        fns = tuple(host_functions)
        self._template, self._exports, self._init = _prepare(compiled, fns, wasi, self.runtime)

    @property
    def exports(self) -> list[str]:
        """The functions a host may call (no parameters; nothing or an ``i32`` returned)."""
        return list(self._exports)

    def function_exists(self, name: str) -> bool:
        """Whether ``name`` is a callable plugin function."""
        return name in self._exports

    def instantiate(self) -> Plugin:
        """A new, independent plugin instance (its own memory, globals and vars)."""
        return Plugin(compiled=self)

    def _new_state(self, previous: _State | None = None) -> _State:
        """A new instance; with ``previous``, its vars are carried over (a rebuilt store)."""
        guest, (kernel,) = self._template.instantiate(self.policy, argv0=self.name)
        limit = self.manifest.max_var_bytes
        state = _State(
            guest,
            kernel,
            config=self.config,
            max_var_bytes=limit,
            logger=logging.getLogger(f"omniwasm.plugins.{self.name.replace('.', '_')}"),
        )
        state.http_policy = self.http_policy
        guest.box.make_cancellable()
        if limit != _KERNEL_VAR_LIMIT:
            state._var_limit(min(limit, 2**63 - 1))
        if previous is not None:
            for key, value in previous.var_items():
                state.var_put(key, value)
        if self._init is not None:
            guest.func(self._init)()
        return state


_LOADED: OrderedDict[tuple[int, str], Compiled] = OrderedDict()
_LOADED_MAX = 32


def _load(runtime: Runtime, wasm: bytes) -> Compiled:
    """``runtime.load(wasm)``, remembered for the last few modules.

    The prepared plugin (its linked template) lives on the compiled code, so ``Plugin(bytes)``
    calls with the same code reuse it.
    """
    key = (id(runtime), hashlib.sha256(wasm).hexdigest())
    with _kernel_lock:
        found = _LOADED.get(key)
        if found is not None:
            _LOADED.move_to_end(key)
            return found
    compiled = runtime.load(wasm)
    with _kernel_lock:
        _LOADED[key] = compiled
        while len(_LOADED) > _LOADED_MAX:
            _LOADED.popitem(last=False)
    return compiled


def _prepare(
    compiled: Compiled, fns: tuple[HostFunction, ...], wasi: bool, runtime: Runtime
) -> tuple[eng.CoreTemplate, dict[str, str], str | None]:
    """Link a plugin module once per (module, host functions, WASI) and keep it on the code.

    ``Plugin(bytes)`` with a warm compile cache then costs one load and one instance.

    Raises:
        LinkError: the plugin imports omniwasm's private kernel functions, or anything this
            host does not provide.

    """
    artifact = compiled._artifact
    key = ("plugin-template", wasi, fns)
    with artifact.lock:
        found = artifact.prepared.get(key)
    if found is not None:
        return found  # type: ignore[no-any-return]
    private = [i for i in compiled.imports if i.module == ENV and i.name.startswith(_PRIVATE)]
    if private:
        raise LinkError(
            tuple(MissingImport(i.module, i.name, i.type) for i in private),
            detail="omniwasm's own kernel functions are not part of the Extism ABI",
        )
    host: dict[str, dict[str, Any]] = {ENV: dict(_ENV_FUNCS)}
    for fn in fns:
        host.setdefault(fn.namespace, {})[fn.name] = _user_call(fn)
    kernel = _kernel(runtime)
    template = eng.CoreTemplate(
        artifact, host=host, companions=[(ENV, kernel._artifact)], wasi=wasi
    )
    names = {e.name for e in compiled.exports}
    init = next((n for n in _INIT_EXPORTS if n in names), None)
    found = (template, _callable_exports(compiled), init)
    with artifact.lock:
        artifact.prepared[key] = found
    return found


def _callable_exports(compiled: Compiled) -> dict[str, str]:
    out = {}
    for export in compiled.exports:
        if export.type in ("func() -> ()", "func() -> (i32)") and export.name not in _INIT_EXPORTS:
            out[export.name] = export.type
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
        if text.lstrip().startswith("("):
            return Manifest(wasm=text.encode(), name="main")
        path = Path(text)
        try:
            return Manifest(wasm=path.read_bytes(), name=path.stem)
        except OSError as exc:
            raise PolicyError(f"cannot read plugin {path}: {exc.strerror}") from exc
    if isinstance(source, bytes | bytearray | memoryview):
        return Manifest(wasm=bytes(source), name="main")
    raise PolicyError(f"a plugin is bytes, a path or a manifest, not {type(source).__name__}")


class Plugin:
    """One plugin instance: call its functions with bytes in, bytes out.

    ``Plugin(source, ...)`` takes the same arguments as :class:`CompiledPlugin` (and compiles,
    using the compile cache); ``CompiledPlugin.instantiate()`` skips that. One thread at a
    time: calls are serialised by a lock.
    """

    def __init__(
        self, source: Any = None, *, compiled: CompiledPlugin | None = None, **options: Any
    ):
        self._compiled = compiled if compiled is not None else CompiledPlugin(source, **options)
        self._lock = threading.RLock()
        self._state: _State | None = self._compiled._new_state()
        self._funcs: dict[str, Any] = {}
        self._restart = False

    @property
    def exports(self) -> list[str]:
        """The functions this plugin exports for the host to call."""
        return self._compiled.exports

    def function_exists(self, name: str) -> bool:
        """Whether ``name`` is a callable plugin function."""
        return self._compiled.function_exists(name)

    def call(self, name: str, data: bytes | bytearray | memoryview | str = b"") -> bytes:
        """Call plugin function ``name`` with ``data`` as input; return its output bytes.

        Raises:
            GuestError: the function returned a non-zero status (``.error`` has its message).
            OmniwasmError: no such function, or the plugin is closed.
            ExecutionError: a trap, timeout, fuel or memory limit, or a host function raised.

        """
        raw = data.encode() if isinstance(data, str) else bytes(data)
        with self._lock:
            state = self._live()
            func = self._funcs.get(name)
            if func is None:
                if name not in self._compiled._exports:
                    raise OmniwasmError(
                        f"plugin {self._compiled.name} has no function {name!r} "
                        f"(exports: {', '.join(self.exports) or 'none'})"
                    )
                func = self._funcs[name] = state.guest.func(name)
            try:
                return state.call(name, func, raw)
            finally:
                if name == "_start":
                    self._restart = True

    def cancel(self) -> bool:
        """Stop the call running in another thread (it raises ``omniwasm.Cancelled``).

        Safe from any thread; the plugin stays usable for the next call.

        Returns:
            True when a call was running and has been asked to stop.

        """
        state = self._state
        return False if state is None else state.guest.box.cancel()

    def call_json(self, name: str, value: Any = None) -> Any:
        """Call with ``value`` encoded as JSON and decode the output as JSON."""
        out = self.call(name, json.dumps(value).encode())
        return json.loads(out) if out else None

    def _live(self) -> _State:
        if self._state is None:
            raise OmniwasmError(f"plugin {self._compiled.name} is closed")
        if self._restart:
            old = self._state
            self._state = self._compiled._new_state(old)  # the vars outlive the old store
            old.guest.close()
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
                self._state.guest.close()
                self._state = None
                self._funcs.clear()

    def __enter__(self) -> Plugin:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"<Plugin {self._compiled.name} ({state})>"
