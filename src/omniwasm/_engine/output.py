"""Captured guest output with a size limit: a pipe drained into a bounded buffer.

wasmtime's native WASI writes a guest's stdout/stderr to a file it opens by path; it writes
from its own threads, so Python callbacks are out (one entered while the interpreter shuts
down aborts the thread). A file, though, grows as long as the guest writes (2 GiB in two
seconds). So the path is a pipe's write end, and one daemon thread for the whole process
(epoll) moves what arrives into each capture's buffer, up to ``Policy.max_output`` bytes. Past
the limit the capture keeps exactly ``limit`` bytes, notes it was truncated and closes the read
end: the guest's next write fails with a broken pipe (WASI ``pipe`` errno), the guest sees a
closed stream, and nothing more is stored. The guest's writes may run past the limit by what
the pipe holds (64 KiB, plus one short write) before they fail; nothing past it is kept. A
guest writing faster than the thread drains waits on the pipe, as it would on a terminal.
"""

from __future__ import annotations

import contextlib
import os
import select
import threading
import time
import weakref

__all__ = ["OutputCapture"]

CHUNK = 1 << 16
FREEZE_WAIT = 1.0
"""Seconds :meth:`OutputCapture.freeze` waits for data still in flight after the store closed."""


class OutputCapture:
    """One captured output stream of one store.

    Args:
        name: ``"stdout"`` or ``"stderr"`` (for the thread's name and messages).
        limit: bytes to keep (None: no limit).

    """

    def __init__(self, name: str, limit: int | None) -> None:
        self.name = name
        self.limit = limit
        self.truncated = False
        """True once the guest wrote more than ``limit`` bytes (the rest was refused)."""
        self._buf = bytearray()
        self._lock = threading.Lock()
        self._read, self._write = os.pipe()
        os.set_blocking(self._read, False)
        self._frozen: bytes | None = None
        self._open = True  # the read end is still open
        _Drain.get().add(self)

    @property
    def path(self) -> str:
        """A path that opens the pipe's write end (for ``WasiConfig.stdout_file``)."""
        root = "/proc/self/fd" if os.path.isdir("/proc/self/fd") else "/dev/fd"
        return f"{root}/{self._write}"

    def opened(self) -> None:
        """Call once wasmtime opened :attr:`path`: drops this side's write end."""
        if self._write >= 0:
            os.close(self._write)
            self._write = -1

    def read(self) -> bytes:
        """What the guest wrote so far (what is waiting in the pipe included)."""
        with self._lock:
            if self._frozen is not None:
                return self._frozen
            self._pull()
            return bytes(self._buf)

    def freeze(self) -> None:
        """The store is closed: take the rest, release the pipe, keep the bytes in memory."""
        self.opened()
        with self._lock:
            if self._frozen is not None:
                return
            end = time.monotonic() + FREEZE_WAIT
            while self._open and self._pull():
                left = end - time.monotonic()
                if left <= 0 or not select.select([self._read], [], [], left)[0]:
                    break  # a writer we do not know of keeps the pipe open: stop waiting
            self._finish()
            self._frozen = bytes(self._buf)
            self._buf = bytearray()

    def on_ready(self) -> None:
        """The drain thread saw data (or the end) on the pipe."""
        with self._lock:
            if self._open:
                self._pull()

    def _pull(self) -> bool:
        """Move what the pipe holds into the buffer (lock held); False once the pipe is done."""
        while self._open:
            try:
                chunk = os.read(self._read, CHUNK)
            except BlockingIOError:
                return True
            except OSError:
                chunk = b""
            if not chunk:
                self._finish()
                return False
            limit = self.limit
            if limit is not None and len(self._buf) + len(chunk) > limit:
                self._buf += chunk[: limit - len(self._buf)]
                self.truncated = True
                self._finish()  # the guest's next write gets a broken pipe
                return False
            self._buf += chunk
        return False

    def __del__(self) -> None:
        if self._open:
            self._finish()
        if self._write >= 0:
            os.close(self._write)

    def _finish(self) -> None:
        if self._open:
            self._open = False
            _Drain.get().remove(self._read)
            os.close(self._read)
            self._read = -1


class _Drain:
    """The one thread that moves pipe data into captures (epoll on Linux, poll elsewhere)."""

    _instance: _Drain | None = None
    _guard = threading.Lock()

    def __init__(self) -> None:
        self._poll = select.epoll() if hasattr(select, "epoll") else select.poll()
        self._captures: dict[int, weakref.ref[OutputCapture]] = {}
        self._lock = threading.Lock()
        threading.Thread(target=self._run, name="omniwasm-output", daemon=True).start()

    @classmethod
    def get(cls) -> _Drain:
        found = cls._instance
        if found is None:
            with cls._guard:
                found = cls._instance
                if found is None:
                    found = cls._instance = _Drain()
        return found

    def add(self, capture: OutputCapture) -> None:
        with self._lock:
            self._captures[capture._read] = weakref.ref(capture)
            self._poll.register(capture._read, select.POLLIN)

    def remove(self, fd: int) -> None:
        with self._lock:
            if self._captures.pop(fd, None) is not None:
                with contextlib.suppress(OSError, KeyError):
                    self._poll.unregister(fd)

    def _run(self) -> None:
        while True:
            try:
                events = self._poll.poll(0.5 if isinstance(self._poll, select.epoll) else 500)
            except InterruptedError:
                continue
            for fd, _ in events:
                with self._lock:
                    ref = self._captures.get(fd)
                capture = ref() if ref is not None else None
                if capture is None:
                    self.remove(fd)
                else:
                    capture.on_ready()
