"""``omniwasm run MODULE.wasm`` without typer: same parse, same run, fewer imports."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer.main
import wasmtime

from omniwasm.cli import _fast
from omniwasm.cli import _run as _run_module  # noqa: F401 (registers the run command)
from omniwasm.cli._app import app

# A WASI preview 1 command: prints its first argument (or "hello") and exits with 3 when it
# has two arguments.
HELLO = """
(module
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_sizes_get" (func $sizes (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 100) "hello\\n")
  (func (export "_start")
    (drop (call $sizes (i32.const 0) (i32.const 4)))
    (i32.store (i32.const 8) (i32.const 100))
    (i32.store (i32.const 12) (i32.const 6))
    (drop (call $write (i32.const 1) (i32.const 8) (i32.const 1) (i32.const 16)))
    (if (i32.eq (i32.load (i32.const 0)) (i32.const 3)) (then (call $exit (i32.const 3))))))
"""

# Modules a core module's run must not import (the typer app, the component machinery,
# other habitats).
NOT_NEEDED = (
    "typer",
    "click",
    "rich",
    "omniwasm.cli._app",
    "omniwasm._wit",
    "omniwasm._component",
    "omniwasm.wasi",
    "omniwasm.gateway",
    "omniwasm.registry",
    "wasmtime.component",
    "logging",  # the engine's trap-handler notices import it only when they have one to give
    "traceback",  # --debug only
)

SAMPLES = [
    ["m.wasm"],
    ["m.wasm", "a", "--fuel", "3"],
    ["--dir", "/tmp", "--dir=/x::/y", "--env", "A=1", "--env=B", "m.wasm"],
    ["--fuel", "10", "--timeout=2s", "--max-memory", "1MiB", "--max-output", "1KiB", "m.wasm"],
    ["--max-table-elements", "5", "--max-instances=2", "--stdin", "in.txt", "m.wasm"],
    ["--policy", "p.toml", "--argv0", "prog", "--no-cache", "--debug", "m.wasm", "--x"],
    ["--dir-ro", "ro", "m.wasm", "--dir", "guest-arg"],
]


@pytest.fixture(scope="module")
def run_command() -> Any:
    """The click command typer builds for ``run`` (typer vendors click: duck-typed here)."""
    group: Any = typer.main.get_command(app)
    return group.commands["run"]


def click_params(command: Any, argv: list[str]) -> dict[str, Any]:
    """What typer's command parses from ``argv`` (values as the function receives them)."""
    with command.make_context("run", list(argv)) as ctx:
        return dict(ctx.params)


@pytest.mark.parametrize("argv", SAMPLES, ids=" ".join)
def test_fast_parse_agrees_with_typer(run_command: Any, argv: list[str]) -> None:
    """Every command line the fast path accepts parses to the values typer gives."""
    fast = _fast.parse_run(argv)
    assert fast is not None
    slow = click_params(run_command, argv)
    for name, value in fast.items():
        expected = slow[name]
        if name == "args":
            expected = list(expected or [])
        elif isinstance(value, list):
            expected = list(expected)
        elif isinstance(value, Path):  # typer makes the Path when it calls the command
            expected = Path(expected)
        assert value == expected, name


def test_fast_options_are_options_of_the_run_command(run_command: Any) -> None:
    """Each flag the fast path takes is a run option with the same parameter and shape."""
    by_flag = {opt: p for p in run_command.params for opt in getattr(p, "opts", [])}
    for flag, (name, _kind, many) in _fast.OPTIONS.items():
        param = by_flag[flag]
        assert (param.name, param.multiple, param.is_flag) == (name, many, False), flag
    for flag, name in _fast.FLAGS.items():
        param = by_flag[flag]
        assert (param.name, param.is_flag) == (name, True), flag


@pytest.mark.parametrize(
    "argv",
    [
        ["--help"],
        ["--invoke", "f", "m.wasm"],
        ["--wasi", "virtual", "m.wasm"],
        ["--fuel", "ten", "m.wasm"],
        ["--unknown", "m.wasm"],
        ["--", "m.wasm"],
        ["--fuel"],
        [],
    ],
    ids=lambda a: " ".join(a) or "(none)",
)
def test_other_command_lines_go_to_typer(argv: list[str]) -> None:
    """Flags the fast path does not know, bad values and help are left to typer."""
    assert _fast.parse_run(argv) is None


def test_components_and_missing_files_go_to_typer(tmp_path: Path) -> None:
    """A component, a text module or a missing file is not run by the fast path."""
    component = tmp_path / "c.wasm"
    component.write_bytes(b"\0asm\x0d\x00\x01\x00")
    text = tmp_path / "m.wat"
    text.write_text("(module)")
    for file in (component, text, tmp_path / "missing.wasm"):
        assert _fast.try_run([str(file)]) is None


def omniwasm(*args: str, importtime: bool = False) -> subprocess.CompletedProcess[str]:
    """Run the CLI in a fresh interpreter (optionally under ``-X importtime``)."""
    flags = ["-X", "importtime"] if importtime else []
    return subprocess.run(
        [sys.executable, *flags, "-m", "omniwasm", *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def hello(tmp_path: Path) -> Path:
    """HELLO as a binary module file."""
    path = tmp_path / "hello.wasm"
    path.write_bytes(wasmtime.wat2wasm(HELLO))
    return path


def test_fast_run_matches_the_typer_run(hello: Path) -> None:
    """Output and exit code are those of the typer command (forced with --wasi native)."""
    for guest_args in ([], ["a", "b"]):
        fast = omniwasm("run", str(hello), *guest_args)
        slow = omniwasm("run", "--wasi", "native", str(hello), *guest_args)
        assert (fast.returncode, fast.stdout) == (slow.returncode, slow.stdout)
    assert omniwasm("run", str(hello)).stdout == "hello\n"
    assert omniwasm("run", str(hello), "a", "b").returncode == 3


def test_fast_run_reports_errors_like_typer(hello: Path) -> None:
    """A policy error is one line and the same exit code on both paths."""
    fast = omniwasm("run", "--max-memory", "lots", str(hello))
    slow = omniwasm("run", "--wasi", "native", "--max-memory", "lots", str(hello))
    assert fast.returncode == slow.returncode == 78
    assert fast.stderr == slow.stderr


def test_core_module_run_imports_only_what_it_needs(hello: Path) -> None:
    """`-X importtime` of `omniwasm run hello.wasm` lists none of the modules it does not need."""
    done = omniwasm("run", str(hello), importtime=True)
    assert done.returncode == 0, done.stderr
    imported = {
        line.rsplit("|", 1)[1].strip()
        for line in done.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }
    assert "omniwasm.cli._fast" in imported
    unwanted = sorted(
        m for m in imported if any(m == n or m.startswith(n + ".") for n in NOT_NEEDED)
    )
    assert unwanted == []
