"""Describe compiled code: kind, imports and exports with types."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._engine import _describe

if TYPE_CHECKING:
    from ._engine import Artifact
    from ._runtime import Export

__all__ = ["describe_exports", "describe_imports"]


def describe_imports(artifact: Artifact) -> list[Export]:
    """Every import of ``artifact`` with its type."""
    from ._runtime import Export

    return [Export(m, n, t) for m, n, t in _describe.imports_of(artifact)]


def describe_exports(artifact: Artifact) -> list[Export]:
    """Every export of ``artifact`` with its type."""
    from ._runtime import Export

    return [Export(m, n, t) for m, n, t in _describe.exports_of(artifact)]
