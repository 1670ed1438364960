"""A served guest's captured output per request is cut at ``Policy.max_output`` (#12 item 3).

The ``noisy`` guest (``tests/fixtures/gateway/noisy.wat``) writes 16 MiB to stdout in 4 KiB
writes before it answers, stopping at the first write that fails, and answers with the number
of writes that succeeded. Without the limit every write succeeds and each request holds all
it wrote in the server's memory.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

import omniwasm
from fixtures.wat_components import assemble
from omniwasm.gateway import Gateway
from omniwasm.gateway._app import App

GUESTS = Path(__file__).parents[1] / "fixtures" / "gateway"
WRITE = 4096
WRITES = 4096


@pytest.fixture(scope="module")
def noisy() -> Path:
    """The noisy guest, assembled once."""
    return assemble(GUESTS / "noisy.wat", prefix="gateway-")


def written(app: object) -> int:
    """How many of the guest's 4 KiB stdout writes succeeded in one GET /."""

    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            return await client.get("/")

    response = asyncio.run(go())
    assert response.status_code == 200, response.text
    return int.from_bytes(response.content, "little")


def test_writes_past_max_output_fail(noisy: Path) -> None:
    """With max_output=64 KiB the guest's stdout closes after 16 writes of 4 KiB."""
    app = Gateway(noisy, policy=omniwasm.Policy(max_output=64 * 1024))
    assert written(app) == 64 * 1024 // WRITE


def test_the_default_limit_is_16_mib_per_request(noisy: Path) -> None:
    """Under the default policy a request may write 16 MiB, and each request gets its own."""
    app = Gateway(noisy)
    assert [written(app), written(app)] == [WRITES, WRITES]  # 16 MiB: all of them fit
    half = Gateway(noisy, policy=omniwasm.Policy(max_output=8 << 20))
    assert written(half) == WRITES // 2


def test_manifest_limits_output_reaches_the_guest(noisy: Path, tmp_path: Path) -> None:
    """``[component.ID.limits] output`` in omniwasm.toml bounds that component's output."""
    (tmp_path / "noisy.wasm").write_bytes(noisy.read_bytes())
    manifest = tmp_path / "omniwasm.toml"
    manifest.write_text(
        'spin_manifest_version = 2\n[application]\nname = "noisy"\n'
        '[[trigger.http]]\nroute = "/..."\ncomponent = "noisy"\n'
        '[component.noisy]\nsource = "noisy.wasm"\n'
        '[component.noisy.limits]\noutput = "8KiB"\n'
    )
    assert written(App(manifest)) == 2
