"""``stream<T>`` and ``future<T>`` values crossing between a guest and Python.

A stream or future a guest hands out (an export's result, a host import's argument) becomes a
:class:`StreamReader` / :class:`FutureReader`: the guest keeps the writable end and the host
reads with ``await reader.read()``. One the host hands in (an export's argument, a host import's
result) is made from Python data: ``bytes`` or a list for a stream, a value for a future; the
guest reads it like any stream (a future's value may also come later: an awaitable, or a
``concurrent.futures.Future`` another thread completes). Copies of pointer-free elements
(``stream<u8>``) go between linear memory and ``bytes`` in one slice.

Every copy runs on the thread that owns the store. A read from a host coroutine while the
instance is running (its export call is in flight) is posted to the instance's inbox; a read
when nothing runs drives the instance itself on a worker thread (taking the instance's lock),
so the guest's writer task gets to run.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from ...._wit import types as t
from ...._wit.convert import from_python
from .abi import EXTRA, Codec, Cx, codec
from .async_buffers import HostBytes, HostValues
from .async_run import current_instance, drive, host_failure, schedule, state_of
from .async_state import (
    IDLE,
    CopyResult,
    FutureEnd,
    SharedFuture,
    SharedStream,
    StreamEnd,
    same_shape,
    trap_if,
)

__all__ = ["FutureReader", "StreamReader", "async_codec"]

_NUMBERS = (t.IntType, t.F32Type, t.F64Type)


@dataclass(frozen=True)
class _Elem:
    ty: t.WitType | None
    codec: Codec | None
    size: int
    flat: bool


def _elem(ty: t.WitType | None) -> _Elem:
    if ty is None:
        return _Elem(None, None, 0, True)
    cd = codec(ty)
    return _Elem(ty, cd, cd.size, isinstance(ty, _NUMBERS))


class _HandleCodec(Codec):
    """A stream or future type: an i32 index into the instance's handle table."""

    size = align = 4
    flat = ("i32",)

    def __init__(self, ty: t.StreamType | t.FutureType) -> None:
        self.ty = ty
        self.stream = isinstance(ty, t.StreamType)
        self.elem = _elem(ty.elem)

    def load(self, cx: Cx, ptr: int) -> Any:
        view = cx.check(ptr, 4, 4)
        return self._take(int.from_bytes(view[ptr : ptr + 4], "little"))

    def store(self, cx: Cx, value: Any, ptr: int) -> None:
        view = cx.check(ptr, 4, 4)
        view[ptr : ptr + 4] = self._give(value).to_bytes(4, "little")

    def lift(self, cx: Cx, vals: Iterator[Any]) -> Any:
        return self._take(next(vals) & 0xFFFFFFFF)

    def lower(self, cx: Cx, value: Any, out: list[Any]) -> None:
        out.append(self._give(value))

    def _take(self, i: int) -> Any:
        """The guest gives away the readable end ``i``: the host reads it from now on."""
        inst = current_instance()
        st = state_of(inst)
        end = StreamEnd if self.stream else FutureEnd
        e = st.table.get(i)
        if not isinstance(e, end) or not e.readable or e.copy_state != IDLE:
            trap_if(not isinstance(e, end), f"handle {i} is not a {self.ty}")
            trap_if(not e.readable, f"handle {i} is the writable end of a {self.ty}")
            trap_if(True, f"handle {i} is being copied")
        if not same_shape(e.type_key, self.elem.ty):  # the message only when it traps
            trap_if(True, f"handle {i} is not a {self.ty}")
        st.table.remove(i)
        reader = StreamReader if self.stream else FutureReader
        return reader(inst, e.shared, self.elem)

    def _give(self, value: Any) -> int:
        """The host gives the guest a readable end fed from ``value``."""
        inst = current_instance()
        st = state_of(inst)
        if self.stream:
            shared: Any = SharedStream(self.elem.codec, self.elem.size, self.elem.flat)
            _feed_stream(shared, self.elem, value, inst)
            end: Any = StreamEnd
        else:
            shared = SharedFuture(self.elem.codec, self.elem.size, self.elem.flat)
            _feed_future(shared, self.elem, value, inst)
            end = FutureEnd
        return int(st.table.add(end(shared, readable=True, type_key=self.elem.ty)))


def async_codec(ty: Any) -> Codec:
    """The codec of a ``stream<T>`` or ``future<T>`` type."""
    return _HandleCodec(ty)


# --- the host writes ----------------------------------------------------------------------------


def _source(elem: _Elem, value: Any) -> Any:
    if elem.flat and elem.codec is not None and isinstance(value, bytes | bytearray | memoryview):
        return HostBytes(elem.size, bytes(value))
    if isinstance(value, bytes | bytearray | memoryview) and elem.codec is not None:
        return HostValues(list(value))
    if elem.flat and elem.codec is not None:
        data = b"".join(_pack(elem, v) for v in value)
        return HostBytes(elem.size, data)
    return HostValues(_canonical(elem, value))


