"""Modules whose signatures use v128, GC and typed references never abort the host process.

wasmtime's C API aborts (SIGABRT) when asked the kind of such a value type, and panics reading a
64-bit table's limits. Each scenario runs in a subprocess, so an abort fails the test instead of
killing the test run; every entry point must end in success or a typed ``OmniwasmError``.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import wasmtime

from omniwasm import LinkError, Runtime, ValueConversionError, inspect

V128_IMPORT = '(module (import "env" "g" (func (param v128))))'
ANYREF_TABLE = '(module (table (export "t") 1 anyref))'
MIXED = """(module
  (type $s (struct (field i32)))
  (import "env" "h" (func (param v128) (result anyref)))
  (import "env" "tag" (tag (param i64)))
  (memory (export "memory") 1)
  (func (export "_start"))
  (func (export "simd") (param v128) (result v128) local.get 0)
  (func (export "gc") (param anyref) (result eqref) ref.null eq)
  (func (export "typed") (param (ref null $s)))
  (func (export "add") (param i32 i32) (result i32) (i32.add (local.get 0) (local.get 1)))
  (global (export "g") (mut i31ref) (ref.i31 (i32.const 7)))
  (table (export "t") 2 (ref null $s))
  (tag (export "e") (param v128))
)"""
RUNNABLE = """(module
  (memory (export "memory") 1)
  (func (export "_start"))
  (func (export "simd") (param v128) (result v128) local.get 0)
  (func (export "swap") (param v128 i32) (result i32 v128) local.get 1 local.get 0)
  (func (export "gc") (param anyref) (result eqref) ref.null eq)
  (func (export "mixed") (param v128 funcref))
  (global (export "g") (mut eqref) (ref.null eq))
  (table (export "big") i64 1 4294967297 funcref)
)"""

# One script per entry point: it prints "ok" or the error class; anything else is a failure.
SCRIPT = """
import sys, omniwasm
from omniwasm import OmniwasmError, Policy, Runtime
path, what = sys.argv[1], sys.argv[2]
rt = Runtime(cache=False)
try:
    if what == "inspect":
        info = omniwasm.inspect(path)
        print([e.type for e in (*info.imports, *info.exports)])
    elif what == "compiled":
        code = rt.load(path)
        print([e.type for e in (*code.imports, *code.exports)])
    elif what == "run":
        print(rt.run(path).exit_code)
    elif what == "instantiate":
        with rt.instantiate(path) as inst:
            print(sorted(inst.exports))
            for name in sorted(inst.exports):
                try:
                    inst.func(name)
                    getattr(inst.exports, name)
                except OmniwasmError as exc:
                    print(name, type(exc).__name__)
    elif what == "host-imports":
        rt.instantiate(path, imports={"env": {"g": lambda *a: None, "h": lambda *a: None}})
    elif what == "plugin":
        from omniwasm.plugins import Plugin
        Plugin(path).close()
    print("ok")
except OmniwasmError as exc:
    print("typed", type(exc).__name__)
"""


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", SCRIPT, *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _module(tmp_path: Path, wat: str) -> Path:
    path = tmp_path / "m.wasm"
    path.write_bytes(wasmtime.wat2wasm(textwrap.dedent(wat)))
    return path


ENTRY_POINTS = ["inspect", "compiled", "run", "instantiate", "host-imports", "plugin"]


@pytest.mark.parametrize("what", ENTRY_POINTS)
@pytest.mark.parametrize("wat", [V128_IMPORT, ANYREF_TABLE, MIXED, RUNNABLE], ids=range(4))
def test_entry_point_never_aborts(tmp_path: Path, wat: str, what: str) -> None:
    """Every entry point ends in success or a typed error for v128/GC signatures, never SIGABRT."""
    proc = _run(str(_module(tmp_path, wat)), what)
    assert proc.returncode == 0, proc.stderr[-2000:]
    last = proc.stdout.strip().splitlines()[-1]
    assert last == "ok" or last.startswith("typed "), proc.stdout


@pytest.mark.parametrize("command", [["inspect"], ["run"], ["invoke", "simd", "5"]])
def test_cli_never_aborts(omniwasm_cli: list[str], tmp_path: Path, command: list[str]) -> None:
    """The CLI exits with a documented code (never 134 from an abort) on such modules."""
    path = _module(tmp_path, MIXED)
    proc = subprocess.run(
        [*omniwasm_cli, command[0], str(path), *command[1:]],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode >= 0, proc.stderr[-2000:]
    assert "not implemented" not in proc.stderr
    assert "Traceback" not in proc.stderr


def test_types_are_rendered_from_the_binary() -> None:
    """inspect shows v128, GC, typed-reference, tag, 64-bit table and memory types exactly."""
    info = inspect(
        RUNNABLE.replace('(memory (export "memory") 1', '(memory (export "memory") i64 1')
    )
    types = {e.name: e.type for e in info.exports}
    assert types["simd"] == "func(v128) -> (v128)"
    assert types["gc"] == "func(anyref) -> (eqref)"
    assert types["g"] == "global(mut eqref)"
    assert types["big"] == "table(i64 1, 4294967297, funcref)"
    assert types["memory"] == "memory(i64 1)"
    assert inspect(ANYREF_TABLE).exports[0].type == "table(1, anyref)"
    mixed = inspect(MIXED)
    imports = {e.name: e.type for e in mixed.imports}
    assert imports == {"h": "func(v128) -> (anyref)", "tag": "tag(i64) -> ()"}
    exports = {e.name: e.type for e in mixed.exports}
    assert exports["typed"] == "func((ref null $0)) -> ()"
    assert exports["t"] == "table(2, (ref null $0))"
    assert exports["e"] == "tag(v128) -> ()"


def test_v128_functions_are_called_with_ints() -> None:
    """A v128 parameter takes an int (or 16 bytes) and a v128 result comes back as an int."""
    with Runtime().instantiate(RUNNABLE) as inst:
        assert inst.exports.simd(5) == 5
        assert inst.exports.simd(-1) == (1 << 128) - 1
        assert inst.exports.simd(bytes(range(16))) == int.from_bytes(bytes(range(16)), "little")
        assert inst.exports.swap(1 << 100, 7) == (7, 1 << 100)
        with pytest.raises(ValueConversionError):
            inst.exports.simd(1 << 128)
        with pytest.raises(ValueConversionError):
            inst.exports.simd(1.5)


def test_gc_reference_functions_raise_a_typed_error() -> None:
    """A GC reference, or v128 beside a funcref, in a signature raises ValueConversionError."""
    with (
        Runtime().instantiate(RUNNABLE) as inst,
        pytest.raises(ValueConversionError, match="anyref"),
    ):
        inst.exports.gc(None)


def test_python_host_function_for_a_v128_import_is_a_link_error() -> None:
    """A Python host function cannot implement an import with v128 or GC types: LinkError."""
    with pytest.raises(LinkError) as info:
        Runtime().instantiate(V128_IMPORT, imports={"env": {"g": lambda v: None}})
    assert info.value.missing[0].type == "func(v128) -> ()"
