"""The ASGI gateway serves wasi:http components: in-process through httpx, raw ASGI, uvicorn.

Guests are component WAT in ``tests/fixtures/gateway/``: ``hello`` (the lean handler) and
``routes`` (one behaviour per path: echo, info, status, big, count, error, noreply, trap,
trap-after, loop). Tests that watch the ASGI messages themselves (streaming, queueing,
lifespan) call the application directly with hand-made ``receive``/``send``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

import omniwasm
from fixtures.wat_components import assemble
from omniwasm import InvalidModule
from omniwasm.gateway import Gateway, ResponseAborted

GUESTS = Path(__file__).parents[1] / "fixtures" / "gateway"
BASE = "http://gateway.test"
MIB = 1 << 20


@pytest.fixture(scope="module")
def hello() -> Path:
    """The hello handler, assembled once."""
    return assemble(GUESTS / "hello.wat", prefix="gateway-")


@pytest.fixture(scope="module")
def routes() -> Path:
    """The many-behaviours handler, assembled once."""
    return assemble(GUESTS / "routes.wat", prefix="gateway-")


def fetch(app: Gateway, method: str, path: str, **kwargs: Any) -> httpx.Response:
    """One request through httpx's in-process ASGI transport."""

    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
            return await client.request(method, path, **kwargs)

    return asyncio.run(go())


def scope(
    path: str, method: str = "POST", headers: list[tuple[bytes, bytes]] | None = None
) -> dict[str, Any]:
    """A minimal ASGI HTTP scope."""
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [(b"host", b"gateway.test"), *(headers or [])],
        "server": ("127.0.0.1", 80),
    }


def receiver(
    chunks: list[bytes], gate: asyncio.Event | None = None
) -> Callable[[], Awaitable[dict[str, Any]]]:
    """An ASGI ``receive`` giving ``chunks`` as the body (waiting for ``gate`` before the last)."""
    pending = list(chunks)

    async def receive() -> dict[str, Any]:
        if not pending:
            await asyncio.Event().wait()  # the request is over: wait for a disconnect forever
        chunk = pending.pop(0)
        if not pending and gate is not None:
            await gate.wait()
        return {"type": "http.request", "body": chunk, "more_body": bool(pending)}

    return receive


class Recorder:
    """An ASGI ``send`` that keeps every message."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []

    async def __call__(self, message: dict[str, Any]) -> None:
        self.messages.append(message)

    @property
    def status(self) -> int:
        return int(self.messages[0]["status"])

    @property
    def chunks(self) -> list[bytes]:
        return [m["body"] for m in self.messages if m["type"] == "http.response.body" and m["body"]]

    @property
    def complete(self) -> bool:
        return (
            self.messages[-1]["type"] == "http.response.body" and not self.messages[-1]["more_body"]
        )


# ---- responses --------------------------------------------------------------------------


def test_hello_answers_200_with_its_headers(hello: Path) -> None:
    """The hello guest's status, content-type and body reach the client."""
    r = fetch(Gateway(hello), "GET", "/")
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/plain"
    assert r.text == "hello from wasm"


def test_guest_sees_method_path_authority_and_headers(routes: Path) -> None:
    """The incoming-request carries the method, path with query, Host authority and headers."""
    r = fetch(Gateway(routes), "PATCH", "/info?a=1&b=%20", headers={"x-test": "value 1"})
    assert r.status_code == 200
    assert r.text == "PATCH /info?a=1&b=%20\ngateway.test\nvalue 1\n"


def test_status_codes_and_repeated_headers(routes: Path) -> None:
    """The guest's status code and a header it set twice come back as set."""
    app = Gateway(routes)
    r = fetch(app, "GET", "/status/418")
    assert r.status_code == 418
    assert r.headers.get_list("x-multi") == ["one", "two"]
    assert fetch(app, "GET", "/status/201").status_code == 201
    assert fetch(app, "GET", "/nowhere").status_code == 404


def test_echo_small_body(routes: Path) -> None:
    """A small request body comes back unchanged."""
    r = fetch(Gateway(routes), "POST", "/echo", content=b"ping \x00\xff pong")
    assert r.status_code == 200
    assert r.content == b"ping \x00\xff pong"


