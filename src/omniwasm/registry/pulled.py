"""What resolving and pulling a reference give back: ``Resolved`` and ``Pulled``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .artifact import Layer
from .reference import Reference
from .store import Store

__all__ = ["Pulled", "Resolved"]


@dataclass(frozen=True, slots=True)
class Resolved:
    """A reference resolved to one manifest.

    Args:
        requested: the reference as written (normalised).
        reference: the OCI reference, with the tag it came from and its manifest digest.

    """

    requested: str
    reference: Reference

    @property
    def digest(self) -> str:
        """The manifest digest."""
        assert self.reference.digest is not None
        return self.reference.digest


@dataclass(frozen=True, slots=True)
class Pulled:
    """A component (or module) now in the local store.

    Args:
        requested: the reference as written.
        reference: the OCI reference with tag and manifest digest.
        layer: the wasm layer's descriptor.
        config: the artifact config (the Wasm config JSON), or None if not a Wasm config.
        store: the store holding it.

    """

    requested: str
    reference: Reference
    layer: Layer
    config: dict[str, Any] | None
    store: Store
    fresh: bool = False

    @property
    def digest(self) -> str:
        """The manifest digest."""
        assert self.reference.digest is not None
        return self.reference.digest

    def read_bytes(self) -> bytes:
        """The wasm bytes, checked against the layer digest.

        A blob this pull downloaded was hashed on its way in (``fresh``); one that was already
        in the store is hashed again now.

        Raises:
            DigestMismatch: the stored blob was damaged since (it is removed).

        """
        if self.fresh:
            return self.store.blob_path(self.layer.digest).read_bytes()
        return self.store.read(self.layer.digest, reference=self.requested)
