"""Core modules linked with companion modules in one store, and raw-speed Python host functions.

The plugin habitat runs a guest module beside a companion module (the Extism kernel) in the
same store: the guest's imports of the companion's exports go straight from wasm to wasm, and
only the functions that need the host (config, vars, HTTP, logs, user functions) enter Python.

``CoreTemplate`` is built once per guest module and set of host functions: a linker with WASI
p1 (optional) and the Python functions, registered through
``wasmtime_linker_define_func_unchecked`` against one ``CFUNCTYPE`` trampoline that unpacks the
raw ``wasmtime_val_raw_t`` slots with a precompiled ``struct`` (no wasmtime-py ``Val`` objects).
Each instance
instantiates the companions from their ``InstancePre`` and then the guest with an explicit
import vector: a companion's export or the linker's definition for each import, filled
in place by the C API (no linker clone, no per-instance definitions). Python exceptions never
unwind into native code: they are parked where :func:`._translate.translate` finds them and the
guest sees a trap.
"""

from __future__ import annotations

import ctypes
import itertools
import struct
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import wasmtime
from wasmtime import _ffi as ffi
from wasmtime import _func as wasmtime_func

from ..._binary.module import FuncSig
from ..._errors import LinkError, MissingImport, OmniwasmError
from ..._policy import Policy
from ..artifact import Artifact
from ..store import StoreBox
from ..translate import translate
from .instance import WASI_P1_MODULES, CoreInstance, instantiate_failure, pre_instantiate_raw
from .rawfunc import FINALIZER, UNCHECKED, caller_context, define_unchecked, immortal
from .types import PROBE_PREFIX, describe_import, interface_of
from .wasidet import shadow_deterministic
from .wasifiles import shadow_file_calls
from .wasip1 import shadow_poll_oneoff

__all__ = ["CoreTemplate", "HostCall", "func_exports", "interface_of"]

_vp = ctypes.c_void_p
_SLOT = 16  # sizeof(wasmtime_val_raw_t)
_CODES = {"i32": "i", "i64": "q", "f32": "f", "f64": "d"}
_VALTYPES = {
    "i32": wasmtime.ValType.i32,
    "i64": wasmtime.ValType.i64,
    "f32": wasmtime.ValType.f32,
    "f64": wasmtime.ValType.f64,
}
_export_get = ctypes.CFUNCTYPE(ctypes.c_bool, _vp, _vp, ctypes.c_char_p, ctypes.c_size_t, _vp)(
    ("wasmtime_instance_export_get", ffi.dll)
)
_linker_get = ctypes.CFUNCTYPE(
    ctypes.c_bool, _vp, _vp, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_size_t, _vp
)(("wasmtime_linker_get", ffi.dll))
_instance_new = ctypes.CFUNCTYPE(_vp, _vp, _vp, _vp, ctypes.c_size_t, _vp, _vp)(
    ("wasmtime_instance_new", ffi.dll)
)
_EXTERN = ctypes.sizeof(ffi.wasmtime_extern_t)
_error_new = ctypes.CFUNCTYPE(_vp, ctypes.c_char_p)(("wasmtime_error_new", ffi.dll))

HostCall = Callable[..., Any]
"""A Python host function for a core import: ``fn(ctx, *args) -> result or tuple``, where
``ctx`` is the calling store's raw context address (to find per-store state) and the
arguments and results are the import's wasm numbers."""

_ENTRIES: dict[int, _Entry] = {}
_ids = itertools.count(1)


def _layout(types: Sequence[str]) -> struct.Struct:
    return struct.Struct(
        "<" + "".join(f"{_CODES[t]}{_SLOT - struct.calcsize(_CODES[t])}x" for t in types)
    )


class _Entry:
    __slots__ = ("args", "fn", "name", "nparams", "nresults", "results")

    def __init__(self, name: str, sig: FuncSig, fn: HostCall) -> None:
        params, results = sig
        self.name = name
        self.fn = fn
        self.args = _layout(params)
        self.results = _layout(results)
        self.nparams = len(params)
        self.nresults = len(results)


