"""``omniwasm serve``: an :class:`App` under uvicorn, with an admin server and hot reload.

One process (the default) runs the app server, the optional admin server (``/metrics``,
``/healthz``) and the ``--watch`` poller in one event loop. ``--workers N`` starts N uvicorn
worker processes, each building the app from the same settings (passed in an environment
variable) and running its own ``--watch`` poller; the admin server then runs in the supervising
process and sums the metrics the workers publish (:mod:`._workers`). The key-value database is
shared through its SQLite file. ``--http2`` serves with Hypercorn instead (:mod:`._serve_h2`).
``--tls-cert``/``--tls-key`` serve HTTPS. Stopping (Ctrl-C, SIGTERM) finishes the requests in
flight before the process exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import os
import signal
import socket
import sys
import tempfile
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..._errors import PolicyError
from ..._policy import Policy
from .._app import App, MetricsApp
from .._asgi import (
    DEFAULT_HEADER_TIMEOUT,
    DEFAULT_MAX_HEADER_BYTES,
    DEFAULT_MAX_HEADERS,
    ResponseAborted,
)
from ._workers import AdminThread, WorkerApp

__all__ = ["ServeSettings", "app_from_env", "parse_addr", "serve", "sidecars"]

_ENV = "OMNIWASM_SERVE_SETTINGS"
_METRICS_ENV = "OMNIWASM_SERVE_METRICS_DIR"
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
    max_body_bytes: int = 10 * 1024 * 1024
    max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES
    max_headers: int = DEFAULT_MAX_HEADERS
    header_timeout: float = DEFAULT_HEADER_TIMEOUT
    max_concurrency: int | None = None
    max_queue: int | None = None
    kv_path: str | None = None
    variables: dict[str, str] = field(default_factory=dict)
    log_format: str = "text"
    http2: bool = False
    tls_cert: str | None = None
    tls_key: str | None = None

    @property
    def scheme(self) -> str:
        """``https`` with a TLS certificate, else ``http``."""
        return "https" if self.tls_cert else "http"

    def build(self) -> App:
        """The App these settings describe."""
        policy = Policy(max_memory=self.max_memory, timeout=self.timeout)
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
            self_origin=self.origin,
        )

    @property
    def header_limits(self) -> Any:
        """The request-head limits of the HTTP server (a ``_protocol.HeaderLimits``)."""
        from .._protocol import HeaderLimits

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


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {"time": self.formatTime(record), "level": record.levelname}
        if record.name == "omniwasm.gateway.access":
            for key in ("method", "path", "query", "route", "component", "status"):
                data[key] = getattr(record, key, None)
            data["duration_ms"] = getattr(record, "duration_ms", None)
            data["bytes"] = getattr(record, "bytes", None)
            data["client"] = getattr(record, "client", None)
        else:
            data["logger"] = record.name
            data["message"] = record.getMessage()
            if record.exc_info:
                data["error"] = self.formatException(record.exc_info)
        return json.dumps(data)


FLUSH_SECONDS = 0.2
"""Access logs reach stderr at most this long after their request (warnings at once)."""
FLUSH_BYTES = 64 << 10


class _BatchingHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A stream handler that writes log lines in batches.

    Lines collect in memory and go out together every ``FLUSH_SECONDS`` (a daemon thread),
    when ``FLUSH_BYTES`` have gathered, when a WARNING or worse arrives, and at exit. Under
    load that is one write per batch instead of a system call per request on the event loop.
    """

    def __init__(self, stream: Any) -> None:
        super().__init__(stream)
        self._parts: list[str] = []
        self._size = 0
        self._stop = threading.Event()
        threading.Thread(target=self._tick, name="omniwasm-log", daemon=True).start()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record) + self.terminator
        except Exception:  # logging's contract: report, never raise
            self.handleError(record)
            return
        with self._guard():
            self._parts.append(line)
            self._size += len(line)
            urgent = record.levelno >= logging.WARNING or self._size >= FLUSH_BYTES
        if urgent:
            self.flush()

    def flush(self) -> None:
        with self._guard():
            parts, self._parts, self._size = self._parts, [], 0
            if parts and self.stream is not None:
                with contextlib.suppress(OSError, ValueError):  # a closed or broken stderr
                    self.stream.write("".join(parts))
                    self.stream.flush()

    def close(self) -> None:
        self._stop.set()
        self.flush()
        super().close()

    def _guard(self) -> Any:
        return self.lock if self.lock is not None else contextlib.nullcontext()

    def _tick(self) -> None:
        while not self._stop.wait(FLUSH_SECONDS):
            self.flush()


