"""Start serving: checks first (address, TLS, HTTP/2), then one process or ``--workers N``."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import os
import signal
import socket
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ..._errors import PolicyError
from ..._runtime import keep_freed_memory
from .._app import App
from ._http2 import check_http2, serve_http2
from ._logs import configure_logging
from ._settings import ServeSettings, logger, parse_addr
from ._sidecars import quiet_server, sidecars, watch_files
from ._workers import AdminThread, WorkerApp

__all__ = ["app_from_env", "serve"]

_ENV = "OMNIWASM_SERVE_SETTINGS"
_METRICS_ENV = "OMNIWASM_SERVE_METRICS_DIR"


def app_from_env() -> App | WorkerApp:
    """The uvicorn factory of ``--workers`` processes: build the app from the settings.

    With ``--admin`` or ``--watch`` the app is wrapped in a :class:`WorkerApp` that publishes
    the worker's metrics to the supervisor and runs the worker's own watcher.
    """
    settings = ServeSettings(**json.loads(os.environ[_ENV]))
    configure_logging(settings.log_format)
    from ._protocol import configure

    configure(settings.header_limits)  # this worker's connections
    app = settings.build()
    metrics_dir = os.environ.get(_METRICS_ENV)
    served: App | WorkerApp = app
    if metrics_dir or settings.watch:
        served = WorkerApp(
            app,
            metrics_dir=Path(metrics_dir) if metrics_dir else None,
            watch=watch_files if settings.watch else None,
        )
    gc.freeze()  # the app's long-lived objects: no more garbage-collector passes over them
    keep_freed_memory()
    return served


def _serve_workers(uvicorn: Any, host: str, port: int, settings: ServeSettings) -> None:
    """Run uvicorn's worker processes; serve ``--admin`` here, from the workers' metrics.

    The app is built once here first: a bad manifest or component fails now, with its own
    error, instead of in every worker (which uvicorn would restart forever), and the compile
    cache is warm when the workers load the components.
    """
    settings.build()
    gc.collect()
    os.environ[_ENV] = json.dumps(asdict(settings))
    with contextlib.ExitStack() as stack:
        if settings.admin:
            ahost, aport = parse_addr(settings.admin)
            directory = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="omniwasm-")))
            os.environ[_METRICS_ENV] = str(directory)
            try:
                admin = AdminThread(uvicorn, quiet_server(uvicorn), ahost, aport, directory)
            except OSError as exc:
                raise PolicyError(f"--admin {settings.admin}: {exc.strerror or exc}") from exc
            admin.start()
            stack.callback(admin.stop)
        logger.info(
            "serving %s on %s://%s:%d with %d workers",
            settings.source,
            settings.scheme,
            host,
            port,
            settings.workers,
        )
        from ._protocol import LimitedHttpToolsProtocol

        uvicorn.run(
            "omniwasm.gateway.serve:app_from_env",
            factory=True,
            http=LimitedHttpToolsProtocol,
            host=host,
            port=port,
            workers=settings.workers,
            log_config=None,
            access_log=False,
            **_tls(settings),
        )


def serve(settings: ServeSettings) -> int:
    """Serve until stopped; the exit code.

    Raises:
        PolicyError: bad settings, or uvicorn is not installed (``omniwasm[gateway]``).

    """
    try:
        import uvicorn
    except ImportError as exc:
        raise PolicyError("omniwasm serve needs uvicorn: pip install 'omniwasm[gateway]'") from exc
    host, port = parse_addr(settings.addr)
    if settings.http2:
        check_http2()
        if settings.workers > 1:
            raise PolicyError("--http2 serves from one process: leave out --workers")
    _check_tls(settings)
    _check_free("--addr", host, port)
    if settings.admin:
        _check_free("--admin", *parse_addr(settings.admin))
    configure_logging(settings.log_format)
    if settings.workers > 1:
        _serve_workers(uvicorn, host, port, settings)
        return 0
    app = settings.build()
    gc.freeze()  # the app's long-lived objects: no more garbage-collector passes over them
    keep_freed_memory()
    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        if settings.http2:
            runner.run(serve_http2(app, host, port, settings))
        else:
            runner.run(_serve_one(uvicorn, app, host, port, settings))
    return 0


def _tls(settings: ServeSettings) -> dict[str, Any]:
    """The TLS options for uvicorn (none without ``--tls-cert``)."""
    if not settings.tls_cert:
        return {}
    return {"ssl_certfile": settings.tls_cert, "ssl_keyfile": settings.tls_key}


def _check_tls(settings: ServeSettings) -> None:
    """Load the certificate and key now, so a bad pair fails before anything starts.

    Raises:
        PolicyError: only one of the two, a missing file, or a key that does not fit.

    """
    if not settings.tls_cert and not settings.tls_key:
        return
    if not settings.tls_cert or not settings.tls_key:
        raise PolicyError("--tls-cert and --tls-key go together")
    import ssl

    for flag, path in (("--tls-cert", settings.tls_cert), ("--tls-key", settings.tls_key)):
        if not Path(path).is_file():
            raise PolicyError(f"{flag}: no file at {path}")
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(settings.tls_cert, settings.tls_key)
    except (ssl.SSLError, OSError) as exc:
        raise PolicyError(f"--tls-cert/--tls-key: cannot use them: {exc}") from exc


def _check_free(flag: str, host: str, port: int) -> None:
    """Fail early, and clearly, when ``host:port`` cannot be listened on.

    Raises:
        PolicyError: the address is in use or not this machine's.

    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise PolicyError(f"{flag} {host}:{port}: {exc.strerror or exc}") from exc


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """The uvloop event loop when it is installed (what uvicorn picks for ``--workers``)."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


async def _serve_one(uvicorn: Any, app: App, host: str, port: int, settings: ServeSettings) -> None:
    from ._protocol import LimitedHttpToolsProtocol, configure

    configure(settings.header_limits)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        http=LimitedHttpToolsProtocol,
        log_config=None,
        access_log=False,
        lifespan="on",
        **_tls(settings),
    )
    server = _graceful(uvicorn)(config)
    logger.info("serving %s on %s://%s:%d", settings.source, settings.scheme, host, port)
    async with sidecars(app, settings, lambda: bool(server.should_exit)):
        await server.serve()


def _graceful(uvicorn: Any) -> Any:
    """A uvicorn Server whose Ctrl-C / SIGTERM finish the requests in flight, then return.

    (uvicorn's own handlers re-raise the signal after the graceful stop, so the process would
    end "killed by SIGTERM"; here it ends normally, exit code 0.)
    """

    class Server(uvicorn.Server):  # type: ignore[misc]
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            if threading.current_thread() is not threading.main_thread():
                yield
                return

            server: Any = self

            def stop(signum: int, frame: Any) -> None:
                if server.should_exit:
                    server.force_exit = True  # a second Ctrl-C: do not wait any more
                server.should_exit = True

            previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
            try:
                yield
            finally:
                for sig, handler in previous.items():
                    signal.signal(sig, handler)

    return Server
