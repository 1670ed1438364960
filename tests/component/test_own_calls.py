"""The own runtime's compiled call paths, against the stock backend where both can answer.

Exports of scalars, strings and byte lists run compiled (``own/direct.py``); all-scalar host
imports convert straight between slots and values (``own/abi_flat.py``); host imports are raw
callbacks (``own/rawhost.py``). These tests pin what those paths must keep doing exactly as the
generic codecs and the stock backend do: checks, errors, traps, poisoning, lifetimes.
"""

from __future__ import annotations

import gc
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import omniwasm
from fixtures.toolchain import wasm_tools
from omniwasm import HostFunctionError, Trap, ValueConversionError
from omniwasm.types import InterfaceType

ECHO = "test:types/echo"
HOST = "test:types/host"
BACKENDS = ("omniwasm", "stock")

BAD_ARGUMENTS = [
    ("echo-u32", -1),
    ("echo-u32", 1 << 32),
    ("echo-u32", True),
    ("echo-u32", 1.0),
    ("echo-u8", 300),
    ("echo-s8", -129),
    ("echo-s64", 1 << 63),
    ("echo-bool", 1),
    ("echo-char", "ab"),
    ("echo-char", "\ud800"),
    ("echo-f32", 1e39),
    ("echo-f64", "1.0"),
    ("echo-string", "a\ud800"),
    ("echo-string", b"bytes"),
    ("echo-list-u8", "text"),
]


@pytest.mark.parametrize(("name", "value"), BAD_ARGUMENTS)
def test_a_bad_argument_is_refused_alike(
    wat_component: Callable[[str], Path], name: str, value: Any
) -> None:
    """An argument outside its WIT type is the same ValueConversionError on both backends."""
    path = wat_component("types")
    errors = []
    for backend in BACKENDS:
        inst = omniwasm.Runtime(components=backend).instantiate(path)
        with pytest.raises(ValueConversionError) as info:
            inst.exports[ECHO][name](value)
        errors.append(str(info.value))
        assert inst.exports[ECHO]["echo-u32"](7) == 7  # a refused argument poisons nothing
    assert errors[0] == errors[1]


GOOD_ARGUMENTS = [
    ("echo-s32", -5),
    ("echo-s8", -128),
    ("echo-s64", -(1 << 63)),
    ("echo-u64", (1 << 64) - 1),
    ("echo-f32", 1.1),
    ("echo-f64", 3),
    ("echo-char", "\U0010ffff"),
    ("echo-string", "é" * (1 << 19)),
    ("echo-list-u8", bytearray(b"\x00\xff")),
    ("echo-list-u8", [1, 2, 3]),
]


@pytest.mark.parametrize(("name", "value"), GOOD_ARGUMENTS)
def test_edge_values_echo_alike(
    wat_component: Callable[[str], Path], name: str, value: Any
) -> None:
    """Edge values (extremes, coercions, a string that grows memory) echo alike on both."""
    path = wat_component("types")
    got = [
        omniwasm.Runtime(components=backend).instantiate(path).exports[ECHO][name](value)
        for backend in BACKENDS
    ]
    assert got[0] == got[1]


def _imports(path: Path, backend: str, fn: Callable[[Any], Any]) -> Any:
    rt = omniwasm.Runtime(components=backend)
    compiled = rt.load(path)
    iface = next(i for i in compiled.world.imports if i.name == HOST)
    assert isinstance(iface, InterfaceType)
    linker = omniwasm.Linker()
    members = {f.name: fn for f in iface.funcs if f.name.startswith("echo-")}
    linker.define(HOST, add=lambda a, b: a + b, noop=lambda: None, **members)
    linker.define("log", lambda msg: None)
    return rt.instantiate(compiled, imports=linker)


@pytest.mark.parametrize(
    ("kind", "arg", "bad"),
    [("u32", 1, -1), ("s8", 1, 200), ("bool", True, 1), ("char", "a", "ab"), ("f32", 1.0, "x")],
)
def test_a_host_result_outside_its_type_fails_alike(
    wat_component: Callable[[str], Path], kind: str, arg: Any, bad: Any
) -> None:
    """A scalar host import returning a wrong value is the same HostFunctionError on both, and poisons."""
    path = wat_component("imports")
    messages = []
    for backend in BACKENDS:
        inst = _imports(path, backend, lambda x: bad)
        fn = inst.exports.roundtrip[f"roundtrip-{kind}"]
        with pytest.raises(HostFunctionError) as info:
            fn(arg)
        assert isinstance(info.value.__cause__, ValueConversionError)
        messages.append(str(info.value))
        with pytest.raises(omniwasm.ExecutionError, match="cannot be entered again"):
            fn(arg)
    assert messages[0] == messages[1]


def test_a_host_function_that_exits_the_interpreter_stops_the_call(
    wat_component: Callable[[str], Path],
) -> None:
    """SystemExit raised in a raw host callback ends the call as SystemExit, not a crash."""

    def leave(x: Any) -> Any:
        raise SystemExit(3)

    inst = _imports(wat_component("imports"), "omniwasm", leave)
    with pytest.raises(SystemExit):
        inst.exports.roundtrip["roundtrip-u32"](1)


