"""The engine's LinearMemory: bounds-checked, grow-safe access to a core instance's memory."""

from __future__ import annotations

import pytest

from omniwasm import OmniwasmError, Policy, Runtime
from omniwasm._linked import LinkedInstance, LinkedModule

WAT = """
(module
  (memory (export "memory") 1 4)
  (data (i32.const 16) "hello")
  (func (export "grow") (param i32) (result i32) local.get 0 memory.grow)
  (func (export "load") (param i32) (result i32) local.get 0 i32.load8_u))
"""


@pytest.fixture
def inst() -> LinkedInstance:
    """A fresh linked instance of WAT (one page of memory, "hello" at 16)."""
    rt = Runtime(cache=False)
    guest, _ = LinkedModule(rt.load(WAT)).instantiate(Policy())
    return guest


def test_read_write_fill_by_offset(inst: LinkedInstance) -> None:
    """Bytes written, filled and read back by offset are what the guest sees."""
    memory = inst.memory()
    assert memory.read(16, 5) == b"hello"
    memory.write(100, b"\x07\x08")
    memory.fill(102, 9, 2)
    assert memory.read(100, 4) == b"\x07\x08\x09\x09"
    assert inst.func("load")(101) == 8


def test_out_of_bounds_is_a_clean_error(inst: LinkedInstance) -> None:
    """Reads, writes and fills past the end (or at a negative offset) raise OmniwasmError."""
    memory = inst.memory()
    size = memory.size()
    for access in (
        lambda: memory.read(size - 2, 3),
        lambda: memory.read(-1, 1),
        lambda: memory.write(size, b"x"),
        lambda: memory.fill(size - 1, 0, 2),
        lambda: memory.head(size + 1),
    ):
        with pytest.raises(OmniwasmError, match=r"out of bounds|smaller than"):
            access()


def test_access_follows_a_grown_memory(inst: LinkedInstance) -> None:
    """After the guest grows its memory, the new pages are readable and the views see them."""
    memory = inst.memory()
    memory.head(8)[0] = 42
    assert inst.func("grow")(2) == 1
    assert memory.size() == 3 * 65536
    memory.write(2 * 65536 + 5, b"new")
    assert bytes(memory.view()[2 * 65536 + 5 : 2 * 65536 + 8]) == b"new"
    assert memory.head(8)[0] == 42 == inst.func("load")(0)


def test_a_closed_store_is_refused(inst: LinkedInstance) -> None:
    """Every access after the store closed raises OmniwasmError instead of touching freed memory."""
    memory = inst.memory()
    inst.close()
    for access in (
        lambda: memory.read(0, 1),
        lambda: memory.write(0, b"x"),
        lambda: memory.fill(0, 0, 1),
        memory.size,
        lambda: memory.head(8),
        memory.view,
        inst.memory,
    ):
        with pytest.raises(OmniwasmError, match="closed"):
            access()


def test_no_such_memory(inst: LinkedInstance) -> None:
    """Asking for a memory the module does not export raises OmniwasmError."""
    with pytest.raises(OmniwasmError, match="no exported memory 'other'"):
        inst.memory("other")
