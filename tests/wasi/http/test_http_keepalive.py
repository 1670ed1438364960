"""Outgoing HTTP: kept-alive connections reused by later requests, and self-requests."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from omniwasm import Err, Ok, Variant
from omniwasm.wasi import http

LOCAL = ("http://127.0.0.1:*",)


class Upstream:
    """A keep-alive HTTP/1.1 server on 127.0.0.1 that records which connection served what."""

    def __init__(self) -> None:
        self.seen: list[tuple[int, str]] = []  # (client port, path) per request
        self.lock = threading.Lock()
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # as real servers: no 40 ms delayed-ACK stalls

            def do_GET(self) -> None:
                with upstream.lock:
                    upstream.seen.append((self.client_address[1], self.path))
                body = b"ok"
                self.send_response(200)
                self.send_header("content-length", str(len(body)))
                if self.path == "/close":
                    self.send_header("connection", "close")
                    self.close_connection = True
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.authority = f"127.0.0.1:{self.server.server_address[1]}"

    def connections(self) -> list[int]:
        """The client ports, one per request, in order."""
        with self.lock:
            return [port for port, _ in self.seen]


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    """A fresh keep-alive server for one test."""
    server = Upstream()
    thread = threading.Thread(target=server.server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.server.shutdown()
    server.server.server_close()


def _get(authority: str, path: str) -> bytes:
    req = http.OutgoingRequest(http.Fields.from_list([]))
    req.set_method(Variant("get"))
    req.set_scheme(Variant("HTTP"))
    req.set_authority(authority)
    req.set_path_with_query(path)
    future = http.send(req, allowed_hosts=LOCAL)
    assert future.wait(30)
    outer = future.get()
    assert isinstance(outer, Ok) and isinstance(outer.value, Ok)
    response: Any = outer.value.value
    stream = response.consume().stream()
    data = b""
    while True:
        try:
            data += stream.blocking_read(4096)
        except Err:
            stream.close()
            return data


def test_sequential_requests_share_one_connection(upstream: Upstream) -> None:
    """Three requests read to their end travel over one kept-alive connection."""
    for i in range(3):
        assert _get(upstream.authority, f"/n{i}") == b"ok"
    ports = upstream.connections()
    assert len(ports) == 3
    assert len(set(ports)) == 1


def test_a_connection_the_server_closes_is_not_reused(upstream: Upstream) -> None:
    """After a `connection: close` answer the next request opens a new connection and works."""
    assert _get(upstream.authority, "/a") == b"ok"
    assert _get(upstream.authority, "/close") == b"ok"
    assert _get(upstream.authority, "/b") == b"ok"
    first, closing, after = upstream.connections()
    assert first == closing  # kept alive until the server said close
    assert after != closing


def test_a_request_without_authority_goes_to_the_self_origin(upstream: Upstream) -> None:
    """With a self origin and a `self` permission, a path-only request goes to that origin."""
    req = http.OutgoingRequest(http.Fields.from_list([]))
    req.set_method(Variant("get"))
    req.set_scheme(Variant("HTTP"))
    req.set_path_with_query("/own?x=1")
    future = http.send(
        req, allowed_hosts=["http://self"], self_origin=f"http://{upstream.authority}"
    )
    assert future.wait(30)
    outer = future.get()
    assert isinstance(outer, Ok) and isinstance(outer.value, Ok)
    assert outer.value.value.status() == 200
    assert [path for _, path in upstream.seen] == ["/own?x=1"]


def test_a_request_without_authority_and_no_self_permission_is_denied(upstream: Upstream) -> None:
    """A path-only request under a policy naming no `self` host is HTTP-request-denied."""
    req = http.OutgoingRequest(http.Fields.from_list([]))
    req.set_path_with_query("/own")
    with pytest.raises(Err) as denied:
        http.send(req, allowed_hosts=[LOCAL[0]], self_origin=f"http://{upstream.authority}")
    assert denied.value.value.case == "HTTP-request-denied"
    assert upstream.seen == []
