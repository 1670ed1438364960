"""module_interface: a core module's imports and function exports read from the binary.

It is a fast path beside the engine's own answer, so every test compares the two, or checks
that the reader declines (None) where it does not follow the binary.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import wasmtime

from conftest import build_c_module
from fixtures.extism_plugins import build_plugin
from omniwasm._engine._linkcore import _engine_interface
from omniwasm._engine._modscan import module_interface

C_SOURCES = Path(__file__).parent.parent / "fixtures" / "c"

EVERY_IMPORT_KIND = """(module
  (import "a" "f" (func (param i32 i64 f32 f64) (result i64)))
  (import "a" "g" (func))
  (import "b" "mem" (memory 1 4))
  (import "b" "tab" (table 2 funcref))
  (import "b" "glob" (global (mut i64)))
  (import "b" "ext" (table 1 10 externref))
  (import "c" "h" (func (param i32) (result i32 i32)))
  (func (export "run") (param f64) (result f64) local.get 0)
  (func $h2 (export "first") (result i32) i32.const 1)
  (export "again" (func $h2))
  (export "reimport" (func 1))
  (memory (export "m") 1)
)"""


def engine_answer(wasm: bytes) -> object:
    """What wasmtime-py reports for the same binary."""
    return _engine_interface(wasmtime.Module(wasmtime.Engine(), wasm))


@pytest.mark.parametrize("name", ["count_vowels", "http", "user_fn", "wasi_write"])
def test_plugin_fixtures_match_the_engine(name: str) -> None:
    """For the WAT plugin fixtures, the reader gives exactly the engine's answer."""
    wasm = build_plugin(name).read_bytes()
    assert module_interface(wasm) == engine_answer(wasm)


def test_every_import_kind_and_reexported_functions_match_the_engine() -> None:
    """Functions, memories, tables, globals as imports, and exports of imported functions."""
    wasm = wasmtime.wat2wasm(EVERY_IMPORT_KIND)
    found = module_interface(wasm)
    assert found == engine_answer(wasm)
    assert found is not None
    assert found.func_exports["reimport"] == ((), ())


def test_a_c_program_matches_the_engine() -> None:
    """A zig-built WASI program (custom sections, big code section) matches too."""
    wasm = build_c_module(C_SOURCES / "hello.c").read_bytes()
    assert module_interface(wasm) == engine_answer(wasm)


def test_gc_types_are_left_to_the_engine() -> None:
    """A module with a GC rec group is declined (None), never misread."""
    wat = '(module (rec (type (struct))) (func (export "f")))'
    assert module_interface(wasmtime.wat2wasm(wat)) is None


@pytest.mark.parametrize("data", [b"", b"\0asm", b"\0asm\x01\0\0\0\x01\x05", b"junk" * 10])
def test_malformed_input_is_declined(data: bytes) -> None:
    """Truncated or foreign bytes give None rather than an exception."""
    assert module_interface(data) is None
