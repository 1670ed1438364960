"""world_type/world_items from the binary alone agree with the engine's walk of the same component."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

import omniwasm
from fixtures.toolchain import wasm_tools
from omniwasm import InvalidModule
from omniwasm._binary.component import parse_component
from omniwasm._binary.component_types import world_items, world_type
from omniwasm._engine import world_items as engine_items
from omniwasm._engine import world_type as engine_world
from omniwasm._wit.types import FuncSig, StreamType, U8Type

HEADER = b"\0asm\x0d\x00\x01\x00"


def agree(path: Path) -> None:
    """The binary's world (types and rendered WIT) is the one the stock backend describes."""
    comp = parse_component(path.read_bytes())
    artifact = omniwasm.Runtime().load(path)._artifact
    assert world_type(comp) == engine_world(artifact)
    assert world_items(comp) == engine_items(artifact)


@pytest.mark.parametrize(
    "name", ["types", "imports", "resources_export", "resources_import", "sql_udfs"]
)
def test_wat_fixture_worlds_match_the_engine(
    wat_component: Callable[[str], Path], name: str
) -> None:
    """Records, variants, enums, flags and resources are named as the engine's walk names them."""
    agree(wat_component(name))


@pytest.mark.parametrize("name", ["cli", "fs", "http_get", "sockets_denied"])
def test_wasi_guest_worlds_match_the_engine(wasi_guest: Callable[[str], Path], name: str) -> None:
    """WASI 0.2 guests (shim components, use'd resources) resolve to the engine's world."""
    agree(wasi_guest(name))


def test_python_guest_world_matches_the_engine(summarizer_wasm: Path) -> None:
    """The componentize-py summarizer's world resolves without compiling it."""
    agree(summarizer_wasm)


def test_stream_types_are_read_as_stream_types(tmp_path: Path) -> None:
    """A world exporting a stream-typed function reads its parameter as stream<u8>."""
    wat = """(component
      (type $s (stream u8))
      (type $ft (func (param "x" $s)))
      (core module $m (func (export "f") (param i32)))
      (core instance $i (instantiate $m))
      (alias core export $i "f" (core func $f))
      (func (export "f") (type $ft) (canon lift (core func $f))))"""
    src, out = tmp_path / "s.wat", tmp_path / "s.wasm"
    src.write_text(wat)
    subprocess.run([wasm_tools(), "parse", str(src), "-o", str(out)], check=True)
    (export,) = world_type(parse_component(out.read_bytes())).exports
    assert isinstance(export, FuncSig)
    assert export.params == (("x", StreamType(elem=U8Type())),)


def test_out_of_range_type_index_is_invalid_module() -> None:
    """A function type naming a type index that does not exist is an InvalidModule."""
    # type 0 = func(x: type 5) -> (); type 5 does not exist
    body = b"\x01\x40\x01\x01x\x05\x01\x00"
    comp = parse_component(HEADER + b"\x07" + bytes([len(body)]) + body)
    with pytest.raises(InvalidModule, match="out of range"):
        world_type(comp)
