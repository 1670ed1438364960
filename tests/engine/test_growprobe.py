"""The grow probe rewrites every memory.grow of a module and nothing else.

Modules come from ``wasm-tools smith`` with every proposal wasmtime compiles turned on, so the
decoder meets every instruction; ``wasm-tools validate`` and ``wasm-tools print`` judge the
result.
"""

from __future__ import annotations

import random
import re
import subprocess

import pytest
import wasmtime

from fuzz.fuzzing import FEATURES, wasm_tools
from omniwasm import InvalidModule, Runtime
from omniwasm._binary.module import module_interface
from omniwasm._engine.core.growprobe import REFUSED, USED, instrument


def _smith(seed: int) -> bytes | None:
    rng = random.Random(seed)
    proc = subprocess.run(
        [wasm_tools(), "smith", *FEATURES, "--max-imports=4", "--min-funcs=2", "--min-memories=1"],
        input=rng.randbytes(rng.choice((256, 1024, 4096))),
        capture_output=True,
        check=False,
    )
    return proc.stdout if proc.returncode == 0 and proc.stdout else None


def _compiles(wasm: bytes) -> bool:
    try:
        Runtime(cache=False, pooling=False).load(wasm)
    except InvalidModule:
        return False
    return True


def _text(wasm: bytes) -> str:
    proc = subprocess.run([wasm_tools(), "print"], input=wasm, capture_output=True, check=True)
    return proc.stdout.decode()


def _validate(wasm: bytes) -> None:
    subprocess.run(
        [wasm_tools(), "validate", "--features", "all"], input=wasm, capture_output=True, check=True
    )


def test_smith_modules_are_probed_exactly_where_they_grow_memory() -> None:
    """Each module with memory.grow is rewritten into a valid one with the same interface."""
    probed = 0
    for seed in range(150):
        wasm = _smith(seed)
        if wasm is None or not _compiles(wasm):
            continue
        text = _text(wasm)
        grows = len(re.findall(r"^\s*memory\.grow\b", text, re.MULTILINE))
        probe = instrument(wasm)
        if not grows:
            assert probe is None
            continue
        assert probe is not None, f"seed {seed}: the decoder gave up on a valid module"
        _validate(probe.wasm)
        new_text = _text(probe.wasm)
        assert not re.findall(r"^\s{4,}memory\.grow\b", new_text.split("(func", 1)[0])
        before, after = module_interface(wasm), module_interface(probe.wasm)
        assert before is not None and after is not None
        assert before.import_types == after.import_types
        hidden = [e for e in after.export_types if e.name in (REFUSED, USED)]
        assert len(hidden) == 2
        assert before.export_types == tuple(e for e in after.export_types if e not in hidden)
        probed += 1
    assert probed > 5


def test_a_module_without_memory_grow_is_left_alone() -> None:
    """No memory.grow, no rewrite (the compiled code is the module as given)."""
    wasm = wasmtime.wat2wasm('(module (memory 1) (func (export "f") (drop (memory.size))))')
    assert instrument(wasm) is None


@pytest.mark.parametrize("data", [b"", b"\0asm\x01\0\0\0\x0a\x05", b"junk" * 10])
def test_malformed_input_is_left_alone(data: bytes) -> None:
    """Bytes the decoder cannot follow are not rewritten (the engine reports them)."""
    assert instrument(data) is None


def test_offsets_map_back_to_the_original_binary() -> None:
    """An instruction's offset in the probed binary maps to its offset in the original."""
    wat = """(module (memory 1)
      (func (export "f") (result i32)
        (drop (memory.grow (i32.const 1))) (i32.div_u (i32.const 1) (i32.const 0))))"""
    wasm = wasmtime.wat2wasm(wat)
    probe = instrument(wasm)
    assert probe is not None
    # i32.const 1; i32.const 0; i32.div_u: once in each binary, after the rewritten grow
    div = b"\x41\x01\x41\x00\x6e"
    assert wasm.count(div) == probe.wasm.count(div) == 1
    assert probe.offsets.original(probe.wasm.index(div)) == wasm.index(div)
