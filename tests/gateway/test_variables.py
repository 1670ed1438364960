"""Manifest variables read by guests through fermyon:spin/variables and wasi:config/store.

The guest is ``tests/fixtures/gateway/variables.wat``: ``/spin/NAME`` answers Spin's ``get``,
``/config/NAME`` wasi:config's ``get`` and ``/config-all`` its ``get-all``.
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import Any

import httpx
import pytest

import omniwasm
from fixtures.serving import free_port, serving, wait_ready
from fixtures.wat_components import assemble
from omniwasm.gateway._app import App
from omniwasm.gateway._variables import name_problem
from omniwasm.gateway.serve import ServeSettings

GUESTS = Path(__file__).parents[1] / "fixtures" / "gateway"

MANIFEST = """omniwasm_manifest_version = 1
[[trigger.http]]
route = "/spin/..."
component = "shop"
[[trigger.http]]
route = "/config/..."
component = "shop"
[[trigger.http]]
route = "/config-all"
component = "shop"
[component.shop]
source = "guest.wasm"
variables = { plain = "value", greeting = "hello {{ name }}", api_url = "https://{{ host }}/v1" }
[variables]
name = { default = "world" }
host = { required = true }
"""


@pytest.fixture(scope="module")
def guest() -> Path:
    """The variables guest, assembled once."""
    return assemble(GUESTS / "variables.wat", prefix="gw-")


def write_app(tmp_path: Path, guest: Path, text: str = MANIFEST) -> Path:
    """An app directory with the guest as guest.wasm and the manifest ``text``."""
    shutil.copy(guest, tmp_path / "guest.wasm")
    manifest = tmp_path / "omniwasm.toml"
    manifest.write_text(text)
    return manifest


def get(app: Any, *paths: str) -> list[httpx.Response]:
    """GET each path in order through httpx's in-process ASGI transport."""

    async def go() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return [await client.get(path) for path in paths]

    return asyncio.run(go())


def answers(app: Any, *paths: str) -> list[tuple[int, str]]:
    """(status, body) for each path."""
    return [(r.status_code, r.text) for r in get(app, *paths)]


@pytest.fixture
def app(tmp_path: Path, guest: Path) -> App:
    """The shop app, with host given as a value."""
    return App(write_app(tmp_path, guest), variables={"host": "api.example.com"})


def test_a_literal_value_reads_the_same_through_both_interfaces(app: App) -> None:
    """A component variable without a template is read as written by Spin's and wasi:config's get."""
    assert answers(app, "/spin/plain", "/config/plain") == [(200, "value"), (200, "value")]


def test_a_template_takes_an_application_variables_default(app: App) -> None:
    """{{ name }} resolves to the application variable's default."""
    assert answers(app, "/spin/greeting", "/config/greeting") == [
        (200, "hello world"),
        (200, "hello world"),
    ]


def test_a_given_value_overrides_the_default(tmp_path: Path, guest: Path) -> None:
    """A value passed to App (omniwasm serve --var) replaces the default in the template."""
    app = App(write_app(tmp_path, guest), variables={"host": "h", "name": "omniwasm"})
    assert answers(app, "/spin/greeting", "/spin/api_url") == [
        (200, "hello omniwasm"),
        (200, "https://h/v1"),
    ]


def test_an_undefined_name_is_undefined_or_none(app: App) -> None:
    """A valid name the component lacks: Spin's get is err(undefined), wasi:config's ok(none)."""
    (spin, config) = answers(app, "/spin/missing", "/config/missing")
    assert spin == (404, "undefined: no variable 'missing' for component 'shop'")
    assert config == (404, "none")


@pytest.mark.parametrize("name", ["Plain", "bad-name", "1abc", "_x", "x_", "a__b", "x.y"])
def test_an_invalid_name_is_invalid_name(app: App, name: str) -> None:
    """A name breaking Spin's rules: err(invalid-name) from Spin's get, ok(none) from wasi:config."""
    (spin, config) = answers(app, f"/spin/{name}", f"/config/{name}")
    assert spin[0] == 404
    assert spin[1].startswith(f"invalid-name: {name!r}: ")
    assert config == (404, "none")


