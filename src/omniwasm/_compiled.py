"""Compiled code and where it comes from: ``Source``, ``Compiled`` and its imports and exports.

Below the runtime: ``Runtime.load`` produces a ``Compiled``, and ``inspect`` describes one
without a runtime of its own.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from . import _engine as eng
from ._errors import InvalidModule, OmniwasmError

if TYPE_CHECKING:  # the WIT machinery is loaded only for components
    from ._wit.types import WorldType

__all__ = ["Compiled", "Export", "Source", "describe_exports", "describe_imports", "read_source"]

Source = bytes | bytearray | memoryview | str | os.PathLike[str]
"""A module or component: its bytes, WebAssembly text (a ``str`` starting with ``(``), or a
path to a ``.wasm``, ``.wat`` or ``.cwasm`` file."""


def read_source(source: Source) -> tuple[bytes, str]:
    """The bytes of ``source`` and a name for where they came from (a path, ``<bytes>``...).

    Raises:
        InvalidModule: a path that cannot be read.

    """
    if isinstance(source, bytes | bytearray | memoryview):
        return bytes(source), "<bytes>"
    if isinstance(source, str) and source.lstrip().startswith("("):
        return source.encode(), "<text>"
    path = Path(source)
    try:
        return path.read_bytes(), str(path)
    except FileNotFoundError as exc:
        raise InvalidModule("file not found", source=str(path)) from exc
    except OSError as exc:
        raise InvalidModule(f"cannot read file: {exc.strerror}", source=str(path)) from exc


@dataclass(frozen=True, slots=True)
class Export:
    """One import or export of a compiled module or component.

    Args:
        module: the import's module or interface ("" for exports).
        name: the item's name.
        type: the type, rendered as WebAssembly text or WIT writes it.

    """

    module: str
    name: str
    type: str


class Compiled:
    """Compiled code of a module or component, ready to instantiate many times.

    Obtain one from ``Runtime.load``. It is immutable and may be shared between threads.
    """

    def __init__(self, artifact: eng.Artifact) -> None:
        self._artifact = artifact

    @property
    def kind(self) -> Literal["module", "component"]:
        """``"module"`` for a core module, ``"component"`` for a component."""
        return self._artifact.kind

    @property
    def source(self) -> str:
        """Where the code came from (a path, ``<bytes>`` or ``<text>``)."""
        return self._artifact.source

    @property
    def sha256(self) -> str | None:
        """Hex sha256 of the original binary (None when loaded from a ``.cwasm``)."""
        return self._artifact.sha256

    @property
    def imports(self) -> list[Export]:
        """Everything the code imports, with types."""
        return describe_imports(self._artifact)

    @property
    def exports(self) -> list[Export]:
        """Everything the code exports, with types."""
        return describe_exports(self._artifact)

    @property
    def world(self) -> WorldType:
        """A component's imports and exports as WIT type descriptors.

        Raises:
            OmniwasmError: this is a core module, not a component.

        """
        if self._artifact.kind != "component":
            raise OmniwasmError(f"{self.source} is a core module: only components have a world")
        return eng.world_type(self._artifact)

    def serialize(self) -> bytes:
        """Return the precompiled (``.cwasm``) form, loadable by ``Runtime.load`` later."""
        return self._artifact.serialize()

    def __repr__(self) -> str:
        return f"<Compiled {self.kind} from {self.source}>"


def describe_imports(artifact: eng.Artifact) -> list[Export]:
    """Every import of ``artifact`` with its type."""
    return [Export(m, n, t) for m, n, t in eng.imports_of(artifact)]


def describe_exports(artifact: eng.Artifact) -> list[Export]:
    """Every export of ``artifact`` with its type."""
    return [Export(m, n, t) for m, n, t in eng.exports_of(artifact)]
