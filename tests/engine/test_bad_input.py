"""Bad input fails with one precise error class and CLI exit code, and nothing stays broken."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from omniwasm import (
    InvalidModule,
    LinkError,
    MissingImport,
    OmniwasmError,
    Policy,
    PolicyError,
    Runtime,
)

Build = Callable[[str], Path]

MISSING_IMPORTS = """
(module
  (import "env" "f" (func (param i32) (result i32)))
  (import "env" "g" (func))
  (import "host" "mem" (memory 1))
  (import "env" "glob" (global i32))
  (func (export "_start")))
"""


def _bad_inputs(hello: bytes) -> dict[str, bytes]:
    return {
        "empty": b"",
        "garbage": b"this is not webassembly at all",
        "truncated": hello[: len(hello) // 2],
        "header_only_truncated": hello[:6],
        "wrong_magic": b"\0asX" + hello[4:],
        "wrong_version": hello[:4] + b"\x02\0\0\0" + hello[8:],
        "corrupt_body": hello[:8] + b"\xff" * 64 + hello[72:],
    }


BAD_NAMES = [
    "empty",
    "garbage",
    "truncated",
    "header_only_truncated",
    "wrong_magic",
    "wrong_version",
    "corrupt_body",
]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_bad_bytes_raise_invalid_module(c_module: Build, name: str) -> None:
    """Malformed bytes raise InvalidModule with a reason; the same runtime then runs a guest."""
    hello = c_module("hello")
    rt = Runtime()
    with pytest.raises(InvalidModule) as info:
        rt.load(_bad_inputs(hello.read_bytes())[name])
    assert info.value.reason
    assert "\n" not in str(info.value)
    assert rt.run(hello).stdout == b"hello from wasm\n"


@pytest.mark.parametrize("name", BAD_NAMES)
def test_cli_bad_file_exits_65(
    omniwasm_cli: list[str], c_module: Build, tmp_path: Path, name: str
) -> None:
    """The CLI reports malformed files as InvalidModule with exit code 65 and one line."""
    bad = tmp_path / "bad.wasm"
    bad.write_bytes(_bad_inputs(c_module("hello").read_bytes())[name])
    proc = subprocess.run(
        [*omniwasm_cli, "run", str(bad)], check=False, capture_output=True, text=True
    )
    assert proc.returncode == 65, proc.stderr
    assert proc.stderr.startswith("omniwasm: error: InvalidModule: ")
    assert len(proc.stderr.strip().splitlines()) == 1


def test_missing_file_is_invalid_module(tmp_path: Path) -> None:
    """Loading a path that does not exist raises InvalidModule naming the file."""
    with pytest.raises(InvalidModule, match="not found"):
        Runtime().load(tmp_path / "nope.wasm")


def test_invalid_wat_is_invalid_module() -> None:
    """Text that does not parse as WAT raises InvalidModule."""
    with pytest.raises(InvalidModule):
        Runtime().load("(module (func (result i32) i64.const 1))")


def test_component_where_module_expected(c_module: Build, c_component: Build) -> None:
    """load(expect='module') refuses a component with InvalidModule, and vice versa."""
    rt = Runtime()
    with pytest.raises(InvalidModule, match="expected a module, got a component"):
        rt.load(c_component("hello"), expect="module")
    with pytest.raises(InvalidModule, match="expected a component, got a module"):
        rt.load(c_module("hello"), expect="component")
    assert rt.load(c_component("hello"), expect="component").kind == "component"


def test_link_error_lists_every_missing_import_with_type() -> None:
    """LinkError.missing names all missing imports (functions, memory, global) with their types."""
    rt = Runtime()
    with pytest.raises(LinkError) as info:
        rt.instantiate(rt.load(MISSING_IMPORTS))
    assert info.value.missing == (
        MissingImport("env", "f", "func(i32) -> (i32)"),
        MissingImport("env", "g", "func() -> ()"),
        MissingImport("host", "mem", "memory(1)"),
        MissingImport("env", "glob", "global(i32)"),
    )
    assert str(info.value).startswith("4 unsatisfied import(s): env::f: func(i32) -> (i32)")
    assert rt.run('(module (func (export "_start")))').exit_code == 0


def test_link_error_lists_only_imports_still_missing() -> None:
    """With some imports supplied from Python, LinkError lists exactly the ones still missing."""
    rt = Runtime()
    with pytest.raises(LinkError) as info:
        rt.instantiate(rt.load(MISSING_IMPORTS), imports={"env": {"f": lambda x: x}})
    assert [m.name for m in info.value.missing] == ["g", "mem", "glob"]


def test_python_host_import_is_called() -> None:
    """A Python callable given in imports= is called by the guest with its arguments."""
    wat = """
    (module
      (import "env" "f" (func $f (param i32) (result i32)))
      (func (export "add") (param i32 i32) (result i32)
        local.get 0 local.get 1 i32.add call $f))
    """
    rt = Runtime()
    with rt.instantiate(rt.load(wat), imports={"env": {"f": lambda x: x * 10}}) as inst:
        assert inst.exports.add(1, 2) == 30


def test_cli_link_error_exits_69(omniwasm_cli: list[str], tmp_path: Path) -> None:
    """The CLI exits 69 on a LinkError and lists each missing import on its own line."""
    wat = tmp_path / "needs.wat"
    wat.write_text(MISSING_IMPORTS)
    proc = subprocess.run(
        [*omniwasm_cli, "run", str(wat)], check=False, capture_output=True, text=True
    )
    assert proc.returncode == 69, proc.stderr
    lines = proc.stderr.splitlines()
    assert lines[0].startswith("omniwasm: error: LinkError: 4 unsatisfied import(s)")
    assert [line.strip() for line in lines[1:]] == [
        "missing import env::f: func(i32) -> (i32)",
        "missing import env::g: func() -> ()",
        "missing import host::mem: memory(1)",
        "missing import env::glob: global(i32)",
    ]


def test_module_without_start_is_not_a_command() -> None:
    """run() on a module without _start raises InvalidModule."""
    with pytest.raises(InvalidModule, match="_start"):
        Runtime().run("(module)")


def test_missing_preopen_dir_is_policy_error(c_module: Build, tmp_path: Path) -> None:
    """Preopening a host directory that does not exist raises PolicyError."""
    rt = Runtime()
    with pytest.raises(PolicyError):
        rt.run(c_module("hello"), Policy(dirs=[f"{tmp_path / 'missing'}::/data"]))
    assert rt.run(c_module("hello")).exit_code == 0


def test_cli_missing_preopen_exits_78(
    omniwasm_cli: list[str], c_module: Build, tmp_path: Path
) -> None:
    """The CLI exits 78 (PolicyError) when a --dir does not exist."""
    proc = subprocess.run(
        [*omniwasm_cli, "run", "--dir", f"{tmp_path / 'missing'}::/x", str(c_module("hello"))],
        check=False,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 78, proc.stderr
    assert proc.stderr.startswith("omniwasm: error: PolicyError: ")


def test_trap_then_next_guest_runs(c_module: Build) -> None:
    """A trapping guest raises Trap (an OmniwasmError) and the runtime then runs the next guest."""
    from omniwasm import Trap

    rt = Runtime()
    with pytest.raises(Trap) as info:
        rt.run('(module (func (export "_start") unreachable))')
    assert isinstance(info.value, OmniwasmError)
    assert info.value.code == "unreachable"
    assert rt.run(c_module("hello")).exit_code == 0


def test_missing_stdin_file_is_policy_error(c_module: Build, tmp_path: Path) -> None:
    """A stdin path that does not exist raises PolicyError before the guest starts."""
    with pytest.raises(PolicyError, match="stdin"):
        Runtime().run(c_module("echo"), Policy(stdin=tmp_path / "missing"))


def test_code_from_another_runtime_is_refused(c_module: Build) -> None:
    """Compiled code from a runtime with other engine settings is refused with PolicyError."""
    compiled = Runtime().load(c_module("hello"))
    with pytest.raises(PolicyError, match="another Runtime"):
        Runtime(fuel=True).run(compiled)


def test_running_a_component_that_is_not_a_command_is_invalid_module() -> None:
    """Runtime.run of a component without wasi:cli/run raises InvalidModule, as for modules."""
    rt = Runtime()
    with pytest.raises(InvalidModule, match="not a WASI command"):
        rt.run("(component)")
    with pytest.raises(InvalidModule, match="not a WASI command"):
        rt.run("(module)")
