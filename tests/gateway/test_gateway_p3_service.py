"""A WASI 0.3 ``wasi:http/service`` (componentize-py 0.25) on the ASGI gateway.

The guest is ``tests/fixtures/python/p3http`` (built and cached by source hash). Requests go
in through the gateway's ASGI interface directly (a scope, ``receive`` and ``send`` of the
test's own), so a test controls when each request body arrives: that is how it holds several
requests in flight inside one instance. Every request is bounded by the gateway's timeout
and by :func:`bounded_call`.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator, Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest

import omniwasm
from fixtures.bounded import bounded_call
from omniwasm.gateway import Gateway, ResponseAborted

TRAILERS = "http.response.trailers"
bounded = partial(bounded_call, limit=180.0)


@pytest.fixture(scope="module")
def compiled(py_guest: Callable[[str], Path]) -> tuple[omniwasm.Runtime, omniwasm.Compiled]:
    """The guest compiled once for the module (gateways share the runtime)."""
    runtime = omniwasm.Runtime()
    return runtime, bounded(lambda: runtime.load(py_guest("p3http")))


@pytest.fixture(scope="module")
def gateway(compiled: tuple[omniwasm.Runtime, omniwasm.Compiled]) -> Iterator[Gateway]:
    """A gateway with the defaults (instances shared by up to 16 requests)."""
    runtime, code = compiled
    gw = Gateway(code, runtime=runtime, timeout=60, max_concurrency=8)
    yield gw
    gw.close()


async def _chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def _call(
    app: Gateway,
    method: str,
    path: str,
    body: AsyncIterator[bytes] | None = None,
    headers: list[tuple[bytes, bytes]] | None = None,
    *,
    trailers: bool = False,
) -> dict[str, Any]:
    """One request through the ASGI interface: status, headers, body, trailers."""
    scope: dict[str, Any] = {
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
    if trailers:
        scope["extensions"] = {TRAILERS: {}}
        scope["headers"].append((b"te", b"trailers"))
    source = body if body is not None else _chunks()
    out: dict[str, Any] = {"body": b"", "trailers": None}

    async def receive() -> dict[str, Any]:
        try:
            chunk = await source.__anext__()
        except StopAsyncIteration:
            return {"type": "http.request", "body": b"", "more_body": False}
        return {"type": "http.request", "body": chunk, "more_body": True}

    async def send(message: Any) -> None:
        if message["type"] == "http.response.start":
            out["status"], out["headers"] = message["status"], message["headers"]
        elif message["type"] == "http.response.body":
            out["body"] += message.get("body", b"")
        elif message["type"] == TRAILERS:
            out["trailers"] = message["headers"]

    await app(scope, receive, send)
    return out


def call(app: Gateway, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """:func:`_call` on a fresh event loop, bounded."""
    result: dict[str, Any] = bounded(lambda: asyncio.run(_call(app, *args, **kwargs)))
    return result


def test_hello_status_headers_and_body(gateway: Gateway) -> None:
    """GET /hello: the guest's status, headers and body."""
    got = call(gateway, "GET", "/hello")
    assert (got["status"], got["body"]) == (200, b"hello from a WASI 0.3 service\n")
    assert got["headers"] == [(b"content-type", b"text/plain"), (b"x-hello", b"p3")]


def test_the_status_the_guest_sets(gateway: Gateway) -> None:
    """The guest's set-status-code is the response's status."""
    assert call(gateway, "GET", "/status/418")["status"] == 418


def test_a_status_outside_200_599_is_a_500(gateway: Gateway) -> None:
    """A guest status that is not a final HTTP status is answered 500, as for 0.2 guests."""
    assert call(gateway, "GET", "/status/150")["status"] == 500


def test_a_204_or_head_response_has_no_body(gateway: Gateway) -> None:
    """As wasmtime serve: what the guest writes for a 204 or a HEAD request is not sent."""
    no_content = call(gateway, "GET", "/status/204")
    head = call(gateway, "HEAD", "/hello")
    assert (no_content["status"], no_content["body"]) == (204, b"")
    assert (head["status"], head["body"]) == (200, b"")


