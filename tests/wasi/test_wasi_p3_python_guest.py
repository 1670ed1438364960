"""A WASI 0.3 command built with componentize-py 0.25 under ``omniwasm run``, as under wasmtime.

The guest (``tests/fixtures/python/p3cmd``) exports ``wasi:cli/run@0.3.0`` with an ``async
def run``; it prints its arguments and an environment variable (through componentize-py's
WASI 0.2 stdout, which the virtual host serves beside 0.3).
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

LIMIT = 300.0  # a fresh process compiles the 18 MB guest's core modules
EXPECTED = "hello from a componentize-py WASI 0.3 command\nargs: ['a', 'b'] env: hi\n"


@pytest.fixture(scope="module")
def command(py_guest: Callable[[str], Path]) -> Path:
    """The guest, built with componentize-py (cached by source hash)."""
    return py_guest("p3cmd")


def _run(cmd: list[str]) -> tuple[int, str]:
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=LIMIT, check=False)
    return run.returncode, run.stdout


FLAGS = ["run", "-Sp3", "-W", "component-model-async=y", "--env", "GREETING=hi"]


def test_omniwasm_run_of_a_python_wasi_p3_command(omniwasm_cli: list[str], command: Path) -> None:
    """``omniwasm run`` runs the command: its stdout and exit code."""
    assert _run([*omniwasm_cli, *FLAGS, str(command), "a", "b"]) == (0, EXPECTED)


@pytest.mark.reference
def test_wasmtime_prints_the_same(reference_wasmtime: str, command: Path) -> None:
    """wasmtime 49 prints the same for the same command line (what the test above expects)."""
    assert _run([reference_wasmtime, *FLAGS, str(command), "a", "b"]) == (0, EXPECTED)