def _canonical(elem: _Elem, values: Any) -> list[Any]:
    """Host values in their canonical form for ``elem`` (records from dicts and so on)."""
    if elem.ty is None:
        return list(values)
    return [from_python(v, elem.ty, function="a host stream", param="element") for v in values]


def _pack(elem: _Elem, v: Any) -> bytes:
    buf = bytearray(elem.size)
    assert elem.codec is not None
    elem.codec.store(Cx(lambda: memoryview(buf), None), v, 0)
    return bytes(buf)


def _feed_stream(shared: SharedStream, elem: _Elem, value: Any, inst: Any = None) -> None:
    """Offer all of ``value`` to the guest's reads, then close the stream.

    ``value`` is data (``bytes``, a list), or an async iterable of such chunks, which a host
    coroutine pulls as the guest reads.
    """
    if inst is not None and hasattr(value, "__aiter__"):
        _pump_stream(inst, shared, elem, value)
        return
    src = _source(elem, value)

    def offer() -> None:
        if src.remain() == 0:
            shared.drop()
            return
        shared.write("host", src, on_copy, on_done)

    def on_copy(reclaim: Callable[[], None]) -> None:
        reclaim()
        offer()

    def on_done(result: int) -> None:
        if result == CopyResult.COMPLETED:
            offer()

    offer()


def _pump_stream(inst: Any, shared: SharedStream, elem: _Elem, chunks: Any) -> None:
    """Feed a guest's stream from an async iterable: one chunk offered at a time."""
    st = state_of(inst)

    async def pump() -> None:
        try:
            await feed()
        finally:  # ended early (the guest dropped the stream): tell the source
            aclose = getattr(chunks, "aclose", None)
            if aclose is not None:
                await aclose()

    async def feed() -> None:
        loop = asyncio.get_running_loop()
        async for chunk in chunks:
            src = _source(elem, chunk)
            while src.remain() > 0:
                copied: asyncio.Future[int] = loop.create_future()

                def settle(result: int, fut: asyncio.Future[int] = copied) -> None:
                    loop.call_soon_threadsafe(_resolve, fut, result)

                def on_copy(reclaim: Callable[[], None], settle: Any = settle) -> None:
                    reclaim()
                    settle(CopyResult.COMPLETED)

                def offer(src: Any = src, on_copy: Any = on_copy, settle: Any = settle) -> None:
                    shared.write("host", src, on_copy, settle)

                st.post(offer)
                if await copied == CopyResult.DROPPED:
                    return
        st.post(shared.drop)

    fut = schedule(st, pump())
    st.host_pending += 1

    def ended(f: concurrent.futures.Future[Any]) -> None:  # on the store's thread
        st.host_pending -= 1
        exc = None if f.cancelled() else f.exception()
        if exc is not None:
            st.failure = host_failure("a host stream", exc)
        shared.drop()

    fut.add_done_callback(lambda f: st.post(lambda: ended(f)))


def _resolve(fut: asyncio.Future[int], result: int) -> None:
    if not fut.done():
        fut.set_result(result)


def _feed_future(shared: SharedFuture, elem: _Elem, value: Any, inst: Any = None) -> None:
    """Give the guest's future ``value``, or what the awaitable ``value`` resolves to.

    ``value`` may also be a ``concurrent.futures.Future`` some host thread completes: no
    coroutine on a loop then, the completion is posted to the instance.
    """
    pending = isinstance(value, concurrent.futures.Future)
    if inst is not None and (pending or inspect.isawaitable(value)):
        st = state_of(inst)
        fut = value if pending else schedule(st, value)
        st.host_pending += 1

        def resolved(f: concurrent.futures.Future[Any]) -> None:  # on the store's thread
            st.host_pending -= 1
            if f.cancelled():
                shared.drop()
                return
            exc = f.exception()
            if exc is not None:
                st.failure = host_failure("a host future", exc)
                return
            _feed_future(shared, elem, f.result())

        fut.add_done_callback(lambda f: st.post(lambda: resolved(f)))
        return
    src = (
        HostValues(_canonical(elem, [value]))
        if not elem.flat or elem.codec is None
        else _source(elem, [value])
    )
    shared.write("host", src, lambda result: None)


# --- the host reads -----------------------------------------------------------------------------


