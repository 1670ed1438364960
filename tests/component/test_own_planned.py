"""The own runtime's planned functions: lowered imports made once per plan, bound per instance.

An instance makes only the native function of each ``canon lower`` and resource built-in;
its callback is bound to the instance the first time wasm calls it, and the table of an
instance's callbacks goes when its store is freed.
"""

from __future__ import annotations

import gc
import subprocess
import weakref
from pathlib import Path
from typing import Any

import pytest

import omniwasm
from fixtures.toolchain import wasm_tools
from omniwasm._engine.component.own import rawhost

# Two lowered host functions: "double" is called by "run", "never" by nothing the tests call.
WAT = """(component
  (import "double" (func $double (param "x" u32) (result u32)))
  (import "never" (func $never (param "x" string) (result string)))
  (core module $mem (memory (export "memory") 1)
    (func (export "realloc") (param i32 i32 i32 i32) (result i32) (i32.const 64)))
  (core instance $mi (instantiate $mem))
  (alias core export $mi "memory" (core memory $memory))
  (alias core export $mi "realloc" (core func $realloc))
  (core func $d (canon lower (func $double)))
  (core func $n (canon lower (func $never) (memory $memory) (realloc $realloc)))
  (core module $main
    (import "host" "double" (func $d (param i32) (result i32)))
    (import "host" "never" (func $n (param i32 i32 i32)))
    (func (export "run") (param i32) (result i32) (call $d (local.get 0)))
    (func (export "other") (param i32 i32) (call $n (local.get 0) (local.get 1) (i32.const 0))))
  (core instance $m (instantiate $main
    (with "host" (instance (export "double" (func $d)) (export "never" (func $n))))))
  (func (export "run") (param "x" u32) (result u32) (canon lift (core func $m "run"))))"""


def _compiled(tmp_path: Path) -> tuple[omniwasm.Runtime, Any]:
    src, out = tmp_path / "planned.wat", tmp_path / "planned.wasm"
    src.write_text(WAT)
    subprocess.run([wasm_tools(), "parse", str(src), "-o", str(out)], check=True)
    rt = omniwasm.Runtime(components="omniwasm")
    return rt, rt.load(out)


def _linker(factor: int) -> omniwasm.Linker:
    return omniwasm.Linker().define("double", lambda x: x * factor).define("never", str.upper)


def _calls_of(inst: omniwasm.Instance) -> rawhost.PlannedCalls:
    own = inst._inner
    found = [c for c in rawhost._PLANNED.values() if c.owner() is own]
    assert len(found) == 1
    return found[0]


def test_a_lowered_import_is_bound_only_when_wasm_first_calls_it(tmp_path: Path) -> None:
    """After instantiation no callback is bound; a call binds the one it reaches, only it."""
    rt, compiled = _compiled(tmp_path)
    inst = rt.instantiate(compiled, imports=_linker(2))
    calls = _calls_of(inst)
    assert list(calls) == [None, None]
    assert inst.exports.run(21) == 42
    assert [c is not None for c in calls] == [True, False]


def test_instances_of_one_plan_call_their_own_host_functions(tmp_path: Path) -> None:
    """Two instances of one compiled component, each with its linker, reach their own host."""
    rt, compiled = _compiled(tmp_path)
    two = rt.instantiate(compiled, imports=_linker(2))
    three = rt.instantiate(compiled, imports=_linker(3))
    assert (three.exports.run(5), two.exports.run(5), three.exports.run(1)) == (15, 10, 3)


def test_closing_an_instance_releases_its_planned_callbacks(tmp_path: Path) -> None:
    """Once the store is freed the instance's callback table leaves the global registry."""
    rt, compiled = _compiled(tmp_path)
    inst = rt.instantiate(compiled, imports=_linker(2))
    inst.exports.run(1)
    calls = _calls_of(inst)
    inst.close()
    assert not any(c is calls for c in rawhost._PLANNED.values())


def test_an_unclosed_instance_is_freed_with_its_planned_callbacks(tmp_path: Path) -> None:
    """A called, dropped and unclosed instance is collected: its callbacks hold it weakly."""
    rt, compiled = _compiled(tmp_path)
    inst = rt.instantiate(compiled, imports=_linker(2))
    assert inst.exports.run(2) == 4
    calls = _calls_of(inst)
    gone = weakref.ref(inst._inner)
    del inst
    gc.collect()
    assert gone() is None
    assert not any(c is calls for c in rawhost._PLANNED.values())


def test_a_missing_host_function_is_a_link_error_at_instantiation(tmp_path: Path) -> None:
    """A linker without a lowered function's host function fails to instantiate: LinkError."""
    rt, compiled = _compiled(tmp_path)
    linker = omniwasm.Linker().define("double", lambda x: x)
    with pytest.raises(omniwasm.LinkError, match="never"):
        rt.instantiate(compiled, imports=linker)
