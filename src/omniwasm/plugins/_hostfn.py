"""User host functions for plugins: ``@host_fn`` and the ``CurrentPlugin`` handed to raw ones.

Typed form: parameters and the return value are annotated ``bytes``, ``str`` or anything else
(JSON); each becomes one ``i64`` kernel handle in the wasm signature, as Extism's SDK does::

    @host_fn()
    def hello_world(name: str) -> str:
        return f"hello {name}"

Raw form: give the wasm signature; the function receives the :class:`CurrentPlugin` and the
raw numbers and returns the raw result(s)::

    @host_fn(signature=(["i64"], ["i64"]))
    def raw(plugin: CurrentPlugin, handle: int) -> int:
        return plugin.write(plugin.read(handle).upper())
"""

from __future__ import annotations

import inspect
import json
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["CurrentPlugin", "HostFunction", "host_fn"]

USER = "extism:host/user"
_WASM_TYPES = ("i32", "i64", "f32", "f64")


class CurrentPlugin(typing.Protocol):
    """The plugin a host function was called from: kernel memory and its settings.

    Handles are offsets into the plugin's kernel memory. A handle the plugin passes to a host
    function belongs to the host (``take`` reads and frees it); a handle the host returns
    belongs to the plugin.
    """

    config: typing.Mapping[str, str]
    vars: typing.MutableMapping[str, bytes]

    def read(self, handle: int) -> bytes:
        """The bytes of a kernel block (empty for handle 0)."""
        ...

    def write(self, data: bytes | bytearray | memoryview | str) -> int:
        """Copy ``data`` into a new kernel block and return its handle."""
        ...

    def alloc(self, size: int) -> int:
        """Allocate a kernel block of ``size`` bytes (0 on failure)."""
        ...

    def free(self, handle: int) -> None:
        """Free a kernel block."""
        ...

    def take(self, handle: int) -> bytes:
        """Read a block the plugin passed in, then free it."""
        ...


def _kind(annotation: Any) -> str:
    if annotation in (bytes, bytearray, memoryview):
        return "bytes"
    if annotation is str:
        return "str"
    if annotation in (None, type(None)):
        return "none"
    return "json"


def _decode(kind: str, data: bytes) -> Any:
    if kind == "bytes":
        return data
    if kind == "str":
        return data.decode("utf-8", "replace")
    return json.loads(data) if data else None


def _encode(kind: str, value: Any) -> bytes:
    if kind == "bytes":
        return bytes(value)
    if kind == "str":
        return str(value).encode()
    return json.dumps(value).encode()


@dataclass(frozen=True, slots=True)
class HostFunction:
    """A Python function a plugin imports (made by :func:`host_fn`).

    Args:
        fn: the Python function.
        name: the import's name.
        namespace: the import's module (``extism:host/user`` by default).
        params: the wasm parameter types.
        results: the wasm result types.
        raw: whether ``fn`` takes ``(CurrentPlugin, *numbers)`` instead of typed values.
        kinds: for the typed form, how each parameter and the result are converted.

    """

    fn: Callable[..., Any]
    name: str
    namespace: str
    params: tuple[str, ...]
    results: tuple[str, ...]
    raw: bool
    kinds: tuple[tuple[str, ...], str]

    def invoke(self, plugin: CurrentPlugin, args: Sequence[int]) -> Any:
        """Run the function for a call from ``plugin`` with raw wasm arguments."""
        if self.raw:
            return self.fn(plugin, *args)
        param_kinds, result_kind = self.kinds
        values = [_decode(k, plugin.take(h)) for k, h in zip(param_kinds, args, strict=True)]
        out = self.fn(*values)
        if result_kind == "none":
            return None
        return plugin.write(_encode(result_kind, out))

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.fn(*args, **kwargs)


def host_fn(
    name: str | None = None,
    namespace: str = USER,
    signature: tuple[Sequence[str], Sequence[str]] | None = None,
) -> Callable[[Callable[..., Any]], HostFunction]:
    """Decorator making a Python function importable by plugins.

    Args:
        name: the import name (the function's name by default).
        namespace: the import module (``extism:host/user`` by default).
        signature: ``(params, results)`` wasm types for the raw form; omitted for the typed
            form, which derives ``(i64, ...) -> i64`` from the annotations.

    Raises:
        ValueError: an unknown wasm type in ``signature``.

    """

    def deco(fn: Callable[..., Any]) -> HostFunction:
        if signature is not None:
            params, results = tuple(signature[0]), tuple(signature[1])
            bad = [t for t in (*params, *results) if t not in _WASM_TYPES]
            if bad:
                raise ValueError(f"host_fn {fn.__name__}: unknown wasm type(s) {bad}")
            return HostFunction(fn, name or fn.__name__, namespace, params, results, True, ((), ""))
        hints = typing.get_type_hints(fn)
        sig = inspect.signature(fn)
        param_kinds = tuple(_kind(hints.get(p, bytes)) for p in sig.parameters)
        result_kind = _kind(hints.get("return", bytes))
        results = () if result_kind == "none" else ("i64",)
        return HostFunction(
            fn,
            name or fn.__name__,
            namespace,
            ("i64",) * len(param_kinds),
            results,
            False,
            (param_kinds, result_kind),
        )

    return deco
