"""The engine layer: the only package that imports wasmtime (ARCHITECTURE.md).

Nothing defined here appears in a public signature; the façade wraps these objects. Names are
imported on first use (PEP 562), so a core module's run never loads the component machinery.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .artifact import Artifact, CodeMemo, Kind, load_artifact, map_module, sniff
    from .cache import CompileCache, default_cache_dir
    from .component.own.instance import (
        OwnInstance,
        Unsupported,
        imports_wasi,
        unsupported_reason,
    )
    from .component.own.runner import instantiate_own, prepare_own
    from .component.stock.handles import GuestHandle
    from .component.stock.imports import HostDefs, current_state
    from .component.stock.instance import ComponentInstance, instantiate_component, missing_imports
    from .component.stock.types import world_items, world_type
    from .core.fastcall import FastFunc
    from .core.instance import (
        CoreInstance,
        HostImports,
        global_value,
        instantiate_core,
    )
    from .core.linked import CoreTemplate, func_exports
    from .core.slotcall import SLOT, SlotCall, set_fuel
    from .describe import exports_of, imports_of
    from .heap import keep_freed_memory
    from .memory import LinearMemory
    from .native import (
        DEFAULT_KEEP_RESIDENT,
        EngineSettings,
        NativeEngine,
        engine_for,
        wasmtime_version,
    )
    from .snapshot import snapshot_module
    from .store import StoreBox
    from .translate import translating
    from .traps import restore_trap_handlers

_WHERE: dict[str, str] = {
    "Artifact": ".artifact",
    "CodeMemo": ".artifact",
    "CompileCache": ".cache",
    "ComponentInstance": ".component.stock.instance",
    "CoreInstance": ".core.instance",
    "CoreTemplate": ".core.linked",
    "DEFAULT_KEEP_RESIDENT": ".native",
    "EngineSettings": ".native",
    "FastFunc": ".core.fastcall",
    "GuestHandle": ".component.stock.handles",
    "HostDefs": ".component.stock.imports",
    "HostImports": ".core.instance",
    "Kind": ".artifact",
    "LinearMemory": ".memory",
    "NativeEngine": ".native",
    "OwnInstance": ".component.own.instance",
    "SLOT": ".core.slotcall",
    "SlotCall": ".core.slotcall",
    "StoreBox": ".store",
    "Unsupported": ".component.own.instance",
    "current_state": ".component.stock.imports",
    "default_cache_dir": ".cache",
    "engine_for": ".native",
    "exports_of": ".describe",
    "func_exports": ".core.linked",
    "global_value": ".core.instance",
    "imports_of": ".describe",
    "instantiate_component": ".component.stock.instance",
    "instantiate_core": ".core.instance",
    "imports_wasi": ".component.own.instance",
    "instantiate_own": ".component.own.runner",
    "keep_freed_memory": ".heap",
    "prepare_own": ".component.own.runner",
    "load_artifact": ".artifact",
    "map_module": ".artifact",
    "missing_imports": ".component.stock.instance",
    "restore_trap_handlers": ".traps",
    "set_fuel": ".core.slotcall",
    "sniff": ".artifact",
    "snapshot_module": ".snapshot",
    "translating": ".translate",
    "unsupported_reason": ".component.own.instance",
    "wasmtime_version": ".native",
    "world_items": ".component.stock.types",
    "world_type": ".component.stock.types",
}


def __getattr__(name: str) -> Any:
    where = _WHERE.get(name)
    if where is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(where, __name__), name)
    globals()[name] = value
    return value


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
    "OwnInstance",
    "SlotCall",
    "StoreBox",
    "Unsupported",
    "current_state",
    "default_cache_dir",
    "engine_for",
    "exports_of",
    "func_exports",
    "global_value",
    "imports_of",
    "imports_wasi",
    "instantiate_component",
    "instantiate_core",
    "instantiate_own",
    "keep_freed_memory",
    "load_artifact",
    "map_module",
    "missing_imports",
    "prepare_own",
    "restore_trap_handlers",
    "set_fuel",
    "snapshot_module",
    "sniff",
    "translating",
    "unsupported_reason",
    "wasmtime_version",
    "world_items",
    "world_type",
]
