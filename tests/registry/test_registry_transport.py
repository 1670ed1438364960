"""The registry client's transports: http.client for plain HTTP, httpx for what it hands over."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from fixtures.registry_server import RegistryServer, unique_repo, with_custom_section
from omniwasm.registry import Client, RegistryConfig, RegistryError, Store
from omniwasm.registry._httpclient import serves
from omniwasm.registry.session import Session
from omniwasm.registry.transport import next_link, with_param

pytestmark = pytest.mark.usefixtures("registry_env")


@pytest.fixture
def hello(c_component: Callable[[str], Path]) -> bytes:
    """A WASI command component."""
    return c_component("hello").read_bytes()


def _client(tmp_path: Path, name: str = "s") -> Client:
    return Client(config=RegistryConfig.empty(), store=Store(tmp_path / name))


class _Server:
    """A small HTTP/1.1 server on 127.0.0.1 answering every GET with ``answer(handler)``."""

    def __init__(self, answer: Callable[[BaseHTTPRequestHandler], None]) -> None:
        self.connections = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            timeout = 10

            def setup(self) -> None:
                super().setup()
                outer.connections += 1

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                answer(self)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(10)


@pytest.fixture
def serve() -> Iterator[Callable[[Callable[[BaseHTTPRequestHandler], None]], _Server]]:
    """Start ``_Server`` objects, shut down after the test."""
    made: list[_Server] = []

    def start(answer: Callable[[BaseHTTPRequestHandler], None]) -> _Server:
        server = _Server(answer)
        made.append(server)
        return server

    yield start
    for server in made:
        server.close()


def test_a_loopback_pull_uses_only_the_standard_library(
    registry: RegistryServer, tmp_path: Path, hello: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pushing to and pulling from a plain-HTTP loopback registry never makes an httpx client."""
    from omniwasm.registry._httpclient import PROXY_VARIABLES

    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    ref = f"{registry.host}/{unique_repo()}:1"
    with _client(tmp_path, "a") as c:
        c.push(hello, ref)
        assert c.registry(registry.host)._session.transports == ("stdlib",)
    with _client(tmp_path, "b") as c:
        assert c.fetch(ref) == hello
        assert c.registry(registry.host)._session.transports == ("stdlib",)


def test_a_redirect_is_followed_by_httpx(
    registry: RegistryServer, serve: Callable[..., _Server]
) -> None:
    """A 307 on the lean transport is sent again through httpx, which follows it."""

    def redirect(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(307)
        handler.send_header("Location", f"http://{registry.host}/v2/")
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    server = serve(redirect)
    session = Session(f"127.0.0.1:{server.port}")
    try:
        response = session.request("GET", session.url(""))
        assert response.status_code == 200
        assert response.url == f"http://{registry.host}/v2/"
        assert session.transports == ("stdlib", "httpx")
    finally:
        session.close()


def test_a_connection_the_server_closed_while_idle_is_replaced(
    serve: Callable[..., _Server],
) -> None:
    """The keep-alive race: the server drops an idle connection, the next request still works."""

    def answer_then_hang_up(handler: BaseHTTPRequestHandler) -> None:
        body = b"{}"
        handler.send_response(200)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)
        handler.close_connection = True  # closes without "Connection: close": kept-alive looking

    server = serve(answer_then_hang_up)
    session = Session(f"127.0.0.1:{server.port}")
    try:
        for _ in range(3):
            assert session.request("GET", session.url("")).json() == {}
        assert server.connections == 3
        assert session.transports == ("stdlib",)
    finally:
        session.close()


def test_a_body_left_unread_does_not_poison_the_next_request(
    registry: RegistryServer, tmp_path: Path, hello: bytes
) -> None:
    """A streamed body closed halfway closes its connection; the next request gets a clean one."""
    big = with_custom_section(hello, "padding", 4 << 20)
    with _client(tmp_path) as c:
        pushed = c.push(big, f"{registry.host}/{unique_repo()}:1")
        oci = c.registry(registry.host)
        repo = pushed.repository
        layer = oci.get_manifest(repo, pushed.digest or "").json()["layers"][0]["digest"]
        session = oci._session
        response = session.request("GET", session.url(f"{repo}/blobs/{layer}"), stream=True)
        first = next(response.iter_bytes())
        assert 0 < len(first) < len(big)
        response.close()
        assert session.request("GET", session.url("")).status_code == 200
        assert oci.tags(repo) == ["1"]


