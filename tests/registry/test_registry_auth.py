"""Authentication against real registries: htpasswd basic auth and a token service."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from fixtures.registry_server import AUTH_USERS, RegistryServer, TokenServer, unique_repo
from omniwasm.registry import (
    AuthenticationFailed,
    Client,
    Credentials,
    RegistryConfig,
    RegistrySettings,
    Store,
)

pytestmark = pytest.mark.usefixtures("registry_env")

ALICE = Credentials("alice", AUTH_USERS["alice"])


@pytest.fixture
def hello(c_component: Callable[[str], Path]) -> bytes:
    """A WASI command component."""
    return c_component("hello").read_bytes()


def _client(tmp_path: Path, name: str = "s", **options: object) -> Client:
    options.setdefault("config", RegistryConfig.empty())
    return Client(store=Store(tmp_path / name), **options)  # type: ignore[arg-type]


@pytest.mark.usefixtures("each_transport")
def test_basic_auth_round_trip(auth_registry: RegistryServer, tmp_path: Path, hello: bytes) -> None:
    """With the right credentials, push and pull work behind htpasswd."""
    ref = f"{auth_registry.host}/{unique_repo()}:1"
    with _client(tmp_path, "a", credentials=ALICE) as c:
        c.push(hello, ref)
    with _client(tmp_path, "b", credentials=Credentials("bob", AUTH_USERS["bob"])) as c:
        assert c.fetch(ref) == hello


@pytest.mark.usefixtures("each_transport")
def test_basic_auth_wrong_password(auth_registry: RegistryServer, tmp_path: Path) -> None:
    """A wrong password is AuthenticationFailed naming the reference."""
    ref = f"{auth_registry.host}/{unique_repo()}:1"
    with (
        _client(tmp_path, credentials=Credentials("alice", "nope")) as c,
        pytest.raises(AuthenticationFailed) as info,
    ):
        c.pull(ref)
    assert ref in str(info.value)


@pytest.mark.usefixtures("each_transport")
def test_basic_auth_without_credentials(auth_registry: RegistryServer, tmp_path: Path) -> None:
    """No credentials at all: AuthenticationFailed says none were found."""
    with _client(tmp_path) as c, pytest.raises(AuthenticationFailed, match="no credentials"):
        c.tags(f"{auth_registry.host}/{unique_repo()}")


def test_credentials_from_docker_config(
    auth_registry: RegistryServer, registry_env: Path, tmp_path: Path, hello: bytes
) -> None:
    """``docker login``'s config.json (``$DOCKER_CONFIG``) supplies credentials."""
    docker = registry_env / ".docker"
    docker.mkdir()
    auth = base64.b64encode(b"alice:" + AUTH_USERS["alice"].encode()).decode()
    (docker / "config.json").write_text(json.dumps({"auths": {auth_registry.host: {"auth": auth}}}))
    ref = f"{auth_registry.host}/{unique_repo()}:1"
    with _client(tmp_path) as c:
        c.push(hello, ref)
        assert c.fetch(ref) == hello


def test_credentials_from_containers_auth_file(
    auth_registry: RegistryServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, hello: bytes
) -> None:
    """``skopeo login``'s auth.json (``$REGISTRY_AUTH_FILE``) supplies credentials."""
    auth = base64.b64encode(b"bob:" + AUTH_USERS["bob"].encode()).decode()
    path = tmp_path / "auth.json"
    path.write_text(json.dumps({"auths": {auth_registry.host: {"auth": auth}}}))
    monkeypatch.setenv("REGISTRY_AUTH_FILE", str(path))
    with _client(tmp_path) as c:
        c.push(hello, f"{auth_registry.host}/{unique_repo()}:1")


def test_credentials_from_the_registry_config(
    auth_registry: RegistryServer, tmp_path: Path, hello: bytes
) -> None:
    """wkg's ``[registry."HOST".oci] auth`` supplies credentials for that host."""
    config = RegistryConfig.empty()
    config.registries[auth_registry.host] = RegistrySettings(credentials=ALICE)
    with _client(tmp_path, config=config) as c:
        c.push(hello, f"{auth_registry.host}/{unique_repo()}:1")


