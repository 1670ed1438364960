"""``omniwasm serve --workers N``: one admin server and hot reload across worker processes.

uvicorn starts the worker processes; each builds the app from the settings and wraps it in a
:class:`WorkerApp`, which on startup

- publishes the worker's metrics: its :meth:`~._metrics.Metrics.snapshot` written every
  ``PUBLISH_SECONDS`` (and once more at shutdown) to ``worker-<pid>.json`` in a directory the
  supervisor made, each write atomic (a temporary file, then ``os.replace``);
- runs its own ``--watch`` poller, so every worker reloads a changed component by itself.

The supervisor process (the one that called ``uvicorn.run``) serves the admin address from a
thread (:class:`AdminThread`): ``/metrics`` is the sum of every worker's latest snapshot
(:class:`MergedMetrics`) and ``omniwasm_workers`` says how many live workers it sums. Counters
of a worker that died stay in the sum (Prometheus counters never go down); its in-flight gauge
does not.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import tempfile
import threading
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

from .._app import App, MetricsApp
from .._messages import Receive, Scope, Send
from .._metrics import Metrics

__all__ = ["PUBLISH_SECONDS", "AdminThread", "MergedMetrics", "WorkerApp"]

PUBLISH_SECONDS = 0.5
"""How often a worker publishes its metrics: ``/metrics`` lags the workers by at most this."""

logger = logging.getLogger("omniwasm.gateway")


def _snapshot_path(directory: Path, pid: int) -> Path:
    return directory / f"worker-{pid}.json"


def _start_time(pid: int) -> str | None:
    """When process ``pid`` started (Linux: clock ticks since boot), or None if unknown.

    With the pid, it names one process even after the pid is reused.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rpartition(")")[2].split()  # after "pid (comm)": state is field 3
    return fields[19] if len(fields) > 19 else None  # field 22: starttime


def _alive(pid: int, started: str | None = None) -> bool:
    """Whether ``pid`` runs, and (``started`` known) is still the process that published."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return started is None or _start_time(pid) in (None, started)


class Publisher:
    """Writes one worker's metrics snapshot to ``directory`` every ``PUBLISH_SECONDS``."""

    def __init__(self, metrics: Metrics, directory: Path) -> None:
        self.metrics = metrics
        self.path = _snapshot_path(directory, os.getpid())
        self._started = _start_time(os.getpid())
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self.publish()
        self._thread = threading.Thread(target=self._run, name="omniwasm-metrics", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop publishing, after one last snapshot (the requests finished at shutdown)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.publish()

    def publish(self) -> None:
        """Write the snapshot atomically; a directory that is gone is not an error."""
        data = json.dumps({**self.metrics.snapshot(), "started": self._started})
        try:
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".tmp-", suffix=".json")
        except OSError:
            return  # the supervisor is gone and removed the directory
        try:
            with os.fdopen(fd, "w") as out:
                out.write(data)
            os.replace(tmp, self.path)
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(tmp)

    def _run(self) -> None:
        while not self._stop.wait(PUBLISH_SECONDS):
            self.publish()


class MergedMetrics:
    """The sum of the snapshots the workers published in ``directory``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def snapshots(self) -> Iterator[tuple[int, bool, Metrics]]:
        """``(pid, alive, metrics)`` of every readable snapshot (a bad file is logged, skipped).

        ``alive``: the process that wrote it still runs (not merely another one with its pid).
        """
        for pid in self._pids():
            path = _snapshot_path(self.directory, pid)
            one = Metrics()
            try:
                data = json.loads(path.read_text())
                one.add(data)
            except FileNotFoundError:
                continue
            except (OSError, ValueError) as exc:
                logger.warning("skipping the metrics in %s: %s", path, exc)
                continue
            started = data.get("started")
            yield pid, _alive(pid, started if isinstance(started, str) else None), one

    def _pids(self) -> list[int]:
        names = (p.stem.removeprefix("worker-") for p in self.directory.glob("worker-*.json"))
        return sorted(int(n) for n in names if n.isdigit())

    def live(self) -> int:
        """How many worker processes that published are still running."""
        return sum(alive for _, alive, _ in self.snapshots())

    def render(self) -> str:
        """The Prometheus text of all workers together, and how many are live."""
        total = Metrics()
        live = 0
        for _, alive, one in self.snapshots():
            live += alive
            total.add(one.snapshot(), in_flight=alive)
        return total.render() + (
            "# HELP omniwasm_workers Live worker processes in these metrics.\n"
            "# TYPE omniwasm_workers gauge\n"
            f"omniwasm_workers {live}\n"
        )


class WorkerApp:
    """The ASGI app of one worker process.

    The :class:`App`, plus metrics publishing and ``--watch``, started and stopped with the
    app's lifespan.
    """

    def __init__(
        self,
        app: App,
        *,
        metrics_dir: Path | None,
        watch: Callable[[App, Callable[[], bool]], Coroutine[Any, Any, None]] | None,
    ) -> None:
        self.app = app
        self._publisher = Publisher(app.metrics, metrics_dir) if metrics_dir else None
        self._watch = watch
        self._watch_task: asyncio.Task[None] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass everything to the app; act on the lifespan's startup and shutdown."""
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return

        async def observed() -> Any:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self._start()
            elif message["type"] == "lifespan.shutdown":
                await self._stop_watching()
            return message

        async def sent(message: Any) -> None:
            if message["type"] == "lifespan.shutdown.complete" and self._publisher is not None:
                self._publisher.stop()  # after the app finished its requests
            await send(message)

        await self.app(scope, observed, sent)

    def _start(self) -> None:
        if self._publisher is not None:
            self._publisher.start()
        if self._watch is not None:
            self._watch_task = asyncio.create_task(self._watch(self.app, lambda: False))

    async def _stop_watching(self) -> None:
        task, self._watch_task = self._watch_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


class AdminThread:
    """The supervisor's admin server: ``/metrics`` summed over the workers, ``/healthz``.

    Served by uvicorn on its own event loop in a daemon thread.
    """

    def __init__(
        self, uvicorn: Any, server_class: Any, host: str, port: int, directory: Path
    ) -> None:
        """Bind the admin address now (its errors surface here, before any worker starts).

        Raises:
            OSError: the address cannot be bound (in use, not local, ...).

        """
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.socket = socket.socket(family, socket.SOCK_STREAM)
        try:
            self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.socket.bind((host, port))
        except OSError:
            self.socket.close()
            raise
        merged = MergedMetrics(directory)
        config = uvicorn.Config(
            MetricsApp(merged, healthy=lambda: merged.live() > 0), log_config=None, access_log=False
        )
        self.server = server_class(config)
        self._thread = threading.Thread(target=self._run, name="omniwasm-admin", daemon=True)

    def _run(self) -> None:
        asyncio.run(self.server.serve(sockets=[self.socket]))

    def start(self) -> None:
        """Start serving (in the background)."""
        self._thread.start()

    def stop(self) -> None:
        self.server.should_exit = True
        self._thread.join(timeout=5)
        self.socket.close()
