"""A reference works wherever a file does: Plugin and Extism manifests, app manifests."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from fixtures.registry_server import RegistryServer, unique_repo
from fixtures.wat_components import assemble
from omniwasm.gateway._app import App
from omniwasm.plugins import Plugin
from omniwasm.registry import Client, RegistryConfig, Store

pytestmark = pytest.mark.usefixtures("registry_env")
GATEWAY = Path(__file__).parents[1] / "fixtures" / "gateway"


def _name() -> str:
    return "p" + unique_repo().split("/")[1]


@pytest.fixture
def acme(registry: RegistryServer, monkeypatch: pytest.MonkeyPatch) -> str:
    """Map the ``acme`` namespace to the test registry through the environment."""
    monkeypatch.setenv("OMNIWASM_NAMESPACE_REGISTRIES", f"acme={registry.host}")
    return registry.host


def _push(source: Path | bytes, ref: str, tmp_path: Path) -> None:
    with Client(config=RegistryConfig.from_environment(tmp_path), store=Store(tmp_path / "p")) as c:
        c.push(source if isinstance(source, bytes) else source.read_bytes(), ref)


def test_plugins_take_references(
    acme: str, tmp_path: Path, plugin_wasm: Callable[[str], Path]
) -> None:
    """``Plugin("acme:x@1")`` and an Extism manifest ``"url": "oci://..."`` load the plugin."""
    name = _name()
    _push(plugin_wasm("count_vowels"), f"acme:{name}@1.0.0", tmp_path)
    with Plugin(f"acme:{name}@1.0.0") as plugin:
        assert json.loads(plugin.call("count_vowels", b"registry"))["count"] == 2
    manifest = {"wasm": [{"url": f"oci://{acme}/acme/{name}:1.0.0"}]}
    with Plugin(manifest) as plugin:
        assert json.loads(plugin.call("count_vowels", b"oci"))["count"] == 2


def test_app_manifest_registry_source(acme: str, tmp_path: Path) -> None:
    """``source = { registry, package, version }`` (Spin's form) serves the pulled component."""
    name = _name()
    _push(assemble(GATEWAY / "hello.wat", prefix="gw-"), f"acme:{name}@0.1.0", tmp_path)
    app_dir = tmp_path / "app"
    app_dir.mkdir()
    manifest = app_dir / "spin.toml"
    manifest.write_text(
        'spin_manifest_version = 2\n[application]\nname = "reg"\n'
        '[[trigger.http]]\nroute = "/hello"\ncomponent = "hello"\n'
        f'[component.hello]\nsource = {{ registry = "{acme}", package = "acme:{name}", '
        'version = "0.1.0" }\n'
    )

    async def get() -> httpx.Response:
        transport = httpx.ASGITransport(app=App(manifest))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.get("/hello")

    response = asyncio.run(get())
    assert (response.status_code, response.text) == (200, "hello from wasm")


def test_app_manifest_registry_table_maps_packages(
    registry: RegistryServer, tmp_path: Path
) -> None:
    """Without ``registry =``, the manifest's own ``[registry]`` table maps the package."""
    name = _name()
    _push(
        assemble(GATEWAY / "hello.wat", prefix="gw-"),
        f"{registry.host}/shop/{name}:2.0.0",
        tmp_path,
    )
    manifest = tmp_path / "omniwasm.toml"
    manifest.write_text(
        '[[trigger.http]]\nroute = "/hello"\ncomponent = "hello"\n'
        f'[component.hello]\nsource = {{ package = "shop:{name}", version = "^2" }}\n'
        f'[registry]\n[registry.namespace_registries]\nshop = "{registry.host}"\n'
    )
    from omniwasm.gateway._manifest import load_app_manifest

    spec = load_app_manifest(manifest).components["hello"]
    assert spec.source.read_bytes()[:4] == b"\0asm"


def test_import_omniwasm_registry_stays_light() -> None:
    """Importing omniwasm.registry imports no HTTP library (httpx loads on first contact)."""
    code = "import sys, omniwasm.registry; print('httpx' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
