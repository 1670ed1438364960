"""Every kind of guest issue 15 names runs on omniwasm's own runtime under the default, ``auto``.

The summarizer and the ``wasi:http`` handler are componentize-py components (their ``.wasm``:
a precompiled ``.cwasm`` goes to stock), the component plugins and the gateway's WAT handler
are hand-written WAT; the C guests on WASI 0.2 are checked in ``test_own_backend.py``. Each
test asserts the guest's answer and that the own runtime produced it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

import omniwasm
from fixtures.readme import shared_cache
from fixtures.wat_components import assemble
from omniwasm import _engine as eng
from omniwasm.gateway import Gateway, _exchange
from omniwasm.plugins import Plugin

FIXTURES = Path(__file__).parents[1] / "fixtures"
EXAMPLES = Path(omniwasm.__file__).parent / "examples"
DOC = {
    "title": "Wasm",
    "content": "Wasm runs anywhere. Python embeds wasm with omniwasm. The end.",
    "language": "en",
}


@pytest.fixture
def shared(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """The session's shared compile cache: an 18 MB componentize-py guest compiles once."""
    monkeypatch.setenv("OMNIWASM_CACHE_DIR", str(shared_cache(tmp_path_factory)))


@pytest.mark.usefixtures("shared")
def test_summarizer_runs_on_the_own_runtime(summarizer_wasm: Path) -> None:
    """The componentize-py summarizer answers on the own runtime, chosen by ``auto``."""
    rt = omniwasm.Runtime(components="auto")
    with rt.instantiate(rt.load(summarizer_wasm)) as inst:
        assert inst.component_backend == "omniwasm"
        summary = inst.exports["blog:example/summarizer@1.0.0"].summarize(DOC, 5)
    assert summary.text == "Wasm runs anywhere. Python embeds..."
    assert summary.word_count == 10


@pytest.fixture
def backends(monkeypatch: pytest.MonkeyPatch) -> list[str | None]:
    """The backend of every instance the gateway makes for a request (the real instantiate)."""
    seen: list[str | None] = []
    real = _exchange.instantiate

    def recording(*args: Any, **kwargs: Any) -> Any:
        inst = real(*args, **kwargs)
        seen.append(inst.component_backend)
        return inst

    monkeypatch.setattr(_exchange, "instantiate", recording)
    return seen


def _get(app: Gateway, path: str) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://g.test") as client:
            return await client.get(path, timeout=120)

    return asyncio.run(go())


@pytest.mark.usefixtures("shared")
def test_componentize_py_http_guest_serves_on_the_own_runtime(
    py_http_wasm: Path, backends: list[str | None]
) -> None:
    """The componentize-py ``wasi:http`` handler answers a gateway request on the own runtime."""
    app = Gateway(py_http_wasm, runtime=omniwasm.Runtime(components="auto"))
    try:
        r = _get(app, "/")
    finally:
        app.close()
    assert (r.status_code, r.content) == (200, b"Hello from Python on omniwasm!\n")
    assert backends == ["omniwasm"]


def test_wat_http_guest_serves_on_the_own_runtime(backends: list[str | None]) -> None:
    """The hand-written WAT ``wasi:http`` handler answers a gateway request on the own runtime."""
    app = Gateway(
        assemble(FIXTURES / "gateway" / "hello.wat"), runtime=omniwasm.Runtime(components="auto")
    )
    try:
        r = _get(app, "/")
    finally:
        app.close()
    assert r.status_code == 200
    assert r.content
    assert backends == ["omniwasm"]


def test_component_plugins_run_on_the_own_runtime(wat_component: Callable[[str], Path]) -> None:
    """A component plugin (types.wat; counter.wat with a host import) runs on the own runtime."""
    with Plugin(wat_component("types"), runtime=omniwasm.Runtime(components="auto")) as plugin:
        assert plugin.call("echo-string", "héllo") == "héllo"
        assert plugin.instance.component_backend == "omniwasm"
    linker = omniwasm.Linker().define("test:counter/host", step=lambda: 3)
    counter = Plugin(
        (EXAMPLES / "counter.wat").read_text(),
        imports=linker,
        runtime=omniwasm.Runtime(components="auto"),
    )
    with counter:
        assert [counter.call("bump") for _ in range(2)] == [3, 6]
        assert counter.instance.component_backend == "omniwasm"


HAND_WRITTEN = sorted(
    p
    for folder in ("components", "compose", "gateway", "wasi", "async")
    for p in (FIXTURES / folder).glob("*.wat")
) + sorted(p for p in EXAMPLES.glob("*.wat") if "(component" in p.read_text())


@pytest.mark.parametrize("path", HAND_WRITTEN, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_hand_written_wat_component_is_the_own_runtimes(path: Path) -> None:
    """``auto`` finds nothing in any hand-written WAT component that the own runtime cannot run."""
    compiled = omniwasm.Runtime(components="auto").load(assemble(path, "own-"))
    assert compiled.kind == "component"
    assert eng.unsupported_reason(compiled._artifact, None) == ""
