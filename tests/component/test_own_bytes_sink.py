"""Host byte sinks on the own runtime: ``(borrow<R>, list<u8>)`` imports on their lean path.

``wasi:io/streams`` writes have this shape (``own/lowered_bytes.py``): the bytes are copied
out of guest memory in one slice and a plain return writes only the ``ok`` discriminant. These
tests pin that it answers exactly as the generic codecs and the stock backend do: the bytes, an
error result, a trap for bytes outside memory or an unknown handle, a host failure.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any, ClassVar

import pytest

import omniwasm
from fixtures.toolchain import wasm_tools
from omniwasm import Err, ExecutionError, HostFunctionError, Trap

BACKENDS = ("omniwasm", "stock")

SINK_WAT = """(component
  (import "test:sink/bytes" (instance $h
    (export "sink" (type $sink (sub resource)))
    (export "[constructor]sink" (func (result (own $sink))))
    (export "[method]sink.write" (func (param "self" (borrow $sink)) (param "data" (list u8))
      (result (result (error string)))))
    (export "[method]sink.put" (func (param "self" (borrow $sink)) (param "data" (list u8))))))
  (alias export $h "sink" (type $sink))
  (core module $a
    (memory (export "memory") 1)
    (global $heap (mut i32) (i32.const 4096))
    (func (export "realloc") (param i32 i32 i32 i32) (result i32)
      (global.set $heap (i32.add (global.get $heap) (local.get 3)))
      (i32.sub (global.get $heap) (local.get 3))))
  (core instance $a (instantiate $a))
  (alias core export $a "memory" (core memory $mem))
  (alias core export $a "realloc" (core func $realloc))
  (core func $new (canon lower (func $h "[constructor]sink")))
  (core func $write
    (canon lower (func $h "[method]sink.write") (memory $mem) (realloc $realloc)))
  (core func $put (canon lower (func $h "[method]sink.put") (memory $mem)))
  (core module $impl
    (import "a" "memory" (memory 1))
    (import "h" "new" (func $new (result i32)))
    (import "h" "write" (func $write (param i32 i32 i32 i32)))
    (import "h" "put" (func $put (param i32 i32 i32)))
    (global $sink (mut i32) (i32.const 0))
    (data (i32.const 16) "hello, sink")
    (func $sink (result i32)
      (if (i32.eqz (global.get $sink)) (then (global.set $sink (call $new))))
      (global.get $sink))
    ;; the result area at 64: discriminant u8 @64, error string ptr @68, len @72
    (func (export "write") (param $p i32) (param $n i32) (result i32)
      (i32.store8 (i32.const 64) (i32.const 7))
      (call $write (call $sink) (local.get $p) (local.get $n) (i32.const 64))
      (i32.load8_u (i32.const 64)))
    (func (export "error-len") (result i32) (i32.load (i32.const 72)))
    (func (export "put") (param $p i32) (param $n i32)
      (call $put (call $sink) (local.get $p) (local.get $n)))
    (func (export "write-handle") (param $handle i32) (result i32)
      (call $write (local.get $handle) (i32.const 16) (i32.const 5) (i32.const 64))
      (i32.load8_u (i32.const 64)))
    (func (export "write-area") (param $area i32)
      (call $write (call $sink) (i32.const 16) (i32.const 5) (local.get $area))))
  (core instance $i (instantiate $impl
    (with "a" (instance $a))
    (with "h" (instance (export "new" (func $new)) (export "write" (func $write))
                        (export "put" (func $put))))))
  (func (export "write") (param "p" u32) (param "n" u32) (result u32)
    (canon lift (core func $i "write")))
  (func (export "error-len") (result u32) (canon lift (core func $i "error-len")))
  (func (export "put") (param "p" u32) (param "n" u32) (canon lift (core func $i "put")))
  (func (export "write-handle") (param "h" u32) (result u32)
    (canon lift (core func $i "write-handle")))
  (func (export "write-area") (param "a" u32) (canon lift (core func $i "write-area"))))"""


class Sink:
    """A host resource that keeps what it is given; ``failure`` makes ``write`` fail."""

    made: ClassVar[list[Sink]] = []
    failure: ClassVar[BaseException | None] = None

    def __init__(self) -> None:
        self.got: list[Any] = []
        Sink.made.append(self)

    def write(self, data: Any) -> None:
        self.got.append(data)
        if Sink.failure is not None:
            raise Sink.failure

    def put(self, data: Any) -> None:
        self.got.append(data)


@pytest.fixture(scope="module")
def sink_wasm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sink component, assembled once."""
    folder = tmp_path_factory.mktemp("sink")
    src, out = folder / "sink.wat", folder / "sink.wasm"
    src.write_text(SINK_WAT)
    subprocess.run([wasm_tools(), "parse", str(src), "-o", str(out)], check=True)
    return out


def _instance(path: Path, backend: str) -> Any:
    Sink.made, Sink.failure = [], None
    linker = omniwasm.Linker().define("test:sink/bytes", sink=Sink)
    return omniwasm.Runtime(components=backend).instantiate(path, imports=linker)


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_host_gets_the_guest_bytes_and_the_guest_gets_ok(sink_wasm: Path, backend: str) -> None:
    """write and put hand the host a copy of the guest's bytes; write's ok reaches the guest."""
    inst = _instance(sink_wasm, backend)
    assert inst.exports["write"](16, 11) == 0
    inst.exports["put"](16, 5)
    assert inst.exports["write"](16, 0) == 0
    [sink] = Sink.made
    assert [bytes(b) for b in sink.got] == [b"hello, sink", b"hello", b""]
    assert isinstance(sink.got[0], bytes)  # a copy: valid after the call


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_error_result_reaches_the_guest_and_then_ok_again(sink_wasm: Path, backend: str) -> None:
    """A host write raising Err(text) gives the guest err with the text; the next ok clears it."""
    inst = _instance(sink_wasm, backend)
    Sink.failure = Err("disk full")
    assert inst.exports["write"](16, 5) == 1
    assert inst.exports["error-len"]() == len("disk full")
    Sink.failure = None
    assert inst.exports["write"](16, 5) == 0


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    ("export", "args"),
    [
        ("write", (65530, 10)),
        ("put", (65536, 1)),
        ("write-handle", (99,)),
        ("write-area", (65528,)),
        ("write-area", (66,)),
    ],
)
def test_bytes_or_handles_outside_the_guest_trap(
    sink_wasm: Path, backend: str, export: str, args: tuple[int, ...]
) -> None:
    """Bytes past memory's end, an unknown handle, a result area past the end or misaligned fail."""
    inst = _instance(sink_wasm, backend)
    inst.exports["write"](16, 1)  # the guest holds its sink now
    with pytest.raises(Trap if backend == "omniwasm" else ExecutionError):
        inst.exports[export](*args)


def test_a_failing_host_write_is_a_host_function_error(sink_wasm: Path) -> None:
    """A host write raising a plain exception fails the call as HostFunctionError, with its cause."""
    inst = _instance(sink_wasm, "omniwasm")
    Sink.failure = OSError("gone")
    with pytest.raises(HostFunctionError) as info:
        inst.exports["write"](16, 5)
    assert isinstance(info.value.__cause__, OSError)
