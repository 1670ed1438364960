"""parse_component: a component binary read in full, checked against wasm-tools' own reading."""

from __future__ import annotations

import collections
import contextlib
import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import wasmtime

from fixtures.toolchain import wasm_tools
from omniwasm import InvalidModule
from omniwasm._binary.component import parse_component
from omniwasm._binary.component_defs import (
    MAX_DEPTH,
    Canon,
    Component,
    CoreModule,
    Export,
    FuncType,
    Future,
    Import,
    List,
    ResourceType,
    Stream,
)

_SORT = (
    r"(core module|core instance|core func|core table|core memory|core global|core type"
    r"|type|func|instance|component|value)"
)
_DEF = re.compile(r"\(" + _SORT + r'(?: \$(?:"[^"]*"|\S+))? \(;(\d+);\)')
_EXPORT = re.compile(
    r'^  \(export (?:\$\S+ )?\(;(\d+);\) "[^"]*" \((core module|func|value|type|component|instance)'
)

ASYNC_WAT = """(component
  (type $s (stream u8))
  (type $f (future string))
  (type $f0 (future))
  (type $fl (list u32 4))
  (type $r (resource (rep i32)))
  (type $ft (func async (param "x" $s) (result $f)))
  (core module $m
    (memory (export "mem") 1)
    (func (export "realloc") (param i32 i32 i32 i32) (result i32) i32.const 0)
    (func (export "cb") (param i32 i32 i32) (result i32) i32.const 0)
    (func (export "run") (param i32) (result i32) i32.const 0))
  (core instance $i (instantiate $m))
  (alias core export $i "mem" (core memory $mem))
  (alias core export $i "realloc" (core func $realloc))
  (core func (canon stream.new $s))
  (core func (canon stream.read $s async (memory $mem)))
  (core func (canon stream.cancel-read $s async))
  (core func (canon future.read $f async (memory $mem) (realloc $realloc) string-encoding=utf16))
  (core func (canon task.return (result $f) (memory $mem)))
  (core func (canon task.return))
  (core func (canon context.get i32 0))
  (core func (canon subtask.cancel async))
  (core func (canon error-context.new (memory $mem)))
  (core func (canon waitable-set.wait (memory $mem)))
  (core func (canon waitable.join))
  (core func (canon backpressure.inc))
  (core func (canon resource.drop $r))
  (alias core export $i "cb" (core func $cb))
  (alias core export $i "run" (core func $run))
  (func (export "f") (type $ft) (canon lift (core func $run) async (callback $cb) (memory $mem)))
)"""


def printed_spaces(path: Path) -> dict[str, int]:
    """Each top-level index space's size, read from ``wasm-tools print --skeleton``."""
    text = subprocess.run(
        [wasm_tools(), "print", "--skeleton", str(path)], capture_output=True, text=True, check=True
    ).stdout
    sizes: collections.Counter[str] = collections.Counter()
    for line in text.splitlines():
        if not line.startswith("  ") or line.startswith("   "):
            continue  # only the outermost component's definitions
        found = _EXPORT.match(line)
        if found:
            sort, index = found.group(2), int(found.group(1))
        else:
            found = _DEF.search(line)
            if not found:
                continue
            sort, index = found.group(1), int(found.group(2))
        sizes[sort] = max(sizes[sort], index + 1)
    return dict(sizes)


def spaces(comp: Component) -> dict[str, int]:
    """The parser's index space sizes, non-empty ones only."""
    return {sort: len(items) for sort, items in comp.spaces.items() if items}


def assemble_text(tmp_path: Path, text: str) -> bytes:
    """A component assembled from WAT text by wasm-tools."""
    src = tmp_path / "c.wat"
    src.write_text(text)
    out = tmp_path / "c.wasm"
    subprocess.run([wasm_tools(), "parse", str(src), "-o", str(out)], check=True)
    return out.read_bytes()


@pytest.mark.parametrize(
    "name", ["types", "imports", "resources_export", "resources_import", "sql_udfs"]
)
def test_wat_fixtures_index_spaces_match_wasm_tools(
    wat_component: Callable[[str], Path], name: str
) -> None:
    """Every index space of a hand-written component has the size wasm-tools prints."""
    path = wat_component(name)
    assert spaces(parse_component(path.read_bytes())) == printed_spaces(path)


def test_c_guest_with_adapter_matches_wasm_tools(c_component: Callable[[str], Path]) -> None:
    """A C guest built with the preview1 adapter (nested shim components, bags) parses alike."""
    path = c_component("hello")
    comp = parse_component(path.read_bytes())
    assert spaces(comp) == printed_spaces(path)
    assert len(comp.spaces["component"]) >= 1


def test_python_guest_matches_wasm_tools(py_guest: Callable[[str], Path]) -> None:
    """An 18 MB componentize-py guest parses, its spaces as wasm-tools prints them."""
    path = py_guest("summarizer")
    comp = parse_component(path.read_bytes())
    assert spaces(comp) == printed_spaces(path)
    assert len(comp.spaces["core module"]) == 14


