"""Instantiating core modules: pre-linked, WASI-aware, every missing import reported at once.

The common case (no Python host functions) links against native WASI p1 when the module
imports it, and keeps the resulting ``InstancePre`` on the artifact, so each new instance costs
one store plus ``InstancePre.instantiate``. Host functions given as Python callables are typed
from the module's own import declarations.
"""

from __future__ import annotations

import ctypes
import dataclasses
import threading
from collections.abc import Callable, Mapping
from typing import Any

import wasmtime
from wasmtime import _ffi as ffi
from wasmtime import _func as wasmtime_func
from wasmtime._extern import wrap_extern

from ..._errors import ExecutionError, GuestExit, LinkError, MissingImport, OmniwasmError
from ..._policy import Policy
from ..artifact import Artifact
from ..memory import LinearMemory
from ..store import StoreBox
from ..translate import translate, translating
from . import growprobe
from .fastcall import FastFunc
from .types import interface_of, python_callable
from .wasip1 import shadow_poll_oneoff

__all__ = ["CoreInstance", "HostImports", "global_value", "instantiate_core"]

_vp = ctypes.c_void_p
_export_get = ctypes.CFUNCTYPE(ctypes.c_bool, _vp, _vp, ctypes.c_char_p, ctypes.c_size_t, _vp)(
    ("wasmtime_instance_export_get", ffi.dll)
)
pre_instantiate_raw = ctypes.CFUNCTYPE(_vp, _vp, _vp, _vp, _vp)(
    ("wasmtime_instance_pre_instantiate", ffi.dll)
)  # (pre, ctx, instance out, trap out) -> error; releases the GIL: a start function may run
_EXTERN_MEMORY = ffi.WASMTIME_EXTERN_MEMORY.value
_EXTERN_OF = ffi.wasmtime_extern_t.of.offset

HostImports = Mapping[str, Mapping[str, Callable[..., Any]]]
"""Python host functions for a core module: ``{module: {name: callable}}``."""

WASI_P1_MODULES = ("wasi_snapshot_preview1", "wasi_unstable")
_PY_VALTYPES = {
    "i32": wasmtime.ValType.i32,
    "i64": wasmtime.ValType.i64,
    "f32": wasmtime.ValType.f32,
    "f64": wasmtime.ValType.f64,
    "funcref": wasmtime.ValType.funcref,
    "externref": wasmtime.ValType.externref,
}


def _uses_wasi(artifact: Artifact) -> bool:
    """Whether the module imports WASI p1 (computed once per artifact)."""
    flag = artifact.prepared.get("core-uses-wasi")
    if flag is None:
        flag = any(imp.module in WASI_P1_MODULES for imp in artifact.module.imports)
        artifact.prepared["core-uses-wasi"] = flag
    return bool(flag)


def _build_linker(
    artifact: Artifact, imports: HostImports | None, *, deadline: bool = False
) -> wasmtime.Linker:
    linker = wasmtime.Linker(artifact.native.engine)
    if _uses_wasi(artifact):
        linker.define_wasi()
        if deadline:  # a timeout must reach into the host's sleeps too
            shadow_poll_oneoff(linker)
    if imports:
        linker.allow_shadowing = True  # a Python function may replace a WASI one
        declared = {(imp.module, imp.name): imp for imp in interface_of(artifact).import_types}
        for mod_name, funcs in imports.items():
            for name, fn in funcs.items():
                imp = declared.get((mod_name, name))
                if imp is None:
                    continue  # the module does not import it: nothing to link
                if imp.sig is None or imp.kind != "func":
                    raise LinkError(
                        (MissingImport(mod_name, name, imp.type),),
                        detail="only functions can be supplied from Python",
                    )
                if not python_callable(imp.sig):
                    # wasmtime-py would abort the process converting such values.
                    raise LinkError(
                        (MissingImport(mod_name, name, imp.type),),
                        detail="Python host functions take and return i32, i64, f32, f64, "
                        "funcref and externref only",
                    )
                params, results = imp.sig
                ty = wasmtime.FuncType(
                    [_PY_VALTYPES[t]() for t in params], [_PY_VALTYPES[t]() for t in results]
                )
                linker.define_func(mod_name, name, ty, fn)
    return linker


