"""Hostile clients against a real ``omniwasm serve`` on 127.0.0.1, under uvicorn and Hypercorn.

Each attack is a raw socket (or a few dozen) with a timeout, so a test fails instead of hanging:
huge header fields, too many fields, headers trickling in (slowloris), unfinished heads holding
memory, malformed request lines, and guests answering statuses that are not final HTTP statuses
(the ``routes`` guest's ``/status/NNN``). The servers run with ``--header-timeout 1s`` and
``--timeout 1s`` so that the time limits show within a few seconds. ``hypercorn`` is
``omniwasm serve --http2``, whose HTTP/1.1 side is h11's.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from fixtures.serving import free_port, serving, wait_ready
from fixtures.wat_components import assemble

pytest.importorskip("uvicorn")

GUESTS = Path(__file__).parents[1] / "fixtures" / "gateway"
MIB = 1 << 20
HEADER_TIMEOUT = 1.0
SLACK = 4.0
"""Seconds beyond a limit a test waits before it fails (a busy 2-core machine is slow)."""

SERVERS = ["uvicorn", "hypercorn"]


@dataclass(frozen=True)
class Server:
    """A running ``omniwasm serve``: its port, its process and which HTTP server it is."""

    kind: str
    port: int
    proc: subprocess.Popen[bytes]

    def log(self) -> str:
        """Its stderr so far (the access and error log)."""
        log = self.proc.log  # type: ignore[attr-defined]
        log.seek(0)
        return str(log.read().decode(errors="replace"))


@pytest.fixture(scope="module")
def routes() -> Path:
    """The many-behaviours handler (/status/NNN, /sleep, ...)."""
    return assemble(GUESTS / "routes.wat", prefix="gw-")


def _serve(kind: str, routes: Path, tmp: Path, *args: str) -> Iterator[Server]:
    if kind == "hypercorn":
        pytest.importorskip("hypercorn")
        args = (*args, "--http2")
    port = free_port()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("OMNIWASM_CACHE_DIR", str(tmp))
        base = ("--addr", f"127.0.0.1:{port}", "--timeout", "1s")
        with serving(str(routes), *base, "--header-timeout", f"{HEADER_TIMEOUT:g}s", *args) as p:
            wait_ready(f"http://127.0.0.1:{port}/status/200", p)
            yield Server(kind, port, p)


@pytest.fixture(scope="module", params=SERVERS)
def server(
    request: pytest.FixtureRequest, routes: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """One server of each kind for the module, with the default header limits."""
    yield from _serve(str(request.param), routes, tmp_path_factory.mktemp("cache"))


@dataclass(frozen=True)
class Reply:
    """What a raw connection got: the bytes, whether the server closed, and when."""

    data: bytes
    closed: bool
    seconds: float

    @property
    def status(self) -> int | None:
        """The status of the first response (None when nothing came)."""
        if not self.data.startswith(b"HTTP/1."):
            return None
        return int(self.data.split(b" ", 2)[1])


def raw(
    port: int, *pieces: bytes, pause: float = 0.0, wait: float = 10.0, linger: bool = True
) -> Reply:
    """Send ``pieces`` (``pause`` seconds apart), then read until the server closes.

    Sending stops quietly when the server has closed or reset the connection (it refused the
    request early). Reading gives up after ``wait`` seconds without a close; ``linger=False``
    stops at the end of the first response's head instead.
    """
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=wait) as sock:
        try:
            for i, piece in enumerate(pieces):
                if i and pause:
                    time.sleep(pause)
                sock.sendall(piece)
        except (BrokenPipeError, ConnectionResetError):
            pass
        data = b""
        closed = False
        try:
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    closed = True
                    break
                data += chunk
                if not linger and b"\r\n\r\n" in data:
                    break
        except ConnectionResetError:
            closed = True
        except TimeoutError:
            pass
    return Reply(data, closed, time.monotonic() - started)


def request(path: str, *headers: bytes) -> bytes:
    """An HTTP/1.1 GET with ``Connection: close`` and the given header lines."""
    lines = [b"GET " + path.encode() + b" HTTP/1.1", b"Host: localhost", b"Connection: close"]
    return b"\r\n".join([*lines, *headers]) + b"\r\n\r\n"


# -- header size and count ---------------------------------------------------------------------


@pytest.mark.parametrize("size", [1 * MIB, 16 * MIB])
def test_a_huge_header_field_gets_431(server: Server, size: int) -> None:
    """One header field of 1 or 16 MiB is refused with 431 and the connection closes."""
    reply = raw(server.port, request("/status/200", b"X-Big: " + b"a" * size))
    assert reply.status == 431
    assert reply.closed


@pytest.mark.parametrize("count", [101, 100_000])
def test_too_many_header_fields_get_431(server: Server, count: int) -> None:
    """More than 100 header fields (101, or 100,000) are refused with 431."""
    fields = [b"X-%d: v" % i for i in range(count)]
    reply = raw(server.port, request("/status/200", *fields))
    assert reply.status == 431
    assert reply.closed


def test_headers_within_the_limits_are_served(server: Server) -> None:
    """A request with 97 header fields (100 with Host and Connection) and 60 KiB of them is served."""
    fields = [b"X-%d: %s" % (i, b"v" * 600) for i in range(97)]
    reply = raw(server.port, request("/status/200", *fields))
    assert reply.status == 200


def test_a_body_arriving_with_its_head_is_not_counted_as_headers(server: Server) -> None:
    """A 1 MiB body sent in the same write as its head is a body, not 1 MiB of headers."""
    body = b"x" * MIB
    head = b"POST /count HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
    reply = raw(server.port, head + b"Content-Length: %d\r\n\r\n" % len(body) + body)
    assert reply.status == 200
    assert b"\r\n\r\n3\r\nok\n\r\n" in reply.data or reply.data.endswith(b"\r\n\r\nok\n")


def test_pipelined_requests_are_all_answered(server: Server) -> None:
    """Three requests in one write get their three answers, in order."""
    one = b"GET /status/%d HTTP/1.1\r\nHost: localhost\r\n\r\n"
    last = b"GET /status/203 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    reply = raw(server.port, one % 201 + one % 202 + last)
    assert [
        line.split(b" ")[1] for line in reply.data.split(b"\r\n") if line.startswith(b"HTTP/1.1 ")
    ] == [b"201", b"202", b"203"]


@pytest.mark.parametrize("kind", SERVERS)
def test_header_limits_are_configurable(kind: str, routes: Path, tmp_path: Path) -> None:
    """--max-header-bytes and --max-headers set the 431 limits."""
    for srv in _serve(kind, routes, tmp_path, "--max-header-bytes", "1KiB", "--max-headers", "4"):
        assert raw(srv.port, request("/status/200", b"X-A: 1")).status == 200
        assert raw(srv.port, request("/status/200", b"X-A: " + b"a" * 2048)).status == 431
        assert raw(srv.port, request("/status/200", b"X-A: 1", b"X-B: 2", b"X-C: 3")).status == 431


# -- time to send the headers ------------------------------------------------------------------


def test_headers_trickling_in_are_cut_off_at_the_header_timeout(server: Server) -> None:
    """A client sending its headers a byte every 0.2 s is cut off (408, or a close) in time."""
    head = request("/status/200", b"X-Slow: " + b"s" * 200)
    pieces = [head[:16], *(head[i : i + 1] for i in range(16, len(head)))]
    reply = raw(server.port, *pieces, pause=0.2, wait=HEADER_TIMEOUT + SLACK)
    assert reply.closed
    assert reply.seconds < HEADER_TIMEOUT + SLACK
    if server.kind == "uvicorn":
        assert reply.status == 408


def test_a_silent_connection_is_closed(server: Server) -> None:
    """A connection that never sends anything is closed within the header timeout."""
    reply = raw(server.port, wait=HEADER_TIMEOUT + SLACK)
    assert reply.closed and reply.data == b""


def _peak_rss(pid: int) -> int:
    """The process's peak resident memory (VmHWM), in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


