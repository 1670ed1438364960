"""The process's stdin, fed to a guest through a pipe the host can close at the deadline.

wasmtime's native WASI reads an inherited stdin with a blocking ``read`` that nothing in the
process can interrupt, so a guest waiting for input that never comes would outlive its
timeout. With a timeout, an inherited stdin that can block (a pipe, a terminal, a socket: not
a regular file) goes through a :class:`StdinPump` instead: a daemon thread copies the real
stdin into a pipe whose read end wasmtime reads as the guest's stdin. At the deadline of a
running call the thread closes the write end: the guest's read returns end-of-file, the
deadline is marked ``cut`` so the call ends in ``Timeout`` whatever the guest does next, and
any further read sees end-of-file. When the store is closed the thread stops within a slice.
"""

from __future__ import annotations

import os
import select
import stat
import threading

from .._deadline import SLICE, Deadline

__all__ = ["StdinPump", "stdin_can_block"]

CHUNK = 1 << 16


def stdin_can_block(fd: int = 0) -> bool:
    """Whether reading ``fd`` may wait for data: anything but a regular file (or a closed fd)."""
    try:
        mode = os.fstat(fd).st_mode
    except OSError:
        return False
    return not stat.S_ISREG(mode)


class StdinPump:
    """Copies ``source`` (the process's stdin) into a pipe until its end or the deadline.

    Args:
        deadline: the store's deadline; the pipe is closed once a running call passes it.
        source: the file descriptor to read (0).

    """

    def __init__(self, deadline: Deadline, source: int = 0) -> None:
        self.deadline = deadline
        self.source = source
        self._read, self._write = os.pipe()
        os.set_inheritable(self._read, False)
        os.set_blocking(self._write, False)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="omniwasm-stdin", daemon=True)
        self._thread.start()

    @property
    def path(self) -> str:
        """A path that opens the pipe's read end (for ``WasiConfig.stdin_file``)."""
        root = "/proc/self/fd" if os.path.isdir("/proc/self/fd") else "/dev/fd"
        return f"{root}/{self._read}"

    def opened(self) -> None:
        """Call once wasmtime has opened :attr:`path`: drops this side's copy of the read end."""
        if self._read >= 0:
            os.close(self._read)
            self._read = -1

    def stop(self) -> None:
        """The store is gone: end the thread (within one slice)."""
        self._stop.set()
        self.opened()

    def _step(self) -> float | None:
        """How long to wait for input before looking at the deadline again (None: cut now)."""
        deadline = self.deadline
        if deadline.active and deadline.expired():
            return None
        left = deadline.remaining()
        return SLICE if left is None else max(0.0, min(SLICE, left))

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                step = self._step()
                if step is None:
                    self.deadline.cut = True
                    return
                ready, _, _ = select.select([self.source], [], [], step)
                if not ready:
                    continue
                data = os.read(self.source, CHUNK)
                if not data or not self._forward(data):
                    return
        except OSError:
            return  # the store closed the pipe, or stdin went away: end of input either way
        finally:
            os.close(self._write)

    def _forward(self, data: bytes) -> bool:
        """Write ``data`` into the pipe as the guest makes room; False once the pump must end."""
        view = memoryview(data)
        while view:
            step = self._step()
            if step is None:
                self.deadline.cut = True
                return False
            if self._stop.is_set():
                return False
            _, ready, _ = select.select([], [self._write], [], step)
            if ready:
                try:
                    view = view[os.write(self._write, view) :]
                except BlockingIOError:
                    continue
        return True
