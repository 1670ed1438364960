"""The engine layer: the only package that imports wasmtime (DESIGN.md).

Nothing defined here appears in a public signature; the façade wraps these objects.
"""

from .artifact import Artifact, CodeMemo, Kind, load_artifact, sniff
from .cache import CompileCache, default_cache_dir
from .component.stock.handles import GuestHandle
from .component.stock.imports import HostDefs, current_state
from .component.stock.instance import ComponentInstance, instantiate_component, missing_imports
from .component.stock.types import world_items, world_type
from .core.fastcall import FastFunc
from .core.instance import CoreInstance, HostImports, instantiate_core
from .core.linked import CoreTemplate, func_exports
from .core.slotcall import SLOT, SlotCall, set_fuel
from .describe import exports_of, imports_of
from .memory import LinearMemory
from .native import (
    DEFAULT_KEEP_RESIDENT,
    EngineSettings,
    NativeEngine,
    engine_for,
    wasmtime_version,
)
from .store import StoreBox
from .translate import translating

__all__ = [
    "DEFAULT_KEEP_RESIDENT",
    "SLOT",
    "Artifact",
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
    "LinearMemory",
    "NativeEngine",
    "SlotCall",
    "StoreBox",
    "current_state",
    "default_cache_dir",
    "engine_for",
    "exports_of",
    "func_exports",
    "imports_of",
    "instantiate_component",
    "instantiate_core",
    "load_artifact",
    "missing_imports",
    "set_fuel",
    "sniff",
    "translating",
    "wasmtime_version",
    "world_items",
    "world_type",
]