def test_unfinished_heads_do_not_grow_the_server(server: Server) -> None:
    """20 connections each sending 16 MiB of an unfinished header add under 64 MiB to the server."""
    before = _peak_rss(server.proc.pid)
    replies: list[Reply] = []
    chunk = b"a" * MIB

    def attack() -> None:
        head = b"GET /status/200 HTTP/1.1\r\nHost: localhost\r\nX-Big: "
        replies.append(raw(server.port, head, *([chunk] * 16), wait=HEADER_TIMEOUT + SLACK + 20))

    threads = [threading.Thread(target=attack) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(replies) == 20
    assert all(r.closed for r in replies)
    assert {r.status for r in replies} <= {431, None}  # None: reset before the answer was read
    assert sum(r.status == 431 for r in replies) >= 10
    assert _peak_rss(server.proc.pid) - before < 64 * MIB
    assert raw(server.port, request("/status/200")).status == 200  # and it still serves


# -- malformed request lines -------------------------------------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        b"\r\n",
        b"\r\n\r\n",
        b"GET /\r\n",
        b"GET /\r\n\r\n",
        b"HELLO\r\n\r\n",
        b"GET / HTTP/1.1 extra\r\n\r\n",
        b"GET / HTTP/9.9\r\nHost: localhost\r\n\r\n",
        b"\x00\x01\x02\x03\r\n\r\n",
    ],
)
def test_a_malformed_request_line_gets_400_or_a_close(server: Server, line: bytes) -> None:
    """A blank line, an HTTP/0.9 line or garbage gets 400 (uvicorn: at once) or a close, in time."""
    reply = raw(server.port, line, wait=HEADER_TIMEOUT + SLACK)
    assert reply.closed
    assert reply.status in (400, None)
    if server.kind == "uvicorn":
        assert reply.status == 400
        assert reply.seconds < SLACK


