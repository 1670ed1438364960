"""The own runtime's pre-instantiated form: a component's definitions compiled once per plan.

Each component is checked on both backends where a result is compared, so the compiled
program is held to what wasmtime's own component instantiation does.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

import omniwasm
from fixtures.toolchain import wasm_tools
from omniwasm import HostFunctionError, Trap
from omniwasm._engine.component.own.plan import own_plan

LIB_FUNCS = 300

# $lib exports many functions; $main imports some through a bag (renamed), some from $lib
# directly (a whole instance as the argument), and a lowered host function through another bag.
BAG_WAT = (
    """(component
  (import "host" (func $host (param "x" u32) (result u32)))
  (core module $lib
    (global (export "base") i32 (i32.const 1000))
"""
    + "".join(
        f'    (func (export "f{i}") (param i32) (result i32) '
        f"(i32.add (local.get 0) (i32.const {i})))\n"
        for i in range(LIB_FUNCS)
    )
    + """  )
  (core instance $l (instantiate $lib))
  (core func $h (canon lower (func $host)))
  (core module $main
    (import "env" "plus5" (func $plus5 (param i32) (result i32)))
    (import "env" "base" (global $base i32))
    (import "lib" "f7" (func $f7 (param i32) (result i32)))
    (import "host" "h" (func $h (param i32) (result i32)))
    (func (export "run") (param i32) (result i32)
      (i32.add (global.get $base)
        (call $h (call $f7 (call $plus5 (local.get 0)))))))
  (core instance $m (instantiate $main
    (with "env" (instance
      (export "plus5" (func $l "f5"))
      (export "base" (global $l "base"))))
    (with "lib" (instance $l))
    (with "host" (instance (export "h" (func $h))))))
  (func (export "run") (param "x" u32) (result u32) (canon lift (core func $m "run")))
  (func (export "unused") (param "x" u32) (result u32) (canon lift (core func $l "f9"))))"""
)

START_WAT = """(component
  (import "log" (func $log (param "x" u32)))
  (core func $log_core (canon lower (func $log)))
  (core module $m
    (import "host" "log" (func $log (param i32)))
    (global $seen (mut i32) (i32.const 0))
    (func $init (call $log (i32.const 7)) (global.set $seen (i32.const 1)))
    (start $init)
    (func (export "seen") (result i32) (global.get $seen)))
  (core instance $i (instantiate $m (with "host" (instance (export "log" (func $log_core))))))
  (func (export "seen") (result u32) (canon lift (core func $i "seen"))))"""

TRAP_START_WAT = """(component
  (core module $m
    (func $init unreachable)
    (start $init)
    (func (export "f") (result i32) (i32.const 1)))
  (core instance $i (instantiate $m))
  (func (export "f") (result u32) (canon lift (core func $i "f"))))"""


def _build(tmp_path: Path, name: str, text: str) -> Path:
    src, out = tmp_path / f"{name}.wat", tmp_path / f"{name}.wasm"
    src.write_text(text)
    subprocess.run([wasm_tools(), "parse", str(src), "-o", str(out)], check=True)
    return out


def _own(path: Path) -> tuple[omniwasm.Runtime, Any]:
    rt = omniwasm.Runtime(components="omniwasm")
    return rt, rt.load(path)


@pytest.mark.parametrize("backend", ["omniwasm", "stock"])
def test_imports_through_bags_and_whole_instances_reach_the_right_functions(
    tmp_path: Path, backend: str
) -> None:
    """Imports resolved through a renaming bag, a whole instance and a host bag all link."""
    path = _build(tmp_path, "bag", BAG_WAT)
    linker = omniwasm.Linker().define("host", lambda x: x * 2)
    rt = omniwasm.Runtime(components=backend)
    inst = rt.instantiate(rt.load(path), imports=linker)
    assert inst.component_backend == backend
    assert inst.exports.run(1) == 1000 + (1 + 5 + 7) * 2
    assert inst.exports.unused(1) == 10


def test_only_the_core_exports_something_uses_are_fetched(tmp_path: Path) -> None:
    """Of $lib's 301 exports an instance fetches only the four its imports and lifts use."""
    rt, compiled = _own(_build(tmp_path, "bag", BAG_WAT))
    linker = omniwasm.Linker().define("host", lambda x: x)
    rt.instantiate(compiled, imports=linker).close()
    program = own_plan(compiled._artifact).program
    fetched = sorted(name for step in program.fetched for name in step)
    assert fetched == [b"base", b"f5", b"f7", b"f9", b"run"]


