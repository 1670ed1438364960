"""A componentize-py 0.25 guest with ``async def`` exports, on omniwasm's own runtime.

The guest (``tests/fixtures/python/asyncdouble``) exports ``double: async func(x: u32) -> u32``
and ``shout: async func(s: string) -> string`` (lifted with a callback); its WASI 0.2 imports
come from the virtual host. Compared with ``wasmtime run -W component-model-async=y --invoke``.
"""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest

import omniwasm
from fixtures.bounded import bounded_call
from omniwasm import wasi
from omniwasm.wasi import p3

LIMIT = 120.0  # the first instance compiles an 18 MB guest's core modules


bounded = partial(bounded_call, limit=LIMIT)


@pytest.fixture(scope="module")
def guest_wasm(py_guest: Callable[[str], Path]) -> Path:
    """The guest, built with componentize-py (cached by source hash)."""
    return py_guest("asyncdouble")


@pytest.fixture(scope="module")
def inst(guest_wasm: Path) -> Iterator[Any]:
    """One instance for the module's tests (its compile is the slow part)."""
    ctx = wasi.WasiContext(omniwasm.Policy(timeout=60))

    def make() -> Any:
        rt = omniwasm.Runtime()
        return rt.instantiate(rt.load(guest_wasm), ctx.policy, imports=p3.linker(), host_data=ctx)

    instance = bounded(make)
    yield instance
    instance.close()
    ctx.close()


def test_async_export_of_a_python_guest(inst: Any) -> None:
    """componentize-py's ``async def double`` runs as a callback-lifted async export."""
    assert inst.component_backend == "omniwasm"
    assert bounded(lambda: inst.call("double", 21)) == 42


def test_awaited_string_export(inst: Any) -> None:
    """``await inst.exports.shout("hi")`` returns the guest's string."""
    assert bounded(lambda: asyncio.run(inst.exports.shout("hi"))) == "HI!"


@pytest.mark.reference
def test_same_answers_as_wasmtime(guest_wasm: Path, inst: Any, reference_wasmtime: str) -> None:
    """wasmtime 49 gives the same results for the same guest."""

    def invoke(expr: str) -> str:
        cmd = [reference_wasmtime, "run", "-W", "component-model-async=y", "--invoke", expr]
        run = subprocess.run(
            [*cmd, str(guest_wasm)], capture_output=True, text=True, timeout=LIMIT, check=False
        )
        return run.stdout.strip()

    assert invoke("double(21)") == str(bounded(lambda: inst.call("double", 21)))
    assert invoke('shout("hi")') == f'"{bounded(lambda: inst.call("shout", "hi"))}"'