def _missing_imports(
    artifact: Artifact, linker: wasmtime.Linker, store: wasmtime.Store
) -> tuple[MissingImport, ...]:
    missing = []
    for imp in interface_of(artifact).import_types:
        try:
            linker.get(store, imp.module, imp.name)
        except wasmtime.WasmtimeError:
            missing.append(MissingImport(imp.module, imp.name, imp.type))
    return tuple(missing)


class CoreInstance:
    """A core module instance with its own store.

    Not thread-safe by itself: ``guard`` serialises calls into the store, so sharing an
    instance between threads is safe but not parallel.

    Args:
        box: the store this instance lives in.
        instance: the wasmtime instance.
        artifact: the module it was instantiated from.

    """

    def __init__(self, box: StoreBox, instance: wasmtime.Instance, artifact: Artifact) -> None:
        self.box = box
        self.instance = instance
        self.artifact = artifact
        box.instances.append(instance._instance)
        self.guard = threading.RLock()  # re-entrant: a host import may call back in
        self._export_items: Any = None
        self._memories: dict[str, Any] = {}

    def _exports(self) -> Any:
        if self._export_items is None:
            self._export_items = self.instance.exports(self.box.store)
        return self._export_items

    @property
    def closed(self) -> bool:
        """True once the store has been released."""
        return self.box.closed

    def _memory(self, name: str) -> Any:
        mem = self._memories.get(name)
        if mem is None:
            if self.box.closed:
                raise OmniwasmError(f"memory {name!r}: the instance is closed")
            # Straight from the C API: wasmtime-py's exports view costs microseconds.
            item = ffi.wasmtime_extern_t()
            raw = name.encode()
            found = _export_get(
                self.box.ctx, ctypes.addressof(self.instance._instance), raw, len(raw),
                ctypes.addressof(item),
            )  # fmt: skip
            if not found or int(item.kind) != _EXTERN_MEMORY:
                raise OmniwasmError(f"no exported memory {name!r}")
            mem = self._memories[name] = ctypes.addressof(item) + _EXTERN_OF, item
        return mem[0]

    def memory(self, name: str = "memory") -> LinearMemory:
        """An exported linear memory, read and written by offset (:class:`LinearMemory`).

        Raises:
            OmniwasmError: no such memory, or the store is closed.

        """
        if self.box.closed:
            raise OmniwasmError(f"memory {name!r}: the instance is closed")
        return LinearMemory(self.box, self._memory(name), name)

    def export(self, name: str) -> Any:
        """The export ``name`` (a wasmtime extern) or None, looked up by name in one call.

        ``Instance.exports(store)`` would wrap every export of the instance first; plugins
        resolve a few functions of a kernel with twenty, on every new instance.
        """
        ext = ffi.wasmtime_extern_t()
        raw = name.encode()
        found = ffi.wasmtime_instance_export_get(
            self.box.store._context(),
            ctypes.byref(self.instance._instance),
            raw,
            len(raw),
            ctypes.byref(ext),
        )
        if not found:
            return None
        if int(ext.kind) == ffi.WASMTIME_EXTERN_FUNC.value:
            return wasmtime.Func._from_raw(ext.of.func)
        return wrap_extern(ext)

    def global_value(self, name: str) -> int | float | None:
        """The value of exported numeric global ``name``, or None when there is none."""
        item = self.export(name)
        if not isinstance(item, wasmtime.Global):
            return None
        value = item.value(self.box.store)
        return value if isinstance(value, int | float) else None

    def export_names(self) -> list[tuple[str, str]]:
        """Each export's name and its rendered type."""
        return [(e.name, e.type) for e in interface_of(self.artifact).export_types]

    def func(self, name: str) -> FastFunc:
        """Return a new fast-call wrapper of exported function ``name``.

        Callers cache it (the façade does): a FastFunc keeps this instance alive, never the
        other way round, so an instance nobody closed is freed by reference counting.

        Raises:
            OmniwasmError: no such function export, or the instance is closed.

        """
        if self.closed:
            raise OmniwasmError(f"{name}: the instance is closed")
        item = self.export(name)
        if not isinstance(item, wasmtime.Func):
            exported = ", ".join(n for n, t in self.export_names() if t.startswith("func"))
            raise OmniwasmError(f"no exported function {name!r} (functions: {exported or 'none'})")
        return FastFunc(self, name, item)

    def failure(self, exc: BaseException) -> BaseException:
        """Translate a failure of a call into this instance (Ctrl-C and exit pass through)."""
        pending = wasmtime_func.LAST_EXCEPTION
        if isinstance(pending, KeyboardInterrupt | SystemExit):
            wasmtime_func.LAST_EXCEPTION = None
            return pending
        err = translate(
            exc, policy=self.box.policy, memory=self._memory_bytes, refusal=self._refusal
        )
        return self._original_offsets(err)

    def call_slow(self, name: str, func: wasmtime.Func, args: tuple[Any, ...]) -> Any:
        """Call through wasmtime-py's generic path (non-numeric signatures)."""
        box = self.box
        try:
            with (
                self.guard,
                translating(box.policy, memory=self._memory_bytes, refusal=self._refusal),
            ):
                if box.deadline_ticks is None:
                    return func(box.store, *args)
                box.enter()
                try:
                    return func(box.store, *args)
                finally:
                    box.leave()
        except ExecutionError as exc:
            raise self._original_offsets(exc) from exc.__cause__

    def run_start(self) -> int:
        """Run the WASI ``_start`` export; return the guest's exit code (0 when it returns)."""
        start = self.func("_start")
        try:
            start()
        except GuestExit as exit_:
            return exit_.code
        return 0

    def _refusal(self) -> tuple[int, int] | None:
        """The largest growth the store's limiter refused its probed instances.

        ``(bytes asked for, bytes held)``, ``(0, 0)`` when nothing was refused, None when no
        instance of the store carries the grow probe (then only exported memories can tell).
        """
        if self.box.closed:
            return None
        ctx = self.box.ctx
        found: tuple[int, int] | None = None
        for raw in self.box.instances:
            seen = growprobe.refused(ctx, raw)
            if seen is not None and (found is None or seen[0] > found[0]):
                found = seen
        return found

    def _original_offsets(self, err: BaseException) -> BaseException:
        """Backtrace offsets into the module as given, not as probed (one-instance stores)."""
        if not isinstance(err, ExecutionError) or not err.frames or len(self.box.instances) != 1:
            return err
        offsets = _offset_map(self.artifact)
        if offsets is not None:
            err.frames = tuple(
                dataclasses.replace(f, module_offset=offsets.original(f.module_offset))
                for f in err.frames
            )
        return err

    def _memory_bytes(self) -> int:
        if self.box.closed:
            return 0
        store = self.box.store
        total = 0
        for item in self._exports().values():
            if isinstance(item, wasmtime.Memory):
                total += item.data_len(store)
        return total

    def close(self) -> None:
        """Release the store; calls afterwards raise a clean error. Idempotent.

        Raises:
            OmniwasmError: called from a host function while this instance is running (the
                store is in use: closing it there would free it under the running call).

        """
        if self.guard._is_owned() and not self.box.closed:  # type: ignore[attr-defined]
            raise OmniwasmError("cannot close an instance from inside one of its own calls")
        with self.guard:
            self.box.close()


