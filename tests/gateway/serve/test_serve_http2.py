"""`omniwasm serve --http2`: Hypercorn on 127.0.0.1, HTTP/1.1 and HTTP/2 on one port, trailers."""

from __future__ import annotations

import signal
import ssl
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from fixtures.h2client import h2_request
from fixtures.serving import free_port, serving, wait_ready
from fixtures.wat_components import assemble

pytest.importorskip("hypercorn")
pytest.importorskip("uvicorn")

GUESTS = Path(__file__).parents[2] / "fixtures" / "gateway"


@pytest.fixture(scope="module")
def routes() -> Path:
    """The many-behaviours handler (/trailers, /status/NNN, /loop, ...)."""
    return assemble(GUESTS / "routes.wat", prefix="gw-")


def test_http2_and_http1_on_one_port_with_trailers(routes: Path) -> None:
    """h2c gets the guest's trailers, HTTP/1.1 is answered too, SIGTERM exits 0."""
    port = free_port()
    with serving(str(routes), "--addr", f"127.0.0.1:{port}", "--http2") as p:
        wait_ready(f"http://127.0.0.1:{port}/status/200", p)
        h2 = h2_request("127.0.0.1", port, "/trailers")
        assert (h2.status, h2.body, h2.trailers) == (200, b"ok\n", [(b"x-checksum", b"abc123")])
        h1 = httpx.get(f"http://127.0.0.1:{port}/status/418")
        assert (h1.status_code, h1.http_version) == (418, "HTTP/1.1")
        assert h1.headers.get_list("x-multi") == ["one", "two"]
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=30) == 0


def test_http2_over_tls_is_chosen_by_alpn(routes: Path, tmp_path: Path) -> None:
    """With --tls-cert/--tls-key, an HTTP/2-capable client gets h2 (negotiated by ALPN)."""
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    server.cert_chain_pems[0].write_to_path(str(cert))
    server.private_key_pem.write_to_path(str(key))
    client = ssl.create_default_context()
    ca.configure_trust(client)
    port = free_port()
    args = (
        "--addr",
        f"127.0.0.1:{port}",
        "--http2",
        "--tls-cert",
        str(cert),
        "--tls-key",
        str(key),
    )
    with serving(str(routes), *args) as p:
        url = f"https://127.0.0.1:{port}/status/201"
        wait_ready(url, p, seconds=60, verify=client)
        with httpx.Client(http2=True, verify=client) as session:
            response = session.get(url)
    assert (response.status_code, response.http_version) == (201, "HTTP/2")


def test_http2_with_workers_is_a_policy_error(routes: Path) -> None:
    """--http2 runs one process: with --workers 2 it exits 78 saying so."""
    run = subprocess.run(
        [sys.executable, "-m", "omniwasm", "serve", str(routes), "--http2", "--workers", "2"],
        capture_output=True,
        check=False,
        timeout=60,
    )
    assert run.returncode == 78
    assert b"--http2 serves from one process" in run.stderr
