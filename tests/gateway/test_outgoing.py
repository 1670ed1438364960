"""Outgoing ``wasi:http`` requests from a gateway handler, allowed and denied by the policy.

The guest is ``tests/fixtures/gateway/py_hello/app.py``: ``/fetch?url=URL`` GETs ``URL``
through ``wasi:http/outgoing-handler`` (forwarding ``x-probe``), streams the upstream body
back with its status, ``content-type`` and ``x-upstream``, and answers ``502 error: <case>``
when the request fails. The upstream is a real threaded ``http.server`` on 127.0.0.1 that
records every request it gets, so a denied request is seen to never leave the host.
"""

from __future__ import annotations

import asyncio
import http.server
import json
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from fixtures.serving import free_port
from omniwasm import Policy
from omniwasm.gateway import App, Gateway

BASE = "http://gateway.test"
GREETING = b"hello from upstream\n"
KIB = 1024


def pattern(size: int) -> bytes:
    """``size`` bytes that are not all alike (so a reordered or dropped chunk shows)."""
    return (bytes(range(256)) * (size // 256 + 1))[:size]


BIG = pattern(256 * KIB)


@dataclass(frozen=True)
class Seen:
    """One request the upstream received."""

    method: str
    path: str
    headers: dict[str, str]


class _Handler(http.server.BaseHTTPRequestHandler):
    """``/hello`` greets (with ``x-upstream``), ``/big`` sends 256 KiB, anything else is 404."""

    server: _Server

    def do_GET(self) -> None:
        headers = {k.lower(): v for k, v in self.headers.items()}
        with self.server.lock:
            self.server.seen.append(Seen(self.command, self.path, headers))
        if self.path == "/hello":
            self._reply(200, "text/plain", GREETING, ("x-upstream", "yes"))
        elif self.path == "/big":
            self._reply(200, "application/octet-stream", BIG)
        else:
            self._reply(404, "text/plain", b"no such thing\n")

    def _reply(self, status: int, ctype: str, body: bytes, *extra: tuple[str, str]) -> None:
        self.send_response(status)
        self.send_header("content-type", ctype)
        self.send_header("content-length", str(len(body)))
        for name, value in extra:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Keep the test output quiet."""


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.lock = threading.Lock()
        self.seen: list[Seen] = []


@dataclass
class Upstream:
    """The running test server: its base URL and the requests it has received."""

    server: _Server

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def seen(self) -> list[Seen]:
        with self.server.lock:
            return list(self.server.seen)


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    """A threaded HTTP server on an ephemeral 127.0.0.1 port, shut down after the test."""
    server = _Server()
    thread = threading.Thread(
        target=server.serve_forever, args=(0.05,), name="test-upstream", daemon=True
    )
    thread.start()
    try:
        yield Upstream(server)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def fetch(app: Any, url: str, headers: dict[str, str] | None = None) -> httpx.Response:
    """``GET /fetch?url=URL`` through httpx's in-process ASGI transport."""

    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=BASE, timeout=60) as client:
            return await client.get("/fetch", params={"url": url}, headers=headers)

    return asyncio.run(go())


def through(cwasm: Path, url: str, allowed: list[str] | None, **kw: Any) -> httpx.Response:
    """Fetch ``url`` through a gateway whose policy allows ``allowed`` (None: the default)."""
    policy = None if allowed is None else Policy(allowed_hosts=allowed)
    gateway = Gateway(cwasm, policy=policy)
    try:
        return fetch(gateway, url, **kw)
    finally:
        gateway.close()


def test_allowed_host_returns_upstream_response(py_http_cwasm: Path, upstream: Upstream) -> None:
    """An allowed host's status, body and headers come back, and it got the forwarded header."""
    r = through(py_http_cwasm, upstream.url + "/hello", [upstream.url], headers={"x-probe": "p-42"})
    assert r.status_code == 200
    assert r.content == GREETING
    assert r.headers["x-upstream"] == "yes"
    assert r.headers["content-type"] == "text/plain"
    (seen,) = upstream.seen
    assert (seen.method, seen.path) == ("GET", "/hello")
    assert seen.headers["x-probe"] == "p-42"
    assert seen.headers["host"] == f"127.0.0.1:{upstream.port}"


def test_default_policy_denies(py_http_cwasm: Path, upstream: Upstream) -> None:
    """Under the default policy the guest gets HTTP-request-denied and nothing is sent."""
    r = through(py_http_cwasm, upstream.url + "/hello", None)
    assert (r.status_code, r.text) == (502, "error: HTTP-request-denied")
    assert upstream.seen == []


def test_other_port_allowed_denies(py_http_cwasm: Path, upstream: Upstream) -> None:
    """Allowing the same host on a different port denies the request and sends nothing."""
    other = upstream.port + 1 if upstream.port < 65535 else upstream.port - 1
    r = through(py_http_cwasm, upstream.url + "/hello", [f"http://127.0.0.1:{other}"])
    assert (r.status_code, r.text) == (502, "error: HTTP-request-denied")
    assert upstream.seen == []


def test_upstream_404_passes_through(py_http_cwasm: Path, upstream: Upstream) -> None:
    """An upstream 404 reaches the client as 404 with the upstream's body."""
    r = through(py_http_cwasm, upstream.url + "/nothing-here", ["http://127.0.0.1:*"])
    assert (r.status_code, r.content) == (404, b"no such thing\n")
    assert [s.path for s in upstream.seen] == ["/nothing-here"]


def test_connection_refused_is_reported(py_http_cwasm: Path) -> None:
    """An allowed host with nothing listening fails the request with connection-refused."""
    url = f"http://127.0.0.1:{free_port()}/hello"
    r = through(py_http_cwasm, url, ["http://127.0.0.1:*"])
    assert (r.status_code, r.text) == (502, "error: connection-refused")


def test_large_body_streams_back_intact(py_http_cwasm: Path, upstream: Upstream) -> None:
    """A 256 KiB upstream body streams back byte for byte."""
    r = through(py_http_cwasm, upstream.url + "/big", [upstream.url])
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/octet-stream"
    assert len(r.content) == len(BIG)
    assert r.content == BIG


# ---- omniwasm.toml: allowed_outbound_hosts ------------------------------------------------


def manifest(tmp_path: Path, cwasm: Path, outbound: list[str] | None) -> Path:
    """An app serving the handler at ``/...``, with ``allowed_outbound_hosts`` if given."""
    lines = [
        "omniwasm_manifest_version = 1",
        "[[trigger.http]]",
        'route = "/..."',
        'component = "fetcher"',
        "[component.fetcher]",
        f"source = {json.dumps(str(cwasm))}",
    ]
    if outbound is not None:
        lines.append(f"allowed_outbound_hosts = {json.dumps(outbound)}")
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "omniwasm.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_manifest_allowed_outbound_hosts_grants_access(
    py_http_cwasm: Path, upstream: Upstream, tmp_path: Path
) -> None:
    """``allowed_outbound_hosts`` lets the component reach the host; without it, it is denied."""
    url = upstream.url + "/hello"
    app = App(manifest(tmp_path / "open", py_http_cwasm, [upstream.url]))
    try:
        allowed = fetch(app, url)
    finally:
        for gateway in app.gateways.values():
            gateway.close()
    assert (allowed.status_code, allowed.content) == (200, GREETING)
    assert len(upstream.seen) == 1

    app = App(manifest(tmp_path / "closed", py_http_cwasm, None))
    try:
        denied = fetch(app, url)
    finally:
        for gateway in app.gateways.values():
            gateway.close()
    assert (denied.status_code, denied.text) == (502, "error: HTTP-request-denied")
    assert len(upstream.seen) == 1  # still only the allowed request


