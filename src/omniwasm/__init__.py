"""omniwasm: a universal WebAssembly runtime platform for Python.

One engine (Wasmtime), one sandbox model (``Policy``: deny by default) and several habitats
where sandboxed WebAssembly runs. Start with ``Runtime``::

    import omniwasm
    rt = omniwasm.Runtime()
    inst = rt.instantiate(rt.load("add.wasm"))
    inst.exports.add(1, 2)
"""

from typing import Any

from . import types
from ._cache import CacheInfo
from ._compiled import Compiled, Export, Source
from ._component import ComponentExports, ComponentFunction, InterfaceExports, Linker, host_data
from ._errors import (
    Cancelled,
    ExecutionError,
    Frame,
    GuestError,
    GuestExit,
    HostFunctionError,
    InvalidModule,
    LimitExceeded,
    LinkError,
    MemoryLimitExceeded,
    MissingImport,
    OmniwasmError,
    OutOfFuel,
    PolicyError,
    Timeout,
    Trap,
    ValueConversionError,
)
from ._inspect import CustomSection, Inspection, Producer, Section, WorldItem, inspect
from ._policy import Mount, Output, Policy, parse_duration, parse_size
from ._runtime import Instance, RunResult, Runtime
from ._version import __version__
from ._wit.values import Err, Ok, Some, Variant


def __getattr__(name: str) -> Any:
    # ``bindgen`` is imported on first use: the generator is not needed to run code.
    if name == "bindgen":
        from ._bindgen import bindgen

        return bindgen
    raise AttributeError(f"module 'omniwasm' has no attribute {name!r}")


__all__ = [
    "CacheInfo",
    "Cancelled",
    "Compiled",
    "ComponentExports",
    "ComponentFunction",
    "CustomSection",
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
    "LimitExceeded",
    "LinkError",
    "Linker",
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
    "RunResult",
    "Runtime",
    "Section",
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
