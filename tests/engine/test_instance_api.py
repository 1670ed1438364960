"""Instances of core modules: fast calls, exports, imports from Python, lifetimes."""

from __future__ import annotations

import pytest

import omniwasm
from omniwasm import LinkError, OmniwasmError, Runtime, Trap, ValueConversionError

WAT = """
(module $demo
  (import "env" "scale" (func $scale (param i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add)
  (func (export "add64") (param i64 i64) (result i64) local.get 0 local.get 1 i64.add)
  (func (export "mixed") (param i32 f64) (result f64) local.get 0 f64.convert_i32_s local.get 1 f64.mul)
  (func (export "pair") (result i32 i64) i32.const 7 i64.const 8)
  (func (export "nothing"))
  (func (export "scaled") (param i32) (result i32) local.get 0 call $scale)
  (func $inner unreachable)
  (func (export "boom") call $inner))
"""


@pytest.fixture
def inst() -> omniwasm.Instance:
    """An instance of WAT whose ``scale`` import multiplies by 10."""
    rt = Runtime()
    return rt.instantiate(rt.load(WAT), imports={"env": {"scale": lambda x: x * 10}})


def test_fast_path_computes_with_numeric_signatures(inst: omniwasm.Instance) -> None:
    """i32, i64 and f64 signatures return the right values through the fast path."""
    assert inst.exports.add(2, 3) == 5
    assert inst.exports.add64(2**40, 1) == 2**40 + 1
    assert inst.exports.mixed(3, 1.5) == 4.5


def test_multiple_results_come_back_as_a_tuple(inst: omniwasm.Instance) -> None:
    """A function with several results returns a tuple; none returns None."""
    assert inst.exports.pair() == (7, 8)
    assert inst.exports.nothing() is None


def test_unsigned_i32_arguments_wrap_to_the_same_bits(inst: omniwasm.Instance) -> None:
    """An i32 argument in 2**31..2**32-1 is accepted as its two's-complement bits."""
    assert inst.exports.add(2**32 - 1, 1) == 0


@pytest.mark.parametrize("args", [(2**32, 0), ("1", 2), (1.5, 2), (None, 1)])
def test_out_of_range_or_wrong_type_arguments_are_rejected(
    inst: omniwasm.Instance, args: tuple[object, ...]
) -> None:
    """A value that does not fit i32 raises ValueConversionError naming the function and type."""
    with pytest.raises(ValueConversionError, match="add") as info:
        inst.exports.add(*args)
    assert info.value.expected == "i32"


def test_wrong_arity_is_a_conversion_error(inst: omniwasm.Instance) -> None:
    """Calling with too few arguments names the expected signature."""
    with pytest.raises(ValueConversionError, match=r"\(i32, i32\)"):
        inst.exports.add(1)


def test_python_host_function_is_called(inst: omniwasm.Instance) -> None:
    """An import supplied as a Python callable is typed from the module and called."""
    assert inst.exports.scaled(4) == 40


def test_host_function_exception_becomes_host_function_error() -> None:
    """A Python exception in a host function surfaces as HostFunctionError with the cause."""

    def broken(x: int) -> int:
        raise ValueError("host broke")

    rt = Runtime()
    inst = rt.instantiate(rt.load(WAT), imports={"env": {"scale": broken}})
    with pytest.raises(omniwasm.HostFunctionError, match="host broke") as info:
        inst.exports.scaled(1)
    assert isinstance(info.value.__cause__, ValueError)
    assert inst.exports.add(1, 1) == 2


def test_trap_carries_code_and_named_frames(inst: omniwasm.Instance) -> None:
    """A trap reports its code and a backtrace with the function names of the name section."""
    with pytest.raises(Trap) as info:
        inst.exports.boom()
    assert info.value.code == "unreachable"
    assert info.value.frames[0].func_name == "inner"
    assert info.value.frames[0].module_name == "demo"
    assert inst.exports.add(1, 2) == 3


