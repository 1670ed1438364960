"""References where a file is accepted: the bytes or the stored file of a reference.

``Runtime.load``, ``inspect``, ``Plugin``, the gateway and the SQL habitat accept a reference
wherever they accept a file; they resolve it through here, as the CLI does: the project's
registry mapping (``omniwasm.toml``) and lock file (``omniwasm.lock``), the environment
(``OMNIWASM_OFFLINE``, ``OMNIWASM_LOCK`` ...) and the default store.
"""

from __future__ import annotations

import os
from pathlib import Path

from .client import Client

__all__ = ["fetch_path", "fetch_source"]


def fetch_source(
    text: str, *, project_dir: str | os.PathLike[str] | None = None, registry: str | None = None
) -> bytes:
    """The wasm bytes of a reference, resolved as the CLI resolves it.

    For ``Runtime.load``, ``Plugin`` and the gateway: the project's mapping and lock file, the
    default store.

    Args:
        text: ``oci://host/repo:tag``, ``host/repo@sha256:...`` or ``ns:name@version``.
        project_dir: where ``omniwasm.toml`` and ``omniwasm.lock`` are (default: the working
            directory).
        registry: a registry host for a package name, overriding the mapping.

    Raises:
        RegistryError: as ``Client.pull`` does.

    """
    with Client.from_environment(project_dir) as client:
        return client.fetch(text, registry=registry)


def fetch_path(
    text: str, *, project_dir: str | os.PathLike[str] | None = None, registry: str | None = None
) -> Path:
    """The verified file in the local store holding a reference's wasm (pulled if needed).

    For callers that want a file rather than bytes (the gateway serves from it). The file is
    the store's: read it, never change it.

    Args:
        text: as ``fetch_source``.
        project_dir: as ``fetch_source``.
        registry: as ``fetch_source``.

    Raises:
        RegistryError: as ``Client.pull`` does.

    """
    with Client.from_environment(project_dir) as client:
        pulled = client.pull(text, registry=registry)
        return client.store.verify(pulled.layer.digest, reference=pulled.requested)
