"""References to components in registries, in the two forms users write.

- OCI: ``[oci://]host[:port]/repository[:tag][@sha256:HEX]``, as Docker and wkg write them.
  The first path segment is the registry host: it must contain a dot or a port, or be
  ``localhost`` (there is no implicit default registry, unlike Docker's ``docker.io``).
- Package: ``namespace:name[@VERSION-OR-RANGE]`` (``wasi:http@0.2.0``, ``acme:tool@^1.2``), the
  WIT package names wkg uses; the registry mapping (``config.py``) turns one into an OCI
  repository, ``[namespacePrefix]namespace/name``, tagged with the version.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .._errors import InvalidReference

__all__ = [
    "PackageSpec",
    "Reference",
    "is_loopback",
    "looks_like_reference",
    "parse_reference",
]

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REPOSITORY = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$")
_DIGEST = re.compile(r"^sha256:[a-f0-9]{64}$")
_HOST = re.compile(
    r"^(?:localhost|\[[0-9A-Fa-f:.]+\]|(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*)(?::[0-9]{1,5})?$"
)
_LABEL = r"[a-z][a-z0-9]*(?:-[a-z0-9]+)*"
_PACKAGE = re.compile(rf"^(?P<ns>{_LABEL}):(?P<name>{_LABEL})(?:@(?P<version>.+))?$")
_MAX_REFERENCE = 4096


@dataclass(frozen=True, slots=True)
class Reference:
    """An OCI artifact in a registry: ``registry/repository[:tag][@digest]``.

    Args:
        registry: ``host[:port]``.
        repository: the repository path, e.g. ``acme/tool``.
        tag: the tag, or None.
        digest: ``sha256:HEX``, or None (a digest wins over a tag when fetching).

    """

    registry: str
    repository: str
    tag: str | None = None
    digest: str | None = None

    @property
    def name(self) -> str:
        """``registry/repository`` without tag or digest."""
        return f"{self.registry}/{self.repository}"

    @property
    def target(self) -> str:
        """What to ask the registry's manifest endpoint for: the digest, else the tag."""
        return self.digest or self.tag or "latest"

    def with_tag(self, tag: str) -> Reference:
        """The same repository with another tag (and no digest)."""
        return Reference(self.registry, self.repository, tag, None)

    def with_digest(self, digest: str) -> Reference:
        """The same reference pinned to ``digest`` (the tag is kept for reading)."""
        return Reference(self.registry, self.repository, self.tag, digest)

    def __str__(self) -> str:
        text = self.name
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


@dataclass(frozen=True, slots=True)
class PackageSpec:
    """A WIT package name with an optional version or range: ``namespace:name@^1.2``.

    Args:
        namespace: the package namespace (``wasi``, ``acme``).
        name: the package name.
        version: an exact version (``1.2.3``), a range (``^1.2``), or None for the newest.

    """

    namespace: str
    name: str
    version: str | None = None

    @property
    def package(self) -> str:
        """``namespace:name``."""
        return f"{self.namespace}:{self.name}"

    def __str__(self) -> str:
        return self.package + (f"@{self.version}" if self.version else "")


def is_loopback(registry: str) -> bool:
    """Whether ``host[:port]`` names this machine (plain HTTP is allowed there, as in Docker)."""
    import ipaddress

    if registry.startswith("[") and "]" in registry:
        host = registry[1 : registry.index("]")]
    else:
        host = registry.rsplit(":", 1)[0]
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _is_host(segment: str) -> bool:
    if not _HOST.match(segment):
        return False
    return "." in segment or ":" in segment or segment.startswith(("localhost", "["))


def _parse_oci(text: str, original: str) -> Reference:
    rest = text
    digest = None
    if "@" in rest:
        rest, digest = rest.rsplit("@", 1)
        if not _DIGEST.match(digest):
            raise InvalidReference(f"bad digest {digest!r} (expected sha256:<64 hex>)", original)
    host, sep, path = rest.partition("/")
    if not sep or not _is_host(host):
        raise InvalidReference(
            "an OCI reference starts with the registry host "
            "(host.name/..., host:port/... or localhost/...)",
            original,
        )
    tag = None
    last = path.rsplit("/", 1)[-1]
    if ":" in last:
        path, tag = path.rsplit(":", 1)
        if not _TAG.match(tag):
            raise InvalidReference(f"bad tag {tag!r}", original)
    if not _REPOSITORY.match(path):
        raise InvalidReference(
            f"bad repository {path!r} (lowercase letters, digits, '.', '_', '-', '/')", original
        )
    if tag is None and digest is None:
        tag = "latest"
    return Reference(host, path, tag, digest)


def parse_reference(text: str) -> Reference | PackageSpec:
    """Parse an OCI reference or a package name with a version.

    Args:
        text: ``oci://host/repo:tag``, ``host:port/repo@sha256:...`` or ``ns:name@1.2.3``.

    Raises:
        InvalidReference: the text is neither form; the message says what is wrong.

    """
    if len(text) > _MAX_REFERENCE:
        raise InvalidReference("reference too long", text[:80] + "...")
    stripped = text.strip()
    if stripped.startswith("oci://"):
        return _parse_oci(stripped.removeprefix("oci://"), text)
    m = _PACKAGE.match(stripped)
    if m is not None:
        version = m["version"]
        if version is not None:
            from .semver import VersionRange, is_version

            if not is_version(version):
                try:
                    VersionRange.parse(version)
                except ValueError as exc:
                    raise InvalidReference(str(exc), text) from None
        return PackageSpec(m["ns"], m["name"], version)
    if "/" in stripped:
        return _parse_oci(stripped, text)
    raise InvalidReference(
        "expected host[:port]/repository[:tag][@sha256:...] or namespace:name@version", text
    )


def looks_like_reference(text: str) -> bool:
    """Whether a string given where a file is accepted should be read as a reference.

    ``oci://...`` always is; ``namespace:name@version`` and ``host/repo:tag`` are when they parse
    (the caller checks first that no file of that name exists).
    """
    if text.startswith("oci://"):
        return True
    try:
        parse_reference(text)
    except InvalidReference:
        return False
    return True
