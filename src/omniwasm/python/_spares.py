"""Spare sandboxes: instantiated ahead of need and released after use, off the caller's path.

:func:`take` gives :func:`run` an interpreter made in advance for the same image, policy and
tool-call limit when one is ready (a run with files makes its own, since its private ``/tmp``
is filled first), and asks the background thread for the next one; :func:`release` hands a
used interpreter to that thread to close, since releasing a store that ran code (returning
its pages to the pooling allocator) takes milliseconds the caller need not wait for. A spare
is a fresh instance nobody has run code in: taking one is instantiating, only earlier. At most
:data:`PER_KIND` spares wait per kind, for at most :data:`MAX_KINDS` kinds used in the last
:data:`KEEP_SECONDS`; the spares of other kinds are closed.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import deque

from .._policy import Policy
from ._image import Image
from ._sandbox import Interpreter

__all__ = ["Limits", "release", "take"]

PER_KIND = 2
KEEP_SECONDS = 30.0
MAX_KINDS = 4
Limits = tuple[int, int]
"""``(max_tool_calls, max_open_files)`` of the interpreters of a kind."""
_Key = tuple[tuple[str, ...], Policy | None, Limits]


class _Spares:
    def __init__(self) -> None:
        self.ready: dict[_Key, deque[Interpreter]] = {}
        self.used: dict[_Key, float] = {}
        self.wanted: deque[tuple[_Key, Image]] = deque()
        self.done: deque[Interpreter] = deque()
        self.wake = threading.Condition()
        self.worker: threading.Thread | None = None

    def _start(self) -> None:
        if self.worker is None:
            self.worker = threading.Thread(
                target=self._work, name="omniwasm-python-spares", daemon=True
            )
            self.worker.start()

    def take(self, image: Image, policy: Policy | None, limits: Limits) -> Interpreter | None:
        key: _Key = (image.preload, policy, limits)
        with self.wake:
            now = self.used[key] = time.monotonic()
            self._evict(now)
            spares = self.ready.get(key)
            found = spares.popleft() if spares else None
            self.wanted.append((key, image))
            self._start()
            self.wake.notify()
        return found

    def _evict(self, now: float) -> None:
        """Close the spares of stale kinds and of all but the MAX_KINDS most recent ones.

        Each spare holds a slot of the pooling allocator: kinds must not pile them up.
        """
        recent = sorted(self.used, key=self.used.__getitem__, reverse=True)[:MAX_KINDS]
        for key in list(self.used):
            if key not in recent or now - self.used[key] > KEEP_SECONDS:
                self.done.extend(self.ready.pop(key, ()))
                del self.used[key]

    def release(self, interpreter: Interpreter) -> None:
        with self.wake:
            self.done.append(interpreter)
            self._start()
            self.wake.notify()

    def _work(self) -> None:
        while True:
            with self.wake:
                while not self.wanted and not self.done:
                    self.wake.wait()
                closing = self.done.popleft() if self.done else None
                job = self.wanted.popleft() if closing is None else None
            if closing is not None:
                closing.close()
                continue
            assert job is not None
            key, image = job
            with self.wake:
                spares = self.ready.setdefault(key, deque())
                stale = time.monotonic() - self.used.get(key, 0.0) > KEEP_SECONDS
                if len(spares) >= PER_KIND or stale:
                    continue
            with contextlib.suppress(Exception):  # one that cannot be made is made by run()
                made = Interpreter(
                    image, key[1], max_tool_calls=key[2][0], max_open_files=key[2][1]
                )
                with self.wake:
                    if self.ready.get(key) is spares:
                        spares.append(made)
                    else:  # its kind was evicted meanwhile
                        self.done.append(made)


_SPARES = _Spares()


def take(image: Image, policy: Policy | None, limits: Limits) -> Interpreter | None:
    """A ready interpreter of this kind (None: none yet; one is on its way)."""
    return _SPARES.take(image, policy, limits)


def release(interpreter: Interpreter) -> None:
    """Close ``interpreter`` on the background thread."""
    _SPARES.release(interpreter)
