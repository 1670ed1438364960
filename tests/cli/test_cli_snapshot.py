"""``omniwasm snapshot``: the written module answers like the initialised original."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

COUNTER = """
(module
  (memory (export "memory") 1)
  (global $n (mut i32) (i32.const 0))
  (func (export "setup")
    (global.set $n (i32.const 41))
    (i32.store (i32.const 100) (i32.const 1)))
  (func (export "answer") (result i32)
    (i32.add (global.get $n) (i32.load (i32.const 100)))))
"""


def omniwasm(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the CLI in a subprocess (the exit code is the test's to check)."""
    return subprocess.run(
        [sys.executable, "-m", "omniwasm", *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_snapshot_command_writes_an_initialised_module(tmp_path: Path) -> None:
    """`snapshot --init setup` writes a module whose answer() is 42 without calling setup."""
    src = tmp_path / "counter.wat"
    src.write_text(COUNTER)
    out = tmp_path / "counter.snap.wasm"
    done = omniwasm("snapshot", str(src), "-o", str(out), "--init", "setup")
    assert done.returncode == 0, done.stderr
    assert "wrote" in done.stderr
    assert omniwasm("invoke", str(out), "answer").stdout.strip() == "42"
    assert omniwasm("invoke", str(src), "answer").stdout.strip() == "0"


def test_snapshot_command_refusal_exits_65(tmp_path: Path) -> None:
    """A module importing a host function is refused with one line and exit code 65."""
    src = tmp_path / "host.wat"
    src.write_text('(module (import "env" "f" (func)) (func (export "wizer.initialize")))')
    done = omniwasm("snapshot", str(src), "-o", str(tmp_path / "x.wasm"))
    assert done.returncode == 65
    assert "env.f" in done.stderr
    assert not (tmp_path / "x.wasm").exists()
