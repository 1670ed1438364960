"""A pooled slot reused by the next instance starts from the module's initial memory.

With ``keep_resident`` wasmtime resets a slot's memory in place (``memset`` and the data
image) instead of releasing its pages; either way nothing one instance wrote may be visible
to the next one that gets the same slot.
"""

from __future__ import annotations

import pytest

from omniwasm import Runtime

WAT = """
(module
  (memory (export "memory") 2 4)
  (data (i32.const 16) "initial")
  (func (export "poke") (param i32 i32) local.get 0 local.get 1 i32.store)
  (func (export "peek") (param i32) (result i32) local.get 0 i32.load)
  (func (export "grow") (result i32) i32.const 1 memory.grow))
"""

DATA = 16  # inside the data segment
ZERO = 70_000  # in the second page, beyond any data
GROWN = 2 * 65_536 + 8  # in a page the first instance grew


@pytest.mark.parametrize("keep_resident", [0, 64 << 20], ids=["madvise", "keep-resident"])
def test_next_instance_sees_initial_memory(keep_resident: int) -> None:
    """Writes (data region, zero region, grown page) never reach later instances of a slot."""
    rt = Runtime(keep_resident=keep_resident, cache=False)
    compiled = rt.load(WAT)
    initial = int.from_bytes(b"init", "little")
    for _ in range(20):
        inst = rt.instantiate(compiled)
        assert inst.exports.peek(DATA) == initial
        assert inst.exports.peek(ZERO) == 0
        assert inst.exports.grow() == 2  # the memory is back at its initial two pages
        assert inst.exports.peek(GROWN) == 0
        for addr in (DATA, ZERO, GROWN):
            inst.exports.poke(addr, 0x5EC2E7)
        inst.close()
