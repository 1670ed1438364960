"""Outgoing HTTP on the virtual WASI host: ``wasi:http/types`` and ``outgoing-handler`` in Python.

The ``http_get`` guest (``tests/fixtures/wasi/http_get.wat``) runs on ``omniwasm.wasi`` against
real servers on 127.0.0.1: the shared ``http_origin`` and, for bodies that trickle, stall, stream
or break, this module's ``edge`` server. Expected outputs are those ``wasmtime run -S http``
prints for the same requests (checked in ``test_guests_native.py`` for the origin's paths and by
``test_edge_cases_match_wasmtime_run`` here). The Python resources (fields, requests, bodies,
futures) are also driven directly through :func:`send`, for what the guest cannot print: error
payloads, request bodies, streaming. The resources without the network are in
``test_http_types.py``.

Measured against ``wasmtime run -S http`` (wasmtime 49): every case below prints the same, except
that a request whose path was never set goes to ``/`` here (the WIT: ``none`` is an empty path)
where wasmtime answers ``HTTP-protocol-error``.
"""

from __future__ import annotations

import contextlib
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from fixtures.wasi_guests import HTTP_PATHS, HttpOrigin
from omniwasm import Err, Ok, Policy, RunResult, Runtime, Variant, wasi
from omniwasm.wasi import http
from omniwasm.wasi._io import IoError

Guest = Callable[[str], Path]

TIMEOUT_NS = "200000000"  # 0.2 s: the edge server stalls until the test ends (at most 10 s)
STALL_SECONDS = 10.0
LOCAL = ("http://127.0.0.1:*",)


# ---- the edge server ----------------------------------------------------------------------


@dataclass
class Edge:
    """A real HTTP/1.1 server on 127.0.0.1 with misbehaving paths.

    ``/trickle`` stalls on ``stall`` (set only at the end); ``/chunked-gated`` waits for ``gate``.
    """

    authority: str
    stall: threading.Event = field(default_factory=threading.Event)
    gate: threading.Event = field(default_factory=threading.Event)
    paths_seen: list[str] = field(default_factory=list)


