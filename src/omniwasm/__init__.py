"""omniwasm: a universal WebAssembly runtime platform for Python.

One engine (Wasmtime), one sandbox model (``Policy``: deny by default) and several habitats
where sandboxed WebAssembly runs. Start with ``Runtime``::

    import omniwasm
    rt = omniwasm.Runtime()
    inst = rt.instantiate(rt.load("add.wasm"))
    inst.exports.add(1, 2)

The names below are imported on first use (PEP 562): ``import omniwasm`` costs a few
milliseconds, and a command that needs only ``Policy`` or the error tree never loads the
engine, the component machinery or wasmtime.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__

if TYPE_CHECKING:
    from . import types
    from ._bindgen import bindgen
    from ._cache import CacheInfo
    from ._compiled import Compiled, Export, Source
    from ._component import (
        ComponentExports,
        ComponentFunction,
        InterfaceExports,
        Linker,
        host_data,
    )
    from ._errors import (
        ArtifactNotFound,
        AuthenticationFailed,
        Cancelled,
        CompositionError,
        DigestMismatch,
        ExecutionError,
        Frame,
        GuestError,
        GuestExit,
        HostFunctionError,
        InvalidModule,
        InvalidReference,
        LimitExceeded,
        LinkError,
        LockMismatch,
        MemoryLimitExceeded,
        MissingImport,
        OmniwasmError,
        OutOfFuel,
        PolicyError,
        RegistryError,
        SnapshotError,
        Timeout,
        Trap,
        ValueConversionError,
    )
    from ._inspect import CustomSection, Inspection, Producer, Section, WorldItem, inspect
    from ._policy import Mount, Output, Policy, parse_duration, parse_size
    from ._runtime import Instance, RunResult, Runtime
    from ._wit.values import Err, Ok, Some, Variant

# Which private module defines each public name (a module for ``types``).
_WHERE: dict[str, str] = {
    "ArtifactNotFound": "._errors",
    "AuthenticationFailed": "._errors",
    "CacheInfo": "._cache",
    "CompositionError": "._errors",
    "Cancelled": "._errors",
    "Compiled": "._compiled",
    "ComponentExports": "._component",
    "ComponentFunction": "._component",
    "CustomSection": "._inspect",
    "DigestMismatch": "._errors",
    "Err": "._wit.values",
    "ExecutionError": "._errors",
    "Export": "._compiled",
    "Frame": "._errors",
    "GuestError": "._errors",
    "GuestExit": "._errors",
    "HostFunctionError": "._errors",
    "Inspection": "._inspect",
    "Instance": "._runtime",
    "InterfaceExports": "._component",
    "InvalidModule": "._errors",
    "InvalidReference": "._errors",
    "LimitExceeded": "._errors",
    "LinkError": "._errors",
    "Linker": "._component",
    "LockMismatch": "._errors",
    "MemoryLimitExceeded": "._errors",
    "MissingImport": "._errors",
    "Mount": "._policy",
    "Ok": "._wit.values",
    "OmniwasmError": "._errors",
    "OutOfFuel": "._errors",
    "Output": "._policy",
    "Policy": "._policy",
    "PolicyError": "._errors",
    "Producer": "._inspect",
    "RegistryError": "._errors",
    "RunResult": "._runtime",
    "Runtime": "._runtime",
    "Section": "._inspect",
    "SnapshotError": "._errors",
    "Some": "._wit.values",
    "Source": "._compiled",
    "Timeout": "._errors",
    "Trap": "._errors",
    "ValueConversionError": "._errors",
    "Variant": "._wit.values",
    "WorldItem": "._inspect",
    "bindgen": "._bindgen",
    "host_data": "._component",
    "inspect": "._inspect",
    "parse_duration": "._policy",
    "parse_size": "._policy",
}


def __getattr__(name: str) -> Any:
    # PEP 562: the first use of a public name imports the module that defines it; the value
    # is then kept in this module's namespace, so later lookups cost nothing.
    if name == "types":
        value: Any = importlib.import_module(".types", __name__)
    else:
        where = _WHERE.get(name)
        if where is None:
            raise AttributeError(f"module 'omniwasm' has no attribute {name!r}")
        value = getattr(importlib.import_module(where, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


__all__ = [
    "ArtifactNotFound",
    "AuthenticationFailed",
    "CacheInfo",
    "Cancelled",
    "Compiled",
    "ComponentExports",
    "ComponentFunction",
    "CompositionError",
    "CustomSection",
    "DigestMismatch",
    "Err",
    "ExecutionError",
    "Export",
    "Frame",
    "GuestError",
    "GuestExit",
    "HostFunctionError",
    "Inspection",
    "Instance",
    "InterfaceExports",
    "InvalidModule",
    "InvalidReference",
    "LimitExceeded",
    "LinkError",
    "Linker",
    "LockMismatch",
    "MemoryLimitExceeded",
    "MissingImport",
    "Mount",
    "Ok",
    "OmniwasmError",
    "OutOfFuel",
    "Output",
    "Policy",
    "PolicyError",
    "Producer",
    "RegistryError",
    "RunResult",
    "Runtime",
    "Section",
    "SnapshotError",
    "Some",
    "Source",
    "Timeout",
    "Trap",
    "ValueConversionError",
    "Variant",
    "WorldItem",
    "__version__",
    "bindgen",
    "host_data",
    "inspect",
    "parse_duration",
    "parse_size",
    "types",
]
