"""wasi:http/client 0.3: a componentize-py 0.25 WASI 0.3 command sending real HTTP requests.

The guest (``tests/fixtures/python/p3client``) sends one request per argument to the h11
origin of ``tests/fixtures/h11_origin.py`` on 127.0.0.1 and prints one line each: status, the
``x-origin`` header, the body (text or sha256 prefix), the response trailers, and for a POST
how its transmission ended. ``omniwasm run -S http`` and ``wasmtime run -Sp3,http`` print the
same lines but one: wasmtime 49 drops the trailers of a request body, omniwasm sends them.
"""

from __future__ import annotations

import hashlib
import socket
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import omniwasm
from fixtures.bounded import bounded_call
from fixtures.h11_origin import BIG, h11_origin
from omniwasm.wasi import p3

LIMIT = 300.0  # a fresh process compiles the guest's 18 MB of core modules
FLAGS = ["run", "-Sp3", "-W", "component-model-async=y"]
OPS = [
    "get:/hello",
    "get:/big",
    "get:/trailers",
    "get:/nope",
    "get:/cut",
    f"post:/count:{len(BIG)}",
    "post+t:/count:300000",
    "late:/slow:200000000",  # 0.2 s first-byte timeout; the origin answers after 1 s
]
SHA = hashlib.sha256(BIG).hexdigest()[:12]


@pytest.fixture(scope="module")
def guest(py_guest: Callable[[str], Path]) -> Path:
    """The guest, built with componentize-py (cached by source hash)."""
    return py_guest("p3client")


@pytest.fixture(scope="module")
def origin() -> Iterator[str]:
    """The h11 origin's authority ``127.0.0.1:PORT``."""
    with h11_origin() as authority:
        yield authority


def _run(cmd: list[str]) -> tuple[int, list[str]]:
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=LIMIT, check=False)
    return run.returncode, run.stdout.splitlines()


@pytest.fixture(scope="module")
def ours(omniwasm_cli: list[str], guest: Path, origin: str) -> list[str]:
    """What ``omniwasm run -S http`` prints for every OPS request, one line each."""
    code, lines = _run([*omniwasm_cli, *FLAGS, "-S", "http", str(guest), origin, *OPS])
    assert code == 0
    assert len(lines) == len(OPS)
    return lines


def test_response_bodies_stream_to_the_guest(ours: list[str]) -> None:
    """Response bodies arrive whole: 16 bytes, 4 MiB in 64 KiB chunks, a 404's body."""
    assert ours[0] == "/hello 200 origin=h11 16 bytes [hello over http] trailers=none"
    assert ours[1] == f"/big 200 origin=- {len(BIG)} bytes [{SHA}] trailers=none"
    assert ours[3] == "/nope 404 origin=- 10 bytes [not found] trailers=none"


def test_response_trailers_reach_the_trailers_future(ours: list[str]) -> None:
    """A chunked response's trailers resolve the guest's trailers future."""
    assert ours[2] == "/trailers 200 origin=- 14 bytes [with trailers] trailers=x-checksum=42"


def test_a_response_cut_short_fails_its_trailers_future(ours: list[str]) -> None:
    """A body that ends before its content-length fails the trailers with HTTP-protocol-error."""
    assert ours[4] == "/cut 200 origin=- 10 bytes [0123456789] trailers=error HttpProtocolError"


def test_request_bodies_stream_from_the_guest(ours: list[str]) -> None:
    """A 4 MiB POST body the guest writes while ``send`` waits reaches the origin whole."""
    counted = f"[{len(BIG)} bytes sha={SHA} trailers=none]"
    assert ours[5].startswith("/count 200 ") and counted in ours[5]
    assert ours[5].endswith(" trailers=none sent=ok")


def test_request_trailers_are_sent_after_a_chunked_body(ours: list[str]) -> None:
    """The guest's request trailers go out after its chunked body; its transmission is ok."""
    sha = hashlib.sha256(BIG[:300000]).hexdigest()[:12]
    assert f"[300000 bytes sha={sha} trailers=x-sum=300000]" in ours[6]
    assert ours[6].endswith(" sent=ok")


def test_first_byte_timeout_is_a_read_timeout(ours: list[str]) -> None:
    """A first-byte timeout shorter than the origin's delay fails ``send``."""
    assert ours[7] == "/slow error ConnectionReadTimeout"


@pytest.mark.reference
def test_wasmtime_prints_the_same(
    reference_wasmtime: str, guest: Path, origin: str, ours: list[str]
) -> None:
    """wasmtime 49 prints the same lines, but for the request trailers it does not send."""
    cmd = [reference_wasmtime, *FLAGS, "-Shttp,inherit-network", str(guest), origin, *OPS]
    code, theirs = _run(cmd)
    assert code == 0
    sha = hashlib.sha256(BIG[:300000]).hexdigest()[:12]
    assert f"[300000 bytes sha={sha} trailers=none]" in theirs[6]
    assert theirs[6].endswith(" sent=ok")
    assert theirs[:6] + theirs[7:] == ours[:6] + ours[7:]


def _closed_port() -> str:
    with socket.socket() as probe:  # free a moment ago: a connect is refused
        probe.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{probe.getsockname()[1]}"


REFUSED = [
    "/hello error ConnectionRefused",
    "/count error ConnectionRefused sent=ConnectionRefused",
]


def test_a_refused_connection_fails_send_and_transmission(
    omniwasm_cli: list[str], guest: Path
) -> None:
    """A port nobody listens on: ``send`` and the transmission fail with connection-refused."""
    cmd = [*omniwasm_cli, *FLAGS, "-S", "http", str(guest), _closed_port()]
    assert _run([*cmd, "get:/hello", "post:/count:10"]) == (0, REFUSED)


@pytest.mark.reference
def test_wasmtime_refuses_the_same(reference_wasmtime: str, guest: Path) -> None:
    """wasmtime 49 reports the same refused connection."""
    cmd = [reference_wasmtime, *FLAGS, "-Shttp,inherit-network", str(guest), _closed_port()]
    assert _run([*cmd, "get:/hello", "post:/count:10"]) == (0, REFUSED)


def test_requests_are_denied_by_default(omniwasm_cli: list[str], guest: Path, origin: str) -> None:
    """Without ``-S http`` or a pattern every request is HTTP-request-denied, body unsent."""
    code, lines = _run([*omniwasm_cli, *FLAGS, str(guest), origin, "get:/hello", "post:/count:10"])
    assert (code, lines) == (
        0,
        ["/hello error HttpRequestDenied", "/count error HttpRequestDenied sent=HttpRequestDenied"],
    )


def _run_api(guest: Path, origin: str, *hosts: str) -> str:
    policy = omniwasm.Policy(args=[origin, "get:/hello"], allowed_hosts=hosts, timeout=60)

    def run() -> omniwasm.RunResult:
        return p3.run(omniwasm.Runtime(), guest, policy)

    result = bounded_call(run, limit=LIMIT)
    assert result.exit_code == 0
    return str(result.stdout.decode())


def test_allow_list_grants_exactly_the_listed_origin(guest: Path, origin: str) -> None:
    """``http://127.0.0.1:PORT`` lets the request out; the same host on another port does not."""
    port = int(origin.rsplit(":", 1)[1])
    assert _run_api(guest, origin, f"http://127.0.0.1:{port}").startswith("/hello 200 ")
    other = _run_api(guest, origin, f"http://127.0.0.1:{port + 1}", f"tcp://127.0.0.1:{port}")
    assert other == "/hello error HttpRequestDenied\n"