@pytest.mark.usefixtures("each_transport")
def test_token_auth_round_trip(
    token_registry: tuple[RegistryServer, TokenServer], tmp_path: Path, hello: bytes
) -> None:
    """Bearer challenge: the client gets push and pull tokens from the realm and uses them."""
    server, tokens = token_registry
    repo = unique_repo()
    ref = f"{server.host}/{repo}:1"
    before = len(tokens.requests)
    with _client(tmp_path, "a", credentials=ALICE) as c:
        c.push(hello, ref)
        requests = c.registry(server.host)._session.auth.token_requests
    seen = tokens.requests[before:]
    # distribution lists the actions in either order ("pull,push" or "push,pull").
    scopes = [scope.rsplit(":", 1) for r in seen for scope in r["scope"]]
    assert any(
        name == f"repository:{repo}" and set(actions.split(",")) == {"pull", "push"}
        for name, actions in scopes
    )
    assert all(r["user"] == "alice" for r in seen)
    assert requests <= 3  # tokens are reused, not fetched per request
    with _client(tmp_path, "b", credentials=ALICE) as c:
        assert c.fetch(ref) == hello


@pytest.mark.usefixtures("each_transport")
def test_token_auth_anonymous_may_pull_not_push(
    token_registry: tuple[RegistryServer, TokenServer], tmp_path: Path, hello: bytes
) -> None:
    """An anonymous token grants pull only: pulling works, pushing is AuthenticationFailed."""
    server, _ = token_registry
    ref = f"{server.host}/{unique_repo()}:1"
    with _client(tmp_path, "a", credentials=ALICE) as c:
        c.push(hello, ref)
    with _client(tmp_path, "b") as c:
        assert c.fetch(ref) == hello
        with pytest.raises(AuthenticationFailed):
            c.push(hello, f"{server.host}/{unique_repo()}:1")


@pytest.mark.usefixtures("each_transport")
def test_token_auth_bad_password(
    token_registry: tuple[RegistryServer, TokenServer], tmp_path: Path
) -> None:
    """The token service refusing the password is AuthenticationFailed, not a hang or retry."""
    server, _ = token_registry
    with (
        _client(tmp_path, credentials=Credentials("alice", "wrong")) as c,
        pytest.raises(AuthenticationFailed, match="token service"),
    ):
        c.tags(f"{server.host}/{unique_repo()}")


def test_https_registry_is_verified(
    tls_registry: tuple[RegistryServer, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    hello: bytes,
) -> None:
    """Over HTTPS the certificate is checked: trusted through SSL_CERT_FILE it works, else not."""
    from omniwasm.registry import RegistryError
    from omniwasm.registry._http import ssl_context

    server, ca = tls_registry
    config = RegistryConfig.empty()
    config.registries[server.host] = RegistrySettings(protocol="https")
    ref = f"{server.host}/{unique_repo()}:1"
    ssl_context.cache_clear()
    with (
        _client(tmp_path, "untrusted", config=config) as c,
        pytest.raises(RegistryError, match=r"CERTIFICATE_VERIFY_FAILED|certificate verify failed"),
    ):
        c.push(hello, ref)
    monkeypatch.setenv("SSL_CERT_FILE", str(ca))
    ssl_context.cache_clear()
    try:
        with _client(tmp_path, "trusted", config=config) as c:
            c.push(hello, ref)
            assert c.fetch(ref) == hello
    finally:
        ssl_context.cache_clear()


def test_https_from_a_plain_http_registry_is_verified(
    tls_registry: tuple[RegistryServer, Path],
    registry: RegistryServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A plain-HTTP registry's session still verifies https:// URLs (a redirect, a realm)."""
    from omniwasm.registry._http import ssl_context
    from omniwasm.registry.session import Session
    from omniwasm.registry.transport import ConnectFailed

    server, ca = tls_registry
    target = f"https://{server.host}/v2/"
    ssl_context.cache_clear()
    try:
        session = Session(registry.host)
        assert ssl_context.cache_info().currsize == 0  # no CA store loaded for plain HTTP
        with pytest.raises(ConnectFailed, match=r"CERTIFICATE_VERIFY_FAILED|verify failed"):
            session.request("GET", target)
        session.close()
        monkeypatch.setenv("SSL_CERT_FILE", str(ca))
        ssl_context.cache_clear()
        session = Session(registry.host)
        assert session.request("GET", target).status_code == 200
        assert session.transports == ("httpx",)
        session.close()
    finally:
        ssl_context.cache_clear()
