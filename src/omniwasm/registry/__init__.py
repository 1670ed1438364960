"""Components in OCI registries: references, a verified local store, push/pull, lock files.

The layout on the wire is the Wasm OCI artifact that ``wkg oci push/pull`` uses (see
``artifact.py``), so omniwasm, wkg, wasmtime's and Spin's tooling, ``skopeo`` and ``oras``
read each other's pushes. The usual entry point is ``Client``::

    from omniwasm.registry import Client

    with Client() as client:
        pushed = client.push("hello.wasm", "127.0.0.1:5000/demo/hello:1.0.0")
        wasm = client.fetch("127.0.0.1:5000/demo/hello:1.0.0")   # verified bytes
        client.fetch("acme:hello@^1.0")     # through the registry mapping (omniwasm.toml)

Everything else accepts references too: ``Runtime.load("oci://host/repo:tag")``,
``omniwasm run ns:name@1.0.0``, ``Plugin(...)``, a gateway manifest's ``source = { registry
= ..., package = ..., version = ... }``.

Needs the ``registry`` extra (``pip install 'omniwasm[registry]'``: httpx); importing this
package does not import httpx until a registry is contacted.
"""

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .._errors import (
        ArtifactNotFound,
        AuthenticationFailed,
        DigestMismatch,
        InvalidReference,
        LockMismatch,
        RegistryError,
    )
    from .artifact import CONFIG_MEDIA_TYPE, LAYER_MEDIA_TYPE, Artifact, build_artifact
    from .auth import Credentials
    from .client import Client
    from .config import Mapping, RegistryConfig, RegistrySettings
    from .distribution import OciClient
    from .lock import LockEntry, LockFile
    from .package import package_of
    from .pulled import Pulled, Resolved
    from .reference import PackageSpec, Reference, looks_like_reference, parse_reference
    from .semver import Version, VersionRange, max_satisfying
    from .sources import fetch_path, fetch_source
    from .store import Store, default_store_dir, sha256_digest

# Which module defines each public name: imported on first use (PEP 562), so a command that
# needs only the client (``omniwasm pull``) never loads the binary reader, compose or publish's
# parts.
_WHERE: dict[str, str] = {
    "Artifact": ".artifact",
    "ArtifactNotFound": ".._errors",
    "AuthenticationFailed": ".._errors",
    "CONFIG_MEDIA_TYPE": ".artifact",
    "Client": ".client",
    "Credentials": ".auth",
    "DigestMismatch": ".._errors",
    "InvalidReference": ".._errors",
    "LAYER_MEDIA_TYPE": ".artifact",
    "LockEntry": ".lock",
    "LockFile": ".lock",
    "LockMismatch": ".._errors",
    "Mapping": ".config",
    "OciClient": ".distribution",
    "PackageSpec": ".reference",
    "Pulled": ".pulled",
    "Reference": ".reference",
    "RegistryConfig": ".config",
    "RegistryError": ".._errors",
    "RegistrySettings": ".config",
    "Resolved": ".pulled",
    "Store": ".store",
    "Version": ".semver",
    "VersionRange": ".semver",
    "build_artifact": ".artifact",
    "default_store_dir": ".store",
    "fetch_path": ".sources",
    "fetch_source": ".sources",
    "looks_like_reference": ".reference",
    "max_satisfying": ".semver",
    "package_of": ".package",
    "parse_reference": ".reference",
    "sha256_digest": ".store",
}


def __getattr__(name: str) -> Any:
    where = _WHERE.get(name)
    if where is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(where, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


__all__ = [
    "CONFIG_MEDIA_TYPE",
    "LAYER_MEDIA_TYPE",
    "Artifact",
    "ArtifactNotFound",
    "AuthenticationFailed",
    "Client",
    "Credentials",
    "DigestMismatch",
    "InvalidReference",
    "LockEntry",
    "LockFile",
    "LockMismatch",
    "Mapping",
    "OciClient",
    "PackageSpec",
    "Pulled",
    "Reference",
    "RegistryConfig",
    "RegistryError",
    "RegistrySettings",
    "Resolved",
    "Store",
    "Version",
    "VersionRange",
    "build_artifact",
    "default_store_dir",
    "fetch_path",
    "fetch_source",
    "looks_like_reference",
    "max_satisfying",
    "package_of",
    "parse_reference",
    "sha256_digest",
]
