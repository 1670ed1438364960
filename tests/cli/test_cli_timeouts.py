"""``--timeout`` ends the process with exit 124 even when the guest is blocked in the host.

Each guest waits for an hour (or for a stdin that never ends); each run is bounded by its own
subprocess timeout, so a regression fails the test instead of hanging the suite.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

Build = Callable[[str], Path]
LIMIT = 30.0
"""Seconds a one-second timeout may take here before the test fails (startup included)."""


def run_open_stdin(cli: list[str], args: list[str], feed: bytes = b"") -> tuple[int, str, str]:
    """Run the CLI with a stdin pipe kept open (never at its end); ``(code, stdout, stderr)``."""
    with subprocess.Popen(
        [*cli, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    ) as proc:
        assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
        if feed:
            proc.stdin.write(feed)
            proc.stdin.flush()
        try:
            code = proc.wait(timeout=LIMIT)  # outputs are small: the pipes never fill
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            pytest.fail(f"omniwasm {' '.join(args)} still running after {LIMIT}s")
        finally:
            proc.stdin.close()
        return code, proc.stdout.read().decode(), proc.stderr.read().decode()


@pytest.mark.parametrize("mode", ["sleep", "abstime", "realtime"])
def test_module_sleep(omniwasm_cli: list[str], c_module: Build, mode: str) -> None:
    """A WASI p1 module sleeping an hour under --timeout 1s exits 124 (Timeout)."""
    code, _, err = run_open_stdin(
        omniwasm_cli, ["run", "--timeout", "1s", str(c_module("waits")), mode, "3600"]
    )
    assert code == 124, err
    assert "Timeout" in err


@pytest.mark.parametrize("mode", ["read", "poll"])
def test_module_stdin_that_never_ends(omniwasm_cli: list[str], c_module: Build, mode: str) -> None:
    """A p1 module reading (or polling) a stdin that never ends exits 124 after its input."""
    code, out, err = run_open_stdin(
        omniwasm_cli, ["run", "--timeout", "1s", str(c_module("waits")), mode, "100"], b"hi\n"
    )
    assert code == 124, err
    assert "Timeout" in err
    assert out.startswith("hi\n" if mode == "read" else "ready\n")


@pytest.mark.parametrize("wasi", ["auto", "virtual", "native"])
def test_component_sleep(omniwasm_cli: list[str], c_component: Build, wasi: str) -> None:
    """A WASI 0.2 component sleeping an hour exits 124 on every --wasi host.

    auto and virtual stop the wait itself; under native the CLI's backstop ends the process.
    """
    args = ["run", "--wasi", wasi, "--timeout", "1s", str(c_component("waits")), "sleep", "3600"]
    code, _, err = run_open_stdin(omniwasm_cli, args)
    assert code == 124, err
    assert "Timeout" in err


@pytest.mark.parametrize("wasi", ["auto", "native"])
def test_component_stdin_that_never_ends(
    omniwasm_cli: list[str], c_component: Build, wasi: str
) -> None:
    """A component reading a stdin that never ends exits 124."""
    args = ["run", "--wasi", wasi, "--timeout", "1s", str(c_component("waits")), "read"]
    code, _, err = run_open_stdin(omniwasm_cli, args, b"hi\n")
    assert code == 124, err
    assert "Timeout" in err


def test_component_within_its_timeout_runs_to_the_end(
    omniwasm_cli: list[str], c_component: Build
) -> None:
    """A component that sleeps less than its timeout finishes normally (exit 0)."""
    args = ["run", "--timeout", "20s", str(c_component("waits")), "sleep", "1"]
    code, out, err = run_open_stdin(omniwasm_cli, args)
    assert (code, out) == (0, "done\n"), err


def test_plugin_initialize_loop(omniwasm_cli: list[str], tmp_path: Path) -> None:
    """omniwasm plugin call --timeout 1s on a plugin whose _initialize loops exits 124."""
    plugin = tmp_path / "init.wat"
    plugin.write_text(
        '(module (func (export "_initialize") (loop (br 0)))'
        ' (func (export "f") (result i32) i32.const 0))'
    )
    code, _, err = run_open_stdin(
        omniwasm_cli, ["plugin", "call", "--timeout", "1s", str(plugin), "f"]
    )
    assert code == 124, err
    assert "Timeout" in err
