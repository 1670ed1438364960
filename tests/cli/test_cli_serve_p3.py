"""``omniwasm serve``'s WASI 0.3 options: ``--instance-concurrency`` and ``--instance-reuse``.

The service is the componentize-py 0.25 guest ``tests/fixtures/python/p3http``; its ``/count``
handler awaits the request body, so a test holding bodies open holds requests in flight. The
app is the one ``omniwasm serve`` builds (``ServeSettings.build``), driven through its ASGI
interface; every request is bounded.
"""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import AsyncIterator, Callable
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from fixtures.bounded import bounded_call
from omniwasm.gateway.serve import ServeSettings

bounded = partial(bounded_call, limit=180.0)


@pytest.fixture(scope="module")
def service(py_guest: Callable[[str], Path]) -> Path:
    """The guest, built with componentize-py (cached by source hash)."""
    return py_guest("p3http")


async def _post(app: Any, body: AsyncIterator[bytes]) -> tuple[int, bytes]:
    """POST /count through the app's ASGI interface: status and body."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/count",
        "raw_path": b"/count",
        "query_string": b"",
        "headers": [(b"host", b"serve.test")],
        "server": ("127.0.0.1", 80),
    }
    out: dict[str, Any] = {"status": 0, "body": b""}

    async def receive() -> dict[str, Any]:
        try:
            chunk = await body.__anext__()
        except StopAsyncIteration:
            return {"type": "http.request", "body": b"", "more_body": False}
        return {"type": "http.request", "body": chunk, "more_body": True}

    async def send(message: Any) -> None:
        if message["type"] == "http.response.start":
            out["status"] = message["status"]
        elif message["type"] == "http.response.body":
            out["body"] += message.get("body", b"")

    await app(scope, receive, send)
    return out["status"], out["body"]


async def _held(app: Any, pool: Any, n: int) -> tuple[list[tuple[int, bytes]], list[int]]:
    """``n`` requests whose bodies stay open until all are in flight; the pool's counts then."""
    gate = asyncio.Event()

    async def body() -> AsyncIterator[bytes]:
        yield b"1234"
        await gate.wait()
        yield b"5"

    calls = [asyncio.ensure_future(_post(app, body())) for _ in range(n)]
    loop = asyncio.get_running_loop()
    end = loop.time() + 120
    while sum(pool.active()) < n:
        assert loop.time() < end, "the requests never were all in flight"
        await asyncio.sleep(0.01)
    active = pool.active()
    gate.set()
    return list(await asyncio.gather(*calls)), active


def _app(service: Path, **options: Any) -> tuple[Any, Any]:
    app = bounded(lambda: ServeSettings(source=str(service), timeout=60, **options).build())
    (gateway,) = app.gateways.values()
    assert gateway.service is not None
    return app, gateway


def test_instance_concurrency_sets_requests_per_instance(service: Path) -> None:
    """``--instance-concurrency 2``: four requests held in flight use two instances.

    Each of the two instances has two requests in flight.
    """
    app, gateway = _app(service, instance_concurrency=2)
    try:
        answers, active = bounded(lambda: asyncio.run(_held(app, gateway.service, 4)))
    finally:
        gateway.close()
    assert sorted(active) == [2, 2]
    assert answers == [(200, b"5 bytes\n")] * 4


def test_instance_reuse_sets_requests_per_instance_life(service: Path) -> None:
    """``--instance-reuse 1``: every request in turn gets an instance of its own.

    Three requests use the instance made when the app starts and two more (the start serves
    no request, so it does not use up the first instance's life); with the default (128) all
    share that first one.
    """
    counts = []
    for options in ({"instance_reuse": 1}, {}):
        app, gateway = _app(service, **options)

        async def three(app: Any = app) -> list[tuple[int, bytes]]:
            return [await _post(app, _body(b"ab")) for _ in range(3)]

        try:
            answers = bounded(lambda three=three: asyncio.run(three()))
            counts.append(gateway.service.created)
        finally:
            gateway.close()
        assert answers == [(200, b"2 bytes\n")] * 3
    assert counts == [3, 1]


async def _body(data: bytes) -> AsyncIterator[bytes]:
    yield data


@pytest.mark.parametrize("flag", ["--instance-concurrency", "--instance-reuse"])
def test_a_value_below_one_is_a_usage_error(
    omniwasm_cli: list[str], service: Path, flag: str
) -> None:
    """``omniwasm serve FLAG 0`` exits 2 naming the flag, before serving anything."""
    run = subprocess.run(
        [*omniwasm_cli, "serve", flag, "0", str(service)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 2
    assert flag in run.stderr