def global_value(inner: CoreInstance, name: str) -> int | float | None:
    """The value of ``inner``'s exported numeric global ``name`` (None when there is none)."""
    return inner.global_value(name)


def _offset_map(artifact: Artifact) -> growprobe.OffsetMap | None:
    """How the probed binary's offsets map to the original (computed on the first trap)."""
    with artifact.lock:
        if "grow-offsets" not in artifact.prepared:
            probe = growprobe.instrument(artifact.wasm) if artifact.wasm is not None else None
            artifact.prepared["grow-offsets"] = None if probe is None else probe.offsets
        found: growprobe.OffsetMap | None = artifact.prepared["grow-offsets"]
    return found


def pre_instantiate(pre: wasmtime.InstancePre, ctx: int) -> wasmtime.Instance:
    """``pre.instantiate`` into the store ``ctx`` with one raw call.

    Only for a module whose imports are all native (no Python host function can run during
    its start function, so wasmtime-py's exception bookkeeping has nothing to do).

    Raises:
        wasmtime.WasmtimeError: instantiation failed.
        wasmtime.Trap: the start function trapped.

    """
    raw = ffi.wasmtime_instance_t()
    trap = ctypes.c_void_p()
    error = pre_instantiate_raw(
        ctypes.addressof(pre.ptr().contents), ctx, ctypes.addressof(raw), ctypes.addressof(trap)
    )
    if error or trap.value:
        raise instantiate_failure(error, trap)
    return wasmtime.Instance._from_raw(raw)


