"""The engine layer: the only package that imports wasmtime (DESIGN.md).

Nothing defined here appears in a public signature; the façade wraps these objects.
"""

from ._artifact import Artifact, CodeMemo, Kind, load_artifact, sniff
from ._cache import CacheInfo, CompileCache, default_cache_dir
from ._chost import HostDefs, current_state
from ._components import ComponentInstance, instantiate_component, missing_imports
from ._core import CoreInstance, HostImports, instantiate_core
from ._fastcall import FastFunc
from ._handles import GuestHandle
from ._linkcore import CoreTemplate, func_exports
from ._native import (
    DEFAULT_KEEP_RESIDENT,
    EngineSettings,
    NativeEngine,
    engine_for,
    wasmtime_version,
)
from ._store import StoreBox
from ._translate import translating
from ._witconv import world_type

__all__ = [
    "DEFAULT_KEEP_RESIDENT",
    "Artifact",
    "CacheInfo",
    "CodeMemo",
    "CompileCache",
    "ComponentInstance",
    "CoreInstance",
    "CoreTemplate",
    "EngineSettings",
    "FastFunc",
    "GuestHandle",
    "HostDefs",
    "HostImports",
    "Kind",
    "NativeEngine",
    "StoreBox",
    "current_state",
    "default_cache_dir",
    "engine_for",
    "func_exports",
    "instantiate_component",
    "instantiate_core",
    "load_artifact",
    "missing_imports",
    "sniff",
    "translating",
    "wasmtime_version",
    "world_type",
]
