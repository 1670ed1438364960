"""An OCI distribution client for one registry, over httpx.

The HTTP API of the OCI distribution spec (v1.1) as far as components need it: the API check,
manifests (get, head, put), blobs (head, get with resume by ``Range``, monolithic and chunked
upload with resume), and tag listing with pagination. Referrers are not implemented.

Everything is checked: a manifest asked for by digest must hash to it; a blob streams through
sha256 into the store (``Store.writer``) and is rejected, leaving nothing, if its size or digest
is off; a pushed manifest's ``Docker-Content-Digest`` must be the one computed here. Transport
failures become ``RegistryError`` naming the reference; 401/403 become ``AuthenticationFailed``;
an unknown repository, tag or blob becomes ``ArtifactNotFound``.

Uploads: a blob up to ``monolithic_limit`` bytes goes in one ``PUT``; a larger one in
``PATCH`` chunks of ``chunk_size``. A chunked upload records its session (URL and offset) in the
store after each chunk, so an interrupted push resumes: within the call, after a dropped
connection, by asking the registry how much it has (``GET`` on the session answers ``Range``);
across processes, from the recorded session. A session the registry has forgotten starts over.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._errors import ArtifactNotFound, AuthenticationFailed, DigestMismatch, RegistryError
from ._http import skip_httpx_cli, ssl_context
from .auth import Credentials, RegistryAuth, find_credentials
from .reference import is_loopback
from .store import BlobWriter, Store, sha256_digest

if TYPE_CHECKING:
    import httpx

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
_MAX_ERROR_BODY = 64 << 10
_DOWNLOAD_ATTEMPTS = 3
_UPLOAD_ATTEMPTS = 3


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


def _registry_message(response: httpx.Response) -> str:
    """The first error message of a distribution error body, or the status line."""
    try:
        body = json.loads(response.content[:_MAX_ERROR_BODY])
        first = body["errors"][0]
        text = f"{first.get('code', '')}: {first.get('message', '')}".strip(": ")
        if text:
            return text
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        pass
    return f"HTTP {response.status_code} {response.reason_phrase}".strip()


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
        skip_httpx_cli()
        import httpx

        self._httpx = httpx
        self.registry = registry
        loopback = is_loopback(registry)
        if protocol is None:
            protocol = "http" if (loopback or insecure) else "https"
        if protocol not in ("http", "https"):
            raise RegistryError(f"unknown protocol {protocol!r} for {registry} (http or https)")
        if protocol == "http" and not (loopback or insecure):
            raise RegistryError(
                f"plain HTTP to {registry} needs --insecure (only loopback registries get it "
                "by default)"
            )
        self.base = f"{protocol}://{registry}"
        self.store = store if store is not None else Store()
        self.chunk_size = chunk_size
        self.monolithic_limit = monolithic_limit
        self._auth = RegistryAuth(
            find_credentials(registry, credentials),
            registry,
            allow_http_realm=loopback or insecure,
        )
        self._http = httpx.Client(
            auth=self._auth.auth(),
            verify=ssl_context(),
            timeout=httpx.Timeout(timeout),
            follow_redirects=True,
            headers={"User-Agent": "omniwasm"},
        )

    def close(self) -> None:
        """Close the connection pool (idempotent)."""
        self._http.close()

    def __enter__(self) -> OciClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- plumbing ---------------------------------------------------------------------------

    def _url(self, path: str) -> str:
        return f"{self.base}/v2/{path}"

    @contextmanager
    def _errors(self, reference: str) -> Iterator[None]:
        httpx = self._httpx
        try:
            yield
        except httpx.ConnectError as exc:
            raise RegistryError(f"cannot connect to {self.registry}: {exc}", reference) from exc
        except httpx.TimeoutException as exc:
            raise RegistryError(f"{self.registry} timed out ({exc})", reference) from exc
        except httpx.HTTPError as exc:
            raise RegistryError(f"talking to {self.registry}: {exc}", reference) from exc

    def _check(self, response: httpx.Response, reference: str, what: str) -> None:
        status = response.status_code
        if status < 400:
            return
        response.read()
        message = _registry_message(response)
        if status in (401, 403):
            raise AuthenticationFailed(
                f"{self.registry} refused access ({message})"
                + ("" if self._auth.credentials else "; no credentials were found for it"),
                reference,
            )
        if status == 404:
            raise ArtifactNotFound(f"{what} not found ({message})", reference)
        raise RegistryError(f"{what}: {message}", reference)

    def _send(
        self,
        method: str,
        url: str,
        reference: str,
        what: str,
        *,
        ok: tuple[int, ...] = (200,),
        **kwargs: Any,
    ) -> httpx.Response:
        with self._errors(reference):
            response = self._http.request(method, url, **kwargs)
        self._check(response, reference, what)
        if response.status_code not in ok:
            raise RegistryError(
                f"{what}: unexpected HTTP {response.status_code} from {self.registry}", reference
            )
        return response

    # -- API check and tags -----------------------------------------------------------------

    def ping(self) -> None:
        """Check that this is an OCI registry we may talk to (``GET /v2/``).

        Raises:
            RegistryError: not reachable, not a registry, or the credentials are refused.

        """
        self._send("GET", f"{self.base}/v2/", self.registry, "the API check")

    def tags(self, repository: str) -> list[str]:
        """Every tag of ``repository``, following the registry's pagination.

        Raises:
            ArtifactNotFound: no such repository.

        """
        reference = f"{self.registry}/{repository}"
        url: str | None = self._url(f"{repository}/tags/list?n=1000")
        tags: list[str] = []
        pages = 0
        while url is not None:
            pages += 1
            if pages > 10_000:
                raise RegistryError("tag listing does not end", reference)
            response = self._send("GET", url, reference, "tag list")
            try:
                body = response.json()
            except ValueError:
                raise RegistryError("the tag list is not JSON", reference) from None
            page = body.get("tags") if isinstance(body, dict) else None
            tags.extend(t for t in page or [] if isinstance(t, str))
            next_link = response.links.get("next", {}).get("url")
            url = str(response.url.join(next_link)) if next_link else None
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
        with self._errors(reference):
            request = self._http.build_request(
                "GET",
                self._url(f"{repository}/manifests/{target}"),
                headers={"Accept": ", ".join(MANIFEST_TYPES)},
            )
            response = self._http.send(request, stream=True)
            try:
                self._check(response, reference, "manifest")
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
        with self._errors(reference):
            response = self._http.head(
                self._url(f"{repository}/manifests/{tag}"),
                headers={"Accept": ", ".join(MANIFEST_TYPES)},
            )
        if response.status_code == 404:
            return None
        self._check(response, reference, "manifest")
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
        response = self._send(
            "PUT",
            self._url(f"{repository}/manifests/{tag}"),
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
        with self._errors(reference):
            response = self._http.head(self._url(f"{repository}/blobs/{digest}"))
        if response.status_code == 404:
            return False
        self._check(response, reference, "blob")
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
        httpx = self._httpx
        headers = {"Range": f"bytes={w.written}-"} if w.written else {}
        with self._errors(reference):
            request = self._http.build_request(
                "GET", self._url(f"{repository}/blobs/{digest}"), headers=headers
            )
            try:
                response = self._http.send(request, stream=True)
            except httpx.TransportError:
                return False
            try:
                self._check(response, reference, f"blob {digest}")
                if w.written and response.status_code != 206:
                    raise RegistryError(
                        "the registry cannot resume a download (no Range support)", reference
                    )
                try:
                    # No re-chunking: what arrived is written, so a resume loses nothing.
                    for chunk in response.iter_bytes():
                        w.write(chunk)
                except (httpx.RemoteProtocolError, httpx.ReadError, httpx.ReadTimeout):
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
        size = len(source) if isinstance(source, bytes) else source.stat().st_size
        if self.blob_exists(repository, digest):
            return False
        if chunked is None:
            chunked = size > self.monolithic_limit
        if not chunked:
            data = source if isinstance(source, bytes) else source.read_bytes()
            location = self._start_upload(repository, reference)
            self._finish_upload(location, digest, reference, content=data)
            if progress is not None:
                progress(size, size)
            return True
        self._chunked_upload(
            repository, digest, source, size, reference=reference, progress=progress
        )
        return True

    def _start_upload(self, repository: str, reference: str) -> str:
        response = self._send(
            "POST",
            self._url(f"{repository}/blobs/uploads/"),
            reference,
            "starting an upload",
            ok=(202,),
            headers={"Content-Length": "0"},
        )
        return self._location(response, reference)

    def _location(self, response: httpx.Response, reference: str) -> str:
        location = response.headers.get("Location")
        if not location:
            raise RegistryError("the registry gave no upload location", reference)
        return str(response.url.join(location))

    def _finish_upload(
        self, location: str, digest: str, reference: str, *, content: bytes = b""
    ) -> None:
        url = self._httpx.URL(location).copy_merge_params({"digest": digest})
        self._send(
            "PUT",
            str(url),
            reference,
            f"completing the upload of {digest}",
            ok=(201, 204),
            content=content,
            headers={"Content-Type": "application/octet-stream"},
        )

    def _upload_status(self, location: str, reference: str) -> int | None:
        """How many bytes the registry holds for an upload session; None if it forgot it."""
        with self._errors(reference):
            response = self._http.get(location)
        if response.status_code in (404, 400):
            return None
        self._check(response, reference, "upload status")
        rng = response.headers.get("Range", "")
        if not rng:
            return 0
        _, _, end = rng.partition("-")
        try:
            return int(end) + 1
        except ValueError:
            return None

    def _chunked_upload(
        self,
        repository: str,
        digest: str,
        source: bytes | Path,
        size: int,
        *,
        reference: str,
        progress: Callable[[int, int], None] | None,
    ) -> None:
        state_path = self.store.upload_state_path(f"{self.registry}/{repository}@{digest}")
        location, offset = self._resume_point(state_path, reference)
        if location is None:
            location, offset = self._start_upload(repository, reference), 0
        failures = 0
        with _open_source(source) as read_at:
            while offset < size:
                chunk = read_at(offset, min(self.chunk_size, size - offset))
                try:
                    response = self._http.patch(
                        location,
                        content=chunk,
                        headers={
                            "Content-Type": "application/octet-stream",
                            "Content-Range": f"{offset}-{offset + len(chunk) - 1}",
                        },
                    )
                except self._httpx.TransportError as exc:
                    failures += 1
                    if failures >= _UPLOAD_ATTEMPTS:
                        raise RegistryError(
                            f"upload of {digest} interrupted at byte {offset} of {size}: {exc}",
                            reference,
                        ) from exc
                    time.sleep(0.2 * failures)
                    held = self._reachable_status(location, reference)
                    if held is None:
                        location, offset = self._start_upload(repository, reference), 0
                    else:
                        offset = held
                    continue
                if response.status_code == 416:
                    held = self._upload_status(location, reference)
                    if held is None:
                        raise RegistryError("the registry dropped the upload session", reference)
                    offset = held
                    continue
                self._check(response, reference, f"uploading {digest}")
                location = self._location(response, reference)
                offset += len(chunk)
                self.store.write_small(
                    state_path, json.dumps({"location": location, "offset": offset})
                )
                if progress is not None:
                    progress(offset, size)
        self._finish_upload(location, digest, reference)
        state_path.unlink(missing_ok=True)

    def _reachable_status(self, location: str, reference: str) -> int | None:
        try:
            return self._upload_status(location, reference)
        except RegistryError:
            return None

    def _resume_point(self, state_path: Path, reference: str) -> tuple[str | None, int]:
        try:
            state = json.loads(state_path.read_text())
            location = str(state["location"])
        except (OSError, ValueError, KeyError, TypeError):
            return None, 0
        if not location.startswith(self.base + "/"):
            return None, 0
        held = self._reachable_status(location, reference)
        if held is None:
            state_path.unlink(missing_ok=True)
            return None, 0
        return location, held  # the registry's count is the truth


@contextmanager
def _open_source(source: bytes | Path) -> Iterator[Any]:
    """A ``read_at(offset, n)`` over bytes or a file."""
    if isinstance(source, bytes):
        view = memoryview(source)
        yield lambda offset, n: bytes(view[offset : offset + n])
        return
    fd = os.open(source, os.O_RDONLY)
    try:
        yield lambda offset, n: os.pread(fd, n, offset)
    finally:
        os.close(fd)


def file_digest(path: Path) -> str:
    """The sha256 digest of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return "sha256:" + h.hexdigest()
