"""One thread that stops ONNX Runtime runs at their deadline (``RunOptions.terminate``).

ONNX Runtime checks a run's ``terminate`` flag between kernels and ends the run with an error
once it is set, from any thread. Each ``compute`` registers its run options with the time it
must end by; this thread sets the flag then. One thread for the process (started on first use)
instead of a timer thread per call: registering costs a heap push, not a thread start.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Callable
from typing import Any

__all__ = ["Watch", "watch"]


class Watch:
    """A registered run: ``fired`` says whether the deadline (or a cancellation) stopped it."""

    __slots__ = ("at", "cancelled", "done", "fired", "options")

    def __init__(self, options: Any, at: float, cancelled: Callable[[], bool] | None) -> None:
        self.options = options
        self.at = at
        self.cancelled = cancelled
        self.fired = False
        self.done = False


class _Watchdog:
    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Watch]] = []
        self._polled: list[Watch] = []
        self._ids = itertools.count()
        self._finished = 0
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None

    def add(self, options: Any, at: float, cancelled: Callable[[], bool] | None) -> Watch:
        entry = Watch(options, at, cancelled)
        with self._cond:
            heapq.heappush(self._heap, (at, next(self._ids), entry))
            if cancelled is not None:
                self._polled.append(entry)
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="omniwasm-nn-watchdog")
                self._thread.daemon = True
                self._thread.start()
            self._cond.notify()
        return entry

    def finish(self, entry: Watch) -> None:
        with self._cond:
            entry.done = True
            if entry.cancelled is not None:
                self._polled.remove(entry)
            # finished runs leave the heap when their time comes; past many, drop them now
            self._finished += 1
            if self._finished > 64 and self._finished * 2 > len(self._heap):
                self._heap = [item for item in self._heap if not item[2].done]
                heapq.heapify(self._heap)
                self._finished = 0

    def _fire(self, entry: Watch) -> None:
        if not entry.done and not entry.fired:
            entry.fired = True
            entry.options.terminate = True

    def _loop(self) -> None:
        with self._cond:
            while True:
                now = time.monotonic()
                while self._heap and (self._heap[0][0] <= now or self._heap[0][2].done):
                    entry = heapq.heappop(self._heap)[2]
                    if entry.done:
                        self._finished = max(0, self._finished - 1)
                    self._fire(entry)
                for entry in self._polled:
                    cancelled = entry.cancelled
                    if cancelled is not None and cancelled():
                        self._fire(entry)
                wait = self._heap[0][0] - now if self._heap else None
                if self._polled:  # a cancellation is seen within 50 ms
                    wait = 0.05 if wait is None else min(wait, 0.05)
                self._cond.wait(wait)


watch = _Watchdog()
"""The process's watchdog: ``watch.add(run_options, at, cancelled)`` then ``watch.finish``."""