def _edge_handler(edge_state: dict[str, Any]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _send(self, status: int, body: bytes, *headers: tuple[str, str]) -> None:
            self.send_response(status)
            for name, value in headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _chunk(self, data: bytes) -> None:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()

        def do_GET(self) -> None:
            edge: Edge = edge_state["edge"]
            edge.paths_seen.append(self.path)
            # the client may give up first (a timeout test)
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self._answer(edge)

        def _answer(self, edge: Edge) -> None:
            if self.path == "/trickle":  # 3 bytes, then a stall in the middle of the body
                self.send_response(200)
                self.send_header("Content-Length", "10")
                self.end_headers()
                self.wfile.write(b"abc")
                self.wfile.flush()
                edge.stall.wait(STALL_SECONDS)
                self.wfile.write(b"defghij")
            elif self.path == "/truncated":  # promises 100 bytes, sends 10, hangs up
                self.close_connection = True
                self.send_response(200)
                self.send_header("Content-Length", "100")
                self.end_headers()
                self.wfile.write(b"0123456789")
            elif self.path.startswith("/chunked"):  # no content-length: chunks as they come
                self.send_response(200)
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                size = int(self.path.partition("?n=")[2] or 0)
                if size:
                    for _ in range(size // 4096):
                        self._chunk(b"x" * 4096)
                else:
                    self._chunk(b"one ")
                    if self.path == "/chunked-gated":  # the rest only once the test says so
                        edge.gate.wait(STALL_SECONDS)
                    self._chunk(b"two ")
                    self._chunk(b"three\n")
                self.wfile.write(b"0\r\n\r\n")
            elif self.path == "/garbage":  # not HTTP at all
                self.close_connection = True
                self.wfile.write(b"NOT HTTP\r\n\r\n")
            elif self.path == "/close":  # hangs up without answering
                self.close_connection = True
            elif self.path == "/headers":
                self._send(
                    200,
                    b"",
                    ("X-Multi", "one"),
                    ("X-Multi", "two"),
                    ("Content-Type", "text/plain"),
                )
            else:
                self._send(404, f"path={self.path}\n".encode())

        def do_POST(self) -> None:
            edge: Edge = edge_state["edge"]
            edge.paths_seen.append(self.path)
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                body = b""
                while (size := int(self.rfile.readline().strip(), 16)) > 0:
                    body += self.rfile.read(size)
                    self.rfile.readline()
                self.rfile.readline()
                framing = b"chunked"
            else:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                framing = b"length"
            kind = self.headers.get("Content-Type", "").encode()
            self._send(200, b"%s %s %s" % (framing, kind, body))

        def log_message(self, format: str, *args: object) -> None:
            pass  # keep pytest's output clean

    return Handler


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients that hang up (TLS to plain HTTP, timeouts) are part of the tests


@pytest.fixture(scope="module")
def edge() -> Iterator[Edge]:
    """A real server on 127.0.0.1 for this module (a daemon thread), released at the end."""
    state: dict[str, Any] = {}
    server = _QuietServer(("127.0.0.1", 0), _edge_handler(state))
    server.daemon_threads = True
    server.block_on_close = False
    state["edge"] = edge = Edge(f"127.0.0.1:{server.server_address[1]}")
    thread = threading.Thread(target=server.serve_forever, name="wasi-http-edge", daemon=True)
    thread.start()
    try:
        yield edge
    finally:
        edge.stall.set()
        edge.gate.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


# ---- helpers -------------------------------------------------------------------------------


def run_get(guest: Path, args: list[str], allowed: tuple[str, ...] = LOCAL) -> RunResult:
    """Run the http_get guest on the virtual host with ``args`` and ``allowed`` hosts."""
    return wasi.run(Runtime(), guest, Policy(args=args, allowed_hosts=allowed))


def request(
    authority: str,
    path: str = "/",
    *,
    method: str = "get",
    headers: list[tuple[str, bytes]] | None = None,
) -> http.OutgoingRequest:
    """An outgoing request as a guest would build it."""
    req = http.OutgoingRequest(http.Fields.from_list(headers or []))
    req.set_method(Variant(method) if method in ("get", "post") else Variant("other", method))
    req.set_scheme(Variant("HTTP"))
    req.set_authority(authority)
    req.set_path_with_query(path)
    return req


def response_of(future: http.FutureIncomingResponse) -> Any:
    """The response (or ``Err(error-code)``) once the future is ready."""
    assert future.wait(30)
    outer = future.get()
    assert isinstance(outer, Ok)
    inner = outer.value
    return inner.value if isinstance(inner, Ok) else inner


def read_stream(stream: wasi.InputStream) -> tuple[bytes, Any]:
    """The rest of a stream with blocking reads, and how it ended (its Err value)."""
    data = b""
    while True:
        try:
            data += stream.blocking_read(4096)
        except Err as end:
            stream.close()
            return data, end.value


def read_all(resp: http.IncomingResponse) -> tuple[bytes, Any]:
    """The whole body of a response, and how its stream ended."""
    return read_stream(resp.consume().stream())


def guest_output(status: int, body: bytes, end: str = "closed") -> bytes:
    """What http_get prints for a response it read to the end."""
    return (
        f"handle: ok\nstatus: {status}\nbody: ".encode()
        + body
        + f"\nbody-bytes: {len(body)}\nbody-end: {end}\n".encode()
    )


# ---- the guest against the shared origin -----------------------------------------------------


@pytest.mark.parametrize(
    ("path", "status"), [("/hello", 200), ("/nope?q=1", 404), ("/empty", 204), ("/big", 200)]
)
def test_guest_get_prints_status_and_body(
    wasi_guest: Guest, http_origin: HttpOrigin, path: str, status: int
) -> None:
    """An allowed GET prints the status and the whole body (204, 404, 100 KiB) as wasmtime."""
    body = HTTP_PATHS.get(path, (404, b"not found\n"))[1]
    result = run_get(wasi_guest("http_get"), [http_origin.authority, path])
    assert result.stdout == guest_output(status, body)
    assert result.exit_code == 0


@pytest.mark.parametrize(
    "allowed",
    [(), ("http://example.com",), ("https://127.0.0.1:*",), ("http://127.0.0.1",), ("127.0.0.1",)],
    ids=["none", "other-host", "other-scheme", "default-port-only", "no-scheme"],
)
def test_guest_denied_host_gets_request_denied(
    wasi_guest: Guest, edge: Edge, allowed: tuple[str, ...]
) -> None:
    """A target no allowed pattern matches is answered HTTP-request-denied and never contacted."""
    before = len(edge.paths_seen)
    result = run_get(wasi_guest("http_get"), [edge.authority, "/denied"], allowed)
    assert result.stdout == b"handle: error HTTP-request-denied\n"
    assert result.exit_code == 0
    assert len(edge.paths_seen) == before


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ("refused", b"handle: ok\nresponse: error connection-refused\n"),
        ("timeout", b"handle: ok\nresponse: error connection-read-timeout\n"),
        ("bad-authority", b"set-authority: error\nhandle: error HTTP-request-URI-invalid\n"),
        ("tls-to-plain", b"handle: ok\nresponse: error TLS-protocol-error\n"),
    ],
)
def test_guest_failures_print_wasmtimes_error_codes(
    wasi_guest: Guest, http_origin: HttpOrigin, edge: Edge, args: str, expected: bytes
) -> None:
    """Refused, first-byte timeout, bad authority and TLS to plain HTTP give wasmtime's codes."""
    argv = {
        "refused": [http_origin.closed, "/hello"],
        "timeout": [http_origin.authority, "/slow", "http", TIMEOUT_NS],
        "bad-authority": ["bad host", "/hello"],
        "tls-to-plain": [edge.authority, "/hello", "https"],
    }[args]
    allowed = ("*://127.0.0.1:*",)
    assert run_get(wasi_guest("http_get"), argv, allowed).stdout == expected


