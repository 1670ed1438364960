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

__all__ = [
    "Compiled",
    "Export",
    "Source",
    "describe_exports",
    "describe_imports",
    "is_reference",
    "read_source",
]

Source = bytes | bytearray | memoryview | str | os.PathLike[str]
"""A module or component: its bytes, WebAssembly text (a ``str`` starting with ``(``), a
path to a ``.wasm``, ``.wat`` or ``.cwasm`` file, or (a ``str`` naming no file) a registry
reference: ``oci://host/repo:tag``, ``host[:port]/repo@sha256:...`` or ``ns:name@version``,
pulled verified through ``omniwasm.registry`` with the working directory's mapping and lock
file."""


def read_source(source: Source) -> tuple[bytes, str]:
    """The bytes of ``source`` and a name for where they came from (a path, ``<bytes>``...).

    A ``str`` that names no file and reads as a registry reference is pulled (see ``Source``);
    its name is the reference as written.

    Raises:
        InvalidModule: a path that cannot be read.
        RegistryError: a reference that cannot be resolved or pulled (its subclasses say why:
            ``InvalidReference``, ``ArtifactNotFound``, ``DigestMismatch``, ``LockMismatch``,
            ``AuthenticationFailed``).

    """
    if isinstance(source, bytes | bytearray | memoryview):
        return bytes(source), "<bytes>"
    if isinstance(source, str) and source.lstrip().startswith("("):
        return source.encode(), "<text>"
    if isinstance(source, str) and is_reference(source):
        from .registry import fetch_source

        return fetch_source(source), source.strip()
    path = Path(source)
    try:
        return path.read_bytes(), str(path)
    except FileNotFoundError as exc:
        raise InvalidModule("file not found", source=str(path)) from exc
    except OSError as exc:
        raise InvalidModule(f"cannot read file: {exc.strerror}", source=str(path)) from exc


def is_reference(text: str) -> bool:
    """Whether ``text``, given where a file is accepted, is a registry reference.

    ``oci://...`` always is; ``ns:name[@version]`` and ``host[:port]/repo`` with an explicit
    ``:tag`` or ``@sha256:...`` are when no file of that name exists and they parse (so a
    mistyped ``dir.d/app.wasm`` stays a missing file, not a registry host).
    """
    stripped = text.strip()
    if stripped.startswith("oci://"):
        return True
    if not stripped or os.path.exists(text):
        return False
    if "/" in stripped and "@" not in stripped and ":" not in stripped.rsplit("/", 1)[-1]:
        return False
    from .registry import looks_like_reference

    return looks_like_reference(stripped)


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
    def uses_async(self) -> bool:
        """True for a component that uses component-model async (WASI 0.3 and async exports).

        Such a component runs on omniwasm's own component runtime, whatever
        ``Runtime(components=...)`` says, and its WASI comes from :mod:`omniwasm.wasi.p3`.
        """
        return bool(getattr(self._artifact.code, "own_only", False))

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
