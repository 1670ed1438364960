"""Errors that say what to do.

--wasi for plugins, --invoke for non-commands, what a non-wasm file looks like, and a
multi-line LinkError's summary line first.
"""

from __future__ import annotations

import gzip
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from omniwasm import LinkError
from omniwasm.cli._exit import report

CLI = list[str]

WASI_PLUGIN = """(module
  (import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "f") (result i32) i32.const 0))"""
NOT_A_COMMAND = """(component
  (core module $m (func (export "f")))
  (core instance $i (instantiate $m))
  (func (export "greet") (canon lift (core func $i "f"))))"""


def _run(cli: CLI, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*cli, *args], capture_output=True, text=True, timeout=60, check=False)


def test_plugin_call_of_a_wasi_module_suggests_wasi(omniwasm_cli: CLI, tmp_path: Path) -> None:
    """`plugin call` of a plugin importing WASI p1, without --wasi, says to add --wasi."""
    wat = tmp_path / "p.wat"
    wat.write_text(WASI_PLUGIN)
    proc = _run(omniwasm_cli, "plugin", "call", str(wat), "f")
    assert proc.returncode == 69
    assert "give it WASI with --wasi" in proc.stderr.splitlines()[0]


@pytest.mark.parametrize(
    ("source", "name", "wasi"),
    [
        (NOT_A_COMMAND, "greet", "native"),
        (NOT_A_COMMAND, "greet", "virtual"),
        ('(module (func (export "add")))', "add", "native"),
    ],
    ids=["component-native", "component-virtual", "module"],
)
def test_run_of_a_non_command_suggests_invoke(
    omniwasm_cli: CLI, tmp_path: Path, source: str, name: str, wasi: str
) -> None:
    """`run` of something without wasi:cli/run or _start suggests --invoke with its exports."""
    wat = tmp_path / "x.wat"
    wat.write_text(source)
    proc = _run(omniwasm_cli, "run", "--wasi", wasi, str(wat))
    assert proc.returncode == 65
    assert f"--invoke '{name}(...)'" in proc.stderr
    assert f"(exports: {name})" in proc.stderr


def _zip(path: Path) -> None:
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("a.txt", "a")


@pytest.mark.parametrize(
    ("make", "says"),
    [
        (
            lambda p: p.write_text("#!/usr/bin/env python3\nprint(1)\n"),
            "a text file starting with '#!/usr/bin/env python3'",
        ),
        (_zip, "a zip archive"),
        (lambda p: p.write_bytes(gzip.compress(b"data")), "gzip-compressed data"),
        (lambda p: p.write_text('{"wasm": [{"path": "x.wasm"}]}'), "JSON text"),
        (
            lambda p: p.write_bytes(Path(sys.executable).resolve().read_bytes()),
            "an ELF executable or library, not a wasmtime .cwasm",
        ),
        (
            lambda p: p.write_bytes(b"\x00\x01\x02\x03garbage"),
            "binary data that is not WebAssembly",
        ),
    ],
    ids=["text", "zip", "gzip", "json", "elf", "binary"],
)
def test_a_non_wasm_file_is_described(
    omniwasm_cli: CLI, tmp_path: Path, make: object, says: str
) -> None:
    """`run` of a file that is not WebAssembly says what the file looks like (InvalidModule)."""
    path = tmp_path / "prog.wasm"
    make(path)  # type: ignore[operator]
    proc = _run(omniwasm_cli, "run", str(path))
    assert proc.returncode == 65
    assert says in proc.stderr


def test_a_multi_line_link_error_prints_its_summary_first(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A LinkError with a multi-line engine message: the summary on the error line, details under it."""
    detail = "\ncomponent imports instance `a:b/c`, but it is missing\n\nCaused by:\n    0: no such thing\n"
    report(LinkError((), detail))
    lines = capsys.readouterr().err.splitlines()
    assert lines == [
        "omniwasm: error: LinkError: link failed: component imports instance `a:b/c`, but it is missing",
        "  Caused by:",
        "      0: no such thing",
    ]
