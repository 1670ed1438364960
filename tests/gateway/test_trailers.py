"""Response trailers: sent when the server offers ASGI's trailers extension, else left out.

Hypercorn over HTTP/2 offers ``http.response.trailers`` here; uvicorn does not.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fixtures.h2client import h2_request
from fixtures.serving import free_port
from fixtures.wat_components import assemble
from omniwasm.gateway import Gateway

GUESTS = Path(__file__).parents[1] / "fixtures" / "gateway"
TRAILERS = "http.response.trailers"


@pytest.fixture(scope="module")
def routes() -> Path:
    """The many-behaviours handler (its /trailers path finishes the body with trailers)."""
    return assemble(GUESTS / "routes.wat", prefix="gw-")


def _messages(
    app: Gateway, path: str, *, extension: bool, te: bool = False
) -> list[dict[str, Any]]:
    headers = [(b"host", b"gateway.test")] + ([(b"te", b"trailers")] if te else [])
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "2",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": headers,
        "server": ("127.0.0.1", 80),
    }
    if extension:
        scope["extensions"] = {TRAILERS: {}}
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Any) -> None:
        sent.append(dict(message))

    asyncio.run(app(scope, receive, send))
    return sent


def _body(sent: list[dict[str, Any]]) -> bytes:
    return b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")


@pytest.fixture
def finished_first(monkeypatch: pytest.MonkeyPatch) -> None:
    """The gateway waits for the guest to end before it starts the response, however slow.

    So the trailers are known when the response starts.
    """
    from omniwasm.gateway import _asgi

    monkeypatch.setattr(_asgi, "EARLY", 60.0)


@pytest.mark.usefixtures("finished_first")
def test_trailers_follow_the_body_when_the_server_offers_the_extension(routes: Path) -> None:
    """With the extension, start says trailers: True and the guest's trailers come last."""
    sent = _messages(Gateway(routes), "/trailers", extension=True)
    assert sent[0]["type"] == "http.response.start"
    assert sent[0]["trailers"] is True
    assert _body(sent) == b"ok\n"
    assert sent[-1] == {
        "type": TRAILERS,
        "headers": [(b"x-checksum", b"abc123")],
        "more_trailers": False,
    }


@pytest.mark.usefixtures("finished_first")
def test_a_finished_body_without_trailers_announces_none(routes: Path) -> None:
    """A guest done before the response starts, with no trailers: no trailers announced."""
    sent = _messages(Gateway(routes), "/status/201", extension=True, te=True)
    assert "trailers" not in sent[0]
    assert sent[-1]["type"] == "http.response.body" and sent[-1]["more_body"] is False


def test_a_streaming_response_announces_trailers_when_the_client_asks(
    routes: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Streaming (trailers not known yet at the start): announced only for te: trailers."""
    from omniwasm.gateway import _asgi

    monkeypatch.setattr(_asgi, "EARLY", 0.0)  # start the response before the guest ends
    asked = _messages(Gateway(routes), "/trailers", extension=True, te=True)
    assert asked[0]["trailers"] is True
    assert asked[-1]["headers"] == [(b"x-checksum", b"abc123")]
    not_asked = _messages(Gateway(routes), "/big", extension=True)
    assert "trailers" not in not_asked[0]
    assert all(m["type"] != TRAILERS for m in not_asked)
    assert len(_body(not_asked)) == 1 << 20


def test_no_trailers_message_without_the_extension(routes: Path) -> None:
    """Without the extension (uvicorn), nothing about trailers is sent."""
    sent = _messages(Gateway(routes), "/trailers", extension=False, te=True)
    assert "trailers" not in sent[0]
    assert all(m["type"] != TRAILERS for m in sent)
    assert sent[-1]["type"] == "http.response.body" and sent[-1]["more_body"] is False


@pytest.fixture(scope="module")
def hypercorn_h2(routes: Path) -> Iterator[int]:
    """The Gateway for routes.wat under a real Hypercorn server on 127.0.0.1 (h2c); its port."""
    pytest.importorskip("hypercorn")
    from hypercorn.asyncio import serve
    from hypercorn.config import Config

    port = free_port()
    config = Config()
    config.bind = [f"127.0.0.1:{port}"]
    config.accesslog = None
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    started = threading.Event()

    async def run() -> None:
        task = asyncio.ensure_future(serve(Gateway(routes), config, shutdown_trigger=stop.wait))
        while not task.done():
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.close()
                started.set()
                break
            except OSError:
                await asyncio.sleep(0.05)
        await task

    thread = threading.Thread(target=loop.run_until_complete, args=(run(),), daemon=True)
    thread.start()
    assert started.wait(30), "hypercorn did not start"
    yield port
    loop.call_soon_threadsafe(stop.set)
    thread.join(timeout=30)
    loop.close()


def test_hypercorn_http2_client_receives_the_guest_trailers(hypercorn_h2: int) -> None:
    """Over HTTP/2, a client asking for trailers gets the body and then x-checksum."""
    response = h2_request("127.0.0.1", hypercorn_h2, "/trailers")
    assert response.status == 200
    assert response.body == b"ok\n"
    assert response.trailers == [(b"x-checksum", b"abc123")]


def test_hypercorn_http2_serves_streamed_bodies_both_ways(hypercorn_h2: int) -> None:
    """Over HTTP/2, a 100 kB request body echoes back whole, and /big sends 1 MiB.

    (Without ``te: trailers``: Hypercorn 0.18 fails on the empty trailers that end a streamed
    response announced with trailers, which a guest that sets none would need.)
    """
    echoed = h2_request(
        "127.0.0.1", hypercorn_h2, "/echo", method="POST", body=b"e" * 100_000, te=False
    )
    assert (echoed.status, echoed.body) == (200, b"e" * 100_000)
    big = h2_request("127.0.0.1", hypercorn_h2, "/big", te=False)
    assert (big.status, big.body) == (200, b"x" * (1 << 20))
    assert big.trailers == []
