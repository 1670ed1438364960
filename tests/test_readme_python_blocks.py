"""The README's Python blocks for virtual WASI, plugins and the gateway run as written.

Each runs in a fresh directory holding the files it names (the repository's examples under
``src/omniwasm/examples/``, a ``hello.wasm`` handler), and prints what its comments show. The
one substitution: the manifest example's ``"<sha256>"`` placeholder becomes the real hash.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import shutil
from pathlib import Path
from typing import Any

import httpx
import pytest
import wasmtime

from fixtures.readme import blocks, section
from fixtures.wat_components import assemble

EXAMPLES = Path(__file__).parents[1] / "src" / "omniwasm" / "examples"
GATEWAY = Path(__file__).parent / "fixtures" / "gateway"
PLUGINS = "Plugins: run untrusted code (Extism plugins and component plugins)"


def run_block(code: str, cwd: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[list[str], Any]:
    """Run a README block in ``cwd`` with the examples at hand; its printed lines and globals."""
    monkeypatch.chdir(cwd)
    shutil.copytree(EXAMPLES, cwd / "src" / "omniwasm" / "examples", dirs_exist_ok=True)
    out = io.StringIO()
    namespace: dict[str, Any] = {}
    with contextlib.redirect_stdout(out):
        exec(compile(code, "README.md", "exec"), namespace)
    return out.getvalue().splitlines(), namespace


def test_virtual_wasi_block(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The virtual WASI block runs hello three ways and reads the memory filesystem back."""
    code = blocks(section("Virtual WASI: a WASI 0.2 host you control from Python"), "python")[0]
    printed, ns = run_block(code, tmp_path, monkeypatch)
    assert printed[0].startswith("0 b'Hello from a WASI 0.2 component!")
    assert printed[1].startswith("Hello from a WASI 0.2 component!")  # the stdout callable
    assert printed[2] == "{'/in.txt': b'hello'}"
    assert printed[3].startswith("b'Hello from a WASI 0.2 component!")
    assert len(printed) == 4
    assert ns["first"].exit_code == 0


def test_plugin_blocks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The Extism block prints count_vowels' JSON, calls the host function and the pool."""
    code = blocks(section(PLUGINS), "python")[0]
    printed, ns = run_block(code, tmp_path, monkeypatch)
    assert printed == [
        'b\'{"count":3,"total":3,"vowels":"aeiouAEIOU"}\'',
        "{'count': 8, 'total': 11, 'vowels': 'aeiouAEIOU'}",  # the JSON text's quotes too
    ]
    assert ns["pool"].call("count_vowels", "aa").startswith(b'{"count":2,')  # a pooled plugin


def test_plugin_manifest_block(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The manifest example loads plugin.wasm once its hash is the file's, with its limits."""
    code = blocks(section(PLUGINS), "python")[1]
    wasm = wasmtime.wat2wasm((EXAMPLES / "count_vowels.wat").read_text())
    (tmp_path / "plugin.wasm").write_bytes(wasm)
    code = code.replace("<sha256>", hashlib.sha256(wasm).hexdigest())
    _, ns = run_block("from omniwasm.plugins import CompiledPlugin\n" + code, tmp_path, monkeypatch)
    with ns["compiled"].instantiate() as plugin:
        assert plugin.call("count_vowels", "oi") == b'{"count":2,"total":2,"vowels":"aeiouAEIOU"}'


def test_component_plugin_block(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The component plugin block bumps twice by the host's step and lists its exports."""
    code = blocks(section(PLUGINS), "python")[2]
    printed, _ = run_block(code, tmp_path, monkeypatch)
    assert printed == ["['bump', 'trap']"]


def test_gateway_block(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The Gateway block builds an ASGI app that answers with the handler's response."""
    code = blocks(section("HTTP gateway"), "python")[0]
    shutil.copy(assemble(GATEWAY / "hello.wat", prefix="gw-"), tmp_path / "hello.wasm")
    _, ns = run_block(code, tmp_path, monkeypatch)

    async def get() -> httpx.Response:
        transport = httpx.ASGITransport(app=ns["app"])
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.get("/")

    response = asyncio.run(get())
    assert (response.status_code, response.text) == (200, "hello from wasm")
