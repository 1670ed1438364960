"""The core ABIs of the façade: signatures, the scalar ABI and the Arrow-layout batch ABI."""

from __future__ import annotations

import struct
import threading

import pytest

import omniwasm
from omniwasm import types as t
from omniwasm._columnar import BatchFunction, Column
from omniwasm._coreabi import (
    CoreSignature,
    check_lowering,
    core_signatures,
    parse_signatures,
    row_function,
)

SCRATCH = """
  (memory (export "memory") 1)
  (func (export "omniwasm_scratch") (param i32) (result i32) (i32.const 1024))
"""


def module(body: str, signatures: str = "") -> str:
    """A core module with a scratch area, ``body`` and a signatures section."""
    custom = f'(@custom "omniwasm:signatures" "{signatures}")' if signatures else ""
    return f"(module {custom} {SCRATCH} {body})"


def load(text: str) -> tuple[omniwasm.Instance, dict[str, CoreSignature]]:
    """An instance of ``text`` and its exports' signatures."""
    rt = omniwasm.Runtime()
    compiled = rt.load(text)
    return rt.instantiate(compiled), core_signatures(compiled)


def test_parse_signatures() -> None:
    """Signature lines give names, WIT parameter types, results and the batch marker."""
    sigs = parse_signatures(
        "a: func(x: s64, s: string) -> list<u8>  # comment\n\nb: batch func() -> bool"
    )
    assert [str(s) for s in sigs] == [
        "a: func(x: s64, s: string) -> list<u8>",
        "b: batch func() -> bool",
    ]


@pytest.mark.parametrize(
    "line",
    [
        "a: func(x: record) -> s64",
        "a func(x: s64) -> s64",
        "a: func(x: s64)",
        "a: func(x s64) -> s8",
    ],
)
def test_bad_signatures_are_invalid(line: str) -> None:
    """A line that is not a signature, or a type outside the ABI, is InvalidModule."""
    with pytest.raises(omniwasm.InvalidModule):
        parse_signatures(line)


def test_numeric_exports_need_no_declaration() -> None:
    """All-numeric exports are typed from their core types; others need a declaration."""
    _, sigs = load(
        module(
            '(func (export "f") (param i32 f64) (result i64) (i64.const 0))'
            '(func (export "g") (param i32))'
        )
    )
    assert str(sigs["f"]) == "f: func(p0: s32, p1: f64) -> s64"
    assert "g" not in sigs


def test_declared_export_must_exist() -> None:
    """A declaration naming an export the module lacks is InvalidModule."""
    with pytest.raises(omniwasm.InvalidModule, match="missing"):
        load(module("", "missing: func(x: s64) -> s64"))


def test_lowering_must_match_the_declaration() -> None:
    """A declared signature whose lowering differs from the core type is refused."""
    sig = parse_signatures("f: func(s: string) -> string")[0]
    with pytest.raises(omniwasm.InvalidModule, match=r"func\(i32, i32\) -> \(i64\)"):
        check_lowering(sig, "func(i32) -> (i32)")
    check_lowering(sig, "func(i32, i32) -> (i64)")


def test_scalar_strings_and_narrow_types() -> None:
    """Strings go through the scratch area; narrow integers are range-checked and wrapped."""
    inst, sigs = load(
        module(
            '(func (export "len") (param i32 i32) (result i32) (local.get 1))'
            '(func (export "neg") (param i32) (result i32) (i32.sub (i32.const 0) (local.get 0)))'
            '(func (export "same") (param i32 i32) (result i64)'
            "  (i64.or (i64.shl (i64.extend_i32_u (local.get 1)) (i64.const 32))"
            "          (i64.extend_i32_u (local.get 0))))",
            "len: func(s: string) -> u32\\nneg: func(x: s8) -> s8\\nsame: func(b: list<u8>) -> list<u8>",
        )
    )
    assert row_function(inst, sigs["len"])("héllo") == 6
    neg = row_function(inst, sigs["neg"])
    assert neg(5) == -5 and neg(-128) == -128  # -(-128) wraps to -128 in s8
    with pytest.raises(omniwasm.ValueConversionError, match="s8"):
        neg(128)
    assert row_function(inst, sigs["same"])(b"\x00\xff") == b"\x00\xff"


def test_scalar_result_outside_memory_is_a_trap() -> None:
    """A string result pointing past the end of memory fails as Trap, nothing is read."""
    inst, sigs = load(
        module(
            '(func (export "bad") (param i32) (result i64) (i64.const 0x00000010fffffff0))',
            "bad: func(x: s32) -> string",
        )
    )
    with pytest.raises(omniwasm.Trap, match="outside memory"):
        row_function(inst, sigs["bad"])(1)


def test_scalar_invalid_utf8_is_a_trap() -> None:
    """A string result that is not UTF-8 fails as Trap."""
    inst, sigs = load(
        module(
            '(data (i32.const 16) "\\ff\\fe")'
            '(func (export "bad") (param i32) (result i64) (i64.const 0x0000000200000010))',
            "bad: func(x: s32) -> string",
        )
    )
    with pytest.raises(omniwasm.Trap, match="not UTF-8"):
        row_function(inst, sigs["bad"])(1)


