"""`omniwasm serve --tls-cert/--tls-key`: HTTPS on 127.0.0.1 with a test CA's certificate."""

from __future__ import annotations

import ssl
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from fixtures.serving import free_port, serving, wait_ready
from fixtures.wat_components import assemble

pytest.importorskip("uvicorn")
trustme = pytest.importorskip("trustme")

GUESTS = Path(__file__).parents[2] / "fixtures" / "gateway"


@pytest.fixture(scope="module")
def hello() -> Path:
    """The lean hello handler."""
    return assemble(GUESTS / "hello.wat", prefix="gw-")


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, ssl.SSLContext]:
    """A certificate for 127.0.0.1 from a throwaway CA: (cert file, key file, client context)."""
    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1")
    where = tmp_path_factory.mktemp("tls")
    cert, key = where / "cert.pem", where / "key.pem"
    server.cert_chain_pems[0].write_to_path(str(cert))
    for extra in server.cert_chain_pems[1:]:
        extra.write_to_path(str(cert), append=True)
    server.private_key_pem.write_to_path(str(key))
    client = ssl.create_default_context()
    ca.configure_trust(client)
    return cert, key, client


@pytest.mark.parametrize("workers", ["1", "2"])
def test_https_with_a_certificate_the_client_trusts(
    hello: Path, tls: tuple[Path, Path, ssl.SSLContext], workers: str
) -> None:
    """With --tls-cert/--tls-key the server answers HTTPS, verified against the CA."""
    cert, key, client = tls
    port = free_port()
    args = ("--addr", f"127.0.0.1:{port}", "--workers", workers)
    with serving(str(hello), *args, "--tls-cert", str(cert), "--tls-key", str(key)) as p:
        url = f"https://127.0.0.1:{port}/"
        wait_ready(url, p, seconds=60, verify=client)
        response = httpx.get(url, verify=client)
        assert response.status_code == 200
        assert response.text == "hello from wasm"
        with pytest.raises(httpx.TransportError):  # plain HTTP on the TLS port
            httpx.get(f"http://127.0.0.1:{port}/", timeout=5)


def _serve_fails(hello: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    addr = f"127.0.0.1:{free_port()}"
    return subprocess.run(
        [sys.executable, "-m", "omniwasm", "serve", str(hello), "--addr", addr, *args],
        capture_output=True,
        check=False,
        timeout=60,
    )


def test_a_key_that_does_not_fit_the_certificate_is_a_policy_error(
    hello: Path, tls: tuple[Path, Path, ssl.SSLContext], tmp_path: Path
) -> None:
    """A key from another certificate: exit 78 naming the flags, before serving."""
    cert, _, _ = tls
    other = tmp_path / "other.pem"
    trustme.CA().issue_cert("127.0.0.1").private_key_pem.write_to_path(str(other))
    run = _serve_fails(hello, "--tls-cert", str(cert), "--tls-key", str(other))
    assert run.returncode == 78
    assert b"--tls-cert/--tls-key: cannot use them" in run.stderr


def test_tls_flags_go_together_and_name_missing_files(
    hello: Path, tls: tuple[Path, Path, ssl.SSLContext], tmp_path: Path
) -> None:
    """Only one of the two flags, or a file that is not there: exit 78 saying which."""
    cert, _, _ = tls
    alone = _serve_fails(hello, "--tls-cert", str(cert))
    assert alone.returncode == 78 and b"--tls-cert and --tls-key go together" in alone.stderr
    missing = _serve_fails(hello, "--tls-cert", str(cert), "--tls-key", str(tmp_path / "no"))
    assert missing.returncode == 78 and b"--tls-key: no file at" in missing.stderr