def test_instances_of_one_component_share_one_compiled_program(tmp_path: Path) -> None:
    """The second instance runs the program the first compiled, and both work alone."""
    rt, compiled = _own(_build(tmp_path, "bag", BAG_WAT))
    linker = omniwasm.Linker().define("host", lambda x: x + 1)
    first = rt.instantiate(compiled, imports=linker)
    program = own_plan(compiled._artifact).program
    second = rt.instantiate(compiled, imports=linker)
    assert own_plan(compiled._artifact).program is program
    first.close()
    assert second.exports.run(0) == 1000 + (0 + 5 + 7) + 1


@pytest.mark.parametrize("backend", ["omniwasm", "stock"])
def test_a_start_function_calls_the_host_while_instantiating(tmp_path: Path, backend: str) -> None:
    """A core start function's call of a lowered import reaches the Python host function."""
    path = _build(tmp_path, "start", START_WAT)
    calls: list[int] = []
    linker = omniwasm.Linker().define("log", calls.append)
    rt = omniwasm.Runtime(components=backend)
    inst = rt.instantiate(rt.load(path), imports=linker)
    assert calls == [7]
    assert inst.exports.seen() == 1


def test_a_host_error_in_a_start_function_is_a_host_function_error(tmp_path: Path) -> None:
    """A host function raising during instantiation surfaces as HostFunctionError."""
    rt, compiled = _own(_build(tmp_path, "start", START_WAT))

    def log(x: int) -> None:
        raise ValueError(f"no {x}")

    linker = omniwasm.Linker().define("log", log)
    with pytest.raises(HostFunctionError, match="ValueError: no 7"):
        rt.instantiate(compiled, imports=linker)


@pytest.mark.parametrize("backend", ["omniwasm", "stock"])
def test_a_trapping_start_function_is_a_trap(tmp_path: Path, backend: str) -> None:
    """A core start function that traps makes instantiation raise Trap."""
    path = _build(tmp_path, "trap", TRAP_START_WAT)
    rt = omniwasm.Runtime(components=backend)
    with pytest.raises(Trap):
        rt.instantiate(rt.load(path))


@pytest.mark.parametrize("backend", ["omniwasm", "auto"])
def test_load_compiles_the_program_before_any_instance(tmp_path: Path, backend: str) -> None:
    """A runtime that may use the own backend compiles the component's program at load."""
    compiled = omniwasm.Runtime(components=backend).load(_build(tmp_path, "bag", BAG_WAT))
    assert own_plan(compiled._artifact).program is not None


def test_a_stock_runtime_does_not_compile_a_program(tmp_path: Path) -> None:
    """components='stock' leaves the own runtime's plan unbuilt at load."""
    compiled = omniwasm.Runtime(components="stock").load(_build(tmp_path, "bag", BAG_WAT))
    assert "own-plan" not in compiled._artifact.prepared


# $lib's "f3" is imported twice by $a (under two names) and again by $b: one fetch, two copies.
SHARED_WAT = """(component
  (core module $lib
    (func (export "f3") (param i32) (result i32) (i32.add (local.get 0) (i32.const 3))))
  (core instance $l (instantiate $lib))
  (core module $a
    (import "lib" "f3" (func $x (param i32) (result i32)))
    (import "again" "g" (func $y (param i32) (result i32)))
    (func (export "a") (param i32) (result i32) (call $y (call $x (local.get 0)))))
  (core instance $ia (instantiate $a
    (with "lib" (instance $l))
    (with "again" (instance (export "g" (func $l "f3"))))))
  (core module $b
    (import "a" "a" (func $a (param i32) (result i32)))
    (import "lib" "f3" (func $x (param i32) (result i32)))
    (func (export "b") (param i32) (result i32) (call $x (call $a (local.get 0)))))
  (core instance $ib (instantiate $b (with "a" (instance $ia)) (with "lib" (instance $l))))
  (func (export "b") (param "x" u32) (result u32) (canon lift (core func $ib "b"))))"""


@pytest.mark.parametrize("backend", ["omniwasm", "stock"])
def test_an_export_imported_several_times_reaches_every_import(
    tmp_path: Path, backend: str
) -> None:
    """One core export imported twice by one module and once by another links all three."""
    rt = omniwasm.Runtime(components=backend)
    inst = rt.instantiate(rt.load(_build(tmp_path, "shared", SHARED_WAT)))
    assert inst.exports.b(1) == 1 + 3 + 3 + 3


def test_each_core_module_imports_one_contiguous_run_of_slots(tmp_path: Path) -> None:
    """The program gives each module's imports adjacent slots; a shared export is copied."""
    _rt, compiled = _own(_build(tmp_path, "shared", SHARED_WAT))
    program = own_plan(compiled._artifact).program
    steps = program.core_steps
    assert [(s.start, s.count) for s in steps] == [(0, 0), (0, 2), (2, 2)]
    assert [len(s.copies) for s in steps] == [0, 1, 1]
    assert [len(s.fetch) for s in steps] == [1, 1, 1]
