"""What compiled code imports and exports, each with its type rendered as text.

Core types render as WebAssembly text writes them (``func(i32, i32) -> (i32)``); component
types render in WIT (``func(doc: document, max-words: u32) -> result<summary, string>``), from
the one walk over the component's types (:mod:`.component.stock.types`).
"""

from __future__ import annotations

from .._wit.world import world_rows
from .artifact import Artifact
from .component.stock.types import world_items
from .core.types import interface_of

__all__ = ["exports_of", "imports_of"]


def imports_of(artifact: Artifact) -> list[tuple[str, str, str]]:
    """Return ``(module, name, type)`` for each import.

    Component interfaces give one row per member: ``(interface, member, WIT type)``.
    """
    if artifact.kind == "module":
        return [(i.module, i.name, i.type) for i in interface_of(artifact).import_types]
    return world_rows(world_items(artifact)[0], imports=True)


def exports_of(artifact: Artifact) -> list[tuple[str, str, str]]:
    """Return ``("", name, type)`` for each export.

    Members of an exported component interface are named ``interface#member``, the form
    ``Instance.func`` accepts.
    """
    if artifact.kind == "module":
        return [("", e.name, e.type) for e in interface_of(artifact).export_types]
    return world_rows(world_items(artifact)[1], imports=False)
