"""One registry's HTTP connection: the scheme rule, authentication, and error mapping.

Every request the OCI client makes goes through a ``Session``: it picks the scheme (HTTPS,
plain HTTP only for loopback registries, as Docker treats ``localhost``, or with ``insecure``),
runs the registry's authentication flow (``auth.py``) over the transports of ``transport.py``,
and maps what goes wrong to the error tree: transport failures become ``RegistryError`` naming
the reference, 401/403 ``AuthenticationFailed``, 404 ``ArtifactNotFound``, with the registry's
own error message when its body carries one.

Each request goes to the lean ``http.client`` transport when it serves the URL (plain HTTP, no
proxy) and to httpx otherwise, or when the lean one hands it back (a redirect); httpx is
imported only then. ``OMNIWASM_REGISTRY_HTTP=httpx`` sends every request through httpx.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager

from .._errors import ArtifactNotFound, AuthenticationFailed, RegistryError
from .auth import Credentials, RegistryAuth, TokenRequest, find_credentials
from .reference import is_loopback
from .transport import (
    ConnectFailed,
    Response,
    TimedOut,
    Transport,
    TransportError,
    Unhandled,
    join_url,
)

__all__ = ["HTTP_ENV", "Session"]

HTTP_ENV = "OMNIWASM_REGISTRY_HTTP"
"""Set to ``httpx`` to send every registry request through httpx (no lean transport)."""

_MAX_ERROR_BODY = 64 << 10
MAX_BODY = 16 << 20
"""The largest body read whole (tag lists, tokens, manifests are far smaller; a hostile or
broken registry's endless answer stops here). Blobs are streamed, never read whole."""


def _registry_message(response: Response) -> str:
    """The first error message of a distribution error body, or the status line."""
    try:
        body = json.loads(response.head(_MAX_ERROR_BODY))
        first = body["errors"][0]
        text = f"{first.get('code', '')}: {first.get('message', '')}".strip(": ")
        if text:
            return text
    except (ValueError, KeyError, IndexError, TypeError, AttributeError, TransportError):
        pass  # no readable distribution error: the status line says it
    return f"HTTP {response.status_code} {response.reason_phrase}".strip()


def _bounded(response: Response, stream: bool) -> Response:
    """The response, its body read whole (up to ``MAX_BODY``) unless it is to be streamed."""
    if not stream:
        response.read(MAX_BODY)
    return response


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
        RegistryError: plain HTTP was asked for a non-loopback registry without ``insecure``,
            or ``OMNIWASM_REGISTRY_HTTP`` names no transport.

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
        choice = os.environ.get(HTTP_ENV, "auto")
        if choice not in ("auto", "httpx"):
            raise RegistryError(f"{HTTP_ENV}={choice!r}: expected 'auto' or 'httpx'")
        self.base = f"{protocol}://{registry}"
        self.auth = RegistryAuth(
            find_credentials(registry, credentials),
            registry,
            allow_http_realm=loopback or insecure,
        )
        self._timeout = timeout
        self._https = protocol == "https"
        self._lean_allowed = choice == "auto"
        self._lean: Transport | None = None
        self._full: Transport | None = None

    def close(self) -> None:
        """Close every connection (idempotent)."""
        for transport in (self._lean, self._full):
            if transport is not None:
                transport.close()

    def url(self, path: str) -> str:
        """The URL of an API path (``REPO/manifests/TAG`` ...) under ``/v2/``."""
        return f"{self.base}/v2/{path}"

    # -- transports -------------------------------------------------------------------------

    def _httpx(self) -> Transport:
        if self._full is None:
            from ._http import HttpxTransport

            self._full = HttpxTransport(self._timeout, https=self._https)
        return self._full

    def _exchange(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        content: bytes | None,
        stream: bool,
    ) -> Response:
        if self._lean_allowed:
            from ._httpclient import StdlibTransport, serves

            if serves(url):
                if self._lean is None:
                    self._lean = StdlibTransport(self._timeout)
                try:
                    response = self._lean.request(method, url, headers, content, stream=True)
                except Unhandled:
                    response = None  # a redirect: httpx follows it, with its cross-origin rules
                if response is not None:
                    return _bounded(response, stream)
        return _bounded(self._httpx().request(method, url, headers, content, stream=True), stream)

    @property
    def transports(self) -> tuple[str, ...]:
        """The transports this session has used so far (``"stdlib"``, ``"httpx"``)."""
        used = (("stdlib", self._lean), ("httpx", self._full))
        return tuple(name for name, transport in used if transport is not None)

    # -- requests ---------------------------------------------------------------------------

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: dict[str, str] | None = None,
        content: bytes | None = None,
        stream: bool = False,
        authenticate: bool = True,
    ) -> Response:
        """One request, authenticated as the registry asks (``auth.py``), any status.

        With ``stream`` the body is left to the caller (``iter_bytes``, then ``close``);
        without ``authenticate`` no credentials are sent and a 401 is returned as it is.

        Raises:
            TransportError: the exchange failed (``errors`` maps it).
            AuthenticationFailed: the token service refused.

        """
        sent = {"User-Agent": "omniwasm", **(headers or {})}
        if authenticate:
            self.auth.authorize(sent)
        response = self._exchange(method, url, sent, content, stream)
        if response.status_code != 401 or not authenticate:
            return response
        retry = self.auth.challenged(response.headers.get("WWW-Authenticate"))
        if retry is False:
            return response  # the caller reports the 401 (``check``)
        response.close()
        if isinstance(retry, TokenRequest):
            token_headers = {"User-Agent": "omniwasm", **retry.headers}
            answer = self._exchange("GET", retry.url, token_headers, None, False)
            self.auth.accept_token(answer.status_code, answer.url, answer.content)
        sent = {"User-Agent": "omniwasm", **(headers or {})}
        self.auth.authorize(sent)
        return self._exchange(method, url, sent, content, stream)

    @contextmanager
    def errors(self, reference: str) -> Iterator[None]:
        """Turn transport errors inside the block into ``RegistryError``."""
        try:
            yield
        except ConnectFailed as exc:
            raise RegistryError(f"cannot connect to {self.registry}: {exc}", reference) from exc
        except TimedOut as exc:
            raise RegistryError(f"{self.registry} timed out ({exc})", reference) from exc
        except TransportError as exc:
            raise RegistryError(f"talking to {self.registry}: {exc}", reference) from exc

    def check(self, response: Response, reference: str, what: str) -> None:
        """Raise the error an error status means (nothing for a status below 400).

        Raises:
            AuthenticationFailed: 401 or 403.
            ArtifactNotFound: 404.
            RegistryError: any other error status.

        """
        status = response.status_code
        if status < 400:
            return
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
        headers: dict[str, str] | None = None,
        content: bytes | None = None,
    ) -> Response:
        """One request whose status must be in ``ok`` (its body read).

        Raises:
            RegistryError: as ``errors`` and ``check`` do, or another success status.

        """
        with self.errors(reference):
            response = self.request(method, url, headers=headers, content=content)
        self.check(response, reference, what)
        if response.status_code not in ok:
            raise RegistryError(
                f"{what}: unexpected HTTP {response.status_code} from {self.registry}", reference
            )
        return response

    def location(self, response: Response, reference: str) -> str:
        """The absolute URL of a response's ``Location`` (an upload session).

        Raises:
            RegistryError: there is none.

        """
        location = response.headers.get("Location")
        if not location:
            raise RegistryError("the registry gave no upload location", reference)
        return join_url(response.url, location)
