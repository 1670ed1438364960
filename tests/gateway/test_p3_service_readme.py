"""The README's "WASI 0.3 services" block runs as written, on the test service.

``service.wasm`` is the componentize-py 0.25 guest of ``tests/fixtures/python/p3http``.
"""

from __future__ import annotations

import contextlib
import io
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from fixtures.bounded import bounded_call
from fixtures.readme import blocks, section


def test_the_python_block_prints_the_echo(
    py_guest: Callable[[str], Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The block serves service.wasm in-process and prints the streamed echo."""
    shutil.copy(py_guest("p3http"), tmp_path / "service.wasm")
    monkeypatch.chdir(tmp_path)
    (code,) = blocks(section("WASI 0.3 services (`wasi:http/service`)"), "python")
    out = io.StringIO()

    def run() -> None:
        with contextlib.redirect_stdout(out):
            exec(compile(code, "README.md", "exec"), {"__name__": "__readme__"})

    bounded_call(run, limit=240.0)
    assert out.getvalue() == "200 b'streamed through the guest'\n"
