"""A bounded pool of plugin instances shared by many threads."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from .._errors import LimitExceeded, OmniwasmError
from ._plugin import CompiledPlugin, Plugin

__all__ = ["PluginPool"]


class PluginPool:
    """Serve concurrent callers from at most ``size`` live instances of one compiled plugin.

    Instances are created on demand (up to ``size``) and reused; a caller that finds every
    instance busy waits (up to ``timeout`` seconds, forever when None). Instances keep their
    state between the calls they serve, as a single ``Plugin`` does; a call that fails (trap,
    timeout, guest error) leaves its instance usable.

    Args:
        compiled: what to instantiate.
        size: the bound on live instances (>= 1).
        timeout: how long a caller waits for a free instance.

    Raises:
        ValueError: ``size`` is below 1.

    """

    def __init__(self, compiled: CompiledPlugin, size: int, *, timeout: float | None = None):
        if size < 1:
            raise ValueError(f"PluginPool size must be at least 1, got {size}")
        self.compiled = compiled
        self.size = size
        self.timeout = timeout
        self._idle: queue.LifoQueue[Plugin] = queue.LifoQueue()
        self._slots = threading.BoundedSemaphore(size)
        self._all: list[Plugin] = []
        self._lock = threading.Lock()
        self._closed = False

    @property
    def live(self) -> int:
        """How many instances exist now."""
        return len(self._all)

    @contextmanager
    def instance(self) -> Iterator[Plugin]:
        """Borrow an instance for the duration of a ``with`` block.

        Raises:
            LimitExceeded: no instance became free within ``timeout``.
            OmniwasmError: the pool is closed.

        """
        if self._closed:
            raise OmniwasmError("the plugin pool is closed")
        if not self._slots.acquire(timeout=self.timeout):
            raise LimitExceeded(
                f"no free plugin instance within {self.timeout}s (pool size {self.size})",
                limit=self.size,
                used=self.size,
            )
        try:
            try:
                plugin = self._idle.get_nowait()
            except queue.Empty:
                plugin = self.compiled.instantiate()
                with self._lock:
                    self._all.append(plugin)
            try:
                yield plugin
            finally:
                if self._closed:
                    plugin.close()
                else:
                    self._idle.put(plugin)
        finally:
            self._slots.release()

    def call(self, name: str, *args: Any) -> Any:
        """Call ``name`` on a free instance (see :meth:`Plugin.call`)."""
        with self.instance() as plugin:
            return plugin.call(name, *args)

    def call_json(self, name: str, value: Any = None) -> Any:
        """Call with JSON in and out on a free instance (see :meth:`Plugin.call_json`)."""
        with self.instance() as plugin:
            return plugin.call_json(name, value)

    def close(self) -> None:
        """Close every idle instance; busy ones close when their caller returns them."""
        self._closed = True
        while True:
            try:
                self._idle.get_nowait().close()
            except queue.Empty:
                break

    def __enter__(self) -> PluginPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
