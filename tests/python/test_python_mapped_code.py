"""The image's machine code file beside it: written once, verified, replaced when damaged."""

from __future__ import annotations

import hashlib
from pathlib import Path

import wasmtime

from omniwasm import Runtime
from omniwasm.python._image import _mapped

WAT = '(module (func (export "answer") (result i32) (i32.const 42)))'


def _answer(rt: Runtime, path: Path) -> int:
    with rt.instantiate(_mapped(rt, path)) as inst:
        return int(inst.call("answer"))


def test_code_is_written_once_then_mapped(tmp_path: Path) -> None:
    """The first use writes NAME.cwasm and its digest; the next maps that same file."""
    path = tmp_path / "m.wasm"
    path.write_bytes(wasmtime.wat2wasm(WAT))
    rt = Runtime(cache=tmp_path / "compiled")
    assert _answer(rt, path) == 42
    code = tmp_path / "m.cwasm"
    stamp = code.stat().st_mtime_ns
    digest = (tmp_path / "m.cwasm.sha256").read_text()
    assert digest == hashlib.sha256(code.read_bytes()).hexdigest()
    assert _answer(rt, path) == 42
    assert code.stat().st_mtime_ns == stamp


def test_damaged_or_foreign_code_is_replaced(tmp_path: Path) -> None:
    """Code not matching its digest, or matching but not this engine's, is compiled again."""
    path = tmp_path / "m.wasm"
    path.write_bytes(wasmtime.wat2wasm(WAT))
    rt = Runtime(cache=tmp_path / "compiled")
    assert _answer(rt, path) == 42
    code = tmp_path / "m.cwasm"
    code.write_bytes(code.read_bytes()[:-100] + b"\0" * 100)  # digest no longer matches
    assert _answer(rt, path) == 42
    garbage = b"not machine code" * 10
    code.write_bytes(garbage)
    (tmp_path / "m.cwasm.sha256").write_text(hashlib.sha256(garbage).hexdigest())
    assert _answer(rt, path) == 42
    assert code.read_bytes() != garbage
