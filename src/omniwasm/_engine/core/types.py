"""Core import/export types for the whole engine, never through a native call that can abort.

A module's types come from its binary (:mod:`omniwasm._binary.module`). A precompiled
``.cwasm`` has no binary left, and a component's core-module import has only the engine's type
objects; for those, types are read with ``wasmtime_valtype_new``, which describes every value
type, never with ``wasm_valtype_kind`` (aborts on ``v128`` and typed references) or
``wasm_tabletype_limits`` (panics on a 64-bit table larger than 2^32: such tables are shown
without their limits).
"""

from __future__ import annotations

import ctypes
from typing import Any

import wasmtime
from wasmtime import _ffi as ffi

from ..._binary.module import (
    PROBE_PREFIX,
    CoreExtern,
    FuncSig,
    ModuleInterface,
    module_interface,
    render_sig,
)
from ..artifact import Artifact

__all__ = [
    "PROBE_PREFIX",
    "PYTHON_VALUES",
    "describe_import",
    "describe_native",
    "interface_of",
    "python_callable",
]

PYTHON_VALUES = frozenset({"i32", "i64", "f32", "f64", "funcref", "externref"})
"""Value types wasmtime-py converts to and from Python (its generic call and host functions)."""


class _HeapType(ctypes.Structure):
    _fields_ = (("kind", ctypes.c_uint8), ("of", ctypes.c_void_p))


class _RefType(ctypes.Structure):
    _fields_ = (("nullable", ctypes.c_bool), ("heaptype", _HeapType))


class _ValType(ctypes.Structure):
    _fields_ = (("kind", ctypes.c_uint8), ("reftype", _RefType))


_vp = ctypes.c_void_p
_valtype_new = ctypes.CFUNCTYPE(None, _vp, _vp)(("wasmtime_valtype_new", ffi.dll))
_valtype_delete = ctypes.CFUNCTYPE(None, _vp)(("wasmtime_valtype_delete", ffi.dll))
_NUMERIC = ("i32", "i64", "f32", "f64", "v128")
_REF_KIND = 5
# wasmtime_heaptype_kind_t -> (text name, nullable shorthand); concrete kinds have no index here
_HEAP = (
    ("extern", "externref"),
    ("noextern", "nullexternref"),
    ("func", "funcref"),
    ("$func", None),
    ("nofunc", "nullfuncref"),
    ("any", "anyref"),
    ("none", "nullref"),
    ("eq", "eqref"),
    ("i31", "i31ref"),
    ("array", "arrayref"),
    ("$array", None),
    ("struct", "structref"),
    ("$struct", None),
    ("exn", "exnref"),
    ("$exn", None),
    ("noexn", "nullexnref"),
)


def _valtype(ty: wasmtime.ValType) -> str:
    """One value type's text name, through the call that describes every type."""
    out = _ValType()
    _valtype_new(ctypes.cast(ty.ptr(), _vp), ctypes.addressof(out))
    try:
        if out.kind < len(_NUMERIC):
            return _NUMERIC[out.kind]
        if out.kind != _REF_KIND:
            return "?"
        ref = out.reftype
        kind = ref.heaptype.kind
        heap, short = _HEAP[kind] if kind < len(_HEAP) else ("?", None)
        if ref.nullable:
            return short or f"(ref null {heap})"
        return f"(ref {heap})"
    finally:
        _valtype_delete(ctypes.addressof(out))


def _sig(ty: wasmtime.FuncType) -> FuncSig:
    return tuple(map(_valtype, ty.params)), tuple(map(_valtype, ty.results))


def _native_extern(module: str, name: str, ty: Any) -> CoreExtern:
    if isinstance(ty, wasmtime.FuncType):
        sig = _sig(ty)
        return CoreExtern(module, name, "func", render_sig(sig), sig)
    if isinstance(ty, wasmtime.TagType):
        sig = _sig(ty.functype)
        return CoreExtern(module, name, "tag", render_sig(sig, "tag"), sig)
    if isinstance(ty, wasmtime.MemoryType):
        limits = ty.limits
        bounds = f"{'i64 ' if ty.is_64 else ''}{limits.min}"
        if limits.max is not None:
            bounds += f", {limits.max}"
        page = ty.page_size
        extra = (" shared" if ty.is_shared else "") + ("" if page == 65536 else f" pagesize {page}")
        return CoreExtern(module, name, "memory", f"memory({bounds}){extra}")
    if isinstance(ty, wasmtime.TableType):
        return CoreExtern(module, name, "table", f"table({_valtype(ty.element)})")
    if isinstance(ty, wasmtime.GlobalType):
        text = f"global({'mut ' if ty.mutable else ''}{_valtype(ty.content)})"
        return CoreExtern(module, name, "global", text)
    return CoreExtern(module, name, type(ty).__name__.lower(), type(ty).__name__)


def describe_native(ty: Any) -> str:
    """Render an engine type object (a component's core-module import, a ``.cwasm``)."""
    return _native_extern("", "", ty).type


def _native_interface(module: wasmtime.Module) -> ModuleInterface:
    imports = tuple(_native_extern(i.module, i.name or "", i.type) for i in module.imports)
    exports = tuple(
        _native_extern("", e.name, e.type)
        for e in module.exports
        if not e.name.startswith(PROBE_PREFIX)
    )
    return ModuleInterface(
        [(e.module, e.name, e.sig if e.kind == "func" else None) for e in imports],
        {e.name: e.sig for e in exports if e.kind == "func" and e.sig},
        imports,
        exports,
    )


def interface_of(artifact: Artifact) -> ModuleInterface:
    """A core module's imports and exports with types, cached on the artifact.

    Read from the binary when the artifact has it, else (a ``.cwasm``) from the engine
    through calls that never abort.
    """
    with artifact.lock:
        found = artifact.prepared.get("core-interface")
    if found is None:
        found = module_interface(artifact.wasm) if artifact.wasm is not None else None
        if found is None:
            found = _native_interface(artifact.module)
        with artifact.lock:
            artifact.prepared["core-interface"] = found
    return found


def describe_import(artifact: Artifact, module: str, name: str) -> str:
    """An import's type as messages write it ("?" when the module has no such import)."""
    for imp in interface_of(artifact).import_types:
        if imp.module == module and imp.name == name:
            return imp.type
    return "?"


def python_callable(sig: FuncSig) -> bool:
    """Whether wasmtime-py can convert every parameter and result of ``sig`` (never aborts)."""
    return all(t in PYTHON_VALUES for t in (*sig[0], *sig[1]))
