"""The HTTP gateway: serve ``wasi:http/proxy`` components from any ASGI server.

:class:`Gateway` is a plain ASGI 3 application for one component exporting
``wasi:http/incoming-handler@0.2.x``: every request gets a fresh instance (compiled once), the
guest runs on a thread pool, and its response streams back as it writes it::

    from omniwasm import Policy
    from omniwasm.gateway import Gateway

    app = Gateway("hello.wasm", policy=Policy(max_memory="64M"), timeout=5)
    # uvicorn module:app   -- or app.mount("/wasm", app) in Starlette/FastAPI

:class:`App` serves a whole ``omniwasm.toml`` (Spin-shaped: routes, per-component policies,
key-value stores) with metrics and access logs; ``omniwasm serve`` runs it under uvicorn.

The gateway answers 413 (body too large), 431 (too many or too large request headers), 500
(trap, host error, no response, a status outside 200-599), 503 (queue full, or no guest thread
free in time) and 504 (timeout) itself, logging failures on the
``omniwasm.gateway`` logger.
"""

from ._app import App, MetricsApp
from ._asgi import (
    DEFAULT_HEADER_TIMEOUT,
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_MAX_HEADER_BYTES,
    DEFAULT_MAX_HEADERS,
    DEFAULT_TIMEOUT,
    Gateway,
    ResponseAborted,
)
from ._exchange import STATUS_FOR_ERROR, status_for
from ._manifest import AppManifest, load_app_manifest
from ._metrics import Metrics

__all__ = [
    "DEFAULT_HEADER_TIMEOUT",
    "DEFAULT_MAX_BODY_BYTES",
    "DEFAULT_MAX_HEADERS",
    "DEFAULT_MAX_HEADER_BYTES",
    "DEFAULT_TIMEOUT",
    "STATUS_FOR_ERROR",
    "App",
    "AppManifest",
    "Gateway",
    "Metrics",
    "MetricsApp",
    "ResponseAborted",
    "load_app_manifest",
    "status_for",
]
