"""The plugin's side of the Extism kernel: one live instance's state and the env functions.

``kernel.wat`` (the allocator, input/output/error registers and the var store, with its own
linear memory) is compiled once per engine and instantiated as a companion of each plugin
module. :class:`PluginState` reads and writes kernel blocks straight from that memory (the
layout is ours: see the kernel's header comment) through the engine's bounds-checked
``LinearMemory``, and holds the per-instance settings; the ``extism:host/env`` functions that
need the host (config, HTTP, logs) find it by store.
"""

from __future__ import annotations

import functools
import logging
import struct
import threading
import weakref
from collections.abc import Iterator, Mapping, MutableMapping
from importlib import resources
from typing import Any

from .._compiled import Compiled
from .._deadline import call_within
from .._errors import GuestError, LimitExceeded, OmniwasmError, Trap
from .._linked import LinkedInstance
from .._runtime import Runtime
from ._hostfn import CurrentPlugin, HostFunction
from ._http import HttpPolicy, HttpState, http_request

__all__ = [
    "ENV",
    "ENV_FUNCS",
    "INIT_EXPORTS",
    "KERNEL_VAR_LIMIT",
    "PRIVATE_PREFIX",
    "PluginState",
    "kernel_for",
    "user_call",
]

ENV = "extism:host/env"
INIT_EXPORTS = ("_initialize", "__wasm_call_ctors", "hs_init")
_LEVELS = ((logging.DEBUG - 1, 0), (logging.DEBUG, 1), (logging.INFO, 2), (logging.WARNING, 3))
_OFF = 2**31 - 1
_STATES: weakref.WeakValueDictionary[int, PluginState] = weakref.WeakValueDictionary()
_HEADER = struct.Struct("<B3xII")  # block header: status, size, used (kernel.wat)
_REGISTERS = struct.Struct("<QQQQQ")  # error, input offset/length, output offset/length
_U64 = struct.Struct("<Q")
_ERROR, _INPUT_OFFSET, _INPUT_LENGTH = 25, 33, 41
_POSITION = 9  # root: position, length, error, input offset/length, output offset/length (u64)
_ROOT = struct.Struct("<QQQQQQQ")
_POS_LEN = struct.Struct("<QQ")
_BLOCKS = 65  # the first block's header; its data (the first handle) follows at 77
_PAGE = 65536  # the kernel memory never has less: the first page is always mapped
_FAULT = 2  # root byte the kernel sets when it fails a call itself, then traps (kernel.wat)
_VAR_ENTRY = struct.Struct("<II")  # var store entry: key length, value length (kernel.wat)
KERNEL_VAR_LIMIT = 1 << 20  # kernel.wat's own default max_var_bytes
PRIVATE_PREFIX = "omniwasm_"  # kernel exports for the host only: a plugin may not import them
_FIRST_HANDLE = 77
_FREE = 2
_ZEROS = memoryview(bytes(_PAGE))
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
_kernels: weakref.WeakKeyDictionary[Runtime, Compiled] = weakref.WeakKeyDictionary()
_kernel_lock = threading.Lock()


def kernel_for(runtime: Runtime) -> Compiled:
    """The kernel module compiled for ``runtime`` (once per runtime, then from its caches)."""
    with _kernel_lock:
        found = _kernels.get(runtime)
        if found is None:
            text = resources.files("omniwasm.plugins").joinpath("kernel.wat").read_text()
            found = _kernels[runtime] = runtime.load(text)
    return found


def _log_level(logger: logging.Logger) -> int:
    level = logger.getEffectiveLevel()
    if level > logging.ERROR:
        return _OFF
    for bound, code in _LEVELS:
        if level <= bound:
            return code
    return 4


