"""module_interface: a core module's imports and exports with types, read from the binary.

The engine's own answer (read through calls that never abort) must agree with it, so every test
compares the two, or checks that the reader declines (None) bytes that are not a module.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import wasmtime

from fixtures.extism_plugins import build_plugin
from fixtures.toolchain import build_c_module
from omniwasm._binary.module import ModuleInterface, module_interface
from omniwasm._engine.core.types import _native_interface

C_SOURCES = Path(__file__).parents[1] / "fixtures" / "c"

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


def engine_answer(wasm: bytes) -> ModuleInterface:
    """What the engine reports for the same binary."""
    return _native_interface(wasmtime.Module(wasmtime.Engine(), wasm))


def agrees(found: ModuleInterface | None, engine: ModuleInterface) -> bool:
    """The reader's answer says what the engine says (which lacks table limits and indices)."""
    assert found is not None

    def items(m: ModuleInterface) -> list[tuple[str, str, str, str]]:
        return [
            (e.module, e.name, e.kind, "" if e.kind == "table" else e.type)
            for e in (*m.import_types, *m.export_types)
        ]

    return (
        found.imports == engine.imports
        and found.func_exports == engine.func_exports
        and items(found) == items(engine)
    )


@pytest.mark.parametrize("name", ["count_vowels", "http", "user_fn", "wasi_write"])
def test_plugin_fixtures_match_the_engine(name: str) -> None:
    """For the WAT plugin fixtures, the reader gives exactly the engine's answer."""
    wasm = build_plugin(name).read_bytes()
    assert agrees(module_interface(wasm), engine_answer(wasm))


def test_every_import_kind_and_reexported_functions_match_the_engine() -> None:
    """Functions, memories, tables, globals as imports, and exports of imported functions."""
    wasm = wasmtime.wat2wasm(EVERY_IMPORT_KIND)
    found = module_interface(wasm)
    assert agrees(found, engine_answer(wasm))
    assert found is not None
    assert found.func_exports["reimport"] == ((), ())


def test_a_c_program_matches_the_engine() -> None:
    """A zig-built WASI program (custom sections, big code section) matches too."""
    wasm = build_c_module(C_SOURCES / "hello.c").read_bytes()
    assert agrees(module_interface(wasm), engine_answer(wasm))


GC_AND_FRIENDS = """(module
  (rec (type $s (sub (struct (field (mut i32)) (field i8)))) (type $a (array (ref null $s))))
  (type $f (func (param (ref $s)) (result (ref null $a))))
  (import "m" "f" (func (type $f)))
  (import "m" "e" (tag (param v128 exnref)))
  (import "m" "mem" (memory i64 1 2))
  (import "m" "sh" (memory 1 4 shared))
  (import "m" "g" (global (ref null any)))
  (func (export "f2") (param i31ref structref arrayref nullref) (result (ref func)) unreachable)
  (global (export "k") (ref null $s) (struct.new $s (i32.const 1) (i32.const 2)))
  (global (export "v") v128 (v128.const i64x2 1 2))
  (table (export "t") 3 (ref null $s) (ref.null $s))
  (tag (export "e2") (param i32))
  (export "e" (tag 0))
  (export "mem" (memory 0))
)"""


def test_gc_simd_exception_and_memory64_types_match_the_engine() -> None:
    """GC rec groups, typed references, tags, v128, memory64 and shared memories are read."""
    wasm = wasmtime.wat2wasm(GC_AND_FRIENDS)
    found = module_interface(wasm)
    assert found is not None
    mine = {(e.module, e.name): e.type for e in (*found.import_types, *found.export_types)}
    assert mine[("m", "f")] == "func((ref $0)) -> ((ref null $1))"
    assert mine[("m", "e")] == "tag(v128, exnref) -> ()"
    assert mine[("m", "mem")] == mine[("", "mem")] == "memory(i64 1, 2)"
    assert mine[("m", "sh")] == "memory(1, 4) shared"
    assert mine[("", "f2")] == "func(i31ref, structref, arrayref, nullref) -> ((ref func))"
    assert mine[("", "k")] == "global((ref null $0))"
    assert mine[("", "t")] == "table(3, (ref null $0))"
    engine = engine_answer(wasm)
    # The engine does not know type indices: compare what it does know.
    assert [(e.module, e.name, e.kind) for e in engine.import_types] == [
        (e.module, e.name, e.kind) for e in found.import_types
    ]
    assert engine.imports[1:] == found.imports[1:]  # all but the typed-reference function
    assert engine.func_exports["f2"] == found.func_exports["f2"]


@pytest.mark.parametrize("data", [b"", b"\0asm", b"\0asm\x01\0\0\0\x01\x05", b"junk" * 10])
def test_malformed_input_is_declined(data: bytes) -> None:
    """Truncated or foreign bytes give None rather than an exception."""
    assert module_interface(data) is None
