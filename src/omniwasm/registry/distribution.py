"""An OCI distribution client for one registry, over ``session.py``'s transports.

The HTTP API of the OCI distribution spec (v1.1) as far as components need it: the API check,
manifests (get, head, put), blobs (head, get with resume by ``Range``, monolithic and chunked
upload with resume: ``upload.py``), and tag listing with pagination. Referrers are not
implemented. The connection, authentication and error mapping are ``session.py``'s.

Everything is checked: a manifest asked for by digest must hash to it; a blob streams through
sha256 into the store (``Store.writer``) and is rejected, leaving nothing, if its size or digest
is off; a pushed manifest's ``Docker-Content-Digest`` must be the one computed here.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._errors import DigestMismatch, RegistryError
from .auth import Credentials
from .session import Session
from .store import BlobWriter, Store, sha256_digest
from .transport import BodyInterrupted, TransportError, join_url, next_link
from .upload import upload_blob

__all__ = [
    "MANIFEST_TYPES",
    "OCI_INDEX",
    "OCI_MANIFEST",
    "FetchedManifest",
    "OciClient",
]

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
MANIFEST_TYPES = (OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST)
_MAX_MANIFEST = 4 << 20  # distribution's own limit for a manifest body
_DOWNLOAD_ATTEMPTS = 3


@dataclass(frozen=True, slots=True)
class FetchedManifest:
    """A manifest's exact bytes, its media type, and its digest (checked)."""

    body: bytes
    media_type: str
    digest: str

    def json(self) -> dict[str, Any]:
        """The manifest parsed as a JSON object.

        Raises:
            RegistryError: it is not a JSON object.

        """
        try:
            data = json.loads(self.body)
        except ValueError:
            raise RegistryError(f"manifest {self.digest} is not JSON") from None
        if not isinstance(data, dict):
            raise RegistryError(f"manifest {self.digest} is not a JSON object")
        return data


