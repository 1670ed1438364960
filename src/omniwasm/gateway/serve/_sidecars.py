"""What runs beside the app server: the admin server (``--admin``) and the ``--watch`` poller."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

from .._app import App, MetricsApp
from ._settings import ServeSettings, logger, parse_addr

__all__ = ["quiet_server", "sidecars", "watch_files"]


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
    built = getattr(app, "built_ns", None)
    for cid, stamp in list(stamps.items()):
        # changed between the app's load and this first look (a worker that took long to
        # start): compare against nothing, so the first poll reloads it
        if built is not None and stamp[0] is not None and stamp[0][0] >= built:
            stamps[cid] = (None, stamp[1])
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