class PluginState(CurrentPlugin):
    """One live plugin instance: the guest, its kernel, vars and config."""

    def __init__(
        self,
        guest: LinkedInstance,
        kernel: LinkedInstance,
        *,
        config: Mapping[str, str],
        max_var_bytes: int,
        logger: logging.Logger,
        max_output: int | None = None,
    ) -> None:
        self.guest = guest
        self.kernel = kernel
        self.calls = guest.calls
        self.memory = kernel.memory()
        self.config = config
        self.max_var_bytes = max_var_bytes
        self.logger = logger
        self.max_output = max_output
        """Bytes a call may return, and log (``Policy.max_output``; None: no limit)."""
        self.logged = 0  # bytes logged by the running call
        self.http = HttpState()
        self.http_policy = HttpPolicy()
        _STATES[guest.store_id] = self

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
    def _block(self, handle: int) -> tuple[memoryview, int]:
        """The kernel memory now, and the data length of the active block at ``handle`` (or 0).

        The view is valid until the kernel or the guest runs again.
        """
        view = self.memory.view()
        size = len(view)
        if handle < _FIRST_HANDLE or handle > size:
            return view, 0
        status, _, used = _HEADER.unpack_from(view, handle - _HEADER.size)
        if status != 1 or handle + used > size:
            return view, 0
        return view, used

    def read(self, handle: int) -> bytes:
        if not handle:
            return b""
        view, used = self._block(handle)
        return bytes(view[handle : handle + used]) if used else b""

    def write(self, data: bytes | bytearray | memoryview | str) -> int:
        raw = data.encode() if isinstance(data, str) else bytes(data)
        handle = int(self._alloc(len(raw)))
        if not handle:
            if raw:
                raise OmniwasmError(f"plugin kernel could not allocate {len(raw)} bytes")
            return 0
        self.memory.write(handle, raw)
        return handle

    def alloc(self, size: int) -> int:
        return int(self._alloc(size))

    def free(self, handle: int) -> None:
        if handle:
            self._free(handle)

    def take(self, handle: int) -> bytes:
        """Read a handle the guest passed to the host, then free it (handles are consumed)."""
        if not handle:
            return b""
        view, used = self._block(handle)
        if not used:
            self.free(handle)  # let the kernel decide what an odd handle is
            return b""
        data = bytes(view[handle : handle + used])
        view[handle - _HEADER.size] = _FREE  # what the kernel's free does
        if _U64.unpack_from(view, _INPUT_OFFSET)[0] == handle:
            _U64.pack_into(view, _INPUT_LENGTH, 0)
        return data

    def close(self) -> None:
        """Release the instance's store."""
        self.guest.close()

    def call(self, name: str, func: Any, data: bytes) -> bytes:
        calls = self.calls
        calls.begin()
        self.logged = 0
        try:
            return self._call(name, func, data)
        finally:
            calls.end()

    def _call(self, name: str, func: Any, data: bytes) -> bytes:
        n = len(data)
        memory = self.memory
        page = memory.head(_PAGE)  # the kernel memory never has less; taken again after guest code
        position, length = _POS_LEN.unpack_from(page, _POSITION)
        first = _BLOCKS + _HEADER.size
        if first + n <= _PAGE and _HEADER.size + n <= length:
            # What the kernel's omniwasm_begin does, without entering it: reset (zero the old
            # blocks, clear the fault byte and the registers), then the input as block one.
            if position:
                if _BLOCKS + position <= _PAGE:
                    page[_BLOCKS : _BLOCKS + position] = _ZEROS[:position]
                else:
                    memory.fill(_BLOCKS, 0, position)
            page[_FAULT] = 0
            if n:
                _ROOT.pack_into(page, _POSITION, _HEADER.size + n, length, 0, first, n, 0, 0)
                _HEADER.pack_into(page, _BLOCKS, 1, n, n)
                page[first : first + n] = data
            else:
                _ROOT.pack_into(page, _POSITION, 0, length, 0, 0, 0, 0, 0)
        else:  # the input needs the kernel to grow its memory
            handle = int(self._begin(n))
            if n:
                if not handle:
                    raise OmniwasmError(f"plugin kernel could not allocate {n} bytes of input")
                memory.write(handle, data)
        try:
            rc = func()
        except Trap as exc:
            failed = self._kernel_failure(exc, name)
            if failed is None:
                raise
            raise failed from exc
        page = memory.head(_PAGE)
        err, _, _, out, out_len = _REGISTERS.unpack_from(page, _ERROR)
        if rc:
            raise GuestError(int(rc), self.read(err).decode("utf-8", "replace"), function=name)
        if not out_len:
            return b""
        limit = self.max_output
        if limit is not None and out_len > limit:
            raise LimitExceeded(
                f"{name}: the plugin's output of {out_len} bytes is larger than max_output "
                f"({limit} bytes)",
                limit=limit,
                used=out_len,
            )
        if out + out_len <= _PAGE:
            return bytes(page[out : out + out_len])
        return memory.read(out, out_len)  # the kernel keeps the output in its memory

    def _kernel_failure(self, exc: Trap, name: str) -> GuestError | None:
        """The error a kernel trap stands for (it failed a var call), or None for a real trap."""
        memory = self.memory
        if memory.read(_FAULT, 1) == b"\0":
            return None
        memory.fill(_FAULT, 0, 1)
        err = _U64.unpack(memory.read(_ERROR, 8))[0]
        message = self.read(err).decode("utf-8", "replace") or "the plugin kernel failed"
        return GuestError(1, message, function=name, frames=exc.frames)

    # The var store lives in the kernel (kernel.wat, "Vars"), so plugins reach it without
    # Python; these serve the ``vars`` view and carry vars over when the store is rebuilt.
    def var_items(self) -> list[tuple[bytes, bytes]]:
        """Every var as raw ``(key, value)`` bytes, in store order."""
        start, end = self._var_bounds()
        memory = self.memory
        end = min(int(end), memory.size())
        items = []
        at = int(start)
        while at + _VAR_ENTRY.size <= end:
            klen, vlen = _VAR_ENTRY.unpack(memory.read(at, _VAR_ENTRY.size))
            stop = at + _VAR_ENTRY.size + klen + vlen
            if stop > end:
                break
            raw = memory.read(at + _VAR_ENTRY.size, klen + vlen)
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


