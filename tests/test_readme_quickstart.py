"""The README's "Python" example runs as written and prints what its comments say."""

from __future__ import annotations

import contextlib
import io
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from fixtures.readme import blocks, section

EXAMPLES = Path(__file__).parents[1] / "src" / "omniwasm" / "examples"


def test_readme_python_example(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, c_module: Callable[[str], Path]
) -> None:
    """Each step of the block runs, with prog.wasm reading its stdin and spin.wasm out of fuel."""
    code = blocks(section("Python"), "python")[0]
    monkeypatch.chdir(tmp_path)
    shutil.copy(c_module("echo"), "prog.wasm")  # copies its stdin ("input") to stdout
    shutil.copy(c_module("loop"), "spin.wasm")  # prints "looping", then spins forever
    Path("data").mkdir()  # the preopen ./data::/data:ro
    (tmp_path / "src" / "omniwasm" / "examples").mkdir(parents=True)
    shutil.copy(EXAMPLES / "fib.wat", "src/omniwasm/examples/fib.wat")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "README.md", "exec"), {})
    lines = out.getvalue().splitlines()
    assert lines[:4] == [
        "0 input",
        "stopped after 1000000 fuel",
        "guest says 7",
        "2880067194370816120",
    ]
    assert lines[4].startswith("CacheInfo(") and "max_size=1073741824" in lines[4]
    assert len(lines) == 5
