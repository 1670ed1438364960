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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from .._errors import AuthenticationFailed
from .transport import with_param

__all__ = ["Credentials", "RegistryAuth", "TokenRequest", "find_credentials", "parse_challenge"]


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


class TokenRequest(NamedTuple):
    """Where to ask for a Bearer token, and the headers to ask with."""

    url: str
    headers: dict[str, str]


class RegistryAuth:
    """One registry's authentication state: Basic, or Bearer tokens from the realm.

    ``Session`` drives it: ``authorize`` adds what is known to a request; a 401 answer goes to
    ``challenged``, which says whether to retry (after fetching a token where it asks for one,
    handed to ``accept_token``). Transport-neutral: it reads only status and headers.

    Args:
        credentials: what to authenticate with, or None (anonymous tokens still work).
        reference: the reference named in errors.
        allow_http_realm: whether a token realm may be plain HTTP (loopback or ``--insecure``).

    """

    def __init__(
        self, credentials: Credentials | None, reference: str, *, allow_http_realm: bool
    ) -> None:
        self.credentials = credentials
        self.reference = reference
        self._allow_http_realm = allow_http_realm
        self._token: str | None = None
        self._basic = False
        self.token_requests = 0

    def authorize(self, headers: dict[str, str]) -> None:
        """Add the ``Authorization`` this registry is known to want, if any."""
        if self._token is not None:
            headers["Authorization"] = f"Bearer {self._token}"
        elif self._basic and self.credentials is not None:
            headers["Authorization"] = self.credentials.basic_header()

    def challenged(self, header: str) -> TokenRequest | bool:
        """What a 401 with ``WWW-Authenticate: header`` calls for.

        Returns False to give up (the caller reports the 401), True to retry now (Basic), or
        the token request to make before retrying (Bearer).

        Raises:
            AuthenticationFailed: a Bearer challenge without a usable realm.

        """
        scheme, params = parse_challenge(header)
        if scheme == "basic":
            if self.credentials is None or self._basic:
                return False
            self._basic = True
            self._token = None
            return True
        if scheme == "bearer":
            return self._token_request(params)
        return False

    def _token_request(self, params: dict[str, str]) -> TokenRequest:
        realm = params.get("realm")
        if not realm:
            raise AuthenticationFailed(
                "the registry's Bearer challenge names no realm", self.reference
            )
        scheme = urlsplit(realm).scheme
        if scheme not in ("https", "http") or (scheme == "http" and not self._allow_http_realm):
            raise AuthenticationFailed(
                f"refusing to send credentials to token realm {realm} over plain HTTP",
                self.reference,
            )
        url = realm
        for key in ("service", "scope"):
            if key in params:
                url = with_param(url, key, params[key])
        headers = {}
        if self.credentials is not None:
            headers["Authorization"] = self.credentials.basic_header()
        self.token_requests += 1
        return TokenRequest(url, headers)

    def accept_token(self, status: int, url: str, body: bytes) -> None:
        """Take the token service's answer (status, its URL, body) as the token to use.

        Raises:
            AuthenticationFailed: the service refused or sent no token.

        """
        if status in (401, 403):
            raise AuthenticationFailed(
                f"the token service at {urlsplit(url).netloc} refused the "
                f"credentials (HTTP {status})",
                self.reference,
            )
        if status != 200:
            raise AuthenticationFailed(f"the token service answered HTTP {status}", self.reference)
        try:
            data: Any = json.loads(body)
        except ValueError:
            raise AuthenticationFailed("the token service sent no JSON", self.reference) from None
        token = data.get("token") or data.get("access_token") if isinstance(data, dict) else None
        if not isinstance(token, str) or not token:
            raise AuthenticationFailed("the token service sent no token", self.reference)
        self._token = token