class _KernelVars(MutableMapping[str, bytes]):
    """A plugin's vars, live in its kernel's var store (keys are UTF-8 text).

    Keys and values are non-empty (in the Extism ABI an empty value cannot be set: value
    handle 0 deletes). Setting a value raises :class:`omniwasm.GuestError` when the store is
    full or vars are disabled.
    """

    __slots__ = ("_ref",)

    def __init__(self, state: PluginState) -> None:
        self._ref = weakref.ref(state)  # the state holds this view: no reference cycle

    def _state(self) -> PluginState:
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


def _state(ctx: int) -> PluginState:
    state = _STATES.get(ctx)
    if state is None:
        raise OmniwasmError("plugin host call from an unknown store")
    return state


def _config_get(ctx: int, key: int) -> int:
    st = _state(ctx)
    value = st.config.get(st.take(key).decode("utf-8", "replace"))
    return 0 if value is None else st.write(value)


def _logger(level: int) -> Any:
    def log(ctx: int, handle: int) -> None:
        st = _state(ctx)
        message = st.take(handle)
        limit, logged = st.max_output, st.logged
        st.logged = logged + len(message)
        if limit is not None and st.logged > limit:
            if logged <= limit:  # said once per call, then the call's logs are dropped
                st.logger.warning(
                    "plugin logs past max_output (%d bytes) in this call: the rest is dropped",
                    limit,
                )
            return
        st.logger.log(level, "%s", message.decode("utf-8", "replace"))

    return log


def _get_log_level(ctx: int) -> int:
    return _log_level(_state(ctx).logger)


def _http_request(ctx: int, request: int, body: int) -> int:
    st = _state(ctx)
    req = st.take(request)
    data = st.take(body) if body else None
    # The request runs on a helper thread (it never touches the store), so the call ends at
    # the plugin's deadline or cancel(); a request given up on leaves status 0 behind.
    outcome = HttpState()
    try:
        out = call_within(
            st.calls.deadline,
            lambda: http_request(st.http_policy, outcome, req, data),
            "extism:host/env.http_request",
        )
    finally:
        st.http.status, st.http.headers = outcome.status, outcome.headers
    return st.write(out)


def _http_status_code(ctx: int) -> int:
    return _state(ctx).http.status


def _http_headers(ctx: int) -> int:
    st = _state(ctx)
    headers = st.http.headers
    return 0 if headers is None else st.write(headers)


ENV_FUNCS: dict[str, Any] = {
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


def user_call(fn: HostFunction) -> Any:
    def call(ctx: int, *args: int) -> Any:
        return fn.invoke(_state(ctx), args)

    return call