@pytest.mark.parametrize(
    "line",
    [b"\r\n\r\n", b"GET /\r\n\r\n", b"GET / HTTP/9.9\r\nHost: localhost\r\n\r\n", b"HELLO\r\n\r\n"],
)
def test_a_malformed_request_pipelined_after_a_good_one_ends_the_connection(
    server: Server, line: bytes
) -> None:
    """A malformed request right behind a good one: the good one is answered, then 400 or a close."""
    good = b"GET /status/201 HTTP/1.1\r\nHost: localhost\r\n\r\n"
    reply = raw(server.port, good + line, wait=HEADER_TIMEOUT + SLACK)
    assert reply.closed, reply
    assert reply.status == 201
    lines = reply.data.split(b"\r\n")
    statuses = [row.split(b" ")[1] for row in lines if row.startswith(b"HTTP/1.")]
    # a lone blank line is not refused early (llhttp skips it): 408 at the header timeout
    assert statuses in ([b"201"], [b"201", b"400"], [b"201", b"408"]), statuses
    assert reply.seconds < HEADER_TIMEOUT + SLACK


# -- what the guest answers --------------------------------------------------------------------


@pytest.mark.parametrize("status", [600, 700, 942, 999, 100, 101, 199])
def test_a_guest_status_outside_200_599_becomes_500_with_a_logged_reason(
    server: Server, status: int
) -> None:
    """A guest status that is not a final HTTP status is answered 500, and the log says why."""
    reply = raw(server.port, request(f"/status/{status}"))
    assert reply.status == 500
    assert reply.closed
    deadline = time.monotonic() + SLACK
    while f"status {status}, not a final HTTP status" not in server.log():
        assert time.monotonic() < deadline, server.log()
        time.sleep(0.05)


@pytest.mark.parametrize("status", [200, 204, 418, 599])
def test_a_final_guest_status_passes_through(server: Server, status: int) -> None:
    """Statuses 200-599 reach the client unchanged."""
    assert raw(server.port, request(f"/status/{status}")).status == status