def test_core_modules_are_byte_ranges_the_engine_accepts(
    c_component: Callable[[str], Path],
) -> None:
    """Each core module is a range of the buffer that wasmtime compiles as a module."""
    data = c_component("hello").read_bytes()
    comp = parse_component(data)
    engine = wasmtime.Engine()
    modules = [m for m in comp.spaces["core module"] if isinstance(m, CoreModule)]
    assert modules
    for index in range(len(modules)):
        wasmtime.Module.validate(engine, bytes(comp.module_bytes(data, index)))


def test_imports_and_exports_are_named_as_the_engine_names_them(
    wat_component: Callable[[str], Path],
) -> None:
    """The top-level import and export names are those wasmtime's component type lists."""
    data = wat_component("imports").read_bytes()
    comp = parse_component(data)
    engine = wasmtime.Engine()
    ty = wasmtime.component.Component(engine, data).type
    assert [i.name for i in comp.imports] == list(ty.imports(engine))
    assert [e.name for e in comp.exports] == list(ty.exports(engine))
    assert all(isinstance(i, Import) for i in comp.imports)
    assert all(isinstance(e, Export) for e in comp.exports)


def test_async_built_ins_and_types_decode(tmp_path: Path) -> None:
    """Streams, futures, fixed lists, async function types and the async canon ops decode."""
    comp = parse_component(assemble_text(tmp_path, ASYNC_WAT))
    types = comp.spaces["type"]
    assert types[:5] == [
        Stream("u8"),
        Future("string"),
        Future(None),
        List("u32", 4),
        ResourceType("i32", None),
    ]
    assert types[5] == FuncType((("x", 0),), 1, is_async=True)
    ops = [c for c in comp.definitions if isinstance(c, Canon)]
    by_op = {c.op: c for c in ops}
    assert by_op["stream.read"].options.is_async
    assert by_op["stream.cancel-read"].flag
    future_read = by_op["future.read"].options
    assert (future_read.encoding, future_read.realloc) == ("utf16", 0)
    assert by_op["context.get"].index == 0
    assert by_op["subtask.cancel"].flag
    returns = [c for c in ops if c.op == "task.return"]
    assert [r.result for r in returns] == [1, None]
    lift = by_op["lift"]
    assert lift.options.is_async and lift.options.callback is not None and lift.type == 5
    assert len(comp.spaces["core func"]) == 16


def _leb(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


HEADER = b"\0asm\x0d\x00\x01\x00"


def _section(sid: int, body: bytes) -> bytes:
    return bytes([sid]) + _leb(len(body)) + body


def test_every_truncation_is_invalid_module(wat_component: Callable[[str], Path]) -> None:
    """Cutting a component anywhere gives InvalidModule (or a shorter valid component)."""
    data = wat_component("resources_export").read_bytes()
    for cut in range(len(data)):
        try:
            parse_component(data[:cut])
        except InvalidModule:
            continue


def test_flipped_bytes_never_escape_the_error_tree(wat_component: Callable[[str], Path]) -> None:
    """Any single corrupted byte ends in a parse or an InvalidModule, nothing else."""
    data = bytearray(wat_component("types").read_bytes())
    for pos in range(8, len(data), 3):
        for value in (0x00, 0x7F, 0xFF):
            mutated = bytearray(data)
            mutated[pos] = value
            with contextlib.suppress(InvalidModule):
                parse_component(mutated)


def test_nesting_beyond_the_limit_is_refused() -> None:
    """Components nested deeper than MAX_DEPTH are an InvalidModule, not a RecursionError."""
    comp = HEADER
    for _ in range(MAX_DEPTH + 5):
        comp = HEADER + _section(4, comp)
    with pytest.raises(InvalidModule, match="nested deeper"):
        parse_component(comp)


def test_deep_instance_types_are_refused() -> None:
    """Instance types nested thousands deep are refused without recursing that far."""
    body = b"\x42\x00"  # an empty instance type
    for _ in range(5000):
        body = b"\x42\x01\x01" + body  # instance type declaring one nested type
    with pytest.raises(InvalidModule, match="nested deeper"):
        parse_component(HEADER + _section(7, b"\x01" + body))


def test_huge_counts_are_refused_before_allocating() -> None:
    """A vector claiming 2**32-1 items in a few bytes is refused at once."""
    with pytest.raises(InvalidModule, match="longer than the bytes left"):
        parse_component(HEADER + _section(7, _leb(2**32 - 1) + b"\x7f"))


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (_section(7, b"\x01\x55"), "unknown type opcode"),
        (_section(8, b"\x01\x99"), "unknown canonical built-in"),
        (_section(13, b""), "unknown component section"),
        (_section(1, b"not a module"), "does not hold a core module"),
        (_section(7, b"\x01\x7f\x00"), "trailing bytes"),
    ],
)
def test_malformed_sections_name_the_fault(body: bytes, message: str) -> None:
    """Unknown opcodes, sections and trailing bytes are InvalidModule saying what is wrong."""
    with pytest.raises(InvalidModule, match=message):
        parse_component(HEADER + body)


def test_a_core_module_is_not_a_component() -> None:
    """A core module's bytes are refused as a component."""
    with pytest.raises(InvalidModule, match="not a component"):
        parse_component(b"\0asm\x01\x00\x00\x00")
