"""`omniwasm run` matches the reference `wasmtime run` on the same programs (stdout, exit code)."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

pytestmark = pytest.mark.reference

Build = Callable[[str], Path]
Tools = tuple[str, list[str]]


@pytest.fixture
def tools(reference_wasmtime: str, omniwasm_cli: list[str]) -> Tools:
    """The reference wasmtime CLI path and the omniwasm CLI command."""
    return reference_wasmtime, omniwasm_cli


@pytest.fixture(params=["module", "component"])
def build(request: pytest.FixtureRequest, c_module: Build, c_component: Build) -> Build:
    """Build a C fixture as a p1 module or as a 0.2 command component."""
    return c_module if request.param == "module" else c_component


# (fixture, guest args, stdin)
CASES: dict[str, tuple[str, list[str], bytes]] = {
    "hello": ("hello", [], b""),
    "args": ("args", ["one", "two words", "--flag"], b""),
    "stderr": ("streams", [], b""),
    "exit0": ("exitcode", ["0"], b""),
    "exit3": ("exitcode", ["3"], b""),
    "exit42": ("exitcode", ["42"], b""),
    "exit200": ("exitcode", ["200"], b""),
    "stdin": ("echo", [], b"some\ninput\x00bytes"),
}


def _both(
    tools: Tools, flags: list[str], path: Path, *, args: list[str], stdin: bytes
) -> tuple[subprocess.CompletedProcess[bytes], subprocess.CompletedProcess[bytes]]:
    def go(cmd: list[str]) -> subprocess.CompletedProcess[bytes]:
        full = [*cmd, "run", "--argv0", "prog", *flags, str(path), *args]
        return subprocess.run(full, input=stdin, check=False, capture_output=True, timeout=60)

    return go([tools[0]]), go(tools[1])


@pytest.mark.parametrize("case", sorted(CASES))
def test_same_output_and_exit_code(tools: Tools, build: Build, case: str) -> None:
    """Both runtimes print the same stdout and exit with the same code for the same program."""
    fixture, args, stdin = CASES[case]
    ref, ours = _both(tools, [], build(fixture), args=args, stdin=stdin)
    assert ours.stdout == ref.stdout
    assert ours.returncode == ref.returncode, (ref.stderr, ours.stderr)


def test_same_env(tools: Tools, build: Build, monkeypatch: pytest.MonkeyPatch) -> None:
    """--env K=V and --env K (inherit one variable) give the same environment in both."""
    monkeypatch.setenv("OMNI_REF_HOST", "from-host")
    flags = ["--env", "A=1", "--env", "OMNI_REF_HOST"]
    ref, ours = _both(tools, flags, build("env"), args=[], stdin=b"")
    assert ours.stdout == ref.stdout
    assert b"count=2\n" in ours.stdout


def test_same_preopen_behaviour(
    reference_wasmtime: str, omniwasm_cli: list[str], c_module: Build, tmp_path: Path
) -> None:
    """Reading and writing a --dir, and escape attempts from it, behave the same in both."""
    outputs = []
    for who in ("ref", "ours"):
        root = tmp_path / who
        box = root / "box"
        box.mkdir(parents=True)
        (box / "in.txt").write_text("same input")
        (root / "secret.txt").write_text("SECRET")
        (box / "link").symlink_to(root / "secret.txt")
        cmd = [reference_wasmtime] if who == "ref" else omniwasm_cli
        flags = ["--dir", f"{box}::/data"]
        files = subprocess.run(
            [*cmd, "run", *flags, str(c_module("files")), "/data"],
            check=False,
            capture_output=True,
        )
        escape_paths = ["/data/in.txt", "/data/../secret.txt", "/secret.txt", "/data/link"]
        escape = subprocess.run(
            [*cmd, "run", *flags, str(c_module("escape")), *escape_paths],
            check=False,
            capture_output=True,
        )
        outputs.append(
            (files.returncode, files.stdout, (box / "out.txt").read_text(), escape.stdout)
        )
    assert outputs[0] == outputs[1]
    assert b"SECRET" not in outputs[1][3]


def test_same_trap_exit_code(tools: Tools, tmp_path: Path) -> None:
    """A trapping _start exits 134 in both."""
    wat = tmp_path / "trap.wat"
    wat.write_text('(module (func (export "_start") unreachable))')
    ref, ours = _both(tools, [], wat, args=[], stdin=b"")
    assert ours.returncode == ref.returncode == 134


def test_same_invoke_output(
    reference_wasmtime: str, omniwasm_cli: list[str], tmp_path: Path
) -> None:
    """`run --invoke add FILE 1 2` prints the same result in both."""
    wat = tmp_path / "add.wat"
    wat.write_text(
        '(module (func (export "add") (param i32 i32) (result i32)'
        " local.get 0 local.get 1 i32.add))"
    )
    results = [
        subprocess.run(
            [*cmd, "run", "--invoke", "add", str(wat), "1", "2"], check=False, capture_output=True
        )
        for cmd in ([reference_wasmtime], omniwasm_cli)
    ]
    assert results[0].returncode == results[1].returncode == 0
    assert results[0].stdout == results[1].stdout == b"3\n"
