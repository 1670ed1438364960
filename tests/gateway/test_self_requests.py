"""Spin's self-requests: a component fetching a path of its own application.

The guest is the componentize-py handler (``/fetch?url=URL``). A request to the host
``self.alt`` (or with no host at all) goes to the application's own address when the
component's ``allowed_outbound_hosts`` names ``self`` or ``self.alt``.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest

from fixtures.serving import free_port, serving, wait_ready
from omniwasm.gateway import App

HELLO = "Hello from Python on omniwasm!\n"


def manifest(where: Path, cwasm: Path, outbound: list[str]) -> Path:
    """An app serving the handler at ``/...`` with these ``allowed_outbound_hosts``."""
    where.mkdir(parents=True, exist_ok=True)
    path = where / "omniwasm.toml"
    path.write_text(
        "omniwasm_manifest_version = 1\n"
        '[[trigger.http]]\nroute = "/..."\ncomponent = "fetcher"\n'
        f"[component.fetcher]\nsource = {json.dumps(str(cwasm))}\n"
        f"allowed_outbound_hosts = {json.dumps(outbound)}\n"
    )
    return path


def fetch_in_process(app: App, url: str) -> httpx.Response:
    """GET ``url`` from ``app`` in process, through httpx's ASGI transport."""

    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://app.test") as c:
            return await c.get("/fetch", params={"url": url}, timeout=60)

    try:
        return asyncio.run(go())
    finally:
        for gateway in app.gateways.values():
            gateway.close()


def test_self_alt_goes_to_the_served_application(py_http_cwasm: Path, tmp_path: Path) -> None:
    """Under `omniwasm serve`, fetching http://self.alt/hello gets the app's own /hello."""
    port = free_port()
    source = manifest(tmp_path, py_http_cwasm, ["http://self.alt"])
    with serving(str(source), "--addr", f"127.0.0.1:{port}") as p:
        wait_ready(f"http://127.0.0.1:{port}/hello", p, seconds=120)
        response = httpx.get(
            f"http://127.0.0.1:{port}/fetch", params={"url": "http://self.alt/hello"}, timeout=60
        )
    assert (response.status_code, response.text) == (200, HELLO)


def test_self_requests_need_the_permission(py_http_cwasm: Path, tmp_path: Path) -> None:
    """Without `self` or `self.alt` in allowed_outbound_hosts the guest gets request-denied."""
    app = App(manifest(tmp_path, py_http_cwasm, ["http://127.0.0.1:1"]), self_origin="http://x:1")
    response = fetch_in_process(app, "http://self.alt/hello")
    assert (response.status_code, response.text) == (502, "error: HTTP-request-denied")


@pytest.mark.parametrize(
    ("allowed", "url"),
    [("http://self", "http://self.alt/x"), ("https://self.alt", "http://self.alt:1/x")],
)  # fmt: skip
def test_either_self_name_grants_it(
    py_http_cwasm: Path, tmp_path: Path, allowed: str, url: str
) -> None:
    """`self` and `self.alt` both grant self-requests (the scheme follows the app's)."""
    port = free_port()
    source = manifest(tmp_path, py_http_cwasm, [allowed])
    with serving(str(source), "--addr", f"127.0.0.1:{port}") as p:
        wait_ready(f"http://127.0.0.1:{port}/hello", p, seconds=120)
        response = httpx.get(f"http://127.0.0.1:{port}/fetch", params={"url": url}, timeout=60)
    assert (response.status_code, response.text) == (200, HELLO)


def test_without_a_served_address_self_alt_is_an_ordinary_host(
    py_http_cwasm: Path, tmp_path: Path
) -> None:
    """An App not told where it is served treats self.alt as a host the policy must allow."""
    app = App(manifest(tmp_path, py_http_cwasm, ["http://self.alt"]))
    response = fetch_in_process(app, "http://self.alt/hello")
    assert response.status_code == 502
    assert response.text.startswith("error: DNS")  # it really tried to resolve it


def test_the_host_header_cannot_redirect_a_self_request(
    py_http_cwasm: Path, tmp_path: Path
) -> None:
    """A client's Host header does not choose where a self-request goes (Spin's CVE-2024-32980).

    The target is the address the app is served on, whatever the incoming request claims.
    """
    port = free_port()
    source = manifest(tmp_path, py_http_cwasm, ["http://self"])
    with serving(str(source), "--addr", f"127.0.0.1:{port}") as p:
        wait_ready(f"http://127.0.0.1:{port}/hello", p, seconds=120)
        response = httpx.get(
            f"http://127.0.0.1:{port}/fetch",
            params={"url": "http://self.alt/hello"},
            headers={"host": f"127.0.0.1:{free_port()}"},  # nothing listens there
            timeout=60,
        )
    assert (response.status_code, response.text) == (200, HELLO)