def configure_logging(log_format: str) -> None:
    """Access and error logs to stderr, as JSON lines or text (written in batches).

    The HTTP server's own warnings and errors (uvicorn's, Hypercorn's) go the same way.
    """
    handler = _BatchingHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(_JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(message)s"))
    root = logging.getLogger("omniwasm")
    for old in root.handlers:
        old.close()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    root.propagate = False
    for server in ("uvicorn", "hypercorn"):  # their warnings and errors, in the same format
        server_log = logging.getLogger(server)
        server_log.handlers[:] = [handler]
        server_log.setLevel(logging.WARNING)
        server_log.propagate = False
    for server in ("uvicorn.error", "hypercorn.error"):
        server_log = logging.getLogger(server)
        if not any(isinstance(f, _AlreadyLogged) for f in server_log.filters):
            server_log.addFilter(_AlreadyLogged())


class _AlreadyLogged(logging.Filter):
    """Drop the server's traceback for a response the gateway aborted on purpose.

    The gateway raises :class:`ResponseAborted` so that the server cuts the connection (the
    client must not take a truncated body for a whole one), and it has already logged why.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, ResponseAborted)


def app_from_env() -> App | WorkerApp:
    """The uvicorn factory of ``--workers`` processes: build the app from the settings.

    With ``--admin`` or ``--watch`` the app is wrapped in a :class:`WorkerApp` that publishes
    the worker's metrics to the supervisor and runs the worker's own watcher.
    """
    settings = ServeSettings(**json.loads(os.environ[_ENV]))
    configure_logging(settings.log_format)
    from .._protocol import configure

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
        from .._protocol import LimitedHttpToolsProtocol

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
        from ._http2 import check_http2

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
    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        if settings.http2:
            from ._http2 import serve_http2

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
    from .._protocol import LimitedHttpToolsProtocol, configure

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


@contextlib.asynccontextmanager
async def sidecars(
    app: App, settings: ServeSettings, stopped: Callable[[], bool]
) -> AsyncIterator[None]:
    """Run the admin server (``--admin``) and the ``--watch`` poller beside the app server.

    The poller runs until ``stopped()``; on the way out both are stopped and awaited.
    """
    import uvicorn

    admin: Any = None
    tasks: list[asyncio.Task[Any]] = []
    if settings.admin:
        ahost, aport = parse_addr(settings.admin)
        admin = quiet_server(uvicorn)(
            uvicorn.Config(MetricsApp(app.metrics), host=ahost, port=aport, log_config=None)
        )
        tasks.append(asyncio.create_task(admin.serve()))
    watch = asyncio.create_task(watch_files(app, stopped)) if settings.watch else None
    try:
        yield
    finally:
        if watch is not None:
            watch.cancel()
            tasks.append(watch)
        if admin is not None:
            admin.should_exit = True
        await asyncio.gather(*tasks, return_exceptions=True)


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


def quiet_server(uvicorn: Any) -> Any:
    """A uvicorn Server that leaves signals alone (the app server owns them)."""

    class Server(uvicorn.Server):  # type: ignore[misc]
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

    return Server


async def watch_files(app: App, stopped: Callable[[], bool], interval: float = 0.5) -> None:
    """Reload a component whose file, or one of its ``files``, changed (every ``interval`` s).

    Runs until ``stopped()`` (or until cancelled). The stamps are taken on a worker thread
    (``files`` globs walk directories).
    """
    loop = asyncio.get_running_loop()
    stamps = await loop.run_in_executor(None, _stamps, app)
    while not stopped():
        await asyncio.sleep(interval)
        fresh = await loop.run_in_executor(None, _stamps, app)
        for cid, stamp in fresh.items():
            if stamp != stamps.get(cid) and stamp[0] is not None:
                stamps[cid] = stamp
                try:
                    await loop.run_in_executor(None, app.reload, cid)
                except Exception:  # a broken build: keep serving the old one
                    logger.exception("reloading %s failed; the previous build keeps serving", cid)


def _stamps(app: App) -> dict[str, tuple[Any, ...]]:
    """Per component: its file's stamp, then its exposed files' (guest path, stamp) pairs."""
    out: dict[str, tuple[Any, ...]] = {}
    for cid, spec in app.specs.items():
        files: tuple[Any, ...] = ()
        if spec.files is not None:
            try:
                found, _ = spec.files.collect()
            except Exception:  # e.g. a file it names is gone: reloading will report it
                found = {}
            files = tuple(sorted((guest, _stamp(host)) for guest, host in found.items()))
        out[cid] = (_stamp(spec.source), files)
    return out


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size
