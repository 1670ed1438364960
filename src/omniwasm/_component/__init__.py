"""The backend-neutral component API: the export tree, host imports and their ``Linker``.

``exports`` turns a component instance's exports into Python (interfaces, functions, resource
classes); ``linker`` holds the Python implementations of a component's imports. Nothing here
depends on how a backend represents values or handles.
"""

from .exports import (
    ComponentExports,
    ComponentFunction,
    InterfaceExports,
    current_deadline,
    host_data,
    prepare_instance,
)
from .linker import Linker, split_member

__all__ = [
    "ComponentExports",
    "ComponentFunction",
    "InterfaceExports",
    "Linker",
    "current_deadline",
    "host_data",
    "prepare_instance",
    "split_member",
]
