"""`omniwasm run / invoke / compile / cache` in a real subprocess, as a user types them."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

Build = Callable[[str], Path]
CLI = list[str]

ADD = '(module (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add))'

DataDir = Callable[[str], Path]


def _run(cli: CLI, *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([*cli, *args], input=stdin, check=False, capture_output=True, timeout=60)


def test_run_hello(omniwasm_cli: CLI, c_module: Build) -> None:
    """`omniwasm run` prints the guest's stdout and exits 0."""
    proc = _run(omniwasm_cli, "run", str(c_module("hello")))
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, b"hello from wasm\n", b"")


def test_run_passes_args_after_file(omniwasm_cli: CLI, c_module: Build) -> None:
    """Arguments after FILE go to the guest, even ones that look like flags."""
    proc = _run(omniwasm_cli, "run", "--argv0", "prog", str(c_module("args")), "a b", "--dir", "x")
    assert proc.stdout.decode().splitlines() == [
        "argc=4",
        "argv[0]=prog",
        "argv[1]=a b",
        "argv[2]=--dir",
        "argv[3]=x",
    ]


def test_run_env_explicit_and_inherited(
    omniwasm_cli: CLI, c_module: Build, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--env K=V sets a variable, --env K copies it from the host, and nothing else leaks."""
    monkeypatch.setenv("OMNI_FROM_HOST", "h")
    monkeypatch.setenv("OMNI_NOT_ASKED", "leak")
    proc = _run(
        omniwasm_cli, "run", "--env", "A=1", "--env", "OMNI_FROM_HOST", str(c_module("env"))
    )
    assert proc.stdout.decode().splitlines() == ["A=1", "OMNI_FROM_HOST=h", "count=2"]


def test_run_stdout_and_stderr_go_to_their_streams(omniwasm_cli: CLI, c_module: Build) -> None:
    """The guest's stdout and stderr reach the CLI's stdout and stderr."""
    proc = _run(omniwasm_cli, "run", str(c_module("streams")))
    assert proc.stdout == b"to stdout\n"
    assert proc.stderr == b"to stderr\n"


def test_run_inherits_stdin(omniwasm_cli: CLI, c_module: Build) -> None:
    """The guest reads the CLI's own stdin."""
    proc = _run(omniwasm_cli, "run", str(c_module("echo")), stdin=b"piped\n")
    assert proc.stdout == b"piped\n"


def test_run_stdin_from_file(omniwasm_cli: CLI, c_module: Build, tmp_path: Path) -> None:
    """--stdin FILE feeds that file to the guest."""
    src = tmp_path / "in.txt"
    src.write_bytes(b"from file\n")
    proc = _run(omniwasm_cli, "run", "--stdin", str(src), str(c_module("echo")), stdin=b"no")
    assert proc.stdout == b"from file\n"


@pytest.mark.parametrize("code", [0, 3, 42])
def test_module_exit_code_passes_through(omniwasm_cli: CLI, c_module: Build, code: int) -> None:
    """A p1 module's exit code becomes the process's exit code."""
    proc = _run(omniwasm_cli, "run", str(c_module("exitcode")), str(code))
    assert proc.returncode == code
    assert proc.stderr == b""


@pytest.mark.parametrize(("code", "expected"), [(0, 0), (42, 1)])
def test_component_exit_code_is_zero_or_one(
    omniwasm_cli: CLI, c_component: Build, code: int, expected: int
) -> None:
    """A component's non-zero exit becomes exit code 1, as with wasmtime."""
    proc = _run(omniwasm_cli, "run", str(c_component("exitcode")), str(code))
    assert proc.returncode == expected


def test_run_dir_read_write(
    data_dir: DataDir, omniwasm_cli: CLI, c_module: Build, tmp_path: Path
) -> None:
    """--dir HOST::GUEST lets the guest read and write in that directory."""
    data = data_dir("cli input")
    proc = _run(omniwasm_cli, "run", "--dir", f"{data}::/data", str(c_module("files")), "/data")
    assert proc.returncode == 0, proc.stdout
    assert (data / "out.txt").read_text() == "written by wasm"


@pytest.mark.parametrize("flag", ["ro-suffix", "dir-ro"])
def test_run_read_only_dir(
    data_dir: DataDir, omniwasm_cli: CLI, c_component: Build, tmp_path: Path, flag: str
) -> None:
    """--dir H::G:ro and --dir-ro H::G both refuse writes in the guest."""
    data = data_dir("cli input")
    opts = ["--dir", f"{data}::/data:ro"] if flag == "ro-suffix" else ["--dir-ro", f"{data}::/data"]
    proc = _run(omniwasm_cli, "run", *opts, str(c_component("files")), "/data")
    assert proc.stdout.startswith(b"read: cli input\nwrite failed:")
    assert proc.returncode == 1
    assert not (data / "out.txt").exists()


def test_run_escape_attempts_refused(omniwasm_cli: CLI, c_module: Build, tmp_path: Path) -> None:
    """From the CLI too, ../, absolute and symlink escapes from a --dir are refused."""
    box = tmp_path / "box"
    box.mkdir()
    (tmp_path / "secret.txt").write_text("SECRET")
    (box / "link").symlink_to(tmp_path / "secret.txt")
    paths = ["/data/../secret.txt", str(tmp_path / "secret.txt"), "/data/link"]
    proc = _run(omniwasm_cli, "run", "--dir", f"{box}::/data", str(c_module("escape")), *paths)
    lines = proc.stdout.decode().splitlines()
    assert len(lines) == 3, proc.stderr
    assert all(": refused: " in line for line in lines), lines


def test_invoke_core_function(omniwasm_cli: CLI, tmp_path: Path) -> None:
    """`omniwasm invoke FILE 'add(1, 2)'` prints the result."""
    wat = tmp_path / "add.wat"
    wat.write_text(ADD)
    proc = _run(omniwasm_cli, "invoke", str(wat), "add(1, 2)")
    assert (proc.returncode, proc.stdout) == (0, b"3\n")
    proc = _run(omniwasm_cli, "run", "--invoke", "add", str(wat), "40", "2")
    assert (proc.returncode, proc.stdout) == (0, b"42\n")


def test_invoke_bad_argument_exits_64(omniwasm_cli: CLI, tmp_path: Path) -> None:
    """A non-numeric argument is a ValueConversionError, exit code 64."""
    wat = tmp_path / "add.wat"
    wat.write_text(ADD)
    proc = _run(omniwasm_cli, "invoke", str(wat), "add(1, x)")
    assert proc.returncode == 64
    assert proc.stderr.startswith(b"omniwasm: error: ValueConversionError: ")


def test_trap_exits_134_and_debug_shows_traceback(omniwasm_cli: CLI, tmp_path: Path) -> None:
    """A trap exits 134 with one line; --debug adds the backtrace and Python traceback."""
    wat = tmp_path / "trap.wat"
    wat.write_text('(module (func (export "_start") unreachable))')
    proc = _run(omniwasm_cli, "run", str(wat))
    assert proc.returncode == 134
    assert proc.stderr.decode().splitlines() == [
        "omniwasm: error: Trap: wasm trap: wasm `unreachable` instruction executed"
    ]
    debug = _run(omniwasm_cli, "run", "--debug", str(wat))
    assert debug.returncode == 134
    assert b"Traceback" in debug.stderr


def test_missing_file_exits_65(omniwasm_cli: CLI, tmp_path: Path) -> None:
    """Running a file that does not exist is an InvalidModule, exit 65, one line."""
    proc = _run(omniwasm_cli, "run", str(tmp_path / "nope.wasm"))
    assert proc.returncode == 65
    assert len(proc.stderr.splitlines()) == 1


def test_bad_flag_value_exits_78(omniwasm_cli: CLI, c_module: Build) -> None:
    """A malformed --max-memory is a PolicyError, exit 78."""
    proc = _run(omniwasm_cli, "run", "--max-memory", "lots", str(c_module("hello")))
    assert proc.returncode == 78
    assert proc.stderr.startswith(b"omniwasm: error: PolicyError: ")


@pytest.mark.parametrize("kind", ["module", "component"])
def test_compile_then_run_cwasm(
    omniwasm_cli: CLI, c_module: Build, c_component: Build, tmp_path: Path, kind: str
) -> None:
    """`omniwasm compile` writes a .cwasm that `omniwasm run --allow-precompiled` runs.

    With the own component runtime forced, a precompiled component is refused, saying why:
    that runtime needs the component binary, which a .cwasm does not carry.
    """
    src = (c_module if kind == "module" else c_component)("args")
    out = tmp_path / "args.cwasm"
    proc = _run(omniwasm_cli, "compile", str(src), "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    assert out.stat().st_size > 0
    run = _run(omniwasm_cli, "run", "--allow-precompiled", "--argv0", "x", str(out), "hi")
    forced = os.environ.get("OMNIWASM_COMPONENTS", "").strip().lower() == "omniwasm"
    if kind == "component" and forced:
        assert run.returncode == 78
        assert b"precompiled code has no binary" in run.stderr
        return
    assert run.returncode == 0, run.stderr
    assert run.stdout == b"argc=2\nargv[0]=x\nargv[1]=hi\n"


def test_cache_info_and_clear(omniwasm_cli: CLI, c_module: Build, isolated_env: Path) -> None:
    """`cache info --json` reports the entries a run created and `cache clear` removes them."""
    assert _run(omniwasm_cli, "run", str(c_module("hello"))).returncode == 0
    info = json.loads(_run(omniwasm_cli, "cache", "info", "--json").stdout)
    assert info["path"] == str(isolated_env)
    assert info["entries"] == 1
    cleared = _run(omniwasm_cli, "cache", "clear")
    assert cleared.stdout == b"removed 1 entries\n"
    info = json.loads(_run(omniwasm_cli, "cache", "info", "--json").stdout)
    assert info["entries"] == 0


def test_no_cache_flag_writes_nothing(
    omniwasm_cli: CLI, c_module: Build, isolated_env: Path
) -> None:
    """`run --no-cache` leaves the cache directory empty."""
    assert _run(omniwasm_cli, "run", "--no-cache", str(c_module("hello"))).returncode == 0
    assert not list(isolated_env.rglob("*.cwasm"))
