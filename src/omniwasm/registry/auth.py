"""Registry credentials, where they are found, and the HTTP authentication dance.

Credentials for a registry host come from, first found wins: the caller (``--username`` /
``OMNIWASM_REGISTRY_PASSWORD``), the registry mapping's ``[registry."HOST".oci] auth`` (wkg's
key), ``$REGISTRY_AUTH_FILE`` or ``$XDG_RUNTIME_DIR/containers/auth.json`` (what ``skopeo
login`` and podman write), then ``$DOCKER_CONFIG/config.json`` or ``~/.docker/config.json``
(``docker login``; inline ``auth`` entries only, not credential helpers). None means anonymous.

The dance is the distribution spec's: a request answered ``401`` with ``WWW-Authenticate:
Basic`` is retried with the credentials; one answered with ``Bearer realm=...,service=...,
scope=...`` makes the client get a token from the realm (with the credentials, if any) and
retry with it. Tokens are reused for later requests until the registry refuses one.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
from collections.abc import Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._errors import AuthenticationFailed

if TYPE_CHECKING:
    import httpx

__all__ = ["Credentials", "find_credentials", "parse_challenge"]


@dataclass(frozen=True, slots=True)
class Credentials:
    """A user name and password (or token) for one registry.

    Args:
        username: the user name.
        password: the password or access token (hidden from ``repr``).

    """

    username: str
    password: str = field(repr=False)

    @classmethod
    def from_auth(cls, auth: str) -> Credentials | None:
        """Decode a Docker ``auth`` value (base64 of ``user:password``); None if malformed."""
        try:
            text = base64.b64decode(auth + "=" * (-len(auth) % 4)).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            return None
        user, sep, password = text.partition(":")
        return cls(user, password) if sep else None

    def basic_header(self) -> str:
        """The ``Authorization`` value for HTTP Basic."""
        raw = f"{self.username}:{self.password}".encode()
        return "Basic " + base64.b64encode(raw).decode("ascii")


def _auth_files() -> list[Path]:
    files = []
    if os.environ.get("REGISTRY_AUTH_FILE"):
        files.append(Path(os.environ["REGISTRY_AUTH_FILE"]))
    if os.environ.get("XDG_RUNTIME_DIR"):
        files.append(Path(os.environ["XDG_RUNTIME_DIR"]) / "containers" / "auth.json")
    docker = os.environ.get("DOCKER_CONFIG")
    files.append((Path(docker) if docker else Path.home() / ".docker") / "config.json")
    return files


def _from_auth_file(path: Path, registry: str) -> Credentials | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    auths = data.get("auths") if isinstance(data, dict) else None
    if not isinstance(auths, dict):
        return None
    for key in (registry, f"https://{registry}", f"http://{registry}"):
        entry = auths.get(key)
        if isinstance(entry, dict) and isinstance(entry.get("auth"), str):
            return Credentials.from_auth(entry["auth"])
    return None


def find_credentials(registry: str, configured: Credentials | None = None) -> Credentials | None:
    """The credentials to use for ``registry`` (``host[:port]``), or None for anonymous."""
    if configured is not None:
        return configured
    for path in _auth_files():
        found = _from_auth_file(path, registry)
        if found is not None:
            return found
    return None


_PARAM = re.compile(r'(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))')


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """Split ``WWW-Authenticate`` into its scheme (lowercase) and parameters."""
    scheme, _, rest = header.strip().partition(" ")
    params = {m[1].lower(): (m[2] if m[2] is not None else m[3]) for m in _PARAM.finditer(rest)}
    return scheme.lower(), params


def _hostport(url: httpx.URL) -> str:
    return f"{url.host}:{url.port}" if url.port else url.host


class RegistryAuth:
    """The httpx auth flow for one registry (Basic, or Bearer tokens from the realm).

    Args:
        credentials: what to authenticate with, or None (anonymous tokens still work).
        reference: the reference named in errors.
        allow_http_realm: whether a token realm may be plain HTTP (loopback or ``--insecure``).

    """

    def __init__(
        self, credentials: Credentials | None, reference: str, *, allow_http_realm: bool
    ) -> None:
        from ._http import skip_httpx_cli

        skip_httpx_cli()
        import httpx

        self._httpx = httpx
        self.credentials = credentials
        self.reference = reference
        self._allow_http_realm = allow_http_realm
        self._token: str | None = None
        self._basic = False
        self.token_requests = 0

    def auth(self) -> httpx.Auth:
        """An ``httpx.Auth`` object running this flow."""
        import httpx

        outer = self

        class _Flow(httpx.Auth):
            def sync_auth_flow(
                self, request: httpx.Request
            ) -> Generator[httpx.Request, httpx.Response, None]:
                return outer._flow(request)

        return _Flow()

    def _authorize(self, request: httpx.Request) -> None:
        if self._token is not None:
            request.headers["Authorization"] = f"Bearer {self._token}"
        elif self._basic and self.credentials is not None:
            request.headers["Authorization"] = self.credentials.basic_header()

    def _flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        self._authorize(request)
        response = yield request
        if response.status_code != 401:
            return
        header = response.headers.get("WWW-Authenticate", "")
        scheme, params = parse_challenge(header)
        if scheme == "basic":
            if self.credentials is None or self._basic:
                return  # the caller reports 401 as AuthenticationFailed
            self._basic = True
            self._token = None
        elif scheme == "bearer":
            response.read()
            token_response = yield self._token_request(params)
            token_response.read()
            self._token = self._parse_token(token_response)
        else:
            return
        self._authorize(request)
        yield request

    def _token_request(self, params: dict[str, str]) -> httpx.Request:
        realm = params.get("realm")
        if not realm:
            raise AuthenticationFailed(
                "the registry's Bearer challenge names no realm", self.reference
            )
        url = self._httpx.URL(realm)
        if url.scheme not in ("https", "http") or (
            url.scheme == "http" and not self._allow_http_realm
        ):
            raise AuthenticationFailed(
                f"refusing to send credentials to token realm {realm} over plain HTTP",
                self.reference,
            )
        query: dict[str, str] = {k: params[k] for k in ("service", "scope") if k in params}
        headers = {}
        if self.credentials is not None:
            headers["Authorization"] = self.credentials.basic_header()
        self.token_requests += 1
        return self._httpx.Request("GET", url.copy_merge_params(query), headers=headers)

    def _parse_token(self, response: httpx.Response) -> str:
        if response.status_code in (401, 403):
            raise AuthenticationFailed(
                f"the token service at {_hostport(response.request.url)} refused the "
                f"credentials (HTTP {response.status_code})",
                self.reference,
            )
        if response.status_code != 200:
            raise AuthenticationFailed(
                f"the token service answered HTTP {response.status_code}", self.reference
            )
        try:
            body: Any = json.loads(response.content)
        except ValueError:
            raise AuthenticationFailed("the token service sent no JSON", self.reference) from None
        token = body.get("token") or body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise AuthenticationFailed("the token service sent no token", self.reference)
        return token
