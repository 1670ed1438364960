r"""Loading: text or binary, module or component or precompiled, through the compile cache.

The binary header decides what bytes are: ``\\0asm`` + version 1 is a core module, ``\\0asm``
+ ``0d 00 01 00`` a component, an ELF header a precompiled ``.cwasm``; anything else is tried as
WebAssembly text. Compiled code is looked up in (and written to) the ``CompileCache``.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

import wasmtime

from .._errors import InvalidModule
from .cache import CompileCache
from .core.growprobe import instrument
from .native import NativeEngine
from .translate import translate

if TYPE_CHECKING:  # wasmtime.component (10 ms) is imported for components only
    from wasmtime import component as wcomponent

__all__ = ["Artifact", "CodeMemo", "Kind", "load_artifact", "sniff", "text_to_binary"]

Kind = Literal["module", "component"]

_MAGIC = b"\0asm"
_MODULE_VERSION = b"\x01\x00\x00\x00"
_COMPONENT_VERSION = b"\x0d\x00\x01\x00"
_ELF = b"\x7fELF"
_PROBED = "+growprobe1"


def sniff(data: bytes) -> Literal["module", "component", "precompiled", "text", "unknown"]:
    """Classify bytes by their header without parsing them."""
    if data.startswith(_MAGIC):
        version = data[4:8]
        if version == _MODULE_VERSION:
            return "module"
        if version == _COMPONENT_VERSION:
            return "component"
        return "unknown"
    if data.startswith(_ELF):
        return "precompiled"
    head = data[:4096].lstrip()
    while head.startswith((b";;", b"(;")):
        if head.startswith(b";;"):
            head = head.partition(b"\n")[2].lstrip()
        else:
            head = head.partition(b";)")[2].lstrip()
    if head.startswith(b"("):
        return "text"
    return "unknown"


class Artifact:
    """Compiled code of one module or component, bound to a native engine.

    Args:
        native: the engine that compiled it.
        kind: ``"module"`` or ``"component"``.
        code: the ``wasmtime.Module`` or ``wasmtime.component.Component``.
        wasm: the original binary (None when loaded from a precompiled file).
        source: where it came from, for messages.

    """

    def __init__(
        self, native: NativeEngine, kind: Kind, code: Any, wasm: bytes | None, source: str
    ) -> None:
        self.native = native
        self.kind: Kind = kind
        self.code = code
        self.wasm = wasm
        self.source = source
        self._sha256: str | None = None
        self.program_name = source.rsplit("/", 1)[-1]
        """What a WASI guest sees as ``argv[0]`` by default: the file's name."""
        self.lock = threading.Lock()
        self.prepared: dict[object, Any] = {}

    cache: CompileCache | None = None
    """The compile cache it was loaded through (omniwasm's component runtime keeps its
    compiled core modules there too)."""

    @property
    def sha256(self) -> str | None:
        """The hex SHA-256 of the original binary (None without one); computed on first use."""
        if self._sha256 is None and self.wasm is not None:
            self._sha256 = hashlib.sha256(self.wasm).hexdigest()
        return self._sha256

    @property
    def module(self) -> wasmtime.Module:
        """The core module (only for ``kind == "module"``)."""
        assert self.kind == "module"
        return self.code  # type: ignore[no-any-return]

    @property
    def component(self) -> wcomponent.Component:
        """The component (only for ``kind == "component"``)."""
        assert self.kind == "component"
        return self.code  # type: ignore[no-any-return]

    def serialize(self) -> bytes:
        """Return the precompiled (``.cwasm``) form of this code."""
        return bytes(self.code.serialize())


class CodeMemo:
    """Compiled code a Runtime loaded recently, so loading the same bytes again skips the disk.

    Args:
        size: how many modules/components to keep (least recently used go first).

    """

    def __init__(self, size: int = 32) -> None:
        self.size = size
        self._items: OrderedDict[str, Any] = OrderedDict()
        self._lock = threading.Lock()

    def recall(self, key: str) -> Any:
        """Return the code stored under ``key``, or None."""
        with self._lock:
            code = self._items.get(key)
            if code is not None:
                self._items.move_to_end(key)
            return code

    def remember(self, key: str, code: Any) -> None:
        """Keep ``code`` under ``key``, dropping the least recently used beyond ``size``."""
        with self._lock:
            self._items[key] = code
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)


