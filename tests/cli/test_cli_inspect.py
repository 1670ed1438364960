"""``omniwasm inspect FILE [--json]``: human and JSON output, precompiled input, errors."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

import omniwasm

CORE_WAT = """
(module
  (import "env" "log" (func (param i32)))
  (memory (export "memory") 1 2)
  (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add)
  (@custom "note" "hello")
)
"""

COMPONENT_WAT = """
(component
  (core module $m
    (memory (export "memory") 1)
    (func (export "realloc") (param i32 i32 i32 i32) (result i32) unreachable)
    (func (export "pick") (param i32 i32 i32) (result i32) unreachable))
  (core instance $i (instantiate $m))
  (alias core export $i "memory" (core memory $mem))
  (alias core export $i "realloc" (core func $realloc))
  (type $pair (tuple u32 (option string)))
  (func $pick (param "items" (list $pair)) (param "strict" bool) (result (result string (error u8)))
    (canon lift (core func $i "pick") (memory $mem) (realloc $realloc)))
  (export "pick" (func $pick))
)
"""


def run_cli(cli: list[str], *args: str) -> subprocess.CompletedProcess[str]:
    """Run the omniwasm CLI in a subprocess and capture its output as text."""
    return subprocess.run([*cli, *args], capture_output=True, text=True, check=False, timeout=120)


@pytest.fixture
def core_wat(tmp_path: Path) -> Path:
    """A .wat file of a small core module."""
    path = tmp_path / "add.wat"
    path.write_text(CORE_WAT)
    return path


def test_inspect_core_text_output(omniwasm_cli: list[str], core_wat: Path) -> None:
    """Human output shows kind, size, sha256, typed imports/exports and custom sections."""
    proc = run_cli(omniwasm_cli, "inspect", str(core_wat))
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    compiled = omniwasm.Runtime().load(core_wat)
    assert "kind    module (from WebAssembly text)" in out
    assert f"sha256  {compiled.sha256}" in out
    assert "env  log  func(i32) -> ()" in out
    assert "add     func(i32, i32) -> (i32)" in out
    assert "memory  memory(1, 2)" in out
    assert "note  5 bytes" in out
    assert "producers: (none)" in out


def test_inspect_json_is_one_object(omniwasm_cli: list[str], core_wat: Path) -> None:
    """--json prints exactly one JSON object with the module's description."""
    proc = run_cli(omniwasm_cli, "inspect", str(core_wat), "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["kind"] == "module" and data["format"] == "text"
    assert data["world"] is None
    assert {"module": "", "name": "add", "type": "func(i32, i32) -> (i32)"} in data["exports"]
    assert data["custom_sections"] == [{"name": "note", "size": 5, "where": ""}]
    assert isinstance(data["size"], int) and len(data["sha256"]) == 64


def test_inspect_component_shows_wit_world(omniwasm_cli: list[str], tmp_path: Path) -> None:
    """A component's human output is its world in WIT, with lists, tuples, options, results."""
    path = tmp_path / "pick.wat"
    path.write_text(COMPONENT_WAT)
    proc = run_cli(omniwasm_cli, "inspect", str(path))
    assert proc.returncode == 0, proc.stderr
    assert "kind    component (from WebAssembly text)" in proc.stdout
    assert "world (WIT):" in proc.stdout
    assert (
        "export pick: func(items: list<tuple<u32, option<string>>>, strict: bool)"
        " -> result<string, u8>;"
    ) in proc.stdout


def test_inspect_precompiled(omniwasm_cli: list[str], tmp_path: Path) -> None:
    """A .cwasm is described from the engine, and the output says sections are unavailable."""
    path = tmp_path / "add.cwasm"
    path.write_bytes(omniwasm.Runtime().compile(CORE_WAT))
    proc = run_cli(omniwasm_cli, "inspect", str(path))
    assert proc.returncode == 0, proc.stderr
    assert "kind    module (precompiled)" in proc.stdout
    assert "add     func(i32, i32) -> (i32)" in proc.stdout
    assert "not in a .cwasm" in proc.stdout
    data = json.loads(run_cli(omniwasm_cli, "inspect", str(path), "--json").stdout)
    assert data["precompiled"] is True and data["custom_sections"] == []


def test_inspect_zig_module_producers(
    omniwasm_cli: list[str], c_module: Callable[[str], Path]
) -> None:
    """The producers of a zig-built module are printed by field with versions."""
    proc = run_cli(omniwasm_cli, "inspect", str(c_module("inspect_hello")))
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    start = lines.index("producers:")
    block = "\n".join(lines[start:])
    assert "language:" in block and "C11" in block
    assert "processed-by:" in block and "clang " in block


def test_inspect_missing_file_fails(omniwasm_cli: list[str], tmp_path: Path) -> None:
    """A missing file is one error line on stderr and a non-zero exit code."""
    proc = run_cli(omniwasm_cli, "inspect", str(tmp_path / "nope.wasm"))
    assert proc.returncode != 0
    assert "file not found" in proc.stderr
    assert proc.stdout == ""