def instantiate_failure(error: int | None, trap: ctypes.c_void_p) -> BaseException:
    """The wasmtime exception for a failed instantiation (an error or a trap pointer)."""
    if error:
        return wasmtime.WasmtimeError._from_ptr(
            ctypes.cast(error, ctypes.POINTER(ffi.wasmtime_error_t))
        )
    trap_ptr = trap.value or 0
    trap.value = None
    return wasmtime.Trap._from_ptr(ctypes.cast(trap_ptr, ctypes.POINTER(ffi.wasm_trap_t)))


def instantiate_core(
    artifact: Artifact,
    policy: Policy,
    *,
    imports: HostImports | None = None,
    argv0: str = "main",
) -> CoreInstance:
    """Instantiate a compiled core module under ``policy``.

    Raises:
        LinkError: imports that neither WASI nor ``imports`` provide (all of them, with types).
        MemoryLimitExceeded: the module's initial memory is larger than the policy allows.
        ExecutionError: the start function failed.
        PolicyError: the policy cannot be applied (missing directories, fuel without metering).

    """
    module = artifact.module
    wasi = _uses_wasi(artifact)
    timed = policy.timeout is not None
    if imports:
        linker = _build_linker(artifact, imports, deadline=timed)
        pre = None
    else:
        key = "core-deadline" if timed else "core-default"
        with artifact.lock:
            cached = artifact.prepared.get(key)
            if cached is None:
                linker = _build_linker(artifact, None, deadline=timed)
                try:
                    cached = (linker, linker.instantiate_pre(module))
                except wasmtime.WasmtimeError:
                    cached = (linker, None)
                artifact.prepared[key] = cached
        linker, pre = cached
    box = StoreBox(artifact.native, policy, wasi=wasi, argv0=argv0)
    try:
        box.enter()
        try:
            if pre is None:
                instance = linker.instantiate(box.store, module)
            else:  # no Python function here raises: native WASI and the deadline's own
                instance = pre_instantiate(pre, box.ctx)
        finally:
            box.leave()
    except (wasmtime.WasmtimeError, wasmtime.Trap) as exc:
        err = translate(exc, policy=policy)
        if isinstance(err, LinkError):
            missing = _missing_imports(artifact, linker, box.store)
            err = LinkError(missing or err.missing, detail=err.detail)
        box.close()
        raise err from exc
    except BaseException:
        box.close()
        raise
    return CoreInstance(box, instance, artifact)
