"""The README's "Component-model async and WASI 0.3" section runs as written.

Its files are the test fixtures under the README's names: ``async.wasm`` (the built-ins
guest), ``host.wasm`` (the host-imports guest) and ``hello-p3.wasm`` (a WASI 0.3 command).
"""

from __future__ import annotations

import contextlib
import io
import shutil
import subprocess
from functools import partial
from pathlib import Path

import pytest

from fixtures.bounded import bounded_call
from fixtures.readme import argv, blocks, commands, section
from fixtures.wat_components import assemble

ASYNC = Path(__file__).parent.parent / "fixtures" / "async"
TITLE = "Component-model async and WASI 0.3"
FILES = {"async.wasm": "builtins", "host.wasm": "host", "hello-p3.wasm": "p3_hello"}


@pytest.fixture
def files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A directory with the section's files, made the current directory."""
    for name, source in FILES.items():
        shutil.copy(assemble(ASYNC / f"{source}.wat", "async-"), tmp_path / name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


_bounded = partial(bounded_call, limit=60.0)


@pytest.mark.usefixtures("files")
def test_python_block() -> None:
    """The Python block prints what its comments show."""
    code = blocks(section(TITLE), "python")[0]
    out = io.StringIO()

    def run() -> None:
        with contextlib.redirect_stdout(out):
            exec(compile(code, "README.md", "exec"), {})

    _bounded(run)
    assert out.getvalue().splitlines() == ["42", "42", "2042", "0 b'hello from wasi 0.3\\n'"]


@pytest.mark.usefixtures("files")
def test_command_lines(omniwasm_cli: list[str]) -> None:
    """The shell block's command lines run and print the command's output / the value."""
    lines = commands(blocks(section(TITLE), "sh")[0])
    assert len(lines) == 2
    outputs = []
    for line in lines:
        cmd = argv(line)
        assert cmd[0] == "omniwasm"
        run = subprocess.run(
            [*omniwasm_cli, *cmd[1:]], capture_output=True, text=True, timeout=60, check=False
        )
        outputs.append((run.returncode, run.stdout))
    assert outputs == [(0, "hello from wasi 0.3\n"), (0, "42\n")]
