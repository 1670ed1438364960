"""The server's logs: access and error lines on stderr, as text or JSON, written in batches."""

from __future__ import annotations

import contextlib
import json
import logging
import sys
import threading
from typing import Any

from .._asgi import ResponseAborted

__all__ = ["FLUSH_BYTES", "FLUSH_SECONDS", "configure_logging"]


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