def test_application_variables_are_not_readable_directly(app: App) -> None:
    """An application variable no component variable names is undefined to the guest."""
    assert answers(app, "/spin/name", "/config/host") == [
        (404, "undefined: no variable 'name' for component 'shop'"),
        (404, "none"),
    ]


def test_get_all_lists_exactly_the_components_variables(app: App) -> None:
    """get-all returns every variable of the component, resolved, sorted by name, and no other."""
    assert answers(app, "/config-all") == [
        (200, "api_url=https://api.example.com/v1\ngreeting=hello world\nplain=value\n")
    ]


def test_a_component_cannot_read_another_components_variables(tmp_path: Path, guest: Path) -> None:
    """Two components of one app each see only their own variables."""
    manifest = write_app(
        tmp_path,
        guest,
        """[[trigger.http]]
route = "/spin/..."
component = "a"
[[trigger.http]]
route = "/config/..."
component = "b"
[[trigger.http]]
route = "/config-all"
component = "b"
[component.a]
source = "guest.wasm"
variables = { secret = "only-a" }
[component.b]
source = "guest.wasm"
variables = { public = "b-value" }
""",
    )
    app = App(manifest)
    assert answers(app, "/spin/secret", "/spin/public", "/config/secret", "/config-all") == [
        (200, "only-a"),
        (404, "undefined: no variable 'public' for component 'a'"),
        (404, "none"),
        (200, "public=b-value\n"),
    ]


def test_a_single_component_links_and_has_no_variables(guest: Path) -> None:
    """Served on its own, the guest links; every name is undefined and get-all is empty."""
    app = App(guest)
    assert answers(app, "/spin/plain", "/config/plain", "/config-all") == [
        (404, "undefined: no variable 'plain' for component 'app'"),
        (404, "none"),
        (200, ""),
    ]


def test_variables_for_a_single_component_are_refused(guest: Path) -> None:
    """Giving variables (--var) with a component file rather than a manifest is an error."""
    with pytest.raises(omniwasm.PolicyError, match="no application variable named name"):
        App(guest, variables={"name": "x"})


def test_serve_settings_pass_variables_to_the_app(tmp_path: Path, guest: Path) -> None:
    """ServeSettings.variables (what --var fills, also for --workers) reach the guest."""
    manifest = write_app(tmp_path, guest)
    settings = ServeSettings(source=str(manifest), variables={"host": "from-settings"})
    assert answers(settings.build(), "/spin/api_url") == [(200, "https://from-settings/v1")]


def test_serve_var_flag_sets_a_variable(tmp_path: Path, guest: Path) -> None:
    """`omniwasm serve omniwasm.toml --var host=... --var name=...` serves the resolved values."""
    pytest.importorskip("uvicorn")
    manifest = write_app(tmp_path, guest)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    args = ["--addr", f"127.0.0.1:{port}", "--var", "host=cli.example", "--var", "name=cli"]
    with serving(str(manifest), *args) as proc:
        wait_ready(f"{base}/spin/api_url", proc)
        response = httpx.get(f"{base}/spin/api_url", timeout=2)
        greeting = httpx.get(f"{base}/spin/greeting", timeout=2)
    assert (response.status_code, response.text) == (200, "https://cli.example/v1")
    assert (greeting.status_code, greeting.text) == (200, "hello cli")


@pytest.mark.parametrize(
    ("name", "valid"),
    [("a", True), ("a1_b2", True), ("api_url", True), ("", False), ("A", False),
     ("a-b", False), ("1a", False), ("_a", False), ("a_", False), ("a__b", False),
     ("é", False)],
)  # fmt: skip
def test_name_rules_are_spins(name: str, valid: bool) -> None:
    """Names are lower-case letters, digits and single underscores, starting with a letter."""
    assert (name_problem(name) is None) is valid