# A batch function that copies its argument's validity and values pointers to the result.
PASS = """
(func (export "pass") (param $d i32) (result i32)
  (i32.store offset=48 (local.get $d) (i32.load offset=24 (local.get $d)))
  (i32.store offset=52 (local.get $d) (i32.load offset=28 (local.get $d)))
  (i32.const 0))
"""


def test_batch_passes_values_and_validity() -> None:
    """Argument buffers reach the guest and its result buffers come back, nulls counted."""
    inst, sigs = load(module(PASS, "pass: batch func(x: s32) -> s32"))
    fn = BatchFunction(inst, sigs["pass"])
    values = struct.pack("<4i", 1, 2, 3, 4)
    out = fn([Column(4, values, bytes([0b1011]), None, 1)], 4)
    assert bytes(out.values) == values
    assert bytes(out.validity)[0] & 0xF == 0b1011 and out.null_count == 1


def test_batch_status_carries_the_guest_message() -> None:
    """A non-zero status fails the batch as GuestError with the message the guest set."""
    body = """(data (i32.const 64) "no thanks")
      (func (export "no") (param $d i32) (result i32)
        (i32.store offset=56 (local.get $d) (i32.const 64))
        (i32.store offset=60 (local.get $d) (i32.const 9))
        (i32.const 7))"""
    inst, sigs = load(module(body, "no: batch func(x: s64) -> s64"))
    with pytest.raises(omniwasm.GuestError, match="no thanks") as info:
        BatchFunction(inst, sigs["no"])([Column(1, bytes(8))], 1)
    assert info.value.code == 7


def test_batch_result_outside_memory_is_a_trap() -> None:
    """A result buffer described past the end of memory fails as Trap, nothing copied."""
    body = """(func (export "far") (param $d i32) (result i32)
        (i32.store offset=52 (local.get $d) (i32.const 65530))
        (i32.const 0))"""
    inst, sigs = load(module(body, "far: batch func(x: s64) -> s64"))
    with pytest.raises(omniwasm.Trap, match="outside memory"):
        BatchFunction(inst, sigs["far"])([Column(2, bytes(16))], 2)


def test_batch_columns_must_match() -> None:
    """Wrong column counts or lengths are refused before the guest runs."""
    inst, sigs = load(module(PASS, "pass: batch func(x: s32) -> s32"))
    fn = BatchFunction(inst, sigs["pass"])
    with pytest.raises(omniwasm.ValueConversionError):
        fn([], 1)
    with pytest.raises(omniwasm.ValueConversionError):
        fn([Column(3, bytes(12))], 4)


def test_scratch_outside_memory_is_a_trap() -> None:
    """A scratch area the guest places past its memory fails as Trap."""
    text = """(module (memory (export "memory") 1)
      (func (export "omniwasm_scratch") (param i32) (result i32) (i32.const 65000))
      (func (export "len") (param i32 i32) (result i32) (local.get 1))
      (@custom "omniwasm:signatures" "len: func(s: string) -> u32"))"""
    inst, sigs = load(text)
    with pytest.raises(omniwasm.Trap, match="omniwasm_scratch"):
        row_function(inst, sigs["len"])("x" * 1000)


def test_calls_after_close_fail_cleanly() -> None:
    """A row function or batch function of a closed instance raises instead of running."""
    inst, sigs = load(module(PASS, "pass: batch func(x: s32) -> s32"))
    fn = BatchFunction(inst, sigs["pass"])
    inst.close()
    with pytest.raises(omniwasm.OmniwasmError, match="closed"):
        fn([Column(1, bytes(4))], 1)


def test_calls_from_another_thread_are_refused() -> None:
    """The instance belongs to its thread: a call from another one raises, never enters."""
    inst, sigs = load(module('(func (export "f") (param i64) (result i64) (local.get 0))'))
    f = row_function(inst, sigs["f"])
    errors: list[BaseException] = []

    def other() -> None:
        try:
            f(1)
        except omniwasm.OmniwasmError as exc:
            errors.append(exc)

    th = threading.Thread(target=other)
    th.start()
    th.join()
    assert len(errors) == 1 and "thread" in str(errors[0])
    assert f(3) == 3


def test_fuel_per_call() -> None:
    """With fuel_per_call every call starts with that fuel: many small calls all run."""
    rt = omniwasm.Runtime(fuel=True)
    inst = rt.instantiate(
        rt.load(module('(func (export "f") (param i64) (result i64) (local.get 0))')),
        omniwasm.Policy(fuel=50),
    )
    sig = CoreSignature("f", (("x", t.S64),), t.S64)
    f = row_function(inst, sig, fuel_per_call=50)
    assert sum(f(i) for i in range(1000)) == sum(range(1000))


def test_refuel() -> None:
    """``Instance.refuel`` sets the fuel left, to the policy's amount by default."""
    rt = omniwasm.Runtime(fuel=True)
    inst = rt.instantiate(rt.load(module("")), omniwasm.Policy(fuel=1000))
    inst.refuel(5)
    assert inst.fuel_left == 5
    inst.refuel()
    assert inst.fuel_left == 1000
    plain = omniwasm.Runtime().instantiate(omniwasm.Runtime().load(module("")))
    with pytest.raises(omniwasm.OmniwasmError, match="fuel"):
        plain.refuel(5)