class _Reader:
    """What stream and future readers share: the instance, the shared middle, the element."""

    def __init__(self, inst: Any, shared: Any, elem: _Elem) -> None:
        self._inst = inst
        self._shared = shared
        self._elem = elem
        self.closed = False

    def _copy_now(self, n: int) -> tuple[int, Any]:
        """Read up to ``n`` elements, running the instance until the copy ends."""
        inst = self._inst
        st = state_of(inst)
        elem = self._elem
        buf: Any = HostBytes(elem.size, capacity=n) if elem.flat else HostValues(capacity=n)
        result: list[int] = []
        done: list[threading.Event] = []  # made only when the read waits for another thread
        registered: list[bool] = []

        def finish(code: int) -> None:
            result.append(code)
            if done:
                done[0].set()

        def on_copy(reclaim: Callable[[], None]) -> None:
            reclaim()
            finish(CopyResult.COMPLETED)

        def register() -> None:  # on the store's thread, holding the instance's lock
            if registered:
                return
            registered.append(True)
            if isinstance(self._shared, SharedStream):
                self._shared.read("host", buf, on_copy, finish)
            else:
                self._shared.read("host", buf, finish)

        posted = False
        joins = not inst.guard._is_owned()  # from another thread than the store's calls
        while not result:
            if inst.guard.acquire(timeout=_POLL):
                try:
                    register()
                    if not result:
                        self._drive(inst, lambda: bool(result), joins=joins)
                finally:
                    inst.guard.release()
            elif not posted:  # the instance is running a call: its driver registers the read
                done.append(threading.Event())
                st.post(register)
                posted = True
            else:
                done[0].wait(_POLL)
        return result[0], self._data(buf)

    def _drive(self, inst: Any, until: Callable[[], bool], *, joins: bool = False) -> None:
        box = inst.box
        box.enter(joins=joins)
        try:
            inst.run(lambda: drive(inst, until, f"reading a {self._what()}"))
        finally:
            box.leave()

    def _data(self, buf: Any) -> Any:
        elem = self._elem
        if not isinstance(buf, HostBytes):
            return buf.values
        data = buf.written()
        if elem.size <= 1 or elem.codec is None:
            return data
        view = memoryview(bytearray(data))
        cx = Cx(lambda: view, None)
        return [elem.codec.load(cx, i * elem.size) for i in range(buf.progress)]

    def _what(self) -> str:
        return "stream" if isinstance(self._shared, SharedStream) else "future"

    def close(self) -> None:
        """Stop reading: the guest's writes see DROPPED. Idempotent."""
        if not self.closed:
            self.closed = True
            with self._inst.guard:
                self._shared.drop()


class StreamReader(_Reader):
    """The host's end of a guest's ``stream<T>``: ``await read()`` until it returns None.

    ``stream<u8>`` reads return ``bytes``; other element types return lists of values.
    """

    def read_sync(self, n: int = 65536) -> Any:
        """Read up to ``n`` elements, blocking; None once the guest closed the stream."""
        if self.closed:
            return None
        code, data = self._copy_now(max(1, n))
        if code == CopyResult.DROPPED and not data:
            self.closed = True
            return None
        return data

    async def read(self, n: int = 65536) -> Any:
        """Read up to ``n`` elements; None once the guest closed the stream."""
        return await asyncio.get_running_loop().run_in_executor(None, self.read_sync, n)

    async def read_all(self) -> Any:
        """Everything until the end of the stream (``bytes`` for ``stream<u8>``)."""
        parts = []
        while (part := await self.read()) is not None:
            parts.append(part)
        if self._elem.flat and self._elem.size == 1:
            return b"".join(parts)
        return [v for part in parts for v in part]

    def __aiter__(self) -> StreamReader:
        return self

    async def __anext__(self) -> Any:
        part = await self.read()
        if part is None:
            raise StopAsyncIteration
        return part


class FutureReader(_Reader):
    """The host's end of a guest's ``future<T>``: ``await fut.get()`` (or ``await fut``)."""

    def get_sync(self) -> Any:
        """The value, blocking until the guest writes it."""
        code, data = self._copy_now(1)
        trap_if(code != CopyResult.COMPLETED, "the guest dropped a future without writing it")
        self.closed = True
        if isinstance(data, bytes):  # a future<u8>
            return data[0] if data else None
        return data[0] if data else None

    async def get(self) -> Any:
        """The value, once the guest writes it."""
        return await asyncio.get_running_loop().run_in_executor(None, self.get_sync)

    def watch(self, callback: Callable[[Any], None] | None = None) -> None:
        """Take the value whenever the guest writes it, without waiting for it.

        Call it from inside a host call (on the store's thread): the read is registered at
        once, so the guest's write completes instead of waiting for a reader. ``callback``
        gets the value, or None when the guest drops its end without writing. For a future
        whose writer must not block but whose value the host only looks at (the error
        report ``consume-body`` takes).
        """
        elem = self._elem
        buf: Any = HostBytes(elem.size, capacity=1) if elem.flat else HostValues(capacity=1)

        def finish(code: int) -> None:
            self.closed = True
            if callback is not None:
                data = self._data(buf) if code == CopyResult.COMPLETED else None
                callback(data[0] if data else None)

        self._shared.read("host", buf, finish)

    def __await__(self) -> Any:
        return self.get().__await__()


_POLL = 0.005
"""How often a read waiting for a running call looks whether the call has ended."""


EXTRA[t.StreamType] = async_codec
EXTRA[t.FutureType] = async_codec
