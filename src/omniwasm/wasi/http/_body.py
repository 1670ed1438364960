"""``wasi:http/types`` bodies: the byte feeds, pollables, and incoming/outgoing bodies.

Bodies move through a :class:`BodyFeed`, a thread-safe queue of byte chunks that one side fills
(the HTTP client's background thread, the guest's ``output-stream``, or an embedder) and the
other drains (the guest's ``input-stream``, the HTTP client, the gateway). A feed ends cleanly
or with an ``error-code``; a guest reading a failed body gets
``stream-error.last-operation-failed`` whose ``error`` resource ``http-error-code`` turns back
into that ``error-code``. Pollables here wait on threading events and conditions, so a guest's
``poll``/``block`` really waits for the network.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterator

from ..._wit.values import Err, Ok, Variant
from .._io import CLOSED, InputStream, OutputStream, Pollable, closed, wait_for
from ._fields import Fields, HttpIoError, error_code

__all__ = [
    "BodyAborted",
    "BodyFeed",
    "EventPollable",
    "FutureTrailers",
    "IncomingBody",
    "OutgoingBody",
]


class EventPollable(Pollable):
    """A pollable that becomes ready when a ``threading.Event`` is set."""

    def __init__(self, event: threading.Event) -> None:
        self._event = event

    def ready(self) -> bool:
        return self._event.is_set()

    def deadline(self) -> int | None:
        return None

    def wait(self, seconds: float) -> None:
        self._event.wait(seconds)


UNBOUNDED_ROOM = 1 << 62

OUTGOING_BUFFER = 1 << 20
"""Bytes an outgoing body buffers, once its reader has started, before the guest's writes wait
for it (the reader: the gateway sending a response, the HTTP client sending a request): a guest
cannot pile up more than this in host memory however slowly the other side reads. Before the
reader starts (a body written before ``handle`` or before the response is set) nothing waits,
since nothing would ever drain it."""


class _RoomPollable(Pollable):
    """Ready when the feed has room for more bytes (an outgoing body's ``subscribe``)."""

    def __init__(self, feed: BodyFeed) -> None:
        self._feed = feed

    def ready(self) -> bool:
        return self._feed.room() > 0

    def deadline(self) -> int | None:
        return None

    def wait(self, seconds: float) -> None:
        self._feed.wait_room(seconds)


class _FeedPollable(Pollable):
    """Ready when the feed has bytes to read or has ended (``whole``: only when ended)."""

    def __init__(self, feed: BodyFeed, *, whole: bool = False) -> None:
        self._feed = feed
        self._whole = whole

    def ready(self) -> bool:
        return self._feed.ended() if self._whole else self._feed.readable()

    def deadline(self) -> int | None:
        return None

    def wait(self, seconds: float) -> None:
        self._feed.wait(seconds, whole=self._whole)


class BodyFeed:
    r"""Chunks of a body passed between threads; ends cleanly or with an ``error-code``.

    The producer calls :meth:`put` and then :meth:`end`; the consumer :meth:`take`\\s (the
    guest's stream) or iterates :meth:`chunks` (a host thread). Holders (response, body,
    stream, trailers future) :meth:`hold` and :meth:`release` it: when the last lets go before
    the end, the feed is cancelled, and the producer stops at its next chunk.

    Args:
        limit: the most bytes it buffers before a producer that asks (:meth:`room`,
            :meth:`wait_room`) is held back until the consumer catches up; None: no bound.

    """

    def __init__(self, limit: int | None = None) -> None:
        self.limit = limit
        self._buffered = 0
        # Most feeds are filled and drained without anyone waiting: a plain lock guards them,
        # and the condition to wait on is made (over that lock) by the first waiter.
        self._lock = threading.Lock()
        self._cond: threading.Condition | None = None
        self._chunks: deque[bytes] = deque()
        self._done = False
        self._error: Variant | None = None
        self._error_reported = False
        self._holders = 0
        self.cancelled = False
        self.discarding = False
        self.trailers: Fields | None = None
        self._watcher: Callable[[], None] | None = None

    def _waiters(self) -> threading.Condition:
        """The condition waiters wait on (call with the lock held)."""
        cond = self._cond
        if cond is None:
            cond = self._cond = threading.Condition(self._lock)
        return cond

    def _notify(self) -> None:
        """Wake every waiter (call with the lock held)."""
        if self._cond is not None:
            self._cond.notify_all()

    @classmethod
    def of(cls, data: bytes = b"") -> BodyFeed:
        """A feed that holds ``data`` and has ended."""
        feed = cls()
        feed.put(data)
        feed.end()
        return feed

    def put(self, data: bytes) -> None:
        """Add a chunk (dropped when the feed has ended, is cancelled or being discarded)."""
        if not data:
            return
        with self._lock:
            if not self.discarding and not self._done:
                self._chunks.append(bytes(data))
                self._buffered += len(data)
            self._notify()
            watcher = self._watcher
        if watcher is not None:
            watcher()

    def end(self, error: Variant | None = None, trailers: Fields | None = None) -> None:
        """The body is complete (``error``: it failed with that ``error-code``)."""
        with self._lock:
            if not self._done:
                self._done, self._error, self.trailers = True, error, trailers
            self._notify()
            watcher = self._watcher
        if watcher is not None:
            watcher()

    def watch(self, callback: Callable[[], None] | None) -> None:
        """Call ``callback`` after every chunk and at the end (from the producer's thread).

        For a consumer that cannot block on the feed, such as an event loop: the callback
        should only wake it (``loop.call_soon_threadsafe``); the consumer then drains with
        ``take(..., block=False)``. Chunks put before the call are not announced.
        """
        with self._lock:
            self._watcher = callback

    def hold(self) -> None:
        with self._lock:
            self._holders += 1

    def release(self) -> None:
        """One holder is gone; the last one cancels an unfinished transfer."""
        with self._lock:
            self._holders -= 1
            if self._holders <= 0 and not self._done:
                self.cancelled = self.discarding = True
                self._chunks.clear()
                self._buffered = 0
            self._notify()

    def discard(self) -> None:
        """Drop unread and future chunks (the body was finished without reading them all)."""
        with self._lock:
            self.discarding = True
            self._chunks.clear()
            self._buffered = 0
            self._notify()

    def room(self) -> int:
        """Bytes the producer may add before reaching :attr:`limit`.

        Unbounded (a large number) without a limit, and once nobody will read more: further
        chunks are then dropped.
        """
        if self.limit is None or self._done or self.discarding:
            return UNBOUNDED_ROOM
        return max(0, self.limit - self._buffered)

    def wait_room(self, seconds: float | None) -> bool:
        """Wait until :meth:`room` is positive; whether it is."""
        with self._lock:
            return self._waiters().wait_for(lambda: self.room() > 0, seconds)

    def readable(self) -> bool:
        return bool(self._chunks) or self._done

    def ended(self) -> bool:
        return self._done

    @property
    def error(self) -> Variant | None:
        """The ``error-code`` the body ended with, if any."""
        return self._error

    def wait(self, seconds: float | None, *, whole: bool = False) -> bool:
        """Wait until readable (``whole``: until ended); whether it is."""
        with self._lock:
            return self._waiters().wait_for(self.ended if whole else self.readable, seconds)

    def take(self, length: int, *, block: bool) -> bytes:
        """Up to ``length`` bytes; b"" when none yet (``block``: wait for some).

        Raises:
            Err: ``closed`` at the end, ``last-operation-failed`` once if the body failed.

        """
        with self._lock:
            if block:
                self._waiters().wait_for(self.readable)
            if self._chunks:
                if length <= 0:
                    return b""
                head = self._chunks.popleft()
                if len(head) > length:
                    head, rest = head[:length], head[length:]
                    self._chunks.appendleft(rest)
                self._buffered -= len(head)
                if self.limit is not None:
                    self._notify()  # a producer may wait for room
                return head
            return self._empty()

    def take_upto(self, length: int) -> bytes:
        """Up to ``length`` bytes of what the feed holds now, in one piece (b"" when none yet).

        For a consumer that sends large pieces (the gateway): the producer's chunks (a guest
        writes at most 4 KiB per call) are taken together under one lock, not one by one.

        Raises:
            Err: as :meth:`take`, once the feed is empty and has ended.

        """
        with self._lock:
            chunks = self._chunks
            if chunks:
                if length <= 0:
                    return b""
                parts: list[bytes] = []
                size = 0
                while chunks and size < length:
                    head = chunks.popleft()
                    if size + len(head) > length:
                        cut = length - size
                        chunks.appendleft(head[cut:])
                        head = head[:cut]
                    parts.append(head)
                    size += len(head)
                self._buffered -= size
                if self.limit is not None:
                    self._notify()  # a producer may wait for room
                return parts[0] if len(parts) == 1 else b"".join(parts)
            return self._empty()

    def _empty(self) -> bytes:
        """What a take returns with no chunk left (call with the lock held)."""
        if not self._done:
            return b""
        if self._error is not None and not self._error_reported:
            self._error_reported = True
            raise Err(Variant("last-operation-failed", HttpIoError(self._error)))
        raise closed()

    def chunks(self) -> Iterator[bytes]:
        """Every chunk until the end, blocking (for host threads).

        Raises:
            BodyAborted: the body ended with an error.

        """
        while True:
            try:
                chunk = self.take(1 << 30, block=True)
            except Err as exc:
                if exc.value == CLOSED:
                    return
                raise BodyAborted(self._error or error_code("internal-error")) from None
            yield chunk


class BodyAborted(Exception):
    """A body ended with an ``error-code`` (``.code``) instead of finishing."""

    def __init__(self, code: Variant) -> None:
        super().__init__(code.case)
        self.code = code


# ---------------------------------------------------------------------------- bodies


class _BodyInput(InputStream):
    """The ``input-stream`` of an incoming body, reading from its feed."""

    def __init__(self, feed: BodyFeed) -> None:
        super().__init__(None)
        self._feed = feed
        feed.hold()
        self._open = True

    def read(self, length: int) -> bytes:
        return self._feed.take(length, block=False)

    def blocking_read(self, length: int) -> bytes:
        feed = self._feed
        wait_for(feed.wait, "wasi:io/streams.blocking-read")  # within the guest's deadline
        return feed.take(length, block=True)

    def skip(self, length: int) -> int:
        return len(self.read(length))

    def blocking_skip(self, length: int) -> int:
        return len(self.blocking_read(length))

    def subscribe(self) -> Pollable:
        return _FeedPollable(self._feed)

    def close(self) -> None:
        if self._open:
            self._open = False
            self._feed.release()


class IncomingBody:
    """``incoming-body``: the body of an incoming request or response.

    Args:
        feed: where its bytes come from (``BodyFeed.of(b"...")`` for a complete body).

    """

    def __init__(self, feed: BodyFeed) -> None:
        self._feed = feed
        feed.hold()
        self._stream_taken = False
        self._open = True

    def stream(self) -> InputStream:
        """``stream``: the contents, at most once (``Err()`` after)."""
        if self._stream_taken:
            raise Err()
        self._stream_taken = True
        return _BodyInput(self._feed)

    @staticmethod
    def finish(this: IncomingBody) -> FutureTrailers:
        """``finish``: stop reading; a future for the trailers (unread bytes are dropped)."""
        this._feed.discard()
        future = FutureTrailers(this._feed)
        this.close()
        return future

    def close(self) -> None:
        if self._open:
            self._open = False
            self._feed.release()


class FutureTrailers:
    """``future-trailers``: ready once the whole body has arrived (or failed)."""

    def __init__(self, feed: BodyFeed) -> None:
        self._feed = feed
        feed.hold()
        self._taken = False
        self._open = True

    def subscribe(self) -> Pollable:
        """``subscribe``: ready when ``get`` returns a value."""
        return _FeedPollable(self._feed, whole=True)

    def get(self) -> Ok | Err | None:
        """``get``: None until ready; then once the trailers or the body's error; then ``Err()``.

        The first answer is ``Ok(Ok(trailers or None))`` or ``Ok(Err(error-code))``.
        """
        if not self._feed.ended():
            return None
        if self._taken:
            return Err()
        self._taken = True
        error = self._feed.error
        if error is not None:
            return Ok(Err(error))
        trailers = self._feed.trailers
        return Ok(Ok(trailers.view() if trailers is not None else None))

    def close(self) -> None:
        if self._open:
            self._open = False
            self._feed.release()


class _BodyOutput(OutputStream):
    """The ``output-stream`` of an outgoing body: writes go into the body's feed.

    ``check-write`` permits only the room left under the feed's limit (0 when it is full:
    ``subscribe`` is ready again when the reader catches up) and ``blocking-write-and-flush``
    waits for room first, so a fast guest cannot outrun a slow reader by more than the limit.
    """

    def __init__(self, body: OutgoingBody) -> None:
        super().__init__(body._write)
        self._body = body

    def check_write(self) -> int:
        return min(super().check_write(), self._body.feed.room())

    def _wait_room(self) -> None:
        """Wait (within the guest's deadline) until the reader made room."""
        if self._body.feed.room() > 0:  # the usual case: no lock, no deadline to look up
            return
        wait_for(self._body.feed.wait_room, "wasi:io/streams.blocking-write-and-flush")

    def blocking_write_and_flush(self, contents: bytes) -> None:
        self._wait_room()
        super().blocking_write_and_flush(contents)

    def blocking_write_zeroes_and_flush(self, length: int) -> None:
        self._wait_room()
        super().blocking_write_zeroes_and_flush(length)

    def blocking_splice(self, src: InputStream, length: int) -> int:
        self._wait_room()
        return super().blocking_splice(src, length)

    def subscribe(self) -> Pollable:
        return _RoomPollable(self._body.feed)

    def close(self) -> None:
        super().close()
        self._body._stream_open = False


class OutgoingBody:
    """``outgoing-body``: the body of an outgoing request or response.

    Its bytes go to :attr:`feed` (read by the HTTP client or the gateway); ``finish`` ends the
    feed, dropping the body without ``finish`` ends it with an error.

    Args:
        headers: the owner's headers (their ``content-length``, if any, is checked at finish).
        response: a response body (size errors are ``HTTP-response-body-size``).

    """

    def __init__(self, headers: Fields, *, response: bool = False) -> None:
        self.feed = BodyFeed()  # bounded (OUTGOING_BUFFER) once its reader starts
        self._headers = headers
        self._kind = "response" if response else "request"
        self._written = 0
        self._stream_taken = False
        self._stream_open = False
        self.finished = False

    def _write(self, data: bytes) -> None:
        if self.finished:
            raise closed()
        self._written += len(data)
        self.feed.put(data)

    def write(self) -> OutputStream:
        """``write``: the stream to write the contents to, at most once (``Err()`` after)."""
        if self._stream_taken:
            raise Err()
        self._stream_taken = self._stream_open = True
        return _BodyOutput(self)

    @staticmethod
    def finish(this: OutgoingBody, trailers: Fields | None) -> None:
        """``finish``: the body is complete, with optional trailers.

        Raises:
            Err: ``HTTP-request-body-size`` (or ``-response-``) when a ``content-length``
                header disagrees with the bytes written.

        """
        this.finished = True
        declared = this._headers.get("content-length")
        size_error = None
        if declared:
            try:
                expected = int(declared[0])
            except ValueError:
                expected = -1
            if expected != this._written:
                size_error = error_code(f"HTTP-{this._kind}-body-size", this._written)
        this.feed.end(size_error, trailers.view() if trailers is not None else None)
        if size_error is not None:
            raise Err(size_error)

    def close(self) -> None:
        """Dropped: a body never finished is an incomplete body."""
        if not self.finished:
            self.finished = True
            self.feed.end(error_code("internal-error", f"outgoing {self._kind} body not finished"))