def test_echo_streams_a_body_both_ways(gateway: Gateway) -> None:
    """A request body sent in chunks comes back whole, the content-type kept."""
    parts = [bytes(range(256)) * 1024, b"middle", bytes(range(255, -1, -1)) * 2048]
    got = call(
        gateway,
        "POST",
        "/echo",
        _chunks(*parts),
        [(b"content-type", b"application/x-test")],
    )
    assert (got["status"], got["body"]) == (200, b"".join(parts))
    assert got["headers"] == [(b"content-type", b"application/x-test")]


def test_the_guest_trailers_follow_the_body(gateway: Gateway) -> None:
    """/upper's trailers future (x-total) goes out as ASGI response trailers."""
    got = call(gateway, "POST", "/upper", _chunks(b"abc", b"def"), trailers=True)
    assert got["body"] == b"ABCDEF"
    assert got["trailers"] == [(b"x-total", b"6")]


def test_the_host_header_is_the_authority_not_a_header(gateway: Gateway) -> None:
    """The guest sees the request headers without Host (wasmtime's request shape)."""
    got = call(gateway, "GET", "/headers", headers=[(b"x-a", b"1")])
    assert got["body"] == b"x-a: 1\n"


def test_a_trap_is_a_500_and_the_next_request_is_served(gateway: Gateway) -> None:
    """A guest that traps answers 500; its instance is dropped and the next request works."""
    assert call(gateway, "GET", "/trap")["status"] == 500
    assert call(gateway, "GET", "/hello")["status"] == 200


def test_an_error_code_answer_is_a_500(gateway: Gateway) -> None:
    """A handle that returns an error-code instead of a response is answered 500."""
    assert call(gateway, "GET", "/error")["status"] == 500


def test_a_body_the_guest_never_ends_is_cut_at_the_timeout(
    compiled: tuple[omniwasm.Runtime, omniwasm.Compiled],
) -> None:
    """Headers sent, body never written: at the timeout the response is aborted, not hung."""
    runtime, code = compiled
    gw = Gateway(code, runtime=runtime, timeout=2)
    try:
        with pytest.raises(ResponseAborted):
            call(gw, "GET", "/stall")
        assert call(gw, "GET", "/hello")["status"] == 200
    finally:
        gw.close()


def test_a_body_over_the_limit_is_a_413(
    compiled: tuple[omniwasm.Runtime, omniwasm.Compiled],
) -> None:
    """max_body_bytes applies to 0.3 services as to 0.2 ones."""
    runtime, code = compiled
    gw = Gateway(code, runtime=runtime, timeout=60, max_body_bytes=100)
    try:
        got = call(gw, "POST", "/count", _chunks(b"x" * 60, b"y" * 60))
    finally:
        gw.close()
    assert got["status"] == 413


class Held:
    """Request bodies that send one chunk and then wait until :meth:`release`."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()

    async def body(self) -> AsyncIterator[bytes]:
        yield b"12345"
        await self.gate.wait()
        yield b"678"

    def release(self) -> None:
        self.gate.set()


async def _until(cond: Callable[[], bool], seconds: float = 60.0) -> None:
    """Poll ``cond`` on the loop until it holds (fails past ``seconds``)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    while not cond():
        assert loop.time() < end, "the condition never held"
        await asyncio.sleep(0.01)


async def _held_requests(gw: Gateway, n: int) -> tuple[list[dict[str, Any]], list[int]]:
    """``n`` /count requests held open together; the pool's active counts while held."""
    held = Held()
    calls = [asyncio.ensure_future(_call(gw, "POST", "/count", held.body())) for _ in range(n)]
    pool = gw.service
    assert pool is not None
    await _until(lambda: sum(pool.active()) == n)
    active = pool.active()
    held.release()
    return list(await asyncio.gather(*calls)), active


def test_several_requests_are_in_flight_in_one_instance(
    compiled: tuple[omniwasm.Runtime, omniwasm.Compiled],
) -> None:
    """Four requests whose handle awaits its body run together inside a single instance."""
    runtime, code = compiled
    gw = Gateway(code, runtime=runtime, timeout=60, max_concurrency=8, instance_concurrency=4)
    try:
        answers, active = bounded(lambda: asyncio.run(_held_requests(gw, 4)))
    finally:
        gw.close()
    assert active == [4]
    assert [(a["status"], a["body"]) for a in answers] == [(200, b"8 bytes\n")] * 4


