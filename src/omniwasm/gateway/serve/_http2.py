"""``omniwasm serve --http2``: the app under Hypercorn, which speaks HTTP/2 and sends trailers.

uvicorn (the default server) speaks HTTP/1.1 only here and cannot send response trailers.
Hypercorn serves HTTP/1.1 and HTTP/2 on the same port: prior-knowledge ``h2c`` on plain TCP,
and ``h2`` chosen by ALPN with ``--tls-cert``. It offers the ASGI ``http.response.trailers``
extension over HTTP/2, so a guest's trailers reach clients that ask for them (gRPC clients do).

One process: the admin server and the ``--watch`` poller run in the same event loop, as with
uvicorn. SIGTERM or Ctrl-C stops accepting and waits for the requests in flight (up to the
request timeout plus a little), then the process exits 0.
"""

from __future__ import annotations

import asyncio
import logging
import signal

from ..._errors import PolicyError
from .._app import App
from .._asgi import DEFAULT_TIMEOUT, GRACE
from ._settings import ServeSettings, logger
from ._sidecars import sidecars

__all__ = ["check_http2", "serve_http2"]


def check_http2() -> None:
    """Fail now when Hypercorn is missing.

    Raises:
        PolicyError: ``--http2`` without Hypercorn (``pip install 'omniwasm[http2]'``).

    """
    import importlib.util

    if importlib.util.find_spec("hypercorn") is None:
        raise PolicyError("--http2 needs Hypercorn: pip install 'omniwasm[http2]'")


async def serve_http2(app: App, host: str, port: int, settings: ServeSettings) -> None:
    """Serve ``app`` with Hypercorn until SIGTERM or SIGINT, then finish the requests in flight."""
    from hypercorn.asyncio import serve
    from hypercorn.config import Config

    config = Config()
    config.bind = [f"[{host}]:{port}" if ":" in host else f"{host}:{port}"]
    config.accesslog = None  # omniwasm's own access log records every request
    config.errorlog = logging.getLogger("hypercorn.error")  # configured by configure_logging
    config.certfile, config.keyfile = settings.tls_cert, settings.tls_key
    config.graceful_timeout = (settings.timeout or DEFAULT_TIMEOUT) + GRACE + 1.0
    # Request-head limits: h11 answers 431 past its buffer; h2 refuses a larger header list.
    # Hypercorn's idle timer runs from a connection's start (or its last response) until a
    # request's headers are complete, so it is the header time limit too.
    config.h11_max_incomplete_size = settings.max_header_bytes
    config.h2_max_header_list_size = settings.max_header_bytes
    config.keep_alive_timeout = settings.header_timeout
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    logger.info(
        "serving %s on %s://%s:%d (HTTP/1.1 and HTTP/2)",
        settings.source,
        settings.scheme,
        host,
        port,
    )
    try:
        async with sidecars(app, settings, stop.is_set):
            await serve(app, config, shutdown_trigger=stop.wait)  # type: ignore[arg-type]
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
