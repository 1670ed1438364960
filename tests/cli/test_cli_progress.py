"""Long compiles say so: a spinner on a terminal (quiet otherwise), a log line in serve."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from fixtures.serving import free_port, serving, wait_ready
from fixtures.wat_components import assemble

Build = Callable[[str], Path]
GATEWAY = Path(__file__).parents[1] / "fixtures" / "gateway"


def _on_a_terminal(cli: list[str], *args: str) -> tuple[int, bytes]:
    """Run the CLI with stderr on a pseudo-terminal; its exit code and what the terminal got."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [*cli, *args], stdout=subprocess.DEVNULL, stderr=slave, stdin=subprocess.DEVNULL
    )
    os.close(slave)
    seen = b""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # the terminal closed: the process ended
                break
            if not chunk:
                break
            seen += chunk
        elif proc.poll() is not None:
            break
    os.close(master)
    return proc.wait(timeout=30), seen


def test_a_compile_on_a_terminal_shows_progress(
    omniwasm_cli: list[str], c_component: Build
) -> None:
    """run on a terminal shows 'compiling NAME (SIZE)...' while it compiles; a cache hit does not."""
    guest = c_component("hello")
    code, seen = _on_a_terminal(omniwasm_cli, "run", str(guest))
    assert code == 0
    assert f"compiling {guest.name} (".encode() in seen
    code, again = _on_a_terminal(omniwasm_cli, "run", str(guest))
    assert code == 0
    assert b"compiling" not in again


def test_compile_command_shows_progress(
    omniwasm_cli: list[str], c_module: Build, tmp_path: Path
) -> None:
    """`omniwasm compile` on a terminal shows the spinner too (it never uses the cache)."""
    code, seen = _on_a_terminal(
        omniwasm_cli, "compile", str(c_module("hello")), "-o", str(tmp_path / "h.cwasm")
    )
    assert code == 0
    assert b"compiling hello" in seen


def test_no_terminal_no_progress(omniwasm_cli: list[str], c_component: Build) -> None:
    """With stderr not a terminal, a cold compile prints nothing on stderr."""
    proc = subprocess.run(
        [*omniwasm_cli, "run", "--no-cache", str(c_component("hello"))],
        capture_output=True,
        check=False,
    )
    assert (proc.returncode, proc.stderr) == (0, b"")


def test_serve_says_compiling_before_it_listens(tmp_path: Path) -> None:
    """`omniwasm serve app.wasm` logs 'compiling app.wasm...' before 'serving ...'."""
    pytest.importorskip("uvicorn")
    app = tmp_path / "app.wasm"
    app.write_bytes(assemble(GATEWAY / "hello.wat", prefix="gw-").read_bytes())
    port = free_port()
    with serving(str(app), "--addr", f"127.0.0.1:{port}") as proc:
        wait_ready(f"http://127.0.0.1:{port}/", proc)
        log = proc.log  # type: ignore[attr-defined]
        log.seek(0)
        text = log.read().decode()
    assert "compiling app.wasm (" in text
    assert text.index("compiling app.wasm") < text.index("serving ")
