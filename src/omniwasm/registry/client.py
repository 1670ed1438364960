"""``Client``: resolve, pull, push and publish components by reference.

One object ties the pieces together: the registry mapping (``config.py``) turns ``ns:name@ver``
into an OCI reference, ranges are resolved against the repository's tags (``semver.py``), the
lock file pins what was resolved (``lock.py``), content lands in the local store verified
(``store.py``), and each registry is spoken to by its own ``OciClient`` (``distribution.py``).
With ``offline=True`` nothing touches the network: tags, ranges and content come from what the
store has seen.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._errors import (
    ArtifactNotFound,
    DigestMismatch,
    InvalidModule,
    InvalidReference,
    LockMismatch,
    RegistryError,
)
from .artifact import CONFIG_MEDIA_TYPE, Layer, build_artifact, parse_manifest
from .auth import Credentials
from .config import Mapping, RegistryConfig, parse_metadata
from .distribution import OciClient
from .pulled import Pulled, Resolved
from .reference import PackageSpec, Reference, is_loopback, parse_reference
from .session import Session
from .store import Store
from .transport import TransportError

if TYPE_CHECKING:
    from .lock import LockEntry, LockFile

__all__ = ["Client"]

_WELL_KNOWN = "/.well-known/wasm-pkg/registry.json"


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").lower() in ("1", "true", "yes", "on")


class Client:
    """Resolve, pull, push and publish Wasm artifacts (see the module docstring).

    Args:
        config: the registry mapping; default ``RegistryConfig.from_environment()``.
        store: the local store; default ``Store()``.
        lock: a lock file (or its path) to honour and extend; None for none.
        offline: use only the store, never the network.
        insecure: allow plain HTTP to every registry (loopback ones always may).
        credentials: credentials for every registry this client talks to (else looked up).

    """

    def __init__(
        self,
        *,
        config: RegistryConfig | None = None,
        store: Store | None = None,
        lock: LockFile | str | os.PathLike[str] | None = None,
        offline: bool = False,
        insecure: bool = False,
        credentials: Credentials | None = None,
    ) -> None:
        self.config = config if config is not None else RegistryConfig.from_environment()
        self.store = store if store is not None else Store()
        if isinstance(lock, str | os.PathLike):
            from .lock import LockFile  # lock files and semver: imported where they are used

            lock = LockFile(lock)
        self.lock = lock
        self.offline = offline
        self.insecure = insecure
        self.credentials = credentials
        self._clients: dict[str, OciClient] = {}
        self._metadata: dict[str, tuple[str | None, str | None]] = {}

    @classmethod
    def from_environment(
        cls, project_dir: str | os.PathLike[str] | None = None, **options: Any
    ) -> Client:
        """A client set up as the CLI's: the project's mapping and lock file, env overrides.

        The project (default: the working directory) supplies ``omniwasm.toml``'s
        ``[registry]`` table and, if present, ``omniwasm.lock``; ``$OMNIWASM_LOCK`` names
        another lock file and ``OMNIWASM_OFFLINE=1`` works offline. ``options`` are the
        constructor's and win over all of these.
        """
        base = Path(project_dir) if project_dir is not None else Path.cwd()
        options.setdefault("config", RegistryConfig.from_environment(base))
        if "lock" not in options:
            named = os.environ.get("OMNIWASM_LOCK")
            default = base / "omniwasm.lock"
            options["lock"] = named or (default if default.is_file() else None)
        options.setdefault("offline", _env_flag("OMNIWASM_OFFLINE"))
        return cls(**options)

    def close(self) -> None:
        """Close every registry connection (idempotent)."""
        for client in self._clients.values():
            client.close()
        self._clients.clear()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- registries -------------------------------------------------------------------------

    def registry(self, host: str) -> OciClient:
        """The ``OciClient`` for ``host`` (made on first use, with its settings)."""
        if self.offline:
            raise RegistryError(f"offline: will not contact {host}")
        client = self._clients.get(host)
        if client is None:
            settings = self.config.settings(host)
            client = OciClient(
                host,
                credentials=self.credentials or settings.credentials,
                insecure=self.insecure or settings.insecure,
                protocol=settings.protocol,
                store=self.store,
            )
            self._clients[host] = client
        return client

    def _oci_location(self, spec: PackageSpec, registry: str | None = None) -> tuple[str, str]:
        """The OCI registry and repository that hold package ``spec``.

        ``registry`` overrides the mapping and is followed through its well-known metadata,
        like a mapped host.
        """
        mapping = Mapping(registry) if registry else self.config.mapping_for(spec)
        oci_registry, prefix = mapping.oci_registry, mapping.namespace_prefix
        if not mapping.explicit and not self.offline:
            oci_registry, prefix = self._well_known(mapping)
        host = oci_registry or mapping.registry
        return host, f"{prefix or ''}{spec.namespace}/{spec.name}"

    def _well_known(self, mapping: Mapping) -> tuple[str | None, str | None]:
        """The wkg registry metadata for a plain host mapping (none if the host has none)."""
        host = mapping.registry
        if host not in self._metadata:
            settings = self.config.settings(host)
            plain = is_loopback(host) or self.insecure or settings.insecure
            scheme = settings.protocol or ("http" if plain else "https")
            found: tuple[str | None, str | None] = (None, None)
            body = None
            try:
                session = Session(host, insecure=plain, protocol=scheme, timeout=5.0)
                try:
                    url = f"{session.base}{_WELL_KNOWN}"
                    response = session.request("GET", url, authenticate=False)
                    if response.status_code == 200:
                        body = response.json()
                finally:
                    session.close()
            except (TransportError, RegistryError, ValueError):
                pass
            if body is not None:
                found = parse_metadata(body, f"{host}{_WELL_KNOWN}")
            self._metadata[host] = found
        return self._metadata[host]

    # -- resolution -------------------------------------------------------------------------

    def parse(self, text: str | Reference | PackageSpec) -> Reference | PackageSpec:
        """Parse a reference (already-parsed ones pass through).

        Raises:
            InvalidReference: neither form.

        """
        return parse_reference(text) if isinstance(text, str) else text

    def resolve(
        self, ref: str | Reference | PackageSpec, *, registry: str | None = None
    ) -> Resolved:
        """Resolve a reference to one manifest digest (honouring and extending the lock file).

        ``registry`` overrides the mapping for a package name (a Spin-style registry source).

        Raises:
            InvalidReference: unparseable.
            ArtifactNotFound: no such package, version, tag (or, offline, not in the store).
            LockMismatch: the locked tag now points at another digest.

        """
        with _naming(ref, registry):
            return self._resolve(ref, registry=registry)

    def _resolve(self, ref: str | Reference | PackageSpec, *, registry: str | None) -> Resolved:
        parsed = self.parse(ref)
        requested = str(parsed)
        if registry is not None and isinstance(parsed, PackageSpec):
            requested = f"{parsed} from {registry}"
        entry = self.lock.get(requested) if self.lock is not None else None
        if entry is not None:
            by_digest = isinstance(parsed, Reference) and parsed.digest is not None
            return self._check_locked(requested, entry, check_tag=not by_digest)
        if isinstance(parsed, PackageSpec):
            target = self._package_target(parsed, registry)
        else:
            target = parsed
        resolved = Resolved(requested, self._pin(target, requested))
        if self.lock is not None:
            pinned = resolved.reference
            text = f"{pinned.name}:{pinned.tag}" if pinned.tag else f"{pinned.name}@{pinned.digest}"
            from .lock import LockEntry

            self.lock.record(LockEntry(requested, text, resolved.digest))
        return resolved

    def _check_locked(self, requested: str, entry: LockEntry, *, check_tag: bool) -> Resolved:
        pinned = parse_reference(entry.resolved)
        if not isinstance(pinned, Reference):
            raise RegistryError(f"lock file entry resolves to {entry.resolved!r}", requested)
        pinned = pinned.with_digest(entry.digest)
        if check_tag and not self.offline and pinned.tag:
            current = self.registry(pinned.registry).head_manifest(pinned.repository, pinned.tag)
            if current is not None and current != entry.digest:
                raise LockMismatch(
                    f"tag {pinned.tag} moved: the lock file pins {entry.digest}, the registry "
                    f"now has {current} (re-pin with `omniwasm lock --update`)",
                    requested,
                    locked=entry.digest,
                    current=current,
                )
        return Resolved(requested, pinned)

    def _package_target(self, spec: PackageSpec, registry: str | None) -> Reference:
        from .semver import is_version, max_satisfying

        host, repository = self._oci_location(spec, registry)
        base = Reference(host, repository)
        if spec.version is not None and is_version(spec.version):
            return base.with_tag(spec.version)
        tags = self._tags(base, str(spec))
        tag = max_satisfying(tags, spec.version)
        if tag is None:
            wanted = f"a version matching {spec.version}" if spec.version else "a release"
            raise ArtifactNotFound(
                f"{base.name} has no {wanted} (tags: {', '.join(sorted(tags)[:20]) or 'none'})"
                + (" (offline: only tags seen before are known)" if self.offline else ""),
                str(spec),
            )
        return base.with_tag(tag)

    def _tags(self, base: Reference, requested: str) -> list[str]:
        if self.offline:
            return self.store.tags(base.registry, base.repository)
        try:
            return self.registry(base.registry).tags(base.repository)
        except ArtifactNotFound:
            raise ArtifactNotFound(f"no repository {base.name}", requested) from None

    def _pin(self, ref: Reference, requested: str) -> Reference:
        """Add the manifest digest to a reference (from the registry, or offline the store)."""
        if ref.digest:
            return ref
        assert ref.tag is not None
        if self.offline:
            digest = self.store.get_tag(ref.registry, ref.repository, ref.tag)
            if digest is None:
                raise ArtifactNotFound("offline and the store has never seen this tag", requested)
            return ref.with_digest(digest)
        manifest = self.registry(ref.registry).get_manifest(ref.repository, ref.tag)
        self.store.put(manifest.body, manifest.digest)
        self.store.set_tag(ref.registry, ref.repository, ref.tag, manifest.digest)
        return ref.with_digest(manifest.digest)

    # -- pull -------------------------------------------------------------------------------

    def pull(self, ref: str | Reference | PackageSpec, *, registry: str | None = None) -> Pulled:
        """Resolve ``ref`` and make sure its manifest, config and wasm layer are in the store.

        Raises:
            InvalidReference: unparseable.
            ArtifactNotFound: no such artifact (offline: not in the store).
            DigestMismatch: content did not match its digest (nothing is kept).
            LockMismatch: the locked tag moved.
            RegistryError: the network or the registry failed, or it is not a Wasm artifact.

        """
        with _naming(ref, registry):
            return self._pull(ref, registry=registry)

    def _pull(self, ref: str | Reference | PackageSpec, *, registry: str | None) -> Pulled:
        resolved = self._resolve(ref, registry=registry)
        reference, requested = resolved.reference, resolved.requested
        digest = reference.digest or ""
        manifest_bytes = self._blob(reference, digest, None, requested, manifest=True)

        try:
            data = json.loads(manifest_bytes)
        except ValueError:
            raise RegistryError("manifest is not JSON", requested) from None
        if not isinstance(data, dict):
            raise RegistryError("manifest is not a JSON object", requested)
        parsed = parse_manifest(data, "", requested)
        config: dict[str, Any] | None = None
        if parsed.config.media_type == CONFIG_MEDIA_TYPE:
            raw = self._blob(reference, parsed.config.digest, parsed.config.size, requested)
            try:
                loaded = json.loads(raw)
            except ValueError:
                raise RegistryError("the Wasm config is not JSON", requested) from None
            config = loaded if isinstance(loaded, dict) else None
        fresh = self._ensure_blob(reference, parsed.layer, requested)
        return Pulled(requested, reference, parsed.layer, config, self.store, fresh)

    def _blob(
        self,
        ref: Reference,
        digest: str,
        size: int | None,
        requested: str,
        *,
        manifest: bool = False,
    ) -> bytes:
        """A small blob (manifest or config) from the store, fetched first if missing."""
        if self.store.has(digest):
            try:
                return self.store.read(digest, reference=requested)
            except DigestMismatch:
                if self.offline:
                    raise
        if self.offline:
            raise ArtifactNotFound(f"offline and {digest} is not in the store", requested)
        client = self.registry(ref.registry)
        if manifest:
            fetched = client.get_manifest(ref.repository, digest)
            self.store.put(fetched.body, fetched.digest)
            return fetched.body
        client.fetch_blob(ref.repository, digest, size, reference=requested)
        return self.store.read(digest, reference=requested)

    def _ensure_blob(self, ref: Reference, layer: Layer, requested: str) -> bool:
        """Make sure the layer is stored; True if it was downloaded (and verified) now."""
        with self.store.lock(layer.digest):
            if self.store.has(layer.digest):
                return False
            if self.offline:
                raise ArtifactNotFound(
                    f"offline and layer {layer.digest} is not in the store", requested
                )
            self.registry(ref.registry).fetch_blob(
                ref.repository, layer.digest, layer.size, reference=requested
            )
            return True

    def fetch(self, ref: str | Reference | PackageSpec, *, registry: str | None = None) -> bytes:
        """Pull ``ref`` and return the wasm bytes, verified.

        A stored blob found damaged is fetched again, once, when online.

        Raises:
            RegistryError: as ``pull`` does.

        """
        pulled = self.pull(ref, registry=registry)
        try:
            return pulled.read_bytes()
        except DigestMismatch:
            if self.offline:
                raise
            return self.pull(ref, registry=registry).read_bytes()

    def pull_to(self, ref: str | Reference | PackageSpec, output: str | os.PathLike[str]) -> Pulled:
        """Pull ``ref`` and write the wasm to ``output`` atomically, verified.

        A blob already in the store is hashed while it is copied; a damaged one is removed
        and, online, fetched again.

        Raises:
            RegistryError: as ``pull`` does, or the file cannot be written.

        """
        pulled = self.pull(ref)
        out = Path(output)
        try:
            self.store.copy_to(
                pulled.layer.digest, out, verify=not pulled.fresh, reference=pulled.requested
            )
        except DigestMismatch:
            if self.offline:
                raise
            pulled = self.pull(ref)
            self.store.copy_to(pulled.layer.digest, out, verify=False, reference=pulled.requested)
        return pulled

    # -- push / publish / tags --------------------------------------------------------------

    def push(
        self,
        source: bytes | bytearray | memoryview | str | os.PathLike[str],
        ref: str | Reference,
        *,
        author: str | None = None,
        annotations: dict[str, str] | None = None,
        chunked: bool | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> Reference:
        """Push a component or module as a Wasm artifact under ``ref``'s tag.

        Also records manifest, config and layer in the local store, so the same reference
        resolves offline afterwards.

        Args:
            source: the wasm bytes or a path to the file.
            ref: ``host[:port]/repo:tag`` (a package name goes through ``publish``).
            author: the config's ``author``.
            annotations: manifest annotations.
            chunked: force chunked (True) or monolithic (False) upload; None picks by size.
            progress: called with ``(bytes sent, size)`` as the component uploads (see
                ``OciClient.push_blob``: raising in it pauses a push that can be resumed).

        Returns:
            The reference with its manifest digest.

        Raises:
            InvalidReference: not an OCI reference with a tag.
            InvalidModule: the source file is missing or unreadable.
            RegistryError: the source is not wasm, or the upload failed.

        """
        target = self.parse(ref)
        if isinstance(target, PackageSpec):
            from .semver import is_version

            if target.version is None or not is_version(target.version):
                raise InvalidReference("pushing a package needs an exact version", str(target))
            registry, repository = self._oci_location(target)
            target = Reference(registry, repository, target.version)
        if target.digest or not target.tag:
            raise InvalidReference("push needs a tag, not a digest", str(target))
        data, title = _read(source)
        artifact = build_artifact(
            data,
            title=title or f"{target.repository.replace('/', '_')}.wasm",
            author=author,
            annotations=annotations,
        )
        client = self.registry(target.registry)
        requested = str(target)
        client.push_blob(
            target.repository,
            artifact.layer.digest,
            data,
            reference=requested,
            chunked=chunked,
            progress=progress,
        )
        client.push_blob(
            target.repository, artifact.config_digest, artifact.config, reference=requested
        )
        digest = client.put_manifest(target.repository, target.tag, artifact.manifest)
        for blob, blob_digest in (
            (data, artifact.layer.digest),
            (artifact.config, artifact.config_digest),
            (artifact.manifest, digest),
        ):
            if not self.store.has(blob_digest):
                self.store.put(blob, blob_digest)
        self.store.set_tag(target.registry, target.repository, target.tag, digest)
        return target.with_digest(digest)

    def publish(
        self,
        source: bytes | bytearray | memoryview | str | os.PathLike[str],
        *,
        package: str | None = None,
        registry: str | None = None,
        author: str | None = None,
    ) -> tuple[PackageSpec, Reference]:
        """Push a component under its package name and version, through the mapping.

        The name and version come from ``package`` (``ns:name@1.2.3``), else from the binary:
        an encoded WIT package's own name, or a component's ``component-name`` and
        ``version`` sections (``wasm-tools metadata add --name ns:name --version 1.2.3``).

        Args:
            source: the wasm bytes or file.
            package: ``ns:name@version`` overriding what the binary says.
            registry: a registry host overriding the mapping.
            author: the config's ``author``.

        Raises:
            InvalidReference: no usable name and version.
            InvalidModule: the source file is missing or unreadable.
            RegistryError: as ``push`` does.

        """
        data, _ = _read(source)
        from .package import package_of  # reads the binary: publish only

        spec = package_of(data, package)
        annotations = {"org.opencontainers.image.version": spec.version or ""}
        host, repository = self._oci_location(spec, registry)
        target = Reference(host, repository, spec.version)
        named = data if isinstance(source, bytes | bytearray | memoryview) else source
        return spec, self.push(named, target, author=author, annotations=annotations)

    def tags(self, repo: str | Reference | PackageSpec) -> list[str]:
        """The tags of a repository (``host/repo`` or a package name through the mapping).

        Raises:
            ArtifactNotFound: no such repository.

        """
        bare = isinstance(repo, str) and not repo.startswith("oci://") and "/" in repo
        if bare and ":" not in str(repo).rsplit("/", 1)[-1] and "@" not in str(repo):
            repo = f"{repo}:latest"
        parsed = self.parse(repo)
        if isinstance(parsed, PackageSpec):
            registry, repository = self._oci_location(parsed)
            base = Reference(registry, repository)
        else:
            base = Reference(parsed.registry, parsed.repository)
        return self._tags(base, str(parsed))


def _read(
    source: bytes | bytearray | memoryview | str | os.PathLike[str],
) -> tuple[bytes, str | None]:
    """The bytes to push and, for a file, its name (the layer's title)."""
    if isinstance(source, bytes | bytearray | memoryview):
        return bytes(source), None
    path = Path(source)
    try:
        return path.read_bytes(), path.name
    except FileNotFoundError as exc:  # as everywhere a file is read (read_source)
        raise InvalidModule("file not found", source=str(path)) from exc
    except OSError as exc:
        raise InvalidModule(f"cannot read file: {exc.strerror}", source=str(path)) from exc


@contextlib.contextmanager
def _naming(ref: str | Reference | PackageSpec, registry: str | None) -> Iterator[None]:
    """Make an error name the reference as the caller wrote it (not only the OCI one)."""
    try:
        yield
    except RegistryError as exc:
        text = ref.strip() if isinstance(ref, str) else str(ref)
        if registry is not None:
            text = f"{text} from {registry}"
        if text and text not in exc.message:
            exc.message = f"{text}: {exc.message}"
            exc.args = (exc.message,)
            exc.reference = text
        raise
