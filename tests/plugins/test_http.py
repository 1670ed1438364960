"""Plugin HTTP: real requests to a server on 127.0.0.1, allowed hosts, bounded responses."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

import omniwasm
from omniwasm.plugins import Plugin

Build = Callable[[str], Path]


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/big":
            body = b"x" * 100_000
            code = 200
        elif self.path == "/missing":
            body, code = b"not here", 404
        else:
            body, code = f"hello from {self.path}".encode(), 200
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Test", "yes")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    """A real HTTP server on 127.0.0.1; yields its base URL."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def _req(url: str) -> str:
    return json.dumps({"url": url, "method": "GET"})


def test_allowed_request_returns_body_and_status(plugin_wasm: Build, server: str) -> None:
    """A request to an allowed host returns the body and sets the status code."""
    plugin = Plugin(plugin_wasm("http"), allowed_hosts=["127.0.0.1"])
    assert plugin.call("fetch", _req(f"{server}/hi")) == b"hello from /hi"
    assert plugin.call("status") == b"200"


def test_404_is_a_response_not_an_error(plugin_wasm: Build, server: str) -> None:
    """A 404 comes back as a body with status 404."""
    plugin = Plugin(plugin_wasm("http"), allowed_hosts=["127.*"])
    assert plugin.call("fetch", _req(f"{server}/missing")) == b"not here"
    assert plugin.call("status") == b"404"


def test_no_allowed_hosts_means_no_http(plugin_wasm: Build, server: str) -> None:
    """Without allowed_hosts every request is refused, naming the host."""
    plugin = Plugin(plugin_wasm("http"))
    with pytest.raises(omniwasm.HostFunctionError) as info:
        plugin.call("fetch", _req(f"{server}/hi"))
    assert isinstance(info.value.__cause__, omniwasm.PolicyError)
    assert "127.0.0.1" in str(info.value.__cause__)
    assert plugin.call("status") == b"0"


def test_host_outside_the_globs_is_refused(plugin_wasm: Build, server: str) -> None:
    """A host that matches none of the globs is refused."""
    plugin = Plugin(plugin_wasm("http"), allowed_hosts=["*.example.com"])
    with pytest.raises(omniwasm.HostFunctionError):
        plugin.call("fetch", _req(f"{server}/hi"))


def test_response_size_is_bounded(plugin_wasm: Build, server: str) -> None:
    """A response larger than max_http_response_bytes fails the call."""
    wasm = plugin_wasm("http").read_bytes()
    import base64

    manifest = {
        "wasm": [{"data": base64.b64encode(wasm).decode()}],
        "allowed_hosts": ["127.0.0.1"],
        "memory": {"max_http_response_bytes": 1000},
    }
    with pytest.raises(omniwasm.HostFunctionError) as info:
        Plugin(manifest).call("fetch", _req(f"{server}/big"))
    assert "max_http_response_bytes" in str(info.value.__cause__)


def test_response_headers_when_enabled(plugin_wasm: Build, server: str) -> None:
    """With http_response_headers, http_headers returns the last response's headers as JSON."""
    plugin = Plugin(plugin_wasm("http"), allowed_hosts=["127.0.0.1"], http_response_headers=True)
    plugin.call("fetch", _req(f"{server}/hi"))
    assert json.loads(plugin.call("headers"))["x-test"] == "yes"
    assert Plugin(plugin_wasm("http"), allowed_hosts=["127.0.0.1"]).call("headers") == b""


def test_request_to_a_silent_server_ends_at_the_timeout(plugin_wasm: Build) -> None:
    """http_request to a server that never answers raises Timeout at the plugin's deadline."""
    import socket

    from fixtures.bounded import bounded

    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()  # accepts connections (the kernel does), never answers
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/"
        plugin = Plugin(
            plugin_wasm("http"), allowed_hosts=["127.0.0.1"], policy=omniwasm.Policy(timeout=0.5)
        )
        _, error, _ = bounded(lambda: plugin.call("fetch", _req(url)))
        assert isinstance(error, omniwasm.Timeout), error
        assert plugin.call("status") == b"0"
        plugin.close()