def test_the_instance_concurrency_limit_makes_more_instances(
    compiled: tuple[omniwasm.Runtime, omniwasm.Compiled],
) -> None:
    """With instance_concurrency=2, four requests held together use two instances."""
    runtime, code = compiled
    gw = Gateway(code, runtime=runtime, timeout=60, max_concurrency=8, instance_concurrency=2)
    try:
        answers, active = bounded(lambda: asyncio.run(_held_requests(gw, 4)))
    finally:
        gw.close()
    assert sorted(active) == [2, 2]
    assert {a["status"] for a in answers} == {200}


def test_a_request_past_its_timeout_is_a_504(
    compiled: tuple[omniwasm.Runtime, omniwasm.Compiled],
) -> None:
    """A handle that never returns (its body never ends) is answered 504 at the timeout."""
    runtime, code = compiled
    gw = Gateway(code, runtime=runtime, timeout=2)

    async def stuck() -> AsyncIterator[bytes]:
        yield b"x"
        await asyncio.Event().wait()

    async def go() -> dict[str, Any]:
        return await asyncio.wait_for(_call(gw, "POST", "/count", stuck()), 60)

    try:
        got = bounded(lambda: asyncio.run(go()))
    finally:
        gw.close()
    assert got["status"] == 504


def test_a_service_built_for_the_release_candidate_names_is_served(
    py_guest: Callable[[str], Path],
) -> None:
    """The same service exporting wasi:http/handler@0.3.0-rc-2026-03-15 answers alike."""
    gw = Gateway(bounded(lambda: py_guest("p3httprc")), timeout=60)
    try:
        assert gw.interface == "wasi:http/handler@0.3.0-rc-2026-03-15"
        got = call(gw, "POST", "/upper", _chunks(b"rc"), trailers=True)
    finally:
        gw.close()
    assert (got["status"], got["body"], got["trailers"]) == (200, b"RC", [(b"x-total", b"2")])


def test_an_app_serves_a_0_3_service_beside_a_0_2_component(
    py_guest: Callable[[str], Path], tmp_path: Path
) -> None:
    """In an omniwasm.toml, a 0.3 service and a 0.2 component answer on their own routes."""
    from fixtures.wat_components import assemble
    from omniwasm.gateway._app import App

    hello = assemble(Path(__file__).parents[1] / "fixtures" / "gateway" / "hello.wat", "gw-")
    shutil.copy(hello, tmp_path / "v2.wasm")
    shutil.copy(py_guest("p3http"), tmp_path / "service.wasm")
    manifest = tmp_path / "omniwasm.toml"
    manifest.write_text(
        'omniwasm_manifest_version = 1\n[application]\nname = "mixed"\n'
        '[[trigger.http]]\nroute = "/v2"\ncomponent = "v2"\n'
        '[[trigger.http]]\nroute = "/..."\ncomponent = "service"\n'
        '[component.v2]\nsource = "v2.wasm"\n[component.service]\nsource = "service.wasm"\n'
    )
    app = bounded(lambda: App(manifest, timeout=60))

    async def go() -> list[tuple[int, bytes]]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
            return [((r := await client.get(p)).status_code, r.content) for p in ("/hello", "/v2")]

    try:
        answers = bounded(lambda: asyncio.run(go()))
    finally:
        for gw in app.gateways.values():
            gw.close()
    assert answers == [(200, b"hello from a WASI 0.3 service\n"), (200, b"hello from wasm")]


def test_an_instance_concurrency_below_one_is_refused(
    compiled: tuple[omniwasm.Runtime, omniwasm.Compiled],
) -> None:
    """instance_concurrency=0 is a ValueError, not the default."""
    runtime, code = compiled
    with pytest.raises(ValueError, match="at least 1"):
        Gateway(code, runtime=runtime, instance_concurrency=0)
