"""``wasi:io`` in Python: errors, pollables and streams, with pluggable stream backends.

These classes are the host side of the ``wasi:io@0.2.x`` resources; the linker (``_host.py``)
registers them under the component-model names, so their methods are the WIT methods in
snake_case. A stream's backend is any Python object that reads or writes bytes: an input
stream reads from bytes, a binary file or an iterator of chunks; an output stream writes to a
growing buffer, a binary file, a callback or a line-oriented logger. Each instance gets its own
streams, so concurrent guests never mix their output.

Errors follow the WIT: a failed stream operation raises ``omniwasm.Err`` carrying the
``stream-error`` variant (``closed``, or ``last-operation-failed`` with an ``error`` resource).
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import select
import stat
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, BinaryIO

from .._component import current_deadline
from .._deadline import SLICE, sleep
from .._wit.values import Err, Variant

__all__ = [
    "CLOSED",
    "BufferSink",
    "InputStream",
    "IoError",
    "LineLogger",
    "OutputStream",
    "Pollable",
    "ReadyPollable",
    "closed",
    "failed",
    "poll",
    "wait_for",
]

WRITE_BUDGET = 1 << 20
"""What ``check-write`` permits at once (as wasmtime's own streams: 1 MiB)."""

CLOSED = Variant("closed")


def closed() -> Err:
    """The ``stream-error.closed`` error to raise."""
    return Err(CLOSED)


def failed(message: str, code: Any = None) -> Err:
    """A ``stream-error.last-operation-failed`` error carrying an ``error`` resource.

    ``code`` is what ``filesystem-error-code`` / ``http-error-code`` report for it.
    """
    return Err(Variant("last-operation-failed", IoError(message, code)))


class IoError:
    """``wasi:io/error.error``: what went wrong in the last stream operation.

    Args:
        message: the ``to-debug-string``.
        code: the error code a domain interface reports for it (a filesystem ``error-code``
            name, an HTTP ``error-code``...), or None.

    """

    def __init__(self, message: str, code: Any = None) -> None:
        self.message = message
        self.code = code

    def to_debug_string(self) -> str:
        """``to-debug-string``: a human-readable description."""
        return self.message


class Pollable:
    """``wasi:io/poll.pollable``: something that becomes ready.

    Subclasses say when: ``ready()`` answers now, ``deadline()`` gives the monotonic time
    (in the context clock's nanoseconds) at which it becomes ready by itself, or None when it
    waits for an event; ``wait(seconds)`` blocks until the event or the timeout.
    """

    def ready(self) -> bool:
        """``ready``: true when a ``block`` would return immediately."""
        return True

    def block(self) -> None:
        """``block``: wait until ready."""
        poll([self])

    def deadline(self) -> int | None:
        """When (monotonic ns of the owning clock) this becomes ready by itself, if ever."""
        return None

    def wait(self, seconds: float) -> None:
        """Wait up to ``seconds`` for the event this pollable stands for."""
        time.sleep(seconds)

    def clock(self) -> Any:
        """The clock whose nanoseconds ``deadline()`` counts, or None."""
        return None


class ReadyPollable(Pollable):
    """A pollable that is always ready (streams whose backends never block)."""


_POLL_SLICE = 0.005  # longest sleep between looks at event pollables


def poll(pollables: Sequence[Pollable]) -> list[int]:
    """``wasi:io/poll.poll``: block until at least one is ready; the indices of the ready ones.

    Time pollables really wait (on the deterministic clock they advance it instead); event
    pollables are waited on in slices of 5 ms. No wait outlasts the calling guest's deadline.

    Raises:
        ValueError: the list is empty (the WIT says that traps).
        Timeout: the guest's deadline came first (``Cancelled``: the call was cancelled).

    """
    if not pollables:
        raise ValueError("poll: the list of pollables is empty")
    deadline = current_deadline()
    while True:
        ready = [i for i, p in enumerate(pollables) if p.ready()]
        if ready:
            return ready
        if deadline is not None:
            deadline.check("wasi:io/poll.poll")
        deadlines = [(d, p.clock()) for p in pollables if (d := p.deadline()) is not None]
        waits_for_event = any(p.deadline() is None for p in pollables)
        if deadlines:
            due, clock = min(deadlines, key=lambda pair: pair[0])
            if clock is not None and getattr(clock, "virtual", False) and not waits_for_event:
                clock.advance_to(due)  # deterministic time: nothing to wait for
                continue
            delay = max(0.0, (due - clock.now()) / 1e9) if clock is not None else 0.0
        else:
            delay = _POLL_SLICE
        if waits_for_event:
            event = next(p for p in pollables if p.deadline() is None)
            left = None if deadline is None else deadline.remaining()
            event.wait(max(0.0, min(delay, _POLL_SLICE, _POLL_SLICE if left is None else left)))
        else:
            sleep(delay, deadline, "wasi:io/poll.poll")


def wait_for(ready: Callable[[float | None], bool], where: str) -> None:
    """Wait with ``ready(seconds)`` (True once ready) until ready, within the guest's deadline.

    Outside a guest's host call (a host thread) it waits without a bound.

    Raises:
        Timeout: the calling guest's deadline came first (``Cancelled``: it was cancelled).

    """
    deadline = current_deadline()
    if deadline is None:
        ready(None)
    else:
        deadline.wait(ready, where)


# ---------------------------------------------------------------------------- input streams


class InputStream:
    """``wasi:io/streams.input-stream`` over a byte source.

    Sources that never wait (``bytes``, ``io.BytesIO``, a regular file, a list or tuple of
    chunks) are read when the guest asks. Any other source may block (a pipe, a terminal, a
    socket, a generator): a daemon thread reads it into a bounded buffer, so the guest's
    ``read`` returns what has arrived, ``subscribe`` waits for more, and ``blocking-read``
    waits no longer than the guest's deadline (``Timeout``).

    Args:
        source: ``bytes``, a binary file object, or an iterable of ``bytes`` chunks.

    """

    def __init__(self, source: bytes | BinaryIO | Iterable[bytes] | None = None) -> None:
        self._lock = threading.Lock()
        self._buf = b""
        self._eof = False
        self._file: BinaryIO | None = None
        self._chunks: Iterator[bytes] | None = None
        self._reader: _Reader | None = None
        if source is None:
            self._eof = True
        elif isinstance(source, bytes | bytearray | memoryview):
            self._file = io.BytesIO(bytes(source))
        elif hasattr(source, "read"):
            if _may_block(source):
                self._reader = _Reader(source)
            else:
                self._file = source  # type: ignore[assignment]
        elif isinstance(source, list | tuple):
            self._chunks = iter(source)
        else:
            self._reader = _Reader(source)

    def _pull(self, n: int) -> bytes:
        """Up to ``n`` bytes from the backend (b"" at end of stream)."""
        if self._file is not None:
            reader = getattr(self._file, "read1", None) or self._file.read
            return bytes(reader(n))
        if self._chunks is not None:
            for chunk in self._chunks:
                if chunk:
                    return bytes(chunk)
            return b""
        return b""

    def _take(self, n: int) -> bytes:
        with self._lock:
            if not self._buf and not self._eof:
                self._buf = self._pull(max(n, 1))
                if not self._buf:
                    self._eof = True
            if not self._buf and self._eof:
                raise closed()
            out, self._buf = self._buf[:n], self._buf[n:]
            return out

    def read(self, length: int) -> bytes:
        """``read``: up to ``length`` bytes (none yet: b""); ``closed`` at end of stream."""
        reader = self._reader
        if reader is not None:
            return reader.take(length)
        if length == 0:  # a probe: closed at the end, else nothing
            with self._lock:
                if not self._buf and not self._eof:
                    self._buf = self._pull(1)
                    self._eof = not self._buf
                if self._eof and not self._buf:
                    raise closed()
            return b""
        return self._take(length)

    def blocking_read(self, length: int) -> bytes:
        """``blocking-read``: wait (within the deadline) for data or the end, then ``read``."""
        reader = self._reader
        if reader is not None:
            wait_for(reader.wait, "wasi:io/streams.blocking-read")
        return self.read(length)

    def skip(self, length: int) -> int:
        """``skip``: like ``read`` but only counts the bytes."""
        return len(self.read(length))

    def blocking_skip(self, length: int) -> int:
        """``blocking-skip``."""
        return len(self.blocking_read(length))

    def subscribe(self) -> Pollable:
        """``subscribe``: ready when data (or the end) is available."""
        reader = self._reader
        return ReadyPollable() if reader is None else _ReaderPollable(reader)

    def close(self) -> None:
        """Dropped by the guest: nothing to release (the embedder owns the backend)."""

    def shutdown(self) -> None:
        """The context is done with this stream: stop its reader thread (if it has one)."""
        if self._reader is not None:
            self._reader.stop()


READ_AHEAD = 1 << 20
"""Bytes a blocking source's reader thread buffers before it waits for the guest to read."""


def _may_block(source: Any) -> bool:
    """Whether reading a file object may wait: anything but an in-memory or regular file."""
    if isinstance(source, io.BytesIO):
        return False
    try:
        mode = os.fstat(source.fileno()).st_mode
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        return True
    return not stat.S_ISREG(mode)


class _Reader:
    """A daemon thread reading a source that may block into a bounded buffer."""

    def __init__(self, source: Any) -> None:
        self._source = source
        self._cond = threading.Condition()
        self._buf: deque[bytes] = deque()  # chunks as the source gave them
        self._size = 0
        self._eof = False
        self._error: OSError | None = None
        self._stopped = False
        self._fd = _fd_of(source)
        threading.Thread(target=self._run, name="omniwasm-wasi-stdin", daemon=True).start()

    def _run(self) -> None:
        try:
            if hasattr(self._source, "read"):
                self._read_file()
            else:
                for chunk in self._source:
                    if self._stopped or not self._put(bytes(chunk)):
                        return
        except OSError as exc:
            with self._cond:
                self._error = exc
        finally:
            with self._cond:
                self._eof = True
                self._cond.notify_all()

    def _read_file(self) -> None:
        source = self._source
        read = getattr(source, "read1", None) or source.read
        while not self._stopped:
            if self._fd is not None:  # wait in slices, so a stop is seen and input not stolen
                ready, _, _ = select.select([self._fd], [], [], SLICE)
                if not ready:
                    continue
            data = read(1 << 16)
            if not data or not self._put(bytes(data)):
                return

    def _put(self, data: bytes) -> bool:
        """Buffer ``data`` once there is room; False when stopped."""
        with self._cond:
            while self._size >= READ_AHEAD and not self._stopped:
                self._cond.wait(SLICE)
            if self._stopped:
                return False
            if data:
                self._buf.append(data)
                self._size += len(data)
                self._cond.notify_all()
            return True

    def wait(self, seconds: float | None) -> bool:
        """Wait up to ``seconds`` for data or the end; whether either is there."""
        with self._cond:
            return self._cond.wait_for(lambda: bool(self._buf) or self._eof, seconds)

    def ready(self) -> bool:
        return bool(self._buf) or self._eof

    def take(self, length: int) -> bytes:
        with self._cond:
            if self._buf:
                head = self._buf.popleft()
                if len(head) > length:
                    head, rest = head[:length], head[length:]
                    self._buf.appendleft(rest)
                self._size -= len(head)
                self._cond.notify_all()
                return head
            if not self._eof:
                return b""
            error, self._error = self._error, None
            if error is not None:
                raise failed(f"read failed: {error.strerror or error}")
            raise closed()

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify_all()


def _fd_of(source: Any) -> int | None:
    try:
        fd = source.fileno()
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        return None
    return fd if isinstance(fd, int) else None


class _ReaderPollable(Pollable):
    """Ready when a blocking source's reader has data or reached the end."""

    def __init__(self, reader: _Reader) -> None:
        self._reader = reader

    def ready(self) -> bool:
        return self._reader.ready()

    def deadline(self) -> int | None:
        return None

    def wait(self, seconds: float) -> None:
        self._reader.wait(seconds)


# --------------------------------------------------------------------------- output sinks


class BufferSink:
    """Collects what is written, for the embedder to read after (or during) the run.

    Args:
        limit: bytes to keep (None: all). A write past it keeps what fits, sets
            :attr:`truncated` and raises ``BrokenPipeError``: the guest's stream is closed.

    """

    def __init__(self, limit: int | None = None) -> None:
        self._parts: list[bytes] = []
        self._lock = threading.Lock()
        self.limit = limit
        self.size = 0
        self.truncated = False
        """True once a write went past ``limit``."""

    def write(self, data: bytes) -> None:
        with self._lock:
            if self.truncated:
                raise BrokenPipeError("output limit reached")
            limit = self.limit
            if limit is not None and self.size + len(data) > limit:
                self._parts.append(bytes(data[: limit - self.size]))
                self.size = limit
                self.truncated = True
                raise BrokenPipeError(f"output limit of {limit} bytes reached")
            self._parts.append(bytes(data))
            self.size += len(data)

    def getvalue(self) -> bytes:
        """Everything written so far."""
        with self._lock:
            joined = b"".join(self._parts)
            self._parts = [joined] if joined else []
            return joined


class LineLogger:
    """Writes complete lines to a ``logging.Logger`` (a trailing partial line on flush).

    Args:
        logger: where lines go.
        level: their level.

    """

    def __init__(self, logger: logging.Logger, level: int = logging.INFO) -> None:
        self.logger = logger
        self.level = level
        self._pending = b""

    def write(self, data: bytes) -> None:
        lines = (self._pending + bytes(data)).split(b"\n")
        self._pending = lines.pop()
        for line in lines:
            self.logger.log(self.level, "%s", line.decode("utf-8", "replace"))

    def flush(self) -> None:
        if self._pending:
            self.logger.log(self.level, "%s", self._pending.decode("utf-8", "replace"))
            self._pending = b""


Sink = Callable[[bytes], Any]


def sink_of(target: Any) -> tuple[Sink, Callable[[], Any] | None]:
    """``(write, flush)`` for an output target: a writable object, a callable, or None."""
    if target is None:
        return (lambda data: None), None
    write = getattr(target, "write", None)
    if write is not None:
        return write, getattr(target, "flush", None)
    if callable(target):
        return target, None
    raise TypeError(f"an output stream target writes bytes: got {type(target).__name__}")


class OutputStream:
    """``wasi:io/streams.output-stream`` over a sink (see :func:`sink_of`).

    Writes go straight to the sink; ``check-write`` always permits ``WRITE_BUDGET`` bytes, and
    a write beyond what it permitted fails the call (the WIT says it traps).
    """

    def __init__(self, target: Any = None) -> None:
        self._write, self._flush = sink_of(target)
        self._closed = False

    def _emit(self, contents: bytes | bytearray | memoryview) -> None:
        if self._closed:
            raise closed()
        if len(contents) > WRITE_BUDGET:
            raise ValueError(
                f"output-stream.write of {len(contents)} bytes exceeds check-write's {WRITE_BUDGET}"
            )
        if contents:
            try:
                self._write(bytes(contents))
            except BrokenPipeError:
                self._closed = True  # nothing reads on (an output limit was reached)
                raise closed() from None
            except OSError as exc:
                raise failed(f"write failed: {exc.strerror or exc}") from None

    def check_write(self) -> int:
        """``check-write``: how many bytes ``write`` accepts now."""
        if self._closed:
            raise closed()
        return WRITE_BUDGET

    def write(self, contents: bytes) -> None:
        """``write``."""
        self._emit(contents)

    def blocking_write_and_flush(self, contents: bytes) -> None:
        """``blocking-write-and-flush``."""
        self._emit(contents)
        self.flush()

    def flush(self) -> None:
        """``flush``: pass buffered bytes on to the sink's own flush, if it has one."""
        if self._closed:
            raise closed()
        if self._flush is not None:
            try:
                self._flush()
            except OSError as exc:
                raise failed(f"flush failed: {exc.strerror or exc}") from None

    def blocking_flush(self) -> None:
        """``blocking-flush``."""
        self.flush()

    def subscribe(self) -> Pollable:
        """``subscribe``: ready when writing is possible: always, here."""
        return ReadyPollable()

    def write_zeroes(self, length: int) -> None:
        """``write-zeroes``."""
        self._emit(bytes(length))

    def blocking_write_zeroes_and_flush(self, length: int) -> None:
        """``blocking-write-zeroes-and-flush``."""
        self._emit(bytes(length))
        self.flush()

    def splice(self, src: InputStream, length: int) -> int:
        """``splice``: move up to ``length`` bytes from ``src``; how many moved."""
        if length == 0:
            return 0
        data = src.read(min(length, WRITE_BUDGET))
        self._emit(data)
        return len(data)

    def blocking_splice(self, src: InputStream, length: int) -> int:
        """``blocking-splice``."""
        return self.splice(src, length)

    def close(self) -> None:
        """Dropped by the guest: flush what the sink buffers."""
        if self._flush is not None and not self._closed:
            with contextlib.suppress(OSError, ValueError):  # a sink closed by its owner
                self._flush()
        self._closed = True
