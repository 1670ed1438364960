"""One registry's HTTP connection: the scheme rule, authentication, and error mapping.

Every request the OCI client makes goes through a ``Session``: it picks the scheme (HTTPS,
plain HTTP only for loopback registries, as Docker treats ``localhost``, or with ``insecure``),
holds the httpx client with the registry's authentication flow (``auth.py``), and maps what
goes wrong to the error tree: transport failures become ``RegistryError`` naming the reference,
401/403 ``AuthenticationFailed``, 404 ``ArtifactNotFound``, with the registry's own error
message when its body carries one.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from .._errors import ArtifactNotFound, AuthenticationFailed, RegistryError
from ._http import skip_httpx_cli, ssl_context, tls_on_demand
from .auth import Credentials, RegistryAuth, find_credentials
from .reference import is_loopback

if TYPE_CHECKING:
    import httpx

__all__ = ["Session"]

_MAX_ERROR_BODY = 64 << 10


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


class Session:
    """The HTTP side of one registry (see the module docstring).

    Args:
        registry: ``host[:port]``.
        credentials: explicit credentials; None looks them up (``auth.find_credentials``).
        insecure: allow plain HTTP to a registry that is not on loopback.
        protocol: ``"http"`` or ``"https"``; default HTTPS, except plain HTTP for loopback
            registries and with ``insecure``.
        timeout: seconds for connecting and for each read.

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
        timeout: float = 60.0,
    ) -> None:
        skip_httpx_cli()
        import httpx

        self.httpx = httpx
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
        self.auth = RegistryAuth(
            find_credentials(registry, credentials),
            registry,
            allow_http_realm=loopback or insecure,
        )
        if protocol == "https":
            tls: dict[str, Any] = {"verify": ssl_context()}
        else:
            # The default transport carries only http:// URLs here (https:// ones go to the
            # mount, verified), so it needs no CA store: loading one costs a local pull dearly.
            tls = {"verify": False, "mounts": {"https://": tls_on_demand(httpx)}}
        self.http = httpx.Client(
            auth=self.auth.auth(),
            timeout=httpx.Timeout(timeout),
            follow_redirects=True,
            headers={"User-Agent": "omniwasm"},
            **tls,
        )

    def close(self) -> None:
        """Close the connection pool (idempotent)."""
        self.http.close()

    def url(self, path: str) -> str:
        """The URL of an API path (``REPO/manifests/TAG`` ...) under ``/v2/``."""
        return f"{self.base}/v2/{path}"

    @contextmanager
    def errors(self, reference: str) -> Iterator[None]:
        """Turn httpx's transport errors inside the block into ``RegistryError``."""
        httpx = self.httpx
        try:
            yield
        except httpx.ConnectError as exc:
            raise RegistryError(f"cannot connect to {self.registry}: {exc}", reference) from exc
        except httpx.TimeoutException as exc:
            raise RegistryError(f"{self.registry} timed out ({exc})", reference) from exc
        except httpx.HTTPError as exc:
            raise RegistryError(f"talking to {self.registry}: {exc}", reference) from exc

    def check(self, response: httpx.Response, reference: str, what: str) -> None:
        """Raise the error an error status means (nothing for a status below 400).

        Raises:
            AuthenticationFailed: 401 or 403.
            ArtifactNotFound: 404.
            RegistryError: any other error status.

        """
        status = response.status_code
        if status < 400:
            return
        response.read()
        message = _registry_message(response)
        if status in (401, 403):
            raise AuthenticationFailed(
                f"{self.registry} refused access ({message})"
                + ("" if self.auth.credentials else "; no credentials were found for it"),
                reference,
            )
        if status == 404:
            raise ArtifactNotFound(f"{what} not found ({message})", reference)
        raise RegistryError(f"{what}: {message}", reference)

    def send(
        self,
        method: str,
        url: str,
        reference: str,
        what: str,
        *,
        ok: tuple[int, ...] = (200,),
        **kwargs: Any,
    ) -> httpx.Response:
        """One request whose status must be in ``ok``.

        Raises:
            RegistryError: as ``errors`` and ``check`` do, or another success status.

        """
        with self.errors(reference):
            response = self.http.request(method, url, **kwargs)
        self.check(response, reference, what)
        if response.status_code not in ok:
            raise RegistryError(
                f"{what}: unexpected HTTP {response.status_code} from {self.registry}", reference
            )
        return response

    def location(self, response: httpx.Response, reference: str) -> str:
        """The absolute URL of a response's ``Location`` (an upload session).

        Raises:
            RegistryError: there is none.

        """
        location = response.headers.get("Location")
        if not location:
            raise RegistryError("the registry gave no upload location", reference)
        return str(response.url.join(location))