def test_proxies_and_the_override_send_requests_to_httpx(
    registry: RegistryServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a proxy configured, or OMNIWASM_REGISTRY_HTTP=httpx, httpx carries the requests."""
    assert serves("http://127.0.0.1:5000/v2/")
    assert not serves("https://127.0.0.1:5000/v2/")
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    assert not serves("http://127.0.0.1:5000/v2/")
    monkeypatch.delenv("HTTP_PROXY")
    monkeypatch.setenv("OMNIWASM_REGISTRY_HTTP", "httpx")
    session = Session(registry.host)
    try:
        assert session.request("GET", session.url("")).status_code == 200
        assert session.transports == ("httpx",)
    finally:
        session.close()
    monkeypatch.setenv("OMNIWASM_REGISTRY_HTTP", "curl")
    with pytest.raises(RegistryError, match="OMNIWASM_REGISTRY_HTTP"):
        Session(registry.host)


def test_link_headers_and_query_parameters() -> None:
    """Tag-list pagination links are found, and a digest is added to an opaque upload URL."""
    assert next_link('</v2/r/tags/list?last=b&n=2>; rel="next"') == "/v2/r/tags/list?last=b&n=2"
    assert next_link('<https://x/a>; rel="prev", <https://x/b>; rel=next') == "https://x/b"
    assert next_link('<https://x/a>; rel="prev"') is None
    assert next_link("") is None
    url = "http://h/v2/r/blobs/uploads/u?_state=a%2Bb%3D%3D"
    assert with_param(url, "digest", "sha256:ab") == url + "&digest=sha256%3Aab"
    assert with_param("http://h/u", "digest", "x") == "http://h/u?digest=x"


def _endless(status: int) -> Callable[[BaseHTTPRequestHandler], None]:
    """An answer announcing 1 GiB and sending zeros until the client hangs up."""

    def answer(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(status)
        handler.send_header("Content-Length", str(1 << 30))
        handler.end_headers()
        block = bytes(1 << 20)
        try:
            for _ in range(1 << 10):
                handler.wfile.write(block)
        except OSError:
            pass  # the client stopped reading: what the test wants
        handler.close_connection = True

    return answer


@pytest.mark.usefixtures("each_transport")
def test_an_endless_answer_is_cut_off(serve: Callable[..., _Server]) -> None:
    """A body past MAX_BODY where a small answer is due is RegistryError, not unbounded memory."""
    server = serve(_endless(200))
    session = Session(f"127.0.0.1:{server.port}")
    try:
        with pytest.raises(RegistryError, match="larger than"):
            session.send("GET", session.url(""), "ref", "the API check")
    finally:
        session.close()


@pytest.mark.usefixtures("each_transport")
def test_an_endless_error_body_still_reports_the_status(serve: Callable[..., _Server]) -> None:
    """An error status with an endless body is reported from its first bytes and status line."""
    server = serve(_endless(500))
    session = Session(f"127.0.0.1:{server.port}")
    try:
        response = session.request("GET", session.url(""), stream=True)
        with pytest.raises(RegistryError, match="HTTP 500"):
            session.check(response, "ref", "the API check")
    finally:
        session.close()


@pytest.mark.usefixtures("each_transport")
def test_a_hostile_location_or_token_is_a_registry_error(serve: Callable[..., _Server]) -> None:
    """A URL or header value with a line break (from a hostile registry) is RegistryError."""

    def ok(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    server = serve(ok)
    session = Session(f"127.0.0.1:{server.port}")
    try:
        with pytest.raises(RegistryError):
            session.send("GET", session.url("r/blobs/uploads/x\r\nX-Evil: 1"), "ref", "upload")
        with pytest.raises(RegistryError):
            session.send("GET", session.url(""), "ref", "check", headers={"Range": "a\r\nb: c"})
        assert session.send("GET", session.url(""), "ref", "check").status_code == 200
    finally:
        session.close()
