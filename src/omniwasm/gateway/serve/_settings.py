"""What ``omniwasm serve`` builds its app from, and where it listens."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from ..._errors import PolicyError
from ..._policy import DEFAULT_MAX_OUTPUT, Policy
from .._app import App
from .._asgi import DEFAULT_HEADER_TIMEOUT, DEFAULT_MAX_HEADER_BYTES, DEFAULT_MAX_HEADERS

__all__ = ["ServeSettings", "logger", "parse_addr"]

logger = logging.getLogger("omniwasm.gateway")


@dataclass(frozen=True)
class ServeSettings:
    """Everything ``omniwasm serve`` builds its app from (picklable, JSON-safe)."""

    source: str
    addr: str = "127.0.0.1:8080"
    admin: str | None = None
    workers: int = 1
    watch: bool = False
    timeout: float | None = None
    max_memory: int | None = None
    max_output: int | None = DEFAULT_MAX_OUTPUT
    max_body_bytes: int = 10 * 1024 * 1024
    max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES
    max_headers: int = DEFAULT_MAX_HEADERS
    header_timeout: float = DEFAULT_HEADER_TIMEOUT
    max_concurrency: int | None = None
    max_queue: int | None = None
    instance_concurrency: int | None = None
    instance_reuse: int | None = None
    kv_path: str | None = None
    variables: dict[str, str] = field(default_factory=dict)
    log_format: str = "text"
    http2: bool = False
    tls_cert: str | None = None
    tls_key: str | None = None
    models: dict[str, str] = field(default_factory=dict)
    """wasi:nn models granted to a single component (a manifest grants its own)."""

    @property
    def scheme(self) -> str:
        """``https`` with a TLS certificate, else ``http``."""
        return "https" if self.tls_cert else "http"

    def build(self) -> App:
        """The App these settings describe."""
        if self.models and self.source.endswith(".toml"):
            raise PolicyError(
                "--nn-model grants models to a single component; in an omniwasm.toml, "
                "grant them with [component.ID.models]"
            )
        policy = Policy(
            max_memory=self.max_memory,
            timeout=self.timeout,
            max_output=self.max_output,
            models=tuple(self.models.items()),
        )
        return App(
            self.source,
            policy=policy,
            variables=self.variables,
            kv_path=self.kv_path,
            max_body_bytes=self.max_body_bytes,
            max_header_bytes=self.max_header_bytes,
            max_headers=self.max_headers,
            timeout=self.timeout,
            max_concurrency=self.max_concurrency,
            max_queue=self.max_queue,
            instance_concurrency=self.instance_concurrency,
            instance_reuse=self.instance_reuse,
            self_origin=self.origin,
        )

    @property
    def header_limits(self) -> Any:
        """The request-head limits of the HTTP server (a ``serve._protocol.HeaderLimits``)."""
        from ._protocol import HeaderLimits

        return HeaderLimits(self.max_header_bytes, self.max_headers, self.header_timeout)

    @property
    def origin(self) -> str:
        """Where this server answers, as a client on this machine reaches it."""
        host, port = parse_addr(self.addr)
        host = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}.get(host, host)
        return f"{self.scheme}://{f'[{host}]' if ':' in host else host}:{port}"


def parse_addr(addr: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:8080`` for IPv6) as ``(host, port)``.

    Raises:
        PolicyError: not an address with a port.

    """
    host, sep, port = addr.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise PolicyError(f"--addr expects HOST:PORT, got {addr!r}")
    return host.strip("[]") or "127.0.0.1", int(port)