def test_missing_imports_are_all_reported() -> None:
    """Without its imports, instantiation raises LinkError listing each with its type."""
    rt = Runtime()
    code = rt.load('(module (import "env" "f" (func (param i32))) (import "env" "g" (global i32)))')
    with pytest.raises(LinkError) as info:
        rt.instantiate(code)
    assert {(m.module, m.name, m.type) for m in info.value.missing} == {
        ("env", "f", "func(i32) -> ()"),
        ("env", "g", "global(i32)"),
    }


def test_calls_after_close_raise_cleanly(inst: omniwasm.Instance) -> None:
    """A function resolved before close() raises OmniwasmError afterwards instead of crashing."""
    add = inst.func("add")
    inst.close()
    inst.close()
    with pytest.raises(OmniwasmError, match="closed"):
        add(1, 2)
    with pytest.raises(OmniwasmError, match="closed"):
        inst.func("add")


def test_unknown_export_names_the_available_functions(inst: omniwasm.Instance) -> None:
    """Asking for a missing export lists the functions that do exist."""
    with pytest.raises(OmniwasmError, match="add64"):
        inst.func("sub")


def test_context_manager_closes(inst: omniwasm.Instance) -> None:
    """Leaving a with-block closes the instance."""
    with inst as i:
        assert i.exports.add(1, 1) == 2
    assert inst.closed


def test_compiled_code_from_another_runtime_settings_is_refused() -> None:
    """Code compiled for one engine configuration is not instantiated in another."""
    a = Runtime(fuel=True, cache=False)
    b = Runtime(fuel=False, cache=False)
    with pytest.raises(omniwasm.PolicyError, match="another Runtime"):
        b.instantiate(a.load("(module)"))


def test_fuel_policy_on_an_unmetered_runtime_is_a_policy_error() -> None:
    """A policy with fuel needs a Runtime with fuel metering, and says so."""
    rt = Runtime()
    with pytest.raises(omniwasm.PolicyError, match="fuel=True"):
        rt.instantiate(rt.load("(module)"), omniwasm.Policy(fuel=10))


def test_fuel_left_reports_consumption() -> None:
    """fuel_left decreases as the guest runs."""
    rt = Runtime(fuel=True)
    inst = rt.instantiate(rt.load(WAT), omniwasm.Policy(fuel=1000), imports={"env": {"scale": abs}})
    before = inst.fuel_left
    inst.exports.add(1, 2)
    assert before is not None and inst.fuel_left is not None and inst.fuel_left < before


def test_exports_after_close_raise_omniwasm_error(inst: omniwasm.Instance) -> None:
    """After close(), exports by attribute or key raise OmniwasmError, not AttributeError."""
    inst.close()
    with pytest.raises(OmniwasmError, match="closed"):
        inst.exports.add(1, 2)
    with pytest.raises(OmniwasmError, match="closed"):
        inst.exports["add"]


def test_instance_count_limit_is_limit_exceeded() -> None:
    """A policy allowing zero instances fails instantiation with LimitExceeded."""
    rt = Runtime()
    with pytest.raises(omniwasm.LimitExceeded, match="instance"):
        rt.instantiate(rt.load("(module)"), omniwasm.Policy(max_instances=0))


def test_start_function_runs_at_instantiation_and_its_trap_is_a_trap() -> None:
    """A start function runs once per instance; one that traps makes instantiate raise Trap."""
    rt = Runtime()
    ok = rt.load(
        """(module (global $g (mut i32) (i32.const 0))
             (func $init (global.set $g (i32.const 42))) (start $init)
             (func (export "g") (result i32) global.get $g))"""
    )
    for _ in range(3):
        with rt.instantiate(ok) as inst:
            assert inst.exports.g() == 42
    bad = rt.load("(module (func $boom unreachable) (start $boom))")
    with pytest.raises(Trap) as info:
        rt.instantiate(bad)
    assert info.value.code == "unreachable"