def text_to_binary(data: bytes, source: str) -> bytes:
    """WebAssembly text to binary.

    Raises:
        InvalidModule: not UTF-8, or not valid text.

    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidModule(f"not WebAssembly: {exc}", source=source) from exc
    try:
        return bytes(wasmtime.wat2wasm(text))
    except wasmtime.WasmtimeError as exc:
        raise InvalidModule(str(exc).strip(), source=source) from exc


def _compile(native: NativeEngine, kind: Kind, wasm: bytes, source: str) -> Any:
    try:
        if kind == "module":
            return wasmtime.Module(native.engine, wasm)
        from wasmtime import component as wcomponent

        return wcomponent.Component(native.engine, wasm)
    except wasmtime.WasmtimeError as exc:
        if kind == "component":
            code = _async_component(wasm, source, exc)
            if code is not None:
                return code
        err = translate(exc, source=source)
        if not isinstance(err, InvalidModule):
            err = InvalidModule(str(err), source=source)
        raise err from exc


def _async_component(wasm: bytes, source: str, exc: wasmtime.WasmtimeError) -> Any:
    """Own-only code for a valid component-model async component (None: not one)."""
    from .component.own.async_load import uses_async, validate_async

    if "async" not in str(exc) and not uses_async(wasm):
        return None
    try:
        return validate_async(wasm)
    except wasmtime.WasmtimeError as bad:
        err = translate(bad, source=source)
        if not isinstance(err, InvalidModule):
            err = InvalidModule(str(err), source=source)
        raise err from bad


def _deserialize(native: NativeEngine, kind: Kind, blob: bytes) -> Any:
    if kind == "module":
        return wasmtime.Module.deserialize(native.engine, blob)
    from wasmtime import component as wcomponent

    return wcomponent.Component.deserialize(native.engine, blob)


def _load_precompiled(native: NativeEngine, blob: bytes, source: str) -> Artifact:
    if b".wasmtime" not in blob:  # wasmtime's own ELF sections are all named .wasmtime.*
        raise InvalidModule(
            "not WebAssembly: an ELF executable or library, not a wasmtime .cwasm",
            source=source,
        )
    errors = []
    kinds: tuple[Kind, ...] = ("module", "component")
    for kind in kinds:
        try:
            return Artifact(native, kind, _deserialize(native, kind, blob), None, source)
        except wasmtime.WasmtimeError as exc:
            errors.append(str(exc).strip().splitlines()[0])
    raise InvalidModule(
        "precompiled file is not usable by this engine (compiled by another wasmtime "
        f"version or with other settings?): {errors[-1]}",
        source=source,
    )


def map_module(native: NativeEngine, path: str) -> Artifact:
    """A core module's code mapped from ``path``, a file of ``Module.serialize()`` output.

    wasmtime maps the file instead of copying it, so processes share its pages. Only for files
    this process family wrote itself: machine code is trusted as it is.

    Raises:
        InvalidModule: the file is not code of this engine (another wasmtime or settings).

    """
    try:
        code = wasmtime.Module.deserialize_file(native.engine, path)
    except wasmtime.WasmtimeError as exc:
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else "unusable"
        raise InvalidModule(
            f"compiled code not usable by this engine: {detail}", source=path
        ) from exc
    return Artifact(native, "module", code, None, path)


def load_artifact(
    native: NativeEngine,
    data: bytes,
    *,
    cache: CompileCache,
    source: str = "<bytes>",
    expect: Kind | None = None,
    memo: CodeMemo | None = None,
    on_compile: Callable[[str, int], None] | None = None,
) -> Artifact:
    """Compile (or fetch from the cache) the module or component in ``data``.

    Args:
        native: the engine to compile for.
        data: WebAssembly binary or text, or a precompiled ``.cwasm``.
        cache: the compile cache to consult and fill.
        source: where the bytes came from, for messages.
        expect: raise InvalidModule unless the bytes are of this kind.
        memo: recently loaded code to reuse before consulting the disk cache.
        on_compile: called with ``(source, bytes)`` just before a compile the caches could
            not spare (for a progress display).

    Raises:
        InvalidModule: the bytes are not valid WebAssembly (or not of the expected kind).

    """
    form = sniff(data)
    if form == "text":
        data = text_to_binary(data, source)
        form = sniff(data)
    if form == "precompiled":
        artifact = _load_precompiled(native, data, source)
    elif form in ("module", "component"):
        kind: Kind = form
        if expect is not None and kind != expect:
            raise InvalidModule(f"expected a {expect}, got a {kind}", source=source)
        artifact = _load_binary(native, kind, data, cache, source, memo=memo, on_compile=on_compile)
    elif data.startswith(_MAGIC):
        raise InvalidModule(
            f"unknown binary version {data[4:8].hex()} (not a core module or component)",
            source=source,
        )
    elif not data:
        raise InvalidModule("empty input", source=source)
    else:
        from .._binary.magic import describe

        raise InvalidModule(
            f"not WebAssembly (no \\0asm magic number): {describe(data)}", source=source
        )
    if expect is not None and artifact.kind != expect:
        raise InvalidModule(f"expected a {expect}, got a {artifact.kind}", source=source)
    return artifact


def _with_cache(artifact: Artifact, cache: CompileCache) -> Artifact:
    artifact.cache = cache
    return artifact


def _load_binary(
    native: NativeEngine,
    kind: Kind,
    wasm: bytes,
    cache: CompileCache,
    source: str,
    *,
    memo: CodeMemo | None,
    on_compile: Callable[[str, int], None] | None = None,
) -> Artifact:
    # Core modules are compiled with their memory.grow probed (see core/growprobe): their cache
    # entries are keyed apart from code compiled without the probe.
    fingerprint = native.fingerprint + (_PROBED if kind == "module" else "")
    key = cache.key(kind, wasm, fingerprint)
    code = memo.recall(key) if memo is not None else None
    if code is not None:
        return _with_cache(Artifact(native, kind, code, wasm, source), cache)
    blob = cache.get(key)
    if blob is not None:
        try:
            code = _deserialize(native, kind, blob)
        except wasmtime.WasmtimeError:
            cache.reject(key)
    if code is None:
        if on_compile is not None:
            on_compile(source, len(wasm))
        probe = instrument(wasm) if kind == "module" else None
        if probe is not None:
            try:
                code = wasmtime.Module(native.engine, probe.wasm)
            except wasmtime.WasmtimeError:
                code = None  # never expected: the original's own error is the one to report
        if code is None:
            code = _compile(native, kind, wasm, source)
        if not getattr(code, "own_only", False):  # async components: validated, not compiled
            cache.put(key, bytes(code.serialize()))
    if memo is not None:
        memo.remember(key, code)
    return _with_cache(Artifact(native, kind, code, wasm, source), cache)
