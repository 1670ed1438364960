"""Loading components that use component-model async (only the own runtime runs them).

The stock engine runs with wasmtime's concurrency support off (see ``native.py``), and
wasmtime refuses to compile an async component there. Such a component is validated once on a
second engine that has concurrency and component-model async on, and its artifact carries an
:class:`OwnOnlyCode` instead of compiled code: the own runtime compiles its core modules on the
main engine, as it does for every component. Stackful async stays off on the validating
engine, so a component that needs it is refused there with wasmtime's message naming the
feature.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import wasmtime
from wasmtime import _ffi as ffi

from ...._binary import component_defs as c
from ...._binary.component import parse_component
from ...._errors import InvalidModule

__all__ = ["OwnOnlyCode", "uses_async", "validate_async"]

_lock = threading.Lock()
_engines: list[wasmtime.Engine] = []


class OwnOnlyCode:
    """Stands in for compiled code: a validated component only the own runtime runs."""

    own_only = True

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def serialize(self) -> bytes:
        """Never called: the compile cache skips own-only code."""
        raise TypeError("a component-model async component has no precompiled form")


def uses_async(wasm: bytes) -> bool:
    """True when a component binary uses component-model async (async functions or built-ins)."""
    try:
        comp = parse_component(wasm)
    except Exception:  # the stock engine's error is the one to report
        return False
    return _scan(comp)


def _scan(comp: c.Component) -> bool:
    for d in comp.definitions:
        if isinstance(d, c.Canon) and (d.options.is_async or d.op not in _SYNC_OPS):
            return True
        if isinstance(d, c.FuncType) and d.is_async:
            return True
        if isinstance(d, c.Stream | c.Future):
            return True
        if isinstance(d, c.Component) and _scan(d):
            return True
    return False


_SYNC_OPS = frozenset({"lift", "lower", "resource.new", "resource.drop", "resource.rep"})


def _validator() -> wasmtime.Engine:
    with _lock:
        if not _engines:
            config = wasmtime.Config()
            config.wasm_component_model = True
            ffi.wasmtime_config_concurrency_support_set(config.ptr(), True)
            ffi.wasmtime_config_wasm_component_model_async_set(config.ptr(), True)
            ffi.wasmtime_config_wasm_component_model_more_async_builtins_set(config.ptr(), True)
            _engines.append(wasmtime.Engine(config))
        return _engines[0]


def validate_async(wasm: bytes) -> OwnOnlyCode:
    """Validate an async component (once per binary and process).

    The ``wasm-tools`` CLI (``omniwasm[tools]``) validates in a fraction of a second; without
    it the component is compiled on the validating engine (seconds for a large guest).

    Raises:
        wasmtime.WasmtimeError: it is not valid (the caller translates the message).
        InvalidModule: it is not valid (wasm-tools' message), or it uses error-context and
            wasm-tools is not installed.

    """
    digest = hashlib.sha256(wasm).digest()
    with _lock:
        if digest in _valid:
            return OwnOnlyCode(_REASON)
    if _wasm_tools() is not None:
        _validate_with_wasm_tools(wasm)
    else:
        from wasmtime import component as wcomponent

        try:
            wcomponent.Component(_validator(), wasm)
        except wasmtime.WasmtimeError as exc:
            if "error-context feature" not in str(exc):
                raise
            _validate_with_wasm_tools(wasm)  # wasmtime-py's C API cannot switch that on
    with _lock:
        _valid.add(digest)
        if len(_valid) > _VALID_KEPT:
            _valid.pop()
    return OwnOnlyCode(_REASON)


_REASON = "it uses component-model async, which only omniwasm's runtime runs"
_valid: set[bytes] = set()
_VALID_KEPT = 256


def _wasm_tools() -> str | None:
    exe = Path(sys.executable).parent / "wasm-tools"
    return str(exe) if exe.exists() else shutil.which("wasm-tools")


def _validate_with_wasm_tools(wasm: bytes) -> None:
    """Validate a component-model async component with the ``wasm-tools`` CLI.

    Raises:
        InvalidModule: it is invalid, or wasm-tools (``omniwasm[tools]``) is not installed.

    """
    found = _wasm_tools()
    if found is None:
        raise InvalidModule(
            "the component uses error-context, which omniwasm validates with the wasm-tools "
            "CLI: pip install 'omniwasm[tools]'"
        )
    features = "cm-async,cm-more-async-builtins,cm-error-context"
    try:
        run = subprocess.run(
            [found, "validate", "-f", features, "-"],
            input=wasm,
            capture_output=True,
            timeout=_VALIDATE_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise InvalidModule("validating the component took too long") from None
    if run.returncode != 0:
        message = run.stderr.decode("utf-8", "replace").strip().removeprefix("error: ")
        raise InvalidModule(message.splitlines()[0] if message else "invalid component")


_VALIDATE_TIMEOUT = 60.0
