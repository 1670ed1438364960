"""Images written by the snapshot writer start where the live instance was."""

from __future__ import annotations

import pytest
import wasmtime

from omniwasm import Policy, Runtime
from omniwasm._linked import LinkedModule
from omniwasm.python._snapshot import (
    GLOBAL_PREFIX,
    SnapshotError,
    export_globals,
    mutable_globals,
    write_image,
)

WAT = """
(module
  (memory (export "memory") 1)
  (global $g (mut i32) (i32.const 7))
  (global $h (mut i64) (i64.const -1))
  (global $k i32 (i32.const 3))
  (data (i32.const 16) "hello")
  (func (export "init")
    (global.set $g (i32.const -5))
    (global.set $h (i64.const 1234567890123))
    (drop (memory.grow (i32.const 2)))
    (i32.store (i32.const 70000) (i32.const 42))
    (i32.store8 (i32.const 16) (i32.const 72)))
  (func (export "g") (result i32) (global.get $g))
  (func (export "h") (result i64) (global.get $h))
  (func (export "k") (result i32) (global.get $k))
  (func (export "at") (param i32) (result i32) (i32.load (local.get 0))))
"""


def _module() -> bytes:
    return bytes(wasmtime.wat2wasm(WAT))


def test_export_globals_names_each_mutable_global() -> None:
    """Every mutable global gets an export; constants do not."""
    wasm = export_globals(_module())
    assert mutable_globals(wasm) == {0: "i32", 1: "i64"}
    rt = Runtime()
    with rt.instantiate(wasm) as inst:
        names = {n for n, _ in inst._inner.export_names()}
    assert {f"{GLOBAL_PREFIX}0", f"{GLOBAL_PREFIX}1"} <= names
    assert f"{GLOBAL_PREFIX}2" not in names


def test_image_starts_in_the_live_state() -> None:
    """An image of an instance after init has its memory, size and globals."""
    base = export_globals(_module())
    rt = Runtime()
    guest, _ = LinkedModule(rt.load(base)).instantiate(Policy())
    guest.func("init")()
    memory = guest.memory()
    live = memory.read(0, memory.size())
    values = {i: guest.global_value(f"{GLOBAL_PREFIX}{i}") for i in mutable_globals(base)}
    guest.close()
    image = write_image(base, live, values)
    with rt.instantiate(image) as inst:
        assert inst.call("g") == -5
        assert inst.call("h") == 1234567890123
        assert inst.call("k") == 3
        assert inst.call("at", 70000) == 42
        assert inst._inner.memory().read(16, 5) == b"Hello"
        assert inst._inner.memory().size() == 3 * 65536


def test_a_start_function_is_refused() -> None:
    """A module with a start function cannot be imaged: it would run again."""
    wasm = wasmtime.wat2wasm("(module (func $s) (start $s))")
    with pytest.raises(SnapshotError, match="start function"):
        export_globals(bytes(wasm))