def test_guest_response_over_the_declared_limit_fails(
    wasi_guest: Guest, http_origin: HttpOrigin, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A content-length above the context's http_max_response_bytes is HTTP-response-body-size."""
    monkeypatch.setattr(wasi.WasiContext, "http_max_response_bytes", 1000, raising=False)
    result = run_get(wasi_guest("http_get"), [http_origin.authority, "/big"])
    assert result.stdout == b"handle: ok\nresponse: error HTTP-response-body-size\n"
    small = run_get(wasi_guest("http_get"), [http_origin.authority, "/hello"])
    assert small.stdout.startswith(b"handle: ok\nstatus: 200\n")


def test_guest_streamed_body_over_the_limit_fails_its_stream(
    wasi_guest: Guest, edge: Edge, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A chunked body growing past the limit is cut there: the guest's stream read fails."""
    monkeypatch.setattr(wasi.WasiContext, "http_max_response_bytes", 10_000, raising=False)
    result = run_get(wasi_guest("http_get"), [edge.authority, "/chunked?n=65536"])
    lines = result.stdout.split(b"\n")
    assert lines[:2] == [b"handle: ok", b"status: 200"]
    assert lines[-2] == b"body-end: failed"
    assert int(lines[-3].split(b": ")[1]) <= 10_000


# ---- the guest against the edge server, and wasmtime on the same requests --------------------


def _edge_cases(edge: Edge) -> dict[str, tuple[list[str], bytes]]:
    """Guest arguments and what ``wasmtime run -S http`` prints for them (measured)."""
    return {
        "between-bytes-timeout": (
            [edge.authority, "/trickle", "http", TIMEOUT_NS],
            guest_output(200, b"abc", "failed"),
        ),
        "truncated": ([edge.authority, "/truncated"], guest_output(200, b"0123456789", "failed")),
        "chunked": ([edge.authority, "/chunked"], guest_output(200, b"one two three\n")),
        "garbage": (
            [edge.authority, "/garbage"],
            b"handle: ok\nresponse: error HTTP-protocol-error\n",
        ),
        "hang-up": (
            [edge.authority, "/close"],
            b"handle: ok\nresponse: error HTTP-protocol-error\n",
        ),
        "query-only": ([edge.authority, "?q=1"], guest_output(404, b"path=/?q=1\n")),
        "fragment": ([edge.authority, "/a#b"], guest_output(404, b"path=/a\n")),
        "empty-port": (
            ["127.0.0.1:", "/"],
            b"set-authority: error\nhandle: error HTTP-request-URI-invalid\n",
        ),
        "dns": (["nonexistent.invalid", "/"], b"handle: ok\nresponse: error DNS-error\n"),
    }


EDGE_CASES = [
    "between-bytes-timeout", "truncated", "chunked", "garbage", "hang-up", "query-only",
    "fragment", "empty-port", "dns",
]  # fmt: skip


@pytest.mark.parametrize("case", EDGE_CASES)
def test_guest_edge_cases(wasi_guest: Guest, edge: Edge, case: str) -> None:
    """Stalled, cut, chunked and malformed responses and odd targets print what wasmtime does."""
    args, expected = _edge_cases(edge)[case]
    assert run_get(wasi_guest("http_get"), args, ("*://*:*",)).stdout == expected


@pytest.mark.reference
@pytest.mark.parametrize("case", EDGE_CASES)
def test_edge_cases_match_wasmtime_run(
    wasi_guest: Guest, edge: Edge, reference_wasmtime: str, case: str
) -> None:
    """The expected edge-case outputs are what `wasmtime run -S http` prints for them."""
    args, expected = _edge_cases(edge)[case]
    cmd = [reference_wasmtime, "run", "-S", "http", str(wasi_guest("http_get")), *args]
    ref = subprocess.run(cmd, capture_output=True, check=False, timeout=60)
    assert ref.stdout == expected, ref.stderr


# ---- requests and responses through the Python API --------------------------------------------


def test_response_headers_keep_every_value_and_are_immutable(edge: Edge) -> None:
    """Response headers keep repeated names in order, match any case and refuse changes."""
    resp = response_of(http.send(request(edge.authority, "/headers"), allowed_hosts=LOCAL))
    headers = resp.headers()
    assert headers.get("x-multi") == [b"one", b"two"]
    assert headers.get("X-MULTI") == [b"one", b"two"]
    assert headers.has("content-type")
    with pytest.raises(Err) as exc:
        headers.append("x-new", b"v")
    assert exc.value.value == Variant("immutable")
    copy = headers.clone()
    copy.append("x-new", b"v")
    assert copy.get("x-new") == [b"v"]
    assert not headers.has("x-new")


def test_body_streams_before_the_response_ends(edge: Edge) -> None:
    """The first chunk is readable while the server still holds back the rest."""
    edge.gate.clear()
    try:
        resp = response_of(
            http.send(request(edge.authority, "/chunked-gated"), allowed_hosts=LOCAL)
        )
        stream = resp.consume().stream()
        assert stream.blocking_read(100) == b"one "
        assert stream.read(100) == b""  # nothing more yet, and no end either
        assert not stream.subscribe().ready()
    finally:
        edge.gate.set()
    rest, end = read_stream(stream)
    assert (rest, end) == (b"two three\n", Variant("closed"))


@pytest.mark.parametrize(
    ("path", "limit", "expected"),
    [
        ("/trickle", None, Variant("connection-read-timeout")),
        ("/truncated", None, Variant("HTTP-response-incomplete")),
        ("/chunked?n=65536", 10_000, Variant("HTTP-response-body-size")),
    ],
)
def test_body_failures_carry_their_error_code(
    edge: Edge, path: str, limit: int | None, expected: Variant
) -> None:
    """A body that stalls, is cut or grows too big fails its stream with an http-error-code."""
    options = http.RequestOptions()
    options.set_between_bytes_timeout(int(TIMEOUT_NS))
    limits = {"max_response_bytes": limit} if limit else {}
    future = http.send(request(edge.authority, path), options, allowed_hosts=LOCAL, **limits)
    _, end = read_all(response_of(future))
    assert end.case == "last-operation-failed"
    assert http.http_error_code(end.value) == expected
    assert http.http_error_code(IoError("plain")) is None


def test_declared_size_over_the_limit_fails_the_response(http_origin: HttpOrigin) -> None:
    """A content-length over the limit fails the response with its size as the payload."""
    future = http.send(
        request(http_origin.authority, "/big"), allowed_hosts=LOCAL, max_response_bytes=1000
    )
    assert response_of(future) == Err(Variant("HTTP-response-body-size", 102400))


def test_dns_failure_has_wasmtimes_payload() -> None:
    """A name that does not resolve is DNS-error with wasmtime's rcode and info-code."""
    future = http.send(request("nonexistent.invalid"), allowed_hosts=("http://*",))
    code = response_of(future).value
    assert code == Variant("DNS-error", {"rcode": "address not available", "info-code": 0})


def test_request_body_written_after_handle_streams_chunked(edge: Edge) -> None:
    """A body written after handle is sent chunked, with the guest's headers, and answered."""
    req = request(edge.authority, "/echo", method="post", headers=[("content-type", b"t/x")])
    body = req.body()
    future = http.send(req, allowed_hosts=LOCAL)
    out = body.write()
    out.write(b"hello ")
    out.blocking_write_and_flush(b"world")
    out.close()
    http.OutgoingBody.finish(body, None)
    data, end = read_all(response_of(future))
    assert (data, end) == (b"chunked t/x hello world", Variant("closed"))


def test_request_body_finished_before_handle_has_a_length(edge: Edge) -> None:
    """A body complete before handle goes out with a content-length."""
    req = request(edge.authority, "/echo", method="post", headers=[("content-length", b"2")])
    body = req.body()
    body.write().write(b"hi")
    http.OutgoingBody.finish(body, None)
    data, _ = read_all(response_of(http.send(req, allowed_hosts=LOCAL)))
    assert data == b"length  hi"


def test_request_body_shorter_than_its_content_length_fails_finish() -> None:
    """finish with fewer bytes than the declared content-length is HTTP-request-body-size."""
    req = http.OutgoingRequest(http.Fields.from_list([("content-length", b"5")]))
    body = req.body()
    body.write().write(b"abc")
    with pytest.raises(Err) as exc:
        http.OutgoingBody.finish(body, None)
    assert exc.value.value == Variant("HTTP-request-body-size", 3)


def test_futures_answer_once_then_err(http_origin: HttpOrigin) -> None:
    """future.get is None-or-value once and Err() after; trailers arrive after the body."""
    future = http.send(request(http_origin.authority, "/hello"), allowed_hosts=LOCAL)
    resp = response_of(future)
    assert future.get() == Err()
    body = resp.consume()
    with pytest.raises(Err):
        resp.consume()
    trailers = http.IncomingBody.finish(body)
    trailers.subscribe().block()
    assert trailers.get() == Ok(Ok(None))
    assert trailers.get() == Err()


def test_denied_and_invalid_targets_raise_error_codes() -> None:
    """send raises the error-code for a denied host, a missing authority or a non-HTTP scheme."""
    with pytest.raises(Err) as denied:
        http.send(request("127.0.0.1:1"), allowed_hosts=("http://localhost:*",))
    assert denied.value.value == Variant("HTTP-request-denied")
    with pytest.raises(Err) as no_authority:
        http.send(http.OutgoingRequest(http.Fields()), allowed_hosts=("*://*:*",))
    assert no_authority.value.value == Variant("HTTP-request-URI-invalid")
    ftp = request("127.0.0.1:21")
    ftp.set_scheme(Variant("other", "ftp"))
    with pytest.raises(Err) as other:
        http.send(ftp, allowed_hosts=("*://*:*",))
    assert other.value.value == Variant("HTTP-protocol-error")
