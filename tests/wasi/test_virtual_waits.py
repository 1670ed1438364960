"""On the virtual WASI host every wait a guest makes ends at its deadline with ``Timeout``.

Sleeps (``wasi:io/poll`` on clock pollables), a stdin that never ends, an HTTP response that
never comes and a response body that stalls. Each guest would wait for an hour or forever;
``bounded`` fails the test rather than hanging the suite.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from fixtures.bounded import bounded
from omniwasm import Policy, Runtime, Timeout, wasi

Build = Callable[[str], Path]


@pytest.fixture(scope="module")
def rt() -> Runtime:
    """One runtime for the module."""
    return Runtime()


def never_ending(first: bytes) -> Iterator[bytes]:
    """A stdin source that yields ``first`` and then never yields again."""
    yield first
    threading.Event().wait()


@pytest.mark.parametrize("mode", ["sleep", "abstime", "realtime"])
def test_sleep_ends_at_the_deadline(rt: Runtime, c_component: Build, mode: str) -> None:
    """A component sleeping an hour on the virtual host raises Timeout naming the poll."""
    code = rt.load(c_component("waits"))
    policy = Policy(timeout=0.3, args=[mode, "3600"])
    _, error, _ = bounded(lambda: wasi.run(rt, code, policy))
    assert isinstance(error, Timeout), error
    assert "wasi:io/poll.poll" in str(error)


def test_sleep_within_the_timeout_finishes(rt: Runtime, c_component: Build) -> None:
    """A short sleep under a long timeout completes and the guest carries on."""
    code = rt.load(c_component("waits"))
    result, error, _ = bounded(lambda: wasi.run(rt, code, Policy(timeout=30, args=["sleep", "1"])))
    assert error is None, error
    assert result.stdout == b"done\n"


@pytest.mark.parametrize("mode", ["read", "poll"])
def test_stdin_that_never_ends(rt: Runtime, c_component: Build, mode: str) -> None:
    """Reading or polling a stdin that never ends raises Timeout after the input that came."""
    code = rt.load(c_component("waits"))
    policy = Policy(timeout=0.5, args=[mode, "50"])
    _, error, _ = bounded(lambda: wasi.run(rt, code, policy, stdin=never_ending(b"hi\n")))
    assert isinstance(error, Timeout), error


def test_blocking_stdin_still_delivers_its_input(rt: Runtime, c_component: Build) -> None:
    """A stdin source that may block (a generator) is read through to its end."""
    code = rt.load(c_component("waits"))
    chunks = (part for part in [b"one ", b"", b"two\n"])
    result, error, _ = bounded(lambda: wasi.run(rt, code, Policy(args=["read"]), stdin=chunks))
    assert error is None, error
    assert result.stdout == b"one two\ndone\n"


@pytest.fixture
def stalling_origin() -> Iterator[Callable[[bytes], str]]:
    """A server on 127.0.0.1 that reads a request, sends ``reply`` and then never more."""
    servers: list[socket.socket] = []
    held: list[socket.socket] = []
    threads: list[threading.Thread] = []

    def start(reply: bytes) -> str:
        server = socket.socket()
        server.bind(("127.0.0.1", 0))
        server.listen()
        servers.append(server)

        def serve() -> None:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            held.append(conn)
            conn.recv(65536)
            conn.sendall(reply)

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        threads.append(thread)
        return f"127.0.0.1:{server.getsockname()[1]}"

    yield start
    for sock in servers:  # an accept still waiting ends now
        sock.close()
    for thread in threads:  # a connection accepted late is in ``held`` once this returns
        thread.join(10)
    for sock in held:
        sock.close()


@pytest.mark.parametrize(
    "reply",
    [b"", b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\nstart"],
    ids=["no-response", "stalled-body"],
)
def test_http_waits_end_at_the_deadline(
    rt: Runtime, wasi_guest: Build, stalling_origin: Callable[[bytes], str], reply: bytes
) -> None:
    """Waiting for a response that never comes, or for the rest of a body, raises Timeout."""
    authority = stalling_origin(reply)
    policy = Policy(timeout=0.5, args=[authority, "/"], allowed_hosts=(f"http://{authority}",))
    code = rt.load(wasi_guest("http_get"))
    _, error, _ = bounded(lambda: wasi.run(rt, code, policy))
    assert isinstance(error, Timeout), error
