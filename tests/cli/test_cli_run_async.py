"""``omniwasm run`` of component-model async components (WASI 0.3), as wasmtime 49 runs them."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from fixtures.wat_components import assemble

ASYNC = Path(__file__).parent.parent / "fixtures" / "async"
LIMIT = 60.0


def _run(cmd: list[str]) -> tuple[int, str]:
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=LIMIT, check=False)
    return run.returncode, run.stdout


COMMANDS = {
    "p3_hello": (0, "hello from wasi 0.3\n"),  # run returns ok
    "p3_exit": (7, ""),  # wasi:cli/exit@0.3.0 exit-with-code(7)
    "p3_fail": (1, ""),  # wasi:cli/exit@0.3.0 exit(err)
    "p3_run_err": (1, ""),  # run returns err
    "p3_trap": (134, ""),  # the callback traps: wasmtime's 128 + SIGABRT
    "p3_mixed": (1, "hello from wasi 0.3\n"),  # 0.3 stdout, then wasi:cli/exit@0.2.0 exit(err)
}


@pytest.mark.parametrize("name", COMMANDS)
def test_run_wasi_p3_command(omniwasm_cli: list[str], name: str) -> None:
    """``omniwasm run -Sp3 -W component-model-async=y`` gives a command's exit code and stdout.

    Ok, exit-with-code, exit(err), an err result, a trap, and a command using a WASI 0.2
    interface (exit) beside 0.3 ones (stdout).
    """
    path = assemble(ASYNC / f"{name}.wat", "p3-")
    code, out = _run([*omniwasm_cli, "run", "-Sp3", "-W", "component-model-async=y", str(path)])
    assert (code, out) == COMMANDS[name]


@pytest.mark.reference
@pytest.mark.parametrize("name", COMMANDS)
def test_run_matches_wasmtime(omniwasm_cli: list[str], reference_wasmtime: str, name: str) -> None:
    """Exit code and stdout are wasmtime 49's for the same command line."""
    path = str(assemble(ASYNC / f"{name}.wat", "p3-"))
    flags = ["run", "-Sp3", "-W", "component-model-async=y", path]
    assert _run([*omniwasm_cli, *flags]) == _run([reference_wasmtime, *flags])


@pytest.mark.reference
def test_invoke_async_export(omniwasm_cli: list[str], reference_wasmtime: str) -> None:
    """``--invoke`` calls an async export and prints its value, as wasmtime does."""
    path = str(assemble(ASYNC / "builtins.wat", "async-"))
    flags = ["run", "-W", "component-model-async=y", "--invoke", "yield3()", path]
    assert _run([*omniwasm_cli, *flags]) == _run([reference_wasmtime, *flags]) == (0, "3\n")


def test_native_wasi_is_refused_for_async(omniwasm_cli: list[str]) -> None:
    """``--wasi native`` with an async component is a usage error naming the virtual host."""
    path = str(assemble(ASYNC / "p3_hello.wat", "p3-"))
    run = subprocess.run(
        [*omniwasm_cli, "run", "--wasi", "native", path],
        capture_output=True,
        text=True,
        timeout=LIMIT,
        check=False,
    )
    assert run.returncode != 0
    assert "virtual" in run.stderr
