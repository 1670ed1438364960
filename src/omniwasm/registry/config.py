"""The registry mapping: which registry serves a package, and how to talk to each registry.

The keys are wkg's (``wasm-pkg-tools``' ``config.toml``), so one file serves both tools::

    default_registry = "registry.example.com"

    [namespace_registries]
    acme = "127.0.0.1:5000"                          # a registry host
    wasi = { registry = "wasi", metadata = { preferredProtocol = "oci",
             oci = { registry = "ghcr.io", namespacePrefix = "webassembly/" } } }

    [package_registry_overrides]
    "acme:tool" = "localhost:5001"

    [registry."ghcr.io".oci]
    auth = { username = "me", password = "..." }     # or a base64 "user:password" string
    protocol = "https"                               # or "http"

A package ``ns:name`` is looked up in ``package_registry_overrides``, then
``namespace_registries``, then ``default_registry``, then wkg's built-in fallbacks (``wasi`` ->
``wasi.dev``, ``ba`` -> ``bytecodealliance.org``). A plain host mapping is resolved as wkg does:
the host's ``/.well-known/wasm-pkg/registry.json`` may name the OCI registry and a namespace
prefix; without one, the host itself is the OCI registry. The OCI repository is
``<namespacePrefix><ns>/<name>`` and the tag is the version.

Sources, later ones overriding earlier ones: wkg's own ``$XDG_CONFIG_HOME/wasm-pkg/config.toml``,
the file named by ``$OMNIWASM_REGISTRY_CONFIG``, the ``[registry]`` table of the project's
``omniwasm.toml``, and the variables ``OMNIWASM_DEFAULT_REGISTRY`` (a host),
``OMNIWASM_NAMESPACE_REGISTRIES`` (``ns=host,ns2=host2``) and ``OMNIWASM_INSECURE_REGISTRIES``
(hosts allowed plain HTTP, comma-separated).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._errors import RegistryError
from .auth import Credentials
from .reference import PackageSpec

__all__ = ["Mapping", "RegistryConfig", "RegistrySettings"]

_FALLBACKS = {"wasi": "wasi.dev", "ba": "bytecodealliance.org"}
_TOP_KEYS = {"default_registry", "namespace_registries", "package_registry_overrides", "registry"}


@dataclass(frozen=True, slots=True)
class Mapping:
    """Where a namespace or package lives.

    Args:
        registry: the registry name (a host), as written.
        oci_registry: the OCI registry to use, when the mapping's metadata names one.
        namespace_prefix: prefix of the OCI repository (``webassembly/``), if any.
        explicit: whether the mapping carried its own metadata (no well-known lookup).

    """

    registry: str
    oci_registry: str | None = None
    namespace_prefix: str | None = None
    explicit: bool = False


@dataclass(frozen=True, slots=True)
class RegistrySettings:
    """How to talk to one registry host.

    Args:
        credentials: from ``[registry."HOST".oci] auth``.
        protocol: ``"http"`` or ``"https"`` if set.
        insecure: plain HTTP allowed (``OMNIWASM_INSECURE_REGISTRIES``).

    """

    credentials: Credentials | None = None
    protocol: str | None = None
    insecure: bool = False


def _fail(source: str, message: str) -> RegistryError:
    return RegistryError(f"registry config {source}: {message}")


def _metadata_oci(metadata: Any, source: str) -> tuple[str | None, str | None]:
    if not isinstance(metadata, dict):
        raise _fail(source, "metadata must be a table")
    oci = metadata.get("oci") or {}
    if not isinstance(oci, dict):
        raise _fail(source, "metadata.oci must be a table")
    registry = oci.get("registry", metadata.get("ociRegistry"))
    prefix = oci.get("namespacePrefix", metadata.get("ociNamespacePrefix"))
    for value in (registry, prefix):
        if value is not None and not isinstance(value, str):
            raise _fail(source, "metadata oci registry and namespacePrefix must be strings")
    return registry, prefix


def parse_metadata(metadata: Any, source: str) -> tuple[str | None, str | None]:
    """Read ``(oci registry, namespace prefix)`` from wkg registry metadata (JSON or TOML).

    Raises:
        RegistryError: the metadata is malformed or prefers a protocol omniwasm lacks.

    """
    if isinstance(metadata, dict):
        preferred = metadata.get("preferredProtocol")
        if preferred not in (None, "oci") and "oci" not in metadata:
            raise _fail(source, f"the registry speaks {preferred!r}; omniwasm speaks only OCI")
    return _metadata_oci(metadata, source)


def _mapping(value: Any, source: str) -> Mapping:
    if isinstance(value, str):
        return Mapping(value)
    if isinstance(value, dict) and isinstance(value.get("registry"), str):
        oci_registry, prefix = parse_metadata(value.get("metadata", {}), source)
        return Mapping(value["registry"], oci_registry, prefix, explicit=True)
    raise _fail(source, "a mapping is a host string or { registry = ..., metadata = {...} }")


def _credentials(auth: Any, source: str) -> Credentials:
    if isinstance(auth, str):
        creds = Credentials.from_auth(auth)
        if creds is None:
            raise _fail(source, "auth string is not base64 of user:password")
        return creds
    if (
        isinstance(auth, dict)
        and isinstance(auth.get("username"), str)
        and isinstance(auth.get("password"), str)
    ):
        return Credentials(auth["username"], auth["password"])
    raise _fail(source, "auth is { username = ..., password = ... } or a base64 string")


@dataclass(slots=True)
class RegistryConfig:
    """The registry mapping and per-registry settings (see the module docstring).

    Args:
        default_registry: the registry for packages no other rule maps.
        namespace_registries: namespace -> mapping.
        package_registry_overrides: ``ns:name`` -> mapping.
        registries: host -> settings.
        fallbacks: wkg's built-in namespace fallbacks (on unless ``RegistryConfig.empty()``).

    """

    default_registry: str | None = None
    namespace_registries: dict[str, Mapping] = field(default_factory=dict)
    package_registry_overrides: dict[str, Mapping] = field(default_factory=dict)
    registries: dict[str, RegistrySettings] = field(default_factory=dict)
    fallbacks: dict[str, str] = field(default_factory=lambda: dict(_FALLBACKS))

    @classmethod
    def empty(cls) -> RegistryConfig:
        """A config with no mapping at all (not even wkg's fallbacks)."""
        return cls(fallbacks={})

    @classmethod
    def from_dict(cls, data: Any, source: str = "<dict>") -> RegistryConfig:
        """Read wkg-format keys from a parsed TOML table.

        Raises:
            RegistryError: an unknown key or a malformed value.

        """
        config = cls(fallbacks={})
        if not isinstance(data, dict):
            raise _fail(source, "must be a table")
        unknown = set(data) - _TOP_KEYS
        if unknown:
            raise _fail(source, f"unknown key(s) {', '.join(sorted(unknown))}")
        default = data.get("default_registry")
        if default is not None and not isinstance(default, str):
            raise _fail(source, "default_registry must be a string")
        config.default_registry = default
        for key, target in (
            ("namespace_registries", config.namespace_registries),
            ("package_registry_overrides", config.package_registry_overrides),
        ):
            table = data.get(key, {})
            if not isinstance(table, dict):
                raise _fail(source, f"{key} must be a table")
            for name, value in table.items():
                target[name] = _mapping(value, f"{source} {key}.{name}")
        registries = data.get("registry", {})
        if not isinstance(registries, dict):
            raise _fail(source, "registry must be a table of hosts")
        for host, table in registries.items():
            where = f"{source} registry.{host}"
            oci = table.get("oci", {}) if isinstance(table, dict) else None
            if not isinstance(oci, dict):
                raise _fail(where, "must be a table with an oci table")
            protocol = oci.get("protocol")
            if protocol not in (None, "http", "https"):
                raise _fail(where, "protocol is 'http' or 'https'")
            auth = oci.get("auth")
            creds = _credentials(auth, where) if auth is not None else None
            config.registries[host] = RegistrySettings(creds, protocol)
        return config

    @classmethod
    def from_toml(cls, text: str, source: str = "<toml>") -> RegistryConfig:
        """Parse a wkg ``config.toml``.

        Raises:
            RegistryError: not TOML, or a malformed mapping.

        """
        import tomllib  # only when there is a file to read

        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise _fail(source, f"not valid TOML ({exc})") from exc
        return cls.from_dict(data, source)

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> RegistryConfig:
        """Read a wkg ``config.toml``.

        Raises:
            RegistryError: unreadable, or malformed.

        """
        try:
            text = Path(path).read_text()
        except OSError as exc:
            raise _fail(str(path), f"cannot read it ({exc.strerror})") from exc
        return cls.from_toml(text, str(path))

    @classmethod
    def from_project(cls, manifest: str | os.PathLike[str]) -> RegistryConfig:
        """The ``[registry]`` table of an ``omniwasm.toml`` (an empty config without one).

        Raises:
            RegistryError: unreadable, or a malformed table.

        """
        import tomllib  # only when there is a file to read

        try:
            data = tomllib.loads(Path(manifest).read_text())
        except OSError as exc:
            raise _fail(str(manifest), f"cannot read it ({exc.strerror})") from exc
        except tomllib.TOMLDecodeError as exc:
            raise _fail(str(manifest), f"not valid TOML ({exc})") from exc
        table = data.get("registry")
        if table is None:
            return cls(fallbacks={})
        return cls.from_dict(table, f"{manifest} [registry]")

    @classmethod
    def from_environment(cls, project_dir: str | os.PathLike[str] | None = None) -> RegistryConfig:
        """The merged config from every source in the module docstring.

        Args:
            project_dir: where to look for ``omniwasm.toml`` (default: the working directory).

        Raises:
            RegistryError: a source is malformed.

        """
        config = cls()
        xdg = os.environ.get("XDG_CONFIG_HOME")
        wkg = (Path(xdg) if xdg else Path.home() / ".config") / "wasm-pkg" / "config.toml"
        if wkg.is_file():
            config.merge(cls.from_file(wkg))
        named = os.environ.get("OMNIWASM_REGISTRY_CONFIG")
        if named:
            config.merge(cls.from_file(named))
        project = Path(project_dir if project_dir is not None else Path.cwd()) / "omniwasm.toml"
        if project.is_file():
            config.merge(cls.from_project(project))
        config.merge(cls._from_variables())
        return config

    @classmethod
    def _from_variables(cls) -> RegistryConfig:
        config = cls(fallbacks={})
        config.default_registry = os.environ.get("OMNIWASM_DEFAULT_REGISTRY") or None
        for item in os.environ.get("OMNIWASM_NAMESPACE_REGISTRIES", "").split(","):
            if not item.strip():
                continue
            ns, sep, host = item.partition("=")
            if not sep or not ns.strip() or not host.strip():
                raise _fail("OMNIWASM_NAMESPACE_REGISTRIES", f"{item!r} is not ns=host")
            config.namespace_registries[ns.strip()] = Mapping(host.strip())
        for host in os.environ.get("OMNIWASM_INSECURE_REGISTRIES", "").split(","):
            if host.strip():
                config.registries[host.strip()] = RegistrySettings(insecure=True)
        return config

    def merge(self, other: RegistryConfig) -> None:
        """Apply ``other`` on top of this config (its settings win)."""
        if other.default_registry:
            self.default_registry = other.default_registry
        self.namespace_registries.update(other.namespace_registries)
        self.package_registry_overrides.update(other.package_registry_overrides)
        self.fallbacks.update(other.fallbacks)
        for host, settings in other.registries.items():
            mine = self.registries.get(host, RegistrySettings())
            self.registries[host] = RegistrySettings(
                settings.credentials or mine.credentials,
                settings.protocol or mine.protocol,
                settings.insecure or mine.insecure,
            )

    def mapping_for(self, spec: PackageSpec) -> Mapping:
        """The mapping that serves ``spec``.

        Raises:
            RegistryError: no rule maps the package's namespace.

        """
        found = self.package_registry_overrides.get(spec.package) or self.namespace_registries.get(
            spec.namespace
        )
        if found is not None:
            return found
        if self.default_registry:
            return Mapping(self.default_registry)
        if spec.namespace in self.fallbacks:
            return Mapping(self.fallbacks[spec.namespace])
        raise RegistryError(
            f"no registry for namespace {spec.namespace!r}: set default_registry or "
            "namespace_registries (omniwasm.toml [registry], or OMNIWASM_DEFAULT_REGISTRY)",
            str(spec),
        )

    def settings(self, host: str) -> RegistrySettings:
        """How to talk to ``host`` (defaults when it has no ``[registry."HOST"]`` table)."""
        return self.registries.get(host, RegistrySettings())
