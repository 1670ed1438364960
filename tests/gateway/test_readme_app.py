"""The README's ``omniwasm.toml`` app, as written, serves requests (in Python and under serve)."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import Any

import httpx
import pytest

from fixtures.serving import free_port, serving, wait_ready
from fixtures.wat_components import assemble
from omniwasm.gateway import App

README = Path(__file__).parents[2] / "README.md"
GUESTS = Path(__file__).parents[1] / "fixtures" / "gateway"


def readme_manifest() -> str:
    """The ```toml block of the README's "`omniwasm serve` and `omniwasm.toml`" section."""
    text = README.read_text()
    section = text[text.index("### `omniwasm serve` and `omniwasm.toml`") :]
    start = section.index("```toml\n") + len("```toml\n")
    return section[start : section.index("```\n", start)]


def readme_app(tmp_path: Path) -> Path:
    """The README's app directory: its manifest, cart.wasm (a hello handler) and its files."""
    manifest = readme_manifest()
    assert "fuel = " in manifest  # the case this test is about
    shutil.copy(assemble(GUESTS / "hello.wat", prefix="gw-"), tmp_path / "cart.wasm")
    (tmp_path / "static").mkdir()
    (tmp_path / "static" / "index.html").write_text("<p>hi</p>")
    (tmp_path / "assets").mkdir()
    (tmp_path / "assets" / "logo.txt").write_text("logo")
    path = tmp_path / "omniwasm.toml"
    path.write_text(manifest)
    return path


def test_readme_app_answers_in_python(tmp_path: Path) -> None:
    """App("omniwasm.toml") of the README answers its route 200 (its fuel limit works)."""
    app = App(readme_app(tmp_path))

    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.get("/cart/items")

    response = asyncio.run(go())
    assert (response.status_code, response.text) == (200, "hello from wasm")


def test_readme_app_answers_under_serve(tmp_path: Path) -> None:
    """`omniwasm serve omniwasm.toml` of the README answers its route 200."""
    pytest.importorskip("uvicorn")
    manifest = readme_app(tmp_path)
    port = free_port()
    with serving(str(manifest), "--addr", f"127.0.0.1:{port}") as proc:
        wait_ready(f"http://127.0.0.1:{port}/.well-known/spin/health", proc)
        response = httpx.get(f"http://127.0.0.1:{port}/cart/items", timeout=30)
    assert (response.status_code, response.text) == (200, "hello from wasm")


def test_app_refuses_a_runtime_without_fuel_when_a_component_sets_fuel(tmp_path: Path) -> None:
    """A given Runtime that does not meter fuel is a PolicyError when the app is built."""
    from omniwasm import PolicyError, Runtime

    with pytest.raises(PolicyError, match="does not meter fuel"):
        App(readme_app(tmp_path), runtime=Runtime(fuel=False))


def test_readme_registry_source_table(
    tmp_path: Path, own_registry: Any, registry_env: Path
) -> None:
    """The README app with its cart from the registry (the Spin source table shown) answers."""
    from omniwasm.registry import Client

    text = README.read_text()
    section = text[text.index("## Registry and composition") :]
    start = section.index("```toml\n[component.cart]\n") + len("```toml\n")
    table = section[start : section.index("```\n", start)]
    source = table.splitlines()[1].replace("127.0.0.1:5000", own_registry.host)
    manifest = readme_app(tmp_path)
    with Client() as client:
        client.publish(
            tmp_path / "cart.wasm", package="acme:cart@1.2.0", registry=own_registry.host
        )
    (tmp_path / "cart.wasm").unlink()  # only the registry has it now
    text = manifest.read_text()
    assert 'source = "cart.wasm"' in text
    manifest.write_text(text.replace('source = "cart.wasm"', source.split("  #")[0], 1))
    app = App(manifest)

    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.get("/cart/items")

    response = asyncio.run(go())
    assert (response.status_code, response.text) == (200, "hello from wasm")
