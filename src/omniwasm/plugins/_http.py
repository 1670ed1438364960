"""HTTP for plugins: Extism's ``http_request`` / ``http_status_code`` / ``http_headers``.

A plugin asks with a JSON request ``{"url": ..., "method": "GET", "headers": {...}}`` and an
optional body block. The URL's host must match one of the plugin's ``allowed_hosts`` globs
(``*.example.com``); with none configured, no request is allowed at all. Requests go through
``httpx`` (imported on first use: an optional dependency, ``pip install omniwasm[plugins]``)
and the response body is read in chunks, stopping with an error as soon as it exceeds
``max_http_response_bytes``.
"""

from __future__ import annotations

import fnmatch
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from .._errors import GuestError, PolicyError

__all__ = ["HttpPolicy", "HttpState", "http_request"]


@dataclass(frozen=True, slots=True)
class HttpPolicy:
    """What a plugin may do over HTTP.

    Args:
        allowed_hosts: host globs a request's host must match; None allows nothing.
        max_response_bytes: bound on one response body.
        keep_headers: record response headers for ``http_headers``.
        timeout: seconds for connecting and between bytes (None: httpx's default).

    """

    allowed_hosts: tuple[str, ...] | None = None
    max_response_bytes: int = 50 * 1024 * 1024
    keep_headers: bool = False
    timeout: float | None = 30.0

    def allows(self, host: str) -> bool:
        """Whether ``host`` matches an allowed glob (case-insensitive)."""
        if self.allowed_hosts is None or not host:
            return False
        host = host.lower()
        return any(fnmatch.fnmatchcase(host, glob.lower()) for glob in self.allowed_hosts)


@dataclass(slots=True)
class HttpState:
    """The last request's outcome, per plugin instance (it survives between calls)."""

    status: int = 0
    headers: bytes | None = None


def http_request(policy: HttpPolicy, state: HttpState, request: bytes, body: bytes | None) -> bytes:
    """Perform a plugin's request and return the response body.

    Raises:
        PolicyError: the host is not allowed (``state.status`` is reset to 0).
        GuestError: the request is malformed, failed, or its response is too large.

    """
    try:
        req: Any = json.loads(request)
        url = str(req["url"])
    except (ValueError, KeyError, TypeError) as exc:
        raise GuestError(1, f"invalid HTTP request: {exc}") from exc
    host = urlsplit(url).hostname or ""
    if not policy.allows(host):
        state.status = 0
        state.headers = None
        raise PolicyError(f"HTTP request to {host or url!r} is not allowed for this plugin")
    import httpx

    method = str(req.get("method") or "GET").upper()
    headers = {str(k): str(v) for k, v in (req.get("headers") or {}).items()}
    try:
        with (
            httpx.Client(timeout=policy.timeout, follow_redirects=False) as client,
            client.stream(method, url, headers=headers, content=body) as resp,
        ):
            chunks = []
            size = 0
            for chunk in resp.iter_bytes():
                size += len(chunk)
                if size > policy.max_response_bytes:
                    raise GuestError(
                        1,
                        f"HTTP response larger than {policy.max_response_bytes} bytes "
                        "(max_http_response_bytes)",
                    )
                chunks.append(chunk)
            state.status = resp.status_code
            state.headers = (
                json.dumps(dict(resp.headers.items())).encode() if policy.keep_headers else None
            )
    except httpx.HTTPError as exc:
        state.status = 0
        raise GuestError(1, f"HTTP request to {url} failed: {exc}") from exc
    return b"".join(chunks)
