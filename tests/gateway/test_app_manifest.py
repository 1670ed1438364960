"""omniwasm.toml: Spin-shaped application manifests, checked strictly at load time."""

from __future__ import annotations

from pathlib import Path

import pytest

import omniwasm
from omniwasm.gateway._manifest import load_app_manifest

FULL = """
omniwasm_manifest_version = 1

[application]
name = "shop"
version = "1.2.0"

[[trigger.http]]
route = "/cart/..."
component = "cart"

[[trigger.http]]
route = "/users/:id"
component = "users"

[component.cart]
source = "cart.wasm"
allowed_outbound_hosts = ["https://api.example.com", "http://127.0.0.1:*"]
environment = { MODE = "prod" }
files = [{ source = "static", destination = "/static" }]
key_value_stores = ["default"]
variables = { greeting = "hello {{ name }}" }

[component.cart.limits]
memory = "64MiB"
timeout = "2s"
fuel = 1000

[component.users]
source = "users.wasm"

[variables]
name = { default = "world" }
"""


def write_app(tmp_path: Path, text: str) -> Path:
    """An app directory with the manifest, two component files and a static dir."""
    (tmp_path / "cart.wasm").write_bytes(b"\0asm")
    (tmp_path / "users.wasm").write_bytes(b"\0asm")
    (tmp_path / "static").mkdir(exist_ok=True)
    path = tmp_path / "omniwasm.toml"
    path.write_text(text)
    return path


def test_full_manifest_maps_to_routes_and_policies(tmp_path: Path) -> None:
    """Routes, sources, env, read-only files, outbound hosts, limits and variables load."""
    app = load_app_manifest(write_app(tmp_path, FULL))
    assert (app.name, app.version) == ("shop", "1.2.0")
    cart = app.components["cart"]
    assert cart.source == tmp_path / "cart.wasm"
    policy = cart.policy
    assert dict(policy.env) == {"MODE": "prod"}
    assert [(m.guest, m.read_only) for m in policy.dirs] == [("/static", True)]
    assert policy.allowed_hosts == ("https://api.example.com", "http://127.0.0.1:*")
    assert (policy.max_memory, policy.timeout, policy.fuel) == (64 * 1024 * 1024, 2.0, 1000)
    assert cart.key_value_stores == ("default",)
    assert cart.variables == {"greeting": "hello world"}
    match = app.router().match("/users/7")
    assert match is not None
    assert (match.target.id, match.params) == ("users", {"id": "7"})
    cart_match = app.router().match("/cart/items/3")
    assert cart_match is not None
    assert (cart_match.target.id, cart_match.path_info) == ("cart", "/items/3")


def test_variables_given_at_load_override_defaults(tmp_path: Path) -> None:
    """A value passed to load_app_manifest replaces the variable's default."""
    app = load_app_manifest(write_app(tmp_path, FULL), variables={"name": "omniwasm"})
    assert app.components["cart"].variables == {"greeting": "hello omniwasm"}


def test_a_spin_toml_loads_as_is(tmp_path: Path) -> None:
    """A spin.toml (manifest version 2) using these keys loads unchanged."""
    spin = """spin_manifest_version = 2
[application]
name = "spin-hello-world"
version = "1.0.0"
authors = ["Jane Q Hacker"]
description = "A simple application that returns hello world."
[[trigger.http]]
route = "/hello"
component = "hello"
[component.hello]
source = "cart.wasm"
allowed_outbound_hosts = ["https://*:*"]
[component.hello.build]
command = "cargo build --target wasm32-wasip1 --release"
"""
    app = load_app_manifest(write_app(tmp_path, spin))
    assert [t.route for t in app.triggers] == ["/hello"]


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (("[application]", "colour = 1\n[application]"), "unknown key.*colour"),
        (
            ('source = "users.wasm"', 'source = "users.wasm"\nsorce = 1'),
            r"\[component.users\].*sorce",
        ),
        (("fuel = 1000", "fuel = 1000\ncpu = 2"), r"limits.*cpu"),
        (('component = "users"', 'component = "nobody"'), "'nobody', which is not defined"),
        (('route = "/users/:id"', 'route = "/cart/..."'), "match the same paths"),
        (('route = "/users/:id"', 'route = "users"'), "must start with '/'"),
        (("[component.users]", "[component.Users]"), "kebab-case"),
        (('name = { default = "world" }', "name = { required = true }"), "'name' is required"),
        (('destination = "/static"', 'destination = "static"'), "must be an absolute guest path"),
        (('source = "static"', 'source = "nostatic"'), "source 'nostatic' does not exist"),
        (
            ('name = { default = "world" }', 'Name = { default = "world" }'),
            r"\[variables\] 'Name': invalid character 'N'",
        ),
        (("greeting = ", "Greeting = "), r"\[component.cart\].variables 'Greeting'"),
        (("{{ name }}", "{{ name"), "unmatched '{{'"),
        (("{{ name }}", "{{ nobody }}"), "'nobody', which is not declared"),
        (('memory = "64MiB"', 'memory = "lots"'), r"\[component.cart\]"),
        (("omniwasm_manifest_version = 1", "spin_manifest_version = 1"), "only version 2"),
    ],
)
def test_bad_manifests_name_the_problem(
    tmp_path: Path, edit: tuple[str, str], message: str
) -> None:
    """Each mistake is a PolicyError that says what and where."""
    old, new = edit
    assert old in FULL
    with pytest.raises(omniwasm.PolicyError, match=message):
        load_app_manifest(write_app(tmp_path, FULL.replace(old, new, 1)))


def test_unknown_variable_given_at_load(tmp_path: Path) -> None:
    """Passing a value for a variable the manifest does not declare is an error."""
    with pytest.raises(omniwasm.PolicyError, match="no application variable named nope"):
        load_app_manifest(write_app(tmp_path, FULL), variables={"nope": "x"})


def test_missing_files_are_invalid_module(tmp_path: Path) -> None:
    """A missing manifest, or a component source it names, is InvalidModule like any input."""
    with pytest.raises(omniwasm.InvalidModule, match=r"missing\.toml: file not found"):
        load_app_manifest(tmp_path / "missing.toml")
    edited = FULL.replace('source = "users.wasm"', 'source = "gone.wasm"', 1)
    with pytest.raises(omniwasm.InvalidModule, match=r"'gone\.wasm': file not found"):
        load_app_manifest(write_app(tmp_path, edited))


def test_invalid_toml(tmp_path: Path) -> None:
    """Broken TOML is a PolicyError."""
    with pytest.raises(omniwasm.PolicyError, match="not valid TOML"):
        load_app_manifest(write_app(tmp_path, "[application\n"))