def test_echo_one_mebibyte_both_ways(routes: Path) -> None:
    """1 MiB sent in 64 KiB chunks (no content-length) is echoed back intact."""
    data = bytes(range(256)) * (MIB // 256)

    async def upload() -> AsyncIterator[bytes]:
        for i in range(0, len(data), 64 << 10):
            yield data[i : i + (64 << 10)]

    r = fetch(Gateway(routes), "POST", "/echo", content=upload())
    assert r.status_code == 200
    assert r.content == data


def test_response_body_streams_in_chunks(routes: Path) -> None:
    """A 1 MiB response written after the headers goes out in several body messages."""
    sent = Recorder()
    asyncio.run(Gateway(routes)(scope("/big", "GET"), receiver([b""]), sent))
    assert sent.status == 200 and sent.complete
    assert b"".join(sent.chunks) == b"x" * MIB
    assert len(sent.chunks) > 1


def test_slow_client_holds_the_guest_back(routes: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A guest streaming to a slow client buffers at most the body limit (+1 write) in the host."""
    from omniwasm.gateway import _asgi
    from omniwasm.wasi.http import BodyFeed

    limit = 64 << 10
    monkeypatch.setattr(_asgi, "OUTGOING_BUFFER", limit)
    monkeypatch.setattr(_asgi, "EARLY", 0.0)  # stream at once: the guest is still writing
    seen = {"peak": 0, "at_limit": -1}
    put = BodyFeed.put

    def watched(self: BodyFeed, data: bytes) -> None:
        put(self, data)
        if self.limit is not None:
            if seen["at_limit"] < 0:  # buffered before the gateway started reading
                seen["at_limit"] = self._buffered - len(data)
            seen["peak"] = max(seen["peak"], self._buffered)

    monkeypatch.setattr(BodyFeed, "put", watched)

    class SlowClient(Recorder):
        async def __call__(self, message: dict[str, Any]) -> None:
            await super().__call__(message)
            await asyncio.sleep(0.005)  # the network drains slowly

    sent = SlowClient()
    asyncio.run(Gateway(routes)(scope("/big", "GET"), receiver([b""]), sent))
    assert sent.status == 200 and sent.complete
    assert b"".join(sent.chunks) == b"x" * MIB
    assert 0 < seen["peak"] <= max(limit, seen["at_limit"]) + 4096 < MIB


def test_client_gone_mid_body_releases_a_guest_waiting_to_write(
    routes: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When sending fails mid-body, the rest is discarded: the guest stops waiting and ends."""
    from omniwasm.gateway import _asgi

    monkeypatch.setattr(_asgi, "OUTGOING_BUFFER", 64 << 10)
    monkeypatch.setattr(_asgi, "EARLY", 0.0)

    class BrokenClient(Recorder):
        async def __call__(self, message: dict[str, Any]) -> None:
            await super().__call__(message)
            if len(self.messages) == 2:
                raise OSError("connection reset by peer")

    async def go() -> int:
        app = Gateway(routes)
        with pytest.raises(OSError, match="connection reset"):
            await app(scope("/big", "GET"), receiver([b""]), BrokenClient())
        for _ in range(500):  # the guest, no longer held back, finishes its body and ends
            if app._admission.admitted == 0:
                app.close()
                break
            await asyncio.sleep(0.01)
        return app._admission.admitted  # (a guest still stuck would make close() wait)

    assert asyncio.run(go()) == 0


def test_request_body_streams_to_the_guest(routes: Path) -> None:
    """The echo guest answers chunks before the request body has finished arriving."""

    async def go() -> list[bytes]:
        gate = asyncio.Event()
        sent = Recorder()
        task = asyncio.create_task(
            Gateway(routes)(scope("/echo"), receiver([b"first", b"second"], gate), sent)
        )
        for _ in range(1000):  # the first chunk comes back while the second is held
            if sent.chunks:
                break
            await asyncio.sleep(0.01)
        early = list(sent.chunks)
        gate.set()
        await task
        assert sent.complete
        assert b"".join(sent.chunks) == b"firstsecond"
        return early

    assert asyncio.run(go()) == [b"first"]


# ---- failures ---------------------------------------------------------------------------


def test_body_over_limit_is_413_without_calling_the_guest(routes: Path) -> None:
    """A declared content-length over max_body_bytes gets 413 (the trapping guest never runs)."""
    r = fetch(Gateway(routes, max_body_bytes=10), "POST", "/trap", content=b"x" * 11)
    assert r.status_code == 413


def test_streamed_body_over_limit_is_413(routes: Path) -> None:
    """A chunked body that outgrows max_body_bytes while the guest reads it gets 413."""
    sent = Recorder()
    chunks = [b"x" * 64] * 4
    asyncio.run(Gateway(routes, max_body_bytes=100)(scope("/count"), receiver(chunks), sent))
    assert sent.status == 413


def test_trap_is_500_logged_and_the_next_request_succeeds(
    routes: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A trapping guest gets 500 and an error log; the gateway keeps serving."""
    app = Gateway(routes)
    with caplog.at_level(logging.ERROR, logger="omniwasm.gateway"):
        assert fetch(app, "GET", "/trap").status_code == 500
    assert any("/trap" in rec.getMessage() and rec.exc_info for rec in caplog.records)
    assert fetch(app, "GET", "/status/200").status_code == 200


def test_guest_allocating_without_bound_is_500_and_the_gateway_keeps_serving(
    routes: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A guest growing its memory past the policy's limit gets 500; the next request works."""
    app = Gateway(routes, policy=omniwasm.Policy(max_memory="32MiB"))
    with caplog.at_level(logging.ERROR, logger="omniwasm.gateway"):
        assert fetch(app, "GET", "/hog").status_code == 500
    assert fetch(app, "GET", "/status/200").status_code == 200


def test_error_code_response_is_500(routes: Path) -> None:
    """A guest that sets its outparam to an error-code gets 500."""
    assert fetch(Gateway(routes), "GET", "/error").status_code == 500


def test_guest_that_never_answers_is_500(routes: Path) -> None:
    """A guest returning without setting the outparam gets 500."""
    assert fetch(Gateway(routes), "GET", "/noreply").status_code == 500


def test_trap_after_the_headers_aborts_the_response(routes: Path) -> None:
    """A guest trapping mid-body raises ResponseAborted after what it wrote, never completing."""
    sent = Recorder()
    with pytest.raises(ResponseAborted):
        asyncio.run(Gateway(routes)(scope("/trap-after", "GET"), receiver([b""]), sent))
    assert sent.status == 200
    assert not sent.complete


def test_infinite_loop_is_504_within_the_timeout(routes: Path) -> None:
    """A looping guest is interrupted at its timeout and answered 504."""
    app = Gateway(routes, timeout=0.3)
    started = time.monotonic()
    assert fetch(app, "GET", "/loop").status_code == 504
    assert time.monotonic() - started < 5
    assert fetch(app, "GET", "/status/200").status_code == 200


@pytest.mark.parametrize("path", ["/count", "/echo"])
def test_guest_blocked_on_a_stalled_body_times_out_and_frees_its_slot(
    routes: Path, path: str
) -> None:
    """A guest waiting for a body that never comes is cut off and its slot serves the next one.

    It gets a 504, or an aborted response if it had answered, and its thread ends.
    """

    async def go() -> Recorder:
        # 1 s: time enough, on a loaded machine, for /echo to answer before its body stalls
        app = Gateway(routes, timeout=1.0, max_concurrency=1, max_queue=0)
        stalled, after = Recorder(), Recorder()
        with contextlib.suppress(ResponseAborted):
            await app(scope(path), receiver([b"a", b"never"], asyncio.Event()), stalled)
        for _ in range(1000):  # the guest thread ends once its body read fails
            if app._admission.active == 0:
                break
            await asyncio.sleep(0.01)
        await app(scope("/count"), receiver([b"b"]), after)
        assert after.status == 200
        return stalled

    stalled = asyncio.run(go())
    assert stalled.status == (504 if path == "/count" else 200)
    assert stalled.status == 504 or not stalled.complete


def test_concurrency_bound_queues_then_503(routes: Path) -> None:
    """With one slot and a queue of one, the third concurrent request gets 503."""

    async def go() -> tuple[int, int, int]:
        app = Gateway(routes, max_concurrency=1, max_queue=1)
        gate = asyncio.Event()
        a, b, c = Recorder(), Recorder(), Recorder()
        first = asyncio.create_task(app(scope("/echo"), receiver([b"a", b"a"], gate), a))
        while not a.chunks:  # the first guest runs, blocked reading its body
            await asyncio.sleep(0.01)
        second = asyncio.create_task(app(scope("/echo"), receiver([b"b"]), b))
        while app._admission.waiting < 1:
            await asyncio.sleep(0.01)
        await app(scope("/echo"), receiver([b"c"]), c)
        gate.set()
        await asyncio.gather(first, second)
        return a.status, b.status, c.status

    assert asyncio.run(go()) == (200, 200, 503)


def test_request_whose_client_left_while_queued_never_runs(routes: Path) -> None:
    """A queued request cancelled before a thread takes it is skipped, and counted out."""
    from omniwasm.gateway._exchange import Hooks

    runs: list[float] = []

    async def go() -> None:
        app = Gateway(routes, max_concurrency=1, max_queue=4, hooks=Hooks(instantiated=runs.append))
        gate = asyncio.Event()
        a = Recorder()
        first = asyncio.create_task(app(scope("/echo"), receiver([b"a", b"a"], gate), a))
        while not a.chunks:  # the only thread is busy with the first request
            await asyncio.sleep(0.01)
        second = asyncio.create_task(app(scope("/echo"), receiver([b"b"]), Recorder()))
        while app._admission.waiting < 1:
            await asyncio.sleep(0.01)
        second.cancel()  # the client leaves while its request waits for the thread
        with contextlib.suppress(asyncio.CancelledError):
            await second
        gate.set()
        await first
        for _ in range(1000):
            if app._admission.admitted == 0:
                break
            await asyncio.sleep(0.01)
        assert app._admission.admitted == 0
        app.close()

    asyncio.run(go())
    assert len(runs) == 1  # only the first request was instantiated


def test_component_without_an_http_handler_is_refused() -> None:
    """A component that exports no incoming-handler is rejected when the gateway is built."""
    with pytest.raises(InvalidModule, match="incoming-handler"):
        Gateway(b"(component)")


# ---- lifespan and a real server ----------------------------------------------------------


def test_lifespan_startup_and_shutdown_complete(hello: Path) -> None:
    """The lifespan protocol is answered: startup.complete, then shutdown.complete."""
    events = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
    sent = Recorder()

    async def receive() -> dict[str, Any]:
        return events.pop(0)

    asyncio.run(Gateway(hello)({"type": "lifespan", "asgi": {"version": "3.0"}}, receive, sent))
    assert [m["type"] for m in sent.messages] == [
        "lifespan.startup.complete",
        "lifespan.shutdown.complete",
    ]


def test_uvicorn_serves_200_requests_16_at_a_time(hello: Path, routes: Path) -> None:
    """Under uvicorn on 127.0.0.1, 200 requests made 16 at a time all succeed."""
    uvicorn = pytest.importorskip("uvicorn")
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        Gateway(hello, max_concurrency=8), log_level="warning", lifespan="on", ws="none"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.01)
        assert server.started

        async def load() -> list[int]:
            limits = httpx.Limits(max_connections=16)
            async with httpx.AsyncClient(
                base_url=f"http://127.0.0.1:{port}", limits=limits
            ) as client:
                sem = asyncio.Semaphore(16)

                async def one() -> int:
                    async with sem:
                        r = await client.get("/")
                        return r.status_code if r.text == "hello from wasm" else -1

                return await asyncio.gather(*(one() for _ in range(200)))

        statuses = asyncio.run(load())
        assert statuses.count(200) == 200
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
