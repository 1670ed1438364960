"""Core host imports: leaving the program, re-entering and closing from inside a call."""

from __future__ import annotations

import pytest

import omniwasm

WAT = """
(module
  (import "env" "hook" (func $hook (param i32) (result i32)))
  (func (export "go") (param i32) (result i32) (call $hook (local.get 0)))
  (func (export "twice") (param i32) (result i32) (i32.mul (local.get 0) (i32.const 2))))
"""


def _instance(hook: object) -> omniwasm.Instance:
    rt = omniwasm.Runtime()
    return rt.instantiate(rt.load(WAT), imports={"env": {"hook": hook}})


def test_system_exit_in_core_host_import_propagates() -> None:
    """sys.exit() inside a core host import reaches the caller as SystemExit."""

    def hook(_x: int) -> int:
        raise SystemExit(4)

    with pytest.raises(SystemExit) as info:
        _instance(hook).exports.go(1)
    assert info.value.code == 4


def test_keyboard_interrupt_in_core_host_import_propagates() -> None:
    """Ctrl-C inside a core host import reaches the caller as KeyboardInterrupt."""

    def hook(_x: int) -> int:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _instance(hook).exports.go(1)


def test_core_host_import_may_call_back_into_its_instance() -> None:
    """A core host import may call another export of the instance that is calling it."""
    box: dict[str, omniwasm.Instance] = {}
    inst = box["inst"] = _instance(lambda x: box["inst"].exports.twice(x) + 1)
    assert inst.exports.go(20) == 41


def test_closing_core_instance_from_its_host_import_is_an_error() -> None:
    """Closing an instance from inside its own host import raises instead of hanging."""
    box: dict[str, omniwasm.Instance] = {}

    def hook(x: int) -> int:
        box["inst"].close()
        return x

    inst = box["inst"] = _instance(hook)
    with pytest.raises(omniwasm.HostFunctionError) as info:
        inst.exports.go(1)
    assert isinstance(info.value.__cause__, omniwasm.OmniwasmError)
    assert "inside one of its own calls" in str(info.value.__cause__)
    inst.close()
    assert inst.closed
