"""bindgen reads a binary component's world by parsing it, never by compiling it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

import omniwasm
from omniwasm._bindgen import bindgen
from omniwasm._bindgen.write import generate

FIXTURES = ("types", "imports", "resources_export", "resources_import")


@pytest.mark.parametrize("name", FIXTURES)
def test_parsed_bindings_equal_the_compiled_worlds(
    name: str, wat_component: Callable[[str], Path], tmp_path: Path
) -> None:
    """For each fixture the bindings equal those generated from the engine's world."""
    wasm = wat_component(name)
    written = bindgen(wasm, tmp_path / "b", world=name).read_text()
    engine = omniwasm.Runtime().load(wasm, expect="component").world
    assert written == generate(engine, name=name, source=wasm.name)


def test_bindgen_of_a_binary_compiles_nothing(
    summarizer_wasm: Path, tmp_path: Path, isolated_env: Path
) -> None:
    """bindgen of the 18 MB summarizer leaves the compile cache empty (it was not compiled)."""
    target = bindgen(summarizer_wasm, tmp_path / "summ")
    assert "def summarize(" in target.read_text()
    assert omniwasm.Runtime().cache.info().entries == 0
    assert not any(isolated_env.iterdir())


def test_a_malformed_binary_is_invalid_module_naming_the_file(tmp_path: Path) -> None:
    """A component binary cut short is InvalidModule naming the file, and nothing is written."""
    bad = tmp_path / "cut.wasm"
    bad.write_bytes(b"\x00asm\x0d\x00\x01\x00\x07\x05")
    with pytest.raises(omniwasm.InvalidModule, match=r"cut\.wasm"):
        bindgen(bad, tmp_path / "out")
    assert not (tmp_path / "out").exists()