class OciClient:
    """The OCI distribution API of one registry.

    Args:
        registry: ``host[:port]``.
        credentials: explicit credentials; None looks them up (``auth.find_credentials``).
        insecure: allow plain HTTP to a registry that is not on loopback.
        protocol: ``"http"`` or ``"https"``; default HTTPS, except plain HTTP for loopback
            registries (as Docker treats ``localhost``) and with ``insecure``.
        store: where blobs land and upload sessions are recorded (default store if None).
        timeout: seconds for connecting and for each read.
        chunk_size: bytes per ``PATCH`` in a chunked upload.
        monolithic_limit: blobs up to this size are uploaded in one ``PUT``.

    Raises:
        RegistryError: plain HTTP was asked for a non-loopback registry without ``insecure``.

    """

    def __init__(
        self,
        registry: str,
        *,
        credentials: Credentials | None = None,
        insecure: bool = False,
        protocol: str | None = None,
        store: Store | None = None,
        timeout: float = 60.0,
        chunk_size: int = 8 << 20,
        monolithic_limit: int = 32 << 20,
    ) -> None:
        self._session = Session(
            registry,
            credentials=credentials,
            insecure=insecure,
            protocol=protocol,
            timeout=timeout,
        )
        self.registry = registry
        self.base = self._session.base
        self.store = store if store is not None else Store()
        self.chunk_size = chunk_size
        self.monolithic_limit = monolithic_limit

    def close(self) -> None:
        """Close the connection pool (idempotent)."""
        self._session.close()

    def __enter__(self) -> OciClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- API check and tags -----------------------------------------------------------------

    def ping(self) -> None:
        """Check that this is an OCI registry we may talk to (``GET /v2/``).

        Raises:
            RegistryError: not reachable, not a registry, or the credentials are refused.

        """
        self._session.send("GET", f"{self.base}/v2/", self.registry, "the API check")

    def tags(self, repository: str) -> list[str]:
        """Every tag of ``repository``, following the registry's pagination.

        Raises:
            ArtifactNotFound: no such repository.

        """
        reference = f"{self.registry}/{repository}"
        url: str | None = self._session.url(f"{repository}/tags/list?n=1000")
        tags: list[str] = []
        pages = 0
        while url is not None:
            pages += 1
            if pages > 10_000:
                raise RegistryError("tag listing does not end", reference)
            response = self._session.send("GET", url, reference, "tag list")
            try:
                body = response.json()
            except ValueError:
                raise RegistryError("the tag list is not JSON", reference) from None
            page = body.get("tags") if isinstance(body, dict) else None
            tags.extend(t for t in page or [] if isinstance(t, str))
            link = next_link(response.headers.get("Link"))
            url = join_url(response.url, link) if link else None
        return tags

    # -- manifests --------------------------------------------------------------------------

    def get_manifest(self, repository: str, target: str) -> FetchedManifest:
        """Fetch a manifest by tag or digest, checking its digest.

        Raises:
            ArtifactNotFound: no such repository or tag.
            DigestMismatch: the body does not hash to the digest asked for or announced.

        """
        reference = f"{self.registry}/{repository}" + (
            f"@{target}" if target.startswith("sha256:") else f":{target}"
        )
        with self._session.errors(reference):
            response = self._session.request(
                "GET",
                self._session.url(f"{repository}/manifests/{target}"),
                headers={"Accept": ", ".join(MANIFEST_TYPES)},
                stream=True,
            )
            try:
                self._session.check(response, reference, "manifest")
                body = bytearray()
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) > _MAX_MANIFEST:
                        raise RegistryError("manifest larger than 4 MiB", reference)
            finally:
                response.close()
        digest = sha256_digest(body)
        expected = target if target.startswith("sha256:") else None
        announced = response.headers.get("Docker-Content-Digest")
        for claim in (expected, announced):
            if claim and claim.startswith("sha256:") and claim != digest:
                raise DigestMismatch(
                    f"manifest does not match its digest {claim} (got {digest})",
                    reference,
                    expected=claim,
                    actual=digest,
                )
        media_type = response.headers.get("Content-Type", "").split(";")[0].strip()
        return FetchedManifest(bytes(body), media_type, digest)

    def head_manifest(self, repository: str, tag: str) -> str | None:
        """The digest a tag points at now, or None if the tag does not exist."""
        reference = f"{self.registry}/{repository}:{tag}"
        with self._session.errors(reference):
            response = self._session.request(
                "HEAD",
                self._session.url(f"{repository}/manifests/{tag}"),
                headers={"Accept": ", ".join(MANIFEST_TYPES)},
            )
        if response.status_code == 404:
            return None
        self._session.check(response, reference, "manifest")
        digest = response.headers.get("Docker-Content-Digest")
        if digest:
            return str(digest)
        return self.get_manifest(repository, tag).digest

    def put_manifest(
        self, repository: str, tag: str, body: bytes, media_type: str = OCI_MANIFEST
    ) -> str:
        """Upload a manifest under ``tag``; return its digest (checked against the registry's)."""
        digest = sha256_digest(body)
        reference = f"{self.registry}/{repository}:{tag}"
        response = self._session.send(
            "PUT",
            self._session.url(f"{repository}/manifests/{tag}"),
            reference,
            "manifest upload",
            ok=(200, 201, 202),
            content=body,
            headers={"Content-Type": media_type},
        )
        announced = response.headers.get("Docker-Content-Digest")
        if announced and announced != digest:
            raise DigestMismatch(
                f"the registry stored the manifest as {announced}, not {digest}",
                reference,
                expected=digest,
                actual=announced,
            )
        return digest

    # -- blobs: download --------------------------------------------------------------------

    def blob_exists(self, repository: str, digest: str) -> bool:
        """Whether the registry has blob ``digest`` in ``repository``."""
        reference = f"{self.registry}/{repository}@{digest}"
        with self._session.errors(reference):
            response = self._session.request(
                "HEAD", self._session.url(f"{repository}/blobs/{digest}")
            )
        if response.status_code == 404:
            return False
        self._session.check(response, reference, "blob")
        return True

    def fetch_blob(
        self, repository: str, digest: str, size: int | None, *, reference: str = ""
    ) -> Path:
        """Download blob ``digest`` into the store (verified) and return its path.

        A connection dropped mid-body is resumed with an HTTP ``Range`` request (up to three
        attempts); the blob is published only if all of it arrived and it hashes right.

        Raises:
            ArtifactNotFound: the registry has no such blob.
            DigestMismatch: it arrived short, long, or with other content; nothing is kept.
            RegistryError: the transfer failed three times.

        """
        reference = reference or f"{self.registry}/{repository}@{digest}"
        with self.store.writer(digest, size, reference=reference, what=f"blob {digest}") as w:
            for attempt in range(_DOWNLOAD_ATTEMPTS):
                if self._download_into(w, repository, digest, reference):
                    break
                if attempt == _DOWNLOAD_ATTEMPTS - 1:
                    raise RegistryError(
                        f"download of blob {digest} interrupted {_DOWNLOAD_ATTEMPTS} times "
                        f"(got {w.written}"
                        + (f" of {size} bytes)" if size is not None else " bytes)"),
                        reference,
                    )
            return w.commit()

    def _download_into(self, w: BlobWriter, repository: str, digest: str, reference: str) -> bool:
        """One GET (ranged after the first); True if the body ended cleanly."""
        headers = {"Range": f"bytes={w.written}-"} if w.written else {}
        with self._session.errors(reference):
            try:
                response = self._session.request(
                    "GET",
                    self._session.url(f"{repository}/blobs/{digest}"),
                    headers=headers,
                    stream=True,
                )
            except TransportError:
                return False
            try:
                self._session.check(response, reference, f"blob {digest}")
                if w.written and response.status_code != 206:
                    raise RegistryError(
                        "the registry cannot resume a download (no Range support)", reference
                    )
                try:
                    # No re-chunking: what arrived is written, so a resume loses nothing.
                    for chunk in response.iter_bytes():
                        w.write(chunk)
                except BodyInterrupted:
                    return False
            finally:
                response.close()
        return True

    # -- blobs: upload ----------------------------------------------------------------------

    def push_blob(
        self,
        repository: str,
        digest: str,
        source: bytes | Path,
        *,
        reference: str = "",
        chunked: bool | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> bool:
        """Upload a blob unless the registry has it; return whether bytes were sent.

        Args:
            repository: the target repository.
            digest: the blob's digest (checked by the registry on the final ``PUT``).
            source: the bytes, or a file holding them.
            reference: named in errors.
            chunked: force chunked (True) or monolithic (False); None picks by size.
            progress: called with ``(bytes the registry holds, size)`` after each chunk; an
                exception it raises stops the upload between chunks, and the next push of
                the same blob resumes there.

        Raises:
            RegistryError: the upload failed (after resuming attempts) or was rejected.

        """
        reference = reference or f"{self.registry}/{repository}"
        if self.blob_exists(repository, digest):
            return False
        if chunked is None:
            size = len(source) if isinstance(source, bytes) else source.stat().st_size
            chunked = size > self.monolithic_limit
        upload_blob(
            self._session,
            self.store,
            repository,
            digest,
            source,
            reference=reference,
            chunked=chunked,
            chunk_size=self.chunk_size,
            progress=progress,
        )
        return True