def test_raw_host_functions_are_released_with_their_store(
    wat_component: Callable[[str], Path],
) -> None:
    """Closing and dropping instances frees their raw host callbacks (nothing accumulates)."""
    from omniwasm._engine.component.own import rawhost

    path = wat_component("imports")
    _imports(path, "omniwasm", lambda x: x).close()  # compile and warm caches first
    gc.collect()
    before = len(rawhost._CALLBACKS)
    for _ in range(20):
        inst = _imports(path, "omniwasm", lambda x: x)
        assert inst.exports.roundtrip["roundtrip-u32"](5) == 5
        inst.close()
        del inst
    deadline = time.monotonic() + 30
    while len(rawhost._CALLBACKS) > before and time.monotonic() < deadline:
        gc.collect()
        time.sleep(0.01)
    assert len(rawhost._CALLBACKS) <= before


HOSTILE_WAT = """(component
  (core module $m
    (memory (export "memory") 1)
    (func (export "unaligned") (result i32) (i32.const 18))
    (func (export "past-end") (result i32) (i32.const 65532))
    (func (export "pair-past-end") (result i32)
      (i32.store (i32.const 16) (i32.const 65000))
      (i32.store (i32.const 20) (i32.const 1000))
      (i32.const 16))
    (func (export "bad-utf8") (result i32)
      (i32.store (i32.const 16) (i32.const 8))
      (i32.store (i32.const 20) (i32.const 2))
      (i32.const 16))
    (func (export "realloc") (param i32 i32 i32 i32) (result i32) (i32.const 1024))
    (func (export "in-unaligned") (param i32 i32) (result i32) (i32.const 18))
    (func (export "in-past-end") (param i32 i32) (result i32)
      (i32.store (i32.const 16) (local.get 0))
      (i32.store (i32.const 20) (i32.const 70000))
      (i32.const 16))
    (func (export "in-bad-utf8") (param i32 i32) (result i32)
      (i32.store (i32.const 16) (i32.const 8))
      (i32.store (i32.const 20) (i32.const 2))
      (i32.const 16))
    (data (i32.const 8) "\\ff\\fe"))
  (core instance $i (instantiate $m))
  (func (export "unaligned") (result string)
    (canon lift (core func $i "unaligned") (memory (core memory $i "memory"))))
  (func (export "past-end") (result string)
    (canon lift (core func $i "past-end") (memory (core memory $i "memory"))))
  (func (export "pair-past-end") (result (list u8))
    (canon lift (core func $i "pair-past-end") (memory (core memory $i "memory"))))
  (func (export "bad-utf8") (result string)
    (canon lift (core func $i "bad-utf8") (memory (core memory $i "memory"))))
  (func (export "in-unaligned") (param "s" string) (result string)
    (canon lift (core func $i "in-unaligned") (memory (core memory $i "memory"))
      (realloc (core func $i "realloc"))))
  (func (export "in-past-end") (param "b" (list u8)) (result (list u8))
    (canon lift (core func $i "in-past-end") (memory (core memory $i "memory"))
      (realloc (core func $i "realloc"))))
  (func (export "in-bad-utf8") (param "s" string) (result string)
    (canon lift (core func $i "in-bad-utf8") (memory (core memory $i "memory"))
      (realloc (core func $i "realloc")))))"""


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("unaligned", "misaligned pointer 0x12"),
        ("past-end", "out-of-bounds access at 0xfffc"),
        ("pair-past-end", "out-of-bounds access at 0xfde8"),
        ("bad-utf8", "invalid utf-8"),
        ("in-unaligned", "misaligned pointer 0x12"),
        ("in-past-end", "out-of-bounds access at 0x400\\+70000"),
        ("in-bad-utf8", "invalid utf-8"),
    ],
)
def test_a_bad_result_pointer_traps_and_poisons(tmp_path: Path, name: str, message: str) -> None:
    """A string or byte-list result at a bad address is a Trap; the instance is then unusable."""
    src, out = tmp_path / "hostile.wat", tmp_path / "hostile.wasm"
    src.write_text(HOSTILE_WAT)
    subprocess.run([wasm_tools(), "parse", str(src), "-o", str(out)], check=True)
    inst = omniwasm.Runtime(components="omniwasm").instantiate(out)
    args = () if not name.startswith("in-") else ("x",) if "past" not in name else (b"x",)
    with pytest.raises(Trap, match=message):
        inst.exports[name](*args)
    with pytest.raises(omniwasm.ExecutionError, match="cannot be entered again"):
        inst.exports[name](*args)


ENGINES_SCRIPT = """
import sys
import omniwasm
from omniwasm.types import InterfaceType

path = sys.argv[1]
for rt in (omniwasm.Runtime(components="omniwasm"),
           omniwasm.Runtime(components="omniwasm", fuel=True)):
    compiled = rt.load(path)
    iface = next(i for i in compiled.world.imports if i.name == "test:types/host")
    linker = omniwasm.Linker()
    members = {f.name: (lambda x: x) for f in iface.funcs if f.name.startswith("echo-")}
    linker.define("test:types/host", add=lambda a, b: a + b, noop=lambda: None, **members)
    linker.define("log", lambda msg: None)
    inst = rt.instantiate(compiled, imports=linker)
    assert inst.exports.roundtrip["roundtrip-u32"](5) == 5
print("ok")
"""


def test_raw_host_functions_work_on_two_engines_in_one_process(
    wat_component: Callable[[str], Path],
) -> None:
    """Host imports of the same signature on two engines both work (a shared type aborted)."""
    import sys

    path = wat_component("imports")
    out = subprocess.run(
        [sys.executable, "-c", ENGINES_SCRIPT, str(path)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["ok"]
