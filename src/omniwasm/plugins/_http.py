"""HTTP for plugins: Extism's ``http_request`` / ``http_status_code`` / ``http_headers``.

A plugin asks with a JSON request ``{"url": ..., "method": "GET", "headers": {...}}`` and an
optional body block. The URL must match one of the plugin's ``allowed_hosts``: Extism's host
globs (``*.example.com``, any scheme and port) or ``scheme://host[:port]`` patterns, both read
by omniwasm's one host matcher (:mod:`omniwasm._policy.hosts`); with none configured, no
request is allowed at all. Requests go through
``httpx`` (imported on first use: an optional dependency, ``pip install 'omniwasm[http]'``)
and the response body is read in chunks, stopping with an error as soon as it exceeds
``max_http_response_bytes``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from .._errors import GuestError, PolicyError
from .._policy.hosts import DEFAULT_PORTS, HostPattern

__all__ = ["HttpPolicy", "HttpState", "http_request"]


@dataclass(frozen=True, slots=True)
class HttpPolicy:
    """What a plugin may do over HTTP.

    Args:
        allowed_hosts: Extism host globs (``*.example.com``) or ``scheme://host[:port]``
            patterns a request must match; None allows nothing.
        max_response_bytes: bound on one response body.
        keep_headers: record response headers for ``http_headers``.
        timeout: seconds for connecting and between bytes (None: httpx's default).

    """

    allowed_hosts: tuple[str, ...] | None = None
    max_response_bytes: int = 50 * 1024 * 1024
    keep_headers: bool = False
    timeout: float | None = 30.0
    _patterns: tuple[HostPattern, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        patterns = []
        for entry in self.allowed_hosts or ():
            parsed = HostPattern.parse(entry) if "://" in entry else HostPattern.from_glob(entry)
            if parsed is not None:
                patterns.append(parsed)
        object.__setattr__(self, "_patterns", tuple(patterns))

    def allows(self, url: str) -> bool:
        """Whether a request to ``url`` matches an allowed host (case-insensitive)."""
        try:
            parts = urlsplit(url)
            scheme, host = parts.scheme.lower(), parts.hostname or ""
            port = parts.port or DEFAULT_PORTS.get(scheme, 0)
        except ValueError:  # a port that is not a number
            return False
        return bool(host) and any(p.matches(scheme, host, port) for p in self._patterns)


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
    if not policy.allows(url):
        state.status = 0
        state.headers = None
        host = _host_of(url)
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


def _host_of(url: str) -> str:
    try:
        return urlsplit(url).hostname or ""
    except ValueError:
        return ""