@pytest.mark.parametrize("kind", SERVERS)
def test_guests_asleep_in_a_host_call_do_not_hold_their_slots(
    kind: str, routes: Path, tmp_path: Path
) -> None:
    """Requests sleeping in a host call get 504 at the timeout and never hold up the server.

    Six /sleep requests (60 s in a host call) get 504 at the 1 s timeout, an unrelated request
    sent meanwhile is answered long before any sleep would end, and SIGTERM stops the server
    without waiting for the sleepers.
    """
    for srv in _serve(kind, routes, tmp_path, "--max-concurrency", "4"):
        base = f"http://127.0.0.1:{srv.port}"
        results: dict[str, list[int]] = {"sleep": [], "other": []}

        def get(
            path: str, key: str, base: str = base, results: dict[str, list[int]] = results
        ) -> None:
            results[key].append(httpx.get(base + path, timeout=30).status_code)

        sleepers = [threading.Thread(target=get, args=("/sleep", "sleep")) for _ in range(6)]
        for t in sleepers:
            t.start()
        time.sleep(0.3)
        started = time.monotonic()
        get("/status/200", "other")
        took = time.monotonic() - started
        for t in sleepers:
            t.join(40)
        assert results == {"sleep": [504] * 6, "other": [200]}
        assert took < 15  # the sleeps last 60 s: it never waited for one to end
        srv.proc.send_signal(signal.SIGTERM)  # a graceful stop does not wait for them either
        assert srv.proc.wait(timeout=15) == 0


def test_worker_processes_apply_the_limits(routes: Path, tmp_path: Path) -> None:
    """With --workers 2 every worker refuses oversized headers (431) and slow ones (408)."""
    for srv in _serve("uvicorn", routes, tmp_path, "--workers", "2", "--max-header-bytes", "1KiB"):
        for _ in range(4):  # connections spread over both workers
            assert raw(srv.port, request("/status/200", b"X-A: " + b"a" * 2048)).status == 431
            assert raw(srv.port, request("/status/200", b"X-A: 1")).status == 200
        reply = raw(srv.port, b"GET /status/200 HTTP/1.1\r\n", wait=HEADER_TIMEOUT + SLACK)
        assert reply.status == 408


@pytest.mark.parametrize(
    "args",
    [("--max-header-bytes", "lots"), ("--header-timeout", "0s"), ("--header-timeout", "soon")],
)
def test_bad_limit_values_are_policy_errors(routes: Path, args: tuple[str, str]) -> None:
    """A malformed header size or duration exits 78 before anything starts."""
    run = subprocess.run(
        [sys.executable, "-m", "omniwasm", "serve", str(routes), "--addr", "127.0.0.1:0", *args],
        capture_output=True,
        check=False,
        timeout=60,
    )
    assert run.returncode == 78, run.stderr
    assert b"Traceback" not in run.stderr


def _h2_status(port: int, headers: list[tuple[str, str]]) -> int | str:
    """The status of one prior-knowledge h2c GET with ``headers`` added, or how it failed."""
    import h2.config
    import h2.connection
    import h2.events

    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        conn.initiate_connection()
        sid = conn.get_next_available_stream_id()
        base = [(":method", "GET"), (":path", "/status/200"), (":scheme", "http")]
        conn.send_headers(sid, [*base, (":authority", "localhost"), *headers], end_stream=True)
        sock.sendall(conn.data_to_send())
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return "closed"
            for event in conn.receive_data(chunk):
                if isinstance(event, h2.events.ResponseReceived):
                    return int(dict(event.headers)[b":status"])
                if isinstance(event, h2.events.StreamReset | h2.events.ConnectionTerminated):
                    return "reset"
            sock.sendall(conn.data_to_send())


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ([("x-a", "1")], {200}),
        ([(f"x-{i}", "v") for i in range(150)], {431}),
        ([("x-big", "a" * 100_000)], {431, "reset", "closed"}),
    ],
)
def test_http2_requests_meet_the_same_header_limits(
    routes: Path, tmp_path: Path, headers: list[tuple[str, str]], expected: set[int | str]
) -> None:
    """Over HTTP/2 (--http2, h2c) 150 fields get 431; a 100 KB field is refused, never served."""
    for srv in _serve("hypercorn", routes, tmp_path):
        assert _h2_status(srv.port, headers) in expected