@immortal
@UNCHECKED  # type: ignore[untyped-decorator]
def _trampoline(env: int | None, caller: int | None, vals: int | None, nvals: int) -> int:
    entry = _ENTRIES.get(env or 0)
    try:
        if entry is None:
            raise OmniwasmError("host function was released")
        ctx = caller_context(caller) or 0
        size = max(entry.nparams, entry.nresults) * _SLOT
        buf = (ctypes.c_char * size).from_address(vals or 0) if size else None
        args = entry.args.unpack_from(buf, 0) if entry.nparams else ()  # type: ignore[arg-type]
        out = entry.fn(ctx, *args)
        if entry.nresults == 1:
            entry.results.pack_into(buf, 0, out)  # type: ignore[arg-type]
        elif entry.nresults:
            entry.results.pack_into(buf, 0, *out)  # type: ignore[arg-type]
        return 0
    except BaseException as exc:  # nothing may unwind into native code
        wasmtime_func.LAST_EXCEPTION = exc  # type: ignore[assignment]  # Ctrl-C too: re-raised
        name = entry.name if entry is not None else "?"
        return int(_error_new(f"host function {name} raised {type(exc).__name__}".encode()) or 0)


@immortal
@FINALIZER  # type: ignore[untyped-decorator]
def _finalize(env: int | None, entries: dict[int, Any] = _ENTRIES) -> None:
    # bound at definition: a store freed while the interpreter exits sees module globals None
    entries.pop(env or 0, None)


