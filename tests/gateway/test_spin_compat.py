"""What a Spin app sees and offers under omniwasm: Spin's headers and reserved routes.

Spin's request headers are ``spin-full-url``, ``spin-path-info`` ...; the reserved routes live
under ``/.well-known/spin/``.

``routes.wat`` answers any request carrying ``x-show: NAME`` with the first value of header
``NAME`` as the guest received it, so each test reads back what the guest saw.
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import httpx
import pytest

from fixtures.wat_components import assemble
from omniwasm.gateway._app import App

GUESTS = Path(__file__).parents[1] / "fixtures" / "gateway"


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> App:
    """routes.wat behind three Spin routes: a parameter and a wildcard, an exact, the rest."""
    where = tmp_path_factory.mktemp("spin-app")
    shutil.copy(assemble(GUESTS / "routes.wat", prefix="gw-"), where / "routes.wasm")
    manifest = where / "spin.toml"
    manifest.write_text(
        'spin_manifest_version = 2\n[application]\nname = "headers"\n'
        '[[trigger.http]]\nroute = "/users/:id/..."\ncomponent = "routes"\n'
        '[[trigger.http]]\nroute = "/exact"\ncomponent = "routes"\n'
        '[[trigger.http]]\nroute = "/..."\ncomponent = "routes"\n'
        '[component.routes]\nsource = "routes.wasm"\n'
    )
    return App(manifest)


def seen(app: App | object, path: str, name: str, **headers: str) -> str:
    """The value of header ``name`` as the guest saw it for ``GET path``."""

    async def go() -> str:
        transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url="http://example.test") as c:
            response = await c.get(path, headers={"x-show": name, **headers})
            assert response.status_code == 200
            return response.text

    return asyncio.run(go())


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("spin-full-url", "http://example.test/users/7/a/b?q=1"),
        ("spin-path-info", "/a/b"),
        ("spin-matched-route", "/users/:id/..."),
        ("spin-raw-component-route", "/users/:id/..."),
        ("spin-component-route", "/users/:id"),
        ("spin-base-path", "/"),
        ("spin-client-addr", "127.0.0.1:123"),  # httpx's in-process transport's client
        ("spin-path-match-id", "7"),
    ],
)
def test_a_wildcard_route_gets_spins_headers(app: App, name: str, value: str) -> None:
    """A request under /users/:id/... carries each Spin header with Spin's value."""
    assert seen(app, "/users/7/a/b?q=1", name) == value


def test_an_exact_route_has_an_empty_path_info(app: App) -> None:
    """For an exact route the path info is empty and the component route is the route."""
    assert seen(app, "/exact", "spin-path-info") == ""
    assert seen(app, "/exact", "spin-component-route") == "/exact"


def test_the_root_wildcard_route(app: App) -> None:
    """Under /... the path info is the whole path and the component route is empty."""
    assert seen(app, "/x/y", "spin-path-info") == "/x/y"
    assert seen(app, "/x/y", "spin-component-route") == ""
    assert seen(app, "/x/y", "spin-matched-route") == "/..."


def test_a_client_cannot_forge_spins_headers(app: App) -> None:
    """Headers a client sends under Spin's names are replaced, not passed on."""
    forged = {"spin-client-addr": "10.0.0.1:1", "spin-path-match-id": "admin"}
    assert seen(app, "/users/7/", "spin-client-addr", **forged) == "127.0.0.1:123"
    assert seen(app, "/users/7/", "spin-path-match-id", **forged) == "7"


def test_a_single_component_gets_no_spin_headers() -> None:
    """Serving one component file (as `wasmtime serve` does) adds no Spin headers."""
    single = App(assemble(GUESTS / "routes.wat", prefix="gw-"))
    assert seen(single, "/users/7", "spin-full-url") == ""


def _get(app: object, path: str) -> httpx.Response:
    """GET ``path`` with ``x-show: host``: had routes.wat answered, it would be 200 + the host."""

    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url="http://example.test") as c:
            return await c.get(path, headers={"x-show": "host"})

    return asyncio.run(go())


def test_spins_health_route_answers_ok_before_the_apps_routes(app: App) -> None:
    """/.well-known/spin/health is 200 OK even though the app routes /... to a component."""
    response = _get(app, "/.well-known/spin/health")
    assert (response.status_code, response.text.strip()) == (200, "OK")


def test_spins_info_route_describes_the_app(app: App) -> None:
    """/.well-known/spin/info is JSON naming the application, the runtime and the components."""
    info = _get(app, "/.well-known/spin/info").json()
    assert info["application"]["name"] == "headers"
    assert info["runtime"]["name"] == "omniwasm"
    assert info["components"] == ["routes"]


def test_other_reserved_paths_are_404_not_the_app(app: App) -> None:
    """Anything else under /.well-known/spin/ is 404 from omniwasm, never a component's answer."""
    response = _get(app, "/.well-known/spin/nothing")
    assert (response.status_code, response.text.strip()) == (404, "not found")
