"""The manifest-driven App: routes to components, 404, metrics, access logs, hot reload.

Guests: ``tests/fixtures/gateway/hello.wat`` and ``routes.wat`` (one behaviour per path).
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from pathlib import Path
from typing import Any

import httpx
import pytest

import omniwasm
from fixtures.wat_components import assemble
from omniwasm.gateway._app import App, MetricsApp

GUESTS = Path(__file__).parents[1] / "fixtures" / "gateway"


@pytest.fixture(scope="module")
def built() -> dict[str, Path]:
    """The two guests, assembled once."""
    return {name: assemble(GUESTS / f"{name}.wat", prefix="gw-") for name in ("hello", "routes")}


def make_app(tmp_path: Path, built: dict[str, Path]) -> Path:
    """An app directory: hello at /hello, routes.wat under /api/..., its manifest."""
    shutil.copy(built["hello"], tmp_path / "hello.wasm")
    shutil.copy(built["routes"], tmp_path / "routes.wasm")
    manifest = tmp_path / "omniwasm.toml"
    manifest.write_text(
        """omniwasm_manifest_version = 1
[application]
name = "demo"
[[trigger.http]]
route = "/hello"
component = "hello"
[[trigger.http]]
route = "/..."
component = "routes"
[component.hello]
source = "hello.wasm"
[component.routes]
source = "routes.wasm"
[component.routes.limits]
timeout = "300ms"
"""
    )
    return manifest


def fetch(app: Any, *requests: tuple[str, str]) -> list[httpx.Response]:
    """Send the requests in order through httpx's in-process ASGI transport."""

    async def go() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return [await client.request(method, path) for method, path in requests]

    return asyncio.run(go())


def test_routes_go_to_their_components(tmp_path: Path, built: dict[str, Path]) -> None:
    """/hello reaches the hello component; every other path the routes component."""
    app = App(make_app(tmp_path, built))
    hello, info, missing = fetch(app, ("GET", "/hello"), ("GET", "/info?x=1"), ("GET", "/nope"))
    assert (hello.status_code, hello.text) == (200, "hello from wasm")
    assert info.status_code == 200
    assert info.text.startswith("GET /info?x=1\n")
    assert missing.status_code == 404  # the routes component's own 404


def test_no_route_is_404(tmp_path: Path, built: dict[str, Path]) -> None:
    """A path no trigger covers is answered 404 by the app itself."""
    shutil.copy(built["hello"], tmp_path / "hello.wasm")
    manifest = tmp_path / "omniwasm.toml"
    manifest.write_text(
        '[[trigger.http]]\nroute = "/hello"\ncomponent = "hello"\n'
        '[component.hello]\nsource = "hello.wasm"\n'
    )
    (response,) = fetch(App(manifest), ("GET", "/other"))
    assert response.status_code == 404


def test_single_component_file_serves_every_path(built: dict[str, Path]) -> None:
    """App(component.wasm) serves it at /... ."""
    (response,) = fetch(App(built["routes"]), ("GET", "/status/418"))
    assert response.status_code == 418


def test_metrics_count_requests_failures_and_instantiation(
    tmp_path: Path, built: dict[str, Path]
) -> None:
    """Requests, a trap and a timeout show in the Prometheus text of the admin app."""
    app = App(make_app(tmp_path, built))
    statuses = [
        r.status_code for r in fetch(app, ("GET", "/hello"), ("GET", "/trap"), ("GET", "/loop"))
    ]
    assert statuses == [200, 500, 504]
    (metrics,) = fetch(MetricsApp(app.metrics), ("GET", "/metrics"))
    text = metrics.text
    assert 'omniwasm_requests_total{route="/hello",status="200"} 1' in text
    assert 'omniwasm_traps_total{route="/..."} 1' in text
    assert 'omniwasm_timeouts_total{route="/..."} 1' in text
    assert 'omniwasm_instantiate_duration_seconds_count{route="/hello"} 1' in text
    assert metrics.headers["content-type"].startswith("text/plain; version=0.0.4")


def test_access_log_records_are_structured(
    tmp_path: Path, built: dict[str, Path], caplog: pytest.LogCaptureFixture
) -> None:
    """Each request logs one record with method, path, route, component, status and timing."""
    app = App(make_app(tmp_path, built))
    with caplog.at_level(logging.INFO, logger="omniwasm.gateway.access"):
        fetch(app, ("GET", "/hello"))
    (record,) = [r for r in caplog.records if r.name == "omniwasm.gateway.access"]
    fields = {k: getattr(record, k) for k in ("method", "path", "route", "component", "status")}
    assert fields == {
        "method": "GET",
        "path": "/hello",
        "route": "/hello",
        "component": "hello",
        "status": 200,
    }
    assert record.duration_ms > 0  # type: ignore[attr-defined]
    assert record.bytes == len("hello from wasm")  # type: ignore[attr-defined]


def test_client_that_leaves_before_an_answer_is_logged_499_not_a_trap(
    tmp_path: Path, built: dict[str, Path], caplog: pytest.LogCaptureFixture
) -> None:
    """A client gone before the body arrives is logged 499 and counts no trap (nothing sent)."""
    app = App(make_app(tmp_path, built))
    scope = {
        "type": "http",
        "method": "GET",
        "scheme": "http",
        "path": "/hello",
        "raw_path": b"/hello",
        "query_string": b"",
        "headers": [(b"host", b"gateway.test")],
    }
    sent: list[Any] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.disconnect"}

    async def send(message: Any) -> None:
        sent.append(message)

    with caplog.at_level(logging.INFO, logger="omniwasm.gateway.access"):
        asyncio.run(app(scope, receive, send))
    assert sent == []
    (record,) = [r for r in caplog.records if r.name == "omniwasm.gateway.access"]
    assert record.status == 499  # type: ignore[attr-defined]
    (metrics,) = fetch(MetricsApp(app.metrics), ("GET", "/metrics"))
    assert "omniwasm_traps_total{" not in metrics.text
    assert 'omniwasm_requests_total{route="/hello",status="499"} 1' in metrics.text


def test_reload_swaps_the_component_without_failing_requests(
    tmp_path: Path, built: dict[str, Path]
) -> None:
    """After reload, new requests run the new build; a broken build keeps the old one."""
    manifest = make_app(tmp_path, built)
    app = App(manifest)
    shutil.copy(built["routes"], tmp_path / "hello.wasm")  # "hello" is now the routes guest
    app.reload("hello")
    (response,) = fetch(app, ("GET", "/hello"))
    assert response.status_code == 404  # the routes guest does not know /hello
    (tmp_path / "hello.wasm").write_bytes(b"not wasm")
    with pytest.raises(omniwasm.InvalidModule):
        app.reload("hello")
    (again,) = fetch(app, ("GET", "/hello"))
    assert again.status_code == 404  # still the previous good build


def test_metrics_app_health_and_404() -> None:
    """The admin app answers /healthz and 404 for other paths."""
    from omniwasm.gateway._metrics import Metrics

    ok, missing = fetch(MetricsApp(Metrics()), ("GET", "/healthz"), ("GET", "/x"))
    assert (ok.status_code, missing.status_code) == (200, 404)