# ---- against the reference `wasmtime serve` ---------------------------------------------


@pytest.mark.reference
def test_same_fetch_answers_as_wasmtime_serve(
    reference_wasmtime: str,
    py_http_wasm: Path,
    py_http_cwasm: Path,
    upstream: Upstream,
    tmp_path: Path,
) -> None:
    """``/fetch`` of an allowed upstream gives the same status, headers and body as wasmtime."""
    port = free_port()
    log = tmp_path / "wasmtime-serve.log"
    cmd = [reference_wasmtime, "serve", "--addr", f"127.0.0.1:{port}", "-S", "cli"]
    with open(log, "wb") as out:
        proc = subprocess.Popen([*cmd, str(py_http_wasm)], stdout=out, stderr=subprocess.STDOUT)
    urls = [upstream.url + "/hello", upstream.url + "/big", upstream.url + "/missing"]
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 180
        with httpx.Client(base_url=base, timeout=60) as client:
            while True:
                if proc.poll() is not None:
                    pytest.fail(f"wasmtime serve exited {proc.returncode}:\n{log.read_text()}")
                try:
                    client.get("/")
                    break
                except httpx.TransportError:
                    if time.monotonic() > deadline:
                        pytest.fail(f"wasmtime serve did not answer:\n{log.read_text()}")
                    time.sleep(0.2)
            ref = [client.get("/fetch", params={"url": u}) for u in urls]
    finally:
        proc.kill()
        proc.wait(timeout=30)
    ours = [through(py_http_cwasm, u, [upstream.url]) for u in urls]
    for url, theirs, mine in zip(urls, ref, ours, strict=True):
        assert mine.status_code == theirs.status_code, url
        assert mine.headers["content-type"] == theirs.headers["content-type"], url
        assert mine.headers.get("x-upstream") == theirs.headers.get("x-upstream"), url
        assert mine.content == theirs.content, url
    assert [r.status_code for r in ours] == [200, 200, 404]
    assert ours[1].content == BIG
