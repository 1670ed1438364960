"""Describe the imports and exports of compiled code with readable types."""

from __future__ import annotations

from typing import Any

from ._artifact import Artifact
from ._core import describe_extern

__all__ = ["exports_of", "imports_of"]


def _component_item(ty: Any) -> str:
    return type(ty).__name__


def imports_of(artifact: Artifact) -> list[tuple[str, str, str]]:
    """Return ``(module, name, type)`` for each import."""
    if artifact.kind == "module":
        return [(i.module, i.name or "", describe_extern(i.type)) for i in artifact.module.imports]
    items = artifact.component.type.imports(artifact.native.engine)
    return [(name, "", _component_item(ty)) for name, ty in items.items()]


def exports_of(artifact: Artifact) -> list[tuple[str, str, str]]:
    """Return ``("", name, type)`` for each export."""
    if artifact.kind == "module":
        return [("", e.name, describe_extern(e.type)) for e in artifact.module.exports]
    items = artifact.component.type.exports(artifact.native.engine)
    return [("", name, _component_item(ty)) for name, ty in items.items()]
