"""Core modules linked with a companion module in one store, with raw Python host functions."""

from __future__ import annotations

import pytest

import omniwasm
from omniwasm._engine.core.linked import CoreTemplate

COMPANION = """
(module (memory (export "memory") 1)
  (global $n (mut i64) (i64.const 0))
  (func (export "bump") (param i64) (result i64)
    (global.set $n (i64.add (global.get $n) (local.get 0))) (global.get $n)))
"""
GUEST = """
(module
  (import "k" "bump" (func $bump (param i64) (result i64)))
  (import "env" "twice" (func $twice (param i64) (result i64)))
  (func (export "go") (param i64) (result i64) (call $twice (call $bump (local.get 0)))))
"""


@pytest.fixture
def codes() -> tuple[omniwasm.Compiled, omniwasm.Compiled]:
    """The guest and its companion, compiled by one runtime."""
    rt = omniwasm.Runtime()
    return rt.load(GUEST), rt.load(COMPANION)


def _template(codes: tuple[omniwasm.Compiled, omniwasm.Compiled], twice: object) -> CoreTemplate:
    guest, companion = codes
    return CoreTemplate(
        guest._artifact,
        host={"env": {"twice": twice}},
        companions=[("k", companion._artifact)],
    )


def test_guest_calls_companion_and_python(codes: tuple[omniwasm.Compiled, ...]) -> None:
    """The guest's imports resolve to the companion's exports and to the Python function."""
    tpl = _template(codes, lambda ctx, x: x * 2)  # type: ignore[arg-type]
    guest, (companion,) = tpl.instantiate(omniwasm.Policy())
    assert guest.func("go")(5) == 10
    assert guest.func("go")(5) == 20
    assert companion.func("bump")(0) == 10


def test_each_instance_gets_its_own_companion(codes: tuple[omniwasm.Compiled, ...]) -> None:
    """Two instances from one template do not share the companion's state."""
    tpl = _template(codes, lambda ctx, x: x)  # type: ignore[arg-type]
    a, _ = tpl.instantiate(omniwasm.Policy())
    b, _ = tpl.instantiate(omniwasm.Policy())
    assert a.func("go")(3) == 3
    assert b.func("go")(4) == 4


def test_host_function_sees_the_calling_store(codes: tuple[omniwasm.Compiled, ...]) -> None:
    """The Python function receives the raw context of the store that called it."""
    seen: list[int] = []
    tpl = _template(codes, lambda ctx, x: seen.append(ctx) or x)  # type: ignore[arg-type]
    guest, _ = tpl.instantiate(omniwasm.Policy())
    guest.func("go")(1)
    assert seen == [guest.box.ctx]


def test_python_exception_becomes_host_function_error(
    codes: tuple[omniwasm.Compiled, ...],
) -> None:
    """An exception in the Python function is a HostFunctionError caused by it."""

    def boom(ctx: int, x: int) -> int:
        raise ValueError("nope")

    guest, _ = _template(codes, boom).instantiate(omniwasm.Policy())
    with pytest.raises(omniwasm.HostFunctionError) as info:
        guest.func("go")(1)
    assert isinstance(info.value.__cause__, ValueError)


def test_unprovided_imports_are_listed_together(codes: tuple[omniwasm.Compiled, ...]) -> None:
    """Without companions or host functions, every unsatisfied import is in one LinkError."""
    guest, _ = codes
    with pytest.raises(omniwasm.LinkError) as info:
        CoreTemplate(guest._artifact)
    assert {(m.module, m.name) for m in info.value.missing} == {("k", "bump"), ("env", "twice")}