class CoreTemplate:
    """A guest module prepared for fast instantiation beside companion modules.

    Args:
        artifact: the guest module.
        host: Python host functions ``{module: {name: fn(ctx, *args)}}``; only those the guest
            imports are linked, typed from its import declarations.
        companions: ``(module name, artifact)`` pairs instantiated in every new store first;
            the guest's imports from ``module name`` resolve to that instance's exports.
        wasi: link WASI p1 natively (configured by the policy of each instance).
        count_files: with ``wasi``, count the files each store's guests open, so that
            ``StoreBox.max_open_files`` can limit them (:mod:`.wasifiles`).
        deterministic: with ``wasi``, virtual clocks, instant sleeps and seeded random bytes
            for every store (:mod:`.wasidet`); for ``Policy(deterministic=True)`` guests.

    Raises:
        LinkError: the guest imports something none of these provide (all listed at once).

    """

    def __init__(
        self,
        artifact: Artifact,
        *,
        host: Mapping[str, Mapping[str, HostCall]] | None = None,
        companions: Sequence[tuple[str, Artifact]] = (),
        wasi: bool = False,
        count_files: bool = False,
        deterministic: bool = False,
    ) -> None:
        self.artifact = artifact
        self.wasi = wasi
        engine = artifact.native.engine
        module = artifact.module
        self.linker = linker = wasmtime.Linker(engine)
        if wasi:
            linker.define_wasi()
            shadow_poll_oneoff(linker)  # plugins can be cancelled: sleeps must end with them
            if count_files:
                shadow_file_calls(linker)
            if deterministic:
                shadow_deterministic(linker)
        linker.allow_shadowing = True
        imports = interface_of(artifact).imports
        host = host or {}
        for mod_name, name, sig in imports:
            fn = host.get(mod_name, {}).get(name)
            if fn is not None and sig is not None:
                self._define(mod_name, name, sig, fn)
        self.companions = [(name, _pre(c)) for name, c in companions]
        # (module, name) -> index of the first companion exporting it
        owner: dict[tuple[str, str], int] = {}
        for ci, (name, art) in enumerate(companions):
            for export in _export_names(art):
                owner.setdefault((name, export), ci)
        missing = [
            MissingImport(m, n, describe_import(artifact, m, n))
            for m, n, _ in imports
            if not (m in WASI_P1_MODULES and wasi)
            and (m, n) not in owner
            and n not in host.get(m, {})
        ]
        if missing:
            provided = {name for name, _ in companions}
            detail = f"provided: {', '.join(sorted(provided)) or 'nothing'}"
            raise LinkError(tuple(missing), detail=detail)
        # How to fill each import, in order: (companion index or -1 for the linker's
        # definition, module, name). A companion's export shadows a linker definition.
        self._plan = [(owner.get((m, n), -1), m.encode(), n.encode()) for m, n, _ in imports]
        self.import_names = [(m, n) for m, n, _ in imports]
        self.pre = None if companions else linker.instantiate_pre(module)
        self._linker_ptr = ctypes.addressof(linker.ptr().contents)
        self._module_ptr = ctypes.addressof(module.ptr().contents)

    def _define(self, module: str, name: str, sig: FuncSig, fn: HostCall) -> None:
        params, results = sig
        if not all(t in _CODES for t in (*params, *results)):
            raise LinkError(
                (MissingImport(module, name, describe_import(self.artifact, module, name)),),
                detail="Python host functions take and return numbers only",
            )
        ty = wasmtime.FuncType([_VALTYPES[t]() for t in params], [_VALTYPES[t]() for t in results])
        idx = next(_ids)
        _ENTRIES[idx] = _Entry(f"{module}::{name}", sig, fn)
        m, n = module.encode(), name.encode()
        ty_ptr = ctypes.cast(ty.ptr(), _vp).value
        err = define_unchecked(
            ctypes.cast(self.linker.ptr(), _vp).value, m, len(m), n, len(n), ty_ptr,
            _trampoline, idx, _finalize,
        )  # fmt: skip
        if err:
            _ENTRIES.pop(idx, None)
            raise translate(
                wasmtime.WasmtimeError._from_ptr(
                    ctypes.cast(err, ctypes.POINTER(ffi.wasmtime_error_t))
                )
            )

    def instantiate(
        self, policy: Policy, *, argv0: str = "main"
    ) -> tuple[CoreInstance, list[CoreInstance]]:
        """A fresh store holding the companions and the guest; returns ``(guest, companions)``.

        Raises:
            MemoryLimitExceeded: an initial memory is larger than the policy allows.
            ExecutionError: a start function failed.

        """
        box = StoreBox(self.artifact.native, policy, wasi=self.wasi, argv0=argv0)
        try:
            box.enter()
            try:
                if self.pre is not None:
                    instance = self.pre.instantiate(box.store)
                    comps: list[CoreInstance] = []
                else:
                    instance, comps = self._instantiate_linked(box)
            finally:
                box.leave()
        except (wasmtime.WasmtimeError, wasmtime.Trap) as exc:
            box.close()
            raise translate(exc, policy=policy) from exc
        except BaseException:
            box.close()
            raise
        return CoreInstance(box, instance, self.artifact), comps

    def _instantiate_linked(self, box: StoreBox) -> tuple[wasmtime.Instance, list[CoreInstance]]:
        """Companions from their ``InstancePre``, then the guest from an import vector."""
        ctx = box.ctx
        trap = ctypes.c_void_p()
        trap_addr = ctypes.addressof(trap)
        raws = []
        comps: list[CoreInstance] = []
        for _, (art, pre) in self.companions:
            raw = ffi.wasmtime_instance_t()
            error = pre_instantiate_raw(pre, ctx, ctypes.addressof(raw), trap_addr)
            if error or trap.value:
                raise instantiate_failure(error, trap)
            raws.append(ctypes.addressof(raw))
            comps.append(CoreInstance(box, wasmtime.Instance._from_raw(raw), art))
        plan = self._plan
        externs = (ffi.wasmtime_extern_t * max(len(plan), 1))()
        at = ctypes.addressof(externs)
        linker = self._linker_ptr
        for ci, mod, name in plan:
            if ci >= 0:
                found = _export_get(ctx, raws[ci], name, len(name), at)
            else:
                found = _linker_get(linker, ctx, mod, len(mod), name, len(name), at)
            if not found:
                raise OmniwasmError(f"import {mod.decode()}::{name.decode()} could not be resolved")
            at += _EXTERN
        raw = ffi.wasmtime_instance_t()
        error = _instance_new(
            ctx, self._module_ptr, ctypes.addressof(externs), len(plan), ctypes.addressof(raw),
            trap_addr,
        )  # fmt: skip
        if error or trap.value:
            raise instantiate_failure(error, trap)
        return wasmtime.Instance._from_raw(raw), comps


def func_exports(artifact: Artifact) -> dict[str, FuncSig]:
    """``{name: (param types, result types)}`` of a core module's exported functions."""
    return interface_of(artifact).func_exports


def _export_names(artifact: Artifact) -> list[str]:
    """A companion's export names, cached on the artifact."""
    with artifact.lock:
        names = artifact.prepared.get("core-export-names")
        if names is None:
            names = artifact.prepared["core-export-names"] = [
                e.name for e in artifact.module.exports if not e.name.startswith(PROBE_PREFIX)
            ]
    return names


def _pre(artifact: Artifact) -> tuple[Artifact, int]:
    """A companion's ``InstancePre`` (it imports nothing) as a raw pointer, cached on the artifact.

    The ``InstancePre`` object stays in the artifact's cache, which keeps the pointer valid.
    """
    with artifact.lock:
        pre = artifact.prepared.get("core-companion")
        if pre is None:
            pre = wasmtime.Linker(artifact.native.engine).instantiate_pre(artifact.module)
            artifact.prepared["core-companion"] = pre
    return artifact, ctypes.cast(pre.ptr(), _vp).value or 0
