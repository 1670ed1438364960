"""``omniwasm serve`` of a WASI 0.3 ``wasi:http/service``, compared with ``wasmtime serve`` 49.

The guest is the componentize-py 0.25 service in ``tests/fixtures/python/p3http``. Both
servers run on 127.0.0.1 with the same file; wasmtime as ``wasmtime serve -Sp3,cli -W
component-model-async=y`` (``cli``: componentize-py's runtime also imports WASI 0.2's
``wasi:cli``). The answers must agree in status, headers and body; the headers that frame the
message on the wire (``date``, ``server``, ``transfer-encoding``, ``content-length``) are the
servers' own, not the guest's, and are left out.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from fixtures.serving import free_port, serving, wait_ready

pytest.importorskip("uvicorn")

START = 240.0  # a fresh process compiles the 18 MB guest's core modules
FRAMING = frozenset({"date", "server", "transfer-encoding", "content-length", "connection"})
REQUESTS: list[tuple[str, str, dict[str, Any]]] = [
    ("GET", "/hello", {}),
    ("GET", "/status/418", {}),
    ("GET", "/status/204", {}),
    ("GET", "/headers", {"headers": {"x-a": "1", "x-b": "two"}}),
    ("POST", "/echo", {"content": bytes(range(256)) * 512, "headers": {"content-type": "a/b"}}),
    ("POST", "/upper", {"content": b"stream me"}),
    ("POST", "/count", {"content": b"z" * 100_000}),
    ("GET", "/missing", {}),
]


@pytest.fixture(scope="module")
def service(py_guest: Callable[[str], Path]) -> Path:
    """The guest, built with componentize-py (cached by source hash)."""
    return py_guest("p3http")


def _answers(base: str) -> list[tuple[int, list[tuple[str, str]], bytes]]:
    """Status, the guest's headers (sorted) and body of every request in REQUESTS."""
    out = []
    with httpx.Client(base_url=base, timeout=60) as client:
        for method, path, kwargs in REQUESTS:
            r = client.request(method, path, **kwargs)
            headers = sorted((k, v) for k, v in r.headers.items() if k not in FRAMING)
            out.append((r.status_code, headers, r.content))
    return out


@pytest.fixture(scope="module")
def ours(service: Path) -> Iterator[list[tuple[int, list[tuple[str, str]], bytes]]]:
    """The answers of ``omniwasm serve`` (one worker)."""
    port = free_port()
    with serving(str(service), "--addr", f"127.0.0.1:{port}", "--workers", "1") as proc:
        wait_ready(f"http://127.0.0.1:{port}/hello", proc, seconds=START)
        yield _answers(f"http://127.0.0.1:{port}")


def test_omniwasm_serve_answers_a_wasi_p3_service(
    ours: list[tuple[int, list[tuple[str, str]], bytes]],
) -> None:
    """``omniwasm serve`` runs the service: the statuses, headers and bodies it answers."""
    by_path = {path: answer for (_, path, _), answer in zip(REQUESTS, ours, strict=True)}
    assert by_path["/hello"] == (
        200,
        [("content-type", "text/plain"), ("x-hello", "p3")],
        b"hello from a WASI 0.3 service\n",
    )
    assert by_path["/status/418"][0] == 418
    assert by_path["/echo"] == (200, [("content-type", "a/b")], bytes(range(256)) * 512)
    assert by_path["/upper"][2] == b"STREAM ME"
    assert by_path["/count"][2] == b"100000 bytes\n"
    assert by_path["/missing"][0] == 404


@pytest.mark.reference
def test_wasmtime_serve_answers_the_same(
    reference_wasmtime: str,
    service: Path,
    ours: list[tuple[int, list[tuple[str, str]], bytes]],
    tmp_path: Path,
) -> None:
    """wasmtime 49 serving the same file gives the same status, headers and body."""
    port = free_port()
    log = tmp_path / "wasmtime-serve.log"
    cmd = [reference_wasmtime, "serve", "-Sp3,cli", "-W", "component-model-async=y"]
    cmd += ["--addr", f"127.0.0.1:{port}", str(service)]
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + START
        while True:
            assert proc.poll() is None, log.read_text()
            try:
                httpx.get(f"http://127.0.0.1:{port}/hello", timeout=5)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.2)
        theirs = _answers(f"http://127.0.0.1:{port}")
    finally:
        proc.kill()
        proc.wait(timeout=30)
    assert ours == theirs


def test_omniwasm_serve_http2_sends_the_guest_trailers(service: Path) -> None:
    """Over HTTP/2 (``--http2``), /upper streams the body back and then its trailers future."""
    pytest.importorskip("hypercorn")
    from fixtures.h2client import h2_request

    port = free_port()
    args = ["--addr", f"127.0.0.1:{port}", "--workers", "1", "--http2"]
    with serving(str(service), *args) as proc:
        wait_ready(f"http://127.0.0.1:{port}/hello", proc, seconds=START)
        got = h2_request("127.0.0.1", port, "/upper", method="POST", body=b"abc" * 50_000)
    assert (got.status, got.body) == (200, b"ABC" * 50_000)
    assert got.trailers == [(b"x-total", b"150000")]
