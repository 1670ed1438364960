"""Option parsing as a wasmtime user expects it.

Strict options before FILE, the -W/-S groups, -h, --version, `omniwasm FILE` as `run`,
--allow-precompiled, and invoke taking run's options.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

Build = Callable[[str], Path]
CLI = list[str]
ADD = '(module (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add))'


def _run(
    cli: CLI, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*cli, *args], check=False, capture_output=True, timeout=60, text=True, env=env
    )


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("--timout", "2s"), "No such option: --timout"),
        (("-X",), "No such option: -X"),
        (("-W", "fual=10"), "unknown option 'fual' (did you mean fuel?)"),
        (("-S", "nework"), "omniwasm knows cli, http, inherit-env"),
        (("-W", "fuel"), "fuel needs a value"),
        (("-W", "fuel=ten"), "expected a whole number"),
        (("--fuel", "5", "-W", "fuel=10"), "fuel is given twice"),
        (("-S", "cli=n"), "always gives a guest wasi:cli"),
    ],
)
def test_a_bad_option_before_the_file_is_a_usage_error(
    omniwasm_cli: CLI, c_module: Build, argv: tuple[str, ...], message: str
) -> None:
    """Unknown or malformed options before FILE exit 2 with a usage message (not 'file not found')."""
    for command in ("run", "invoke"):
        extra = ("f",) if command == "invoke" else ()
        proc = _run(omniwasm_cli, command, *argv, str(c_module("hello")), *extra)
        assert proc.returncode == 2, proc.stderr
        flat = " ".join(proc.stderr.replace("│", " ").split())
        assert message in flat
        assert "InvalidModule" not in proc.stderr


def test_the_did_you_mean_of_a_misspelt_flag(omniwasm_cli: CLI, c_module: Build) -> None:
    """A misspelt long option names the close one."""
    proc = _run(omniwasm_cli, "run", "--timout", "2s", str(c_module("hello")))
    assert "--timeout" in proc.stderr.split("No such option: --timout", 1)[1]


def test_everything_after_the_file_goes_to_the_guest(omniwasm_cli: CLI, c_module: Build) -> None:
    """-W, -h and unknown flags after FILE are the guest's arguments."""
    proc = _run(omniwasm_cli, "run", str(c_module("args")), "-W", "fuel=1", "-h", "--nope")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[2:] == [
        "argv[1]=-W",
        "argv[2]=fuel=1",
        "argv[3]=-h",
        "argv[4]=--nope",
    ]


def test_w_fuel_and_timeout_limit_the_guest(omniwasm_cli: CLI, c_module: Build) -> None:
    """-W fuel=N runs out of fuel (133) and -W timeout=... times out (124), like the flags."""
    loop = str(c_module("loop"))
    assert _run(omniwasm_cli, "run", "-W", "fuel=100000", loop).returncode == 133
    assert _run(omniwasm_cli, "run", "-W", "timeout=300ms", loop).returncode == 124
    both = _run(omniwasm_cli, "run", "-W", "timeout=30s,fuel=100000", loop)
    assert both.returncode == 133  # comma-separated: the fuel runs out long before 30 s


def test_w_max_memory_size_limits_memory(omniwasm_cli: CLI, c_module: Build) -> None:
    """-W max-memory-size=N is --max-memory: a guest growing past it is stopped (137)."""
    proc = _run(omniwasm_cli, "run", "-W", "max-memory-size=4MiB", str(c_module("memhog")))
    assert proc.returncode == 137, proc.stderr


def test_s_inherit_env_passes_the_whole_environment(omniwasm_cli: CLI, c_module: Build) -> None:
    """-S inherit-env gives the guest this process's environment; without it, none."""
    import os

    env = {**os.environ, "PAPER_CUT": "seen"}
    on = _run(omniwasm_cli, "run", "-S", "inherit-env", str(c_module("env")), env=env)
    off = _run(omniwasm_cli, "run", str(c_module("env")), env=env)
    assert "PAPER_CUT=seen" in on.stdout.splitlines()
    assert off.stdout.splitlines() == ["count=0"]


@pytest.mark.parametrize("flag", ["-h", "--help"])
@pytest.mark.parametrize(
    "command", [(), ("run",), ("invoke",), ("serve",), ("plugin", "call"), ("cache", "prune")]
)
def test_h_is_help_everywhere(omniwasm_cli: CLI, flag: str, command: tuple[str, ...]) -> None:
    """-h and --help print the usage of the app and of every command, exit 0."""
    proc = _run(omniwasm_cli, *command, flag)
    assert proc.returncode == 0, proc.stderr
    assert "Usage: omniwasm" in proc.stdout


@pytest.mark.parametrize("flag", ["--version", "-V"])
def test_version(omniwasm_cli: CLI, flag: str) -> None:
    """--version and -V print omniwasm's and wasmtime's versions."""
    from importlib.metadata import version

    import omniwasm

    proc = _run(omniwasm_cli, flag)
    assert (proc.returncode, proc.stdout) == (
        0,
        f"omniwasm {omniwasm.__version__} (wasmtime {version('wasmtime')})\n",
    )


def test_a_file_first_means_run(omniwasm_cli: CLI, c_module: Build) -> None:
    """`omniwasm prog.wasm ARGS` and `omniwasm --argv0 p prog.wasm ARGS` are `run`."""
    args = str(c_module("args"))
    plain = _run(omniwasm_cli, args, "x", "--y")
    assert plain.returncode == 0, plain.stderr
    assert plain.stdout.splitlines()[-2:] == ["argv[1]=x", "argv[2]=--y"]
    flagged = _run(omniwasm_cli, "--argv0", "p", args, "x")
    assert flagged.stdout.splitlines() == ["argc=2", "argv[0]=p", "argv[1]=x"]


def test_an_unknown_command_is_still_a_usage_error(omniwasm_cli: CLI) -> None:
    """A word that is no command and no file is refused with a suggestion, exit 2."""
    proc = _run(omniwasm_cli, "rnu")
    assert proc.returncode == 2
    assert "No such command 'rnu'" in proc.stderr and "run" in proc.stderr


def test_precompiled_code_needs_allow_precompiled(
    omniwasm_cli: CLI, c_module: Build, tmp_path: Path
) -> None:
    """A .cwasm runs only with --allow-precompiled (PolicyError, exit 78, without it)."""
    cwasm = tmp_path / "hello.cwasm"
    assert _run(omniwasm_cli, "compile", str(c_module("hello")), "-o", str(cwasm)).returncode == 0
    refused = _run(omniwasm_cli, "run", str(cwasm))
    assert refused.returncode == 78
    assert "--allow-precompiled" in refused.stderr
    allowed = _run(omniwasm_cli, "run", "--allow-precompiled", str(cwasm))
    assert (allowed.returncode, allowed.stdout) == (0, "hello from wasm\n")


def test_invoke_takes_runs_options(omniwasm_cli: CLI, tmp_path: Path) -> None:
    """invoke accepts run's options (-W, --no-cache, --max-instances ...) before the file."""
    wat = tmp_path / "add.wat"
    wat.write_text(ADD)
    proc = _run(
        omniwasm_cli,
        "invoke",
        "-W",
        "fuel=1000",
        "--no-cache",
        "--max-instances",
        "2",
        "--argv0",
        "x",
        str(wat),
        "add(2, 3)",
    )
    assert (proc.returncode, proc.stdout) == (0, "5\n"), proc.stderr
    starved = _run(omniwasm_cli, "invoke", "-W", "fuel=0", str(wat), "add(2, 3)")
    assert starved.returncode == 133


def test_s_http_lets_the_guest_reach_any_host(
    omniwasm_cli: CLI, wasi_guest: Callable[[str], Path], http_origin: Any
) -> None:
    """-S http gives the guest outgoing HTTP (on the virtual host); without it, denied."""
    # without -S http on the native host, wasi:http is not linked (LinkError), as in wasmtime
    guest = str(wasi_guest("http_get"))
    allowed = _run(omniwasm_cli, "run", "-S", "http", guest, http_origin.authority, "/hello")
    assert allowed.returncode == 0, allowed.stderr
    assert allowed.stdout.startswith("handle: ok\nstatus: 200\nbody: hello over http\n")
    denied = _run(omniwasm_cli, "run", "--wasi", "virtual", guest, http_origin.authority, "/hello")
    assert denied.stdout == "handle: error HTTP-request-denied\n"


def test_without_s_http_the_link_error_says_so(
    omniwasm_cli: CLI, wasi_guest: Callable[[str], Path]
) -> None:
    """A guest importing wasi:http, run without -S http: LinkError (69) with a -S http hint."""
    proc = _run(omniwasm_cli, "run", str(wasi_guest("http_get")), "127.0.0.1:9", "/")
    assert proc.returncode == 69
    lines = proc.stderr.splitlines()
    assert lines[0].startswith("omniwasm: error: LinkError: ")
    assert "  hint: outgoing HTTP is off: -S http gives the guest wasi:http" in proc.stderr


def test_s_http_on_the_native_host_is_refused(
    omniwasm_cli: CLI, wasi_guest: Callable[[str], Path]
) -> None:
    """-S http with --wasi native is a PolicyError (native WASI has no outgoing HTTP here)."""
    proc = _run(omniwasm_cli, "run", "-S", "http", "--wasi", "native", str(wasi_guest("http_get")))
    assert proc.returncode == 78
    assert "-S http needs the virtual WASI host" in proc.stderr


def test_s_cli_is_accepted(omniwasm_cli: CLI, c_module: Build) -> None:
    """-S cli (wasmtime's default) runs the guest as without it."""
    proc = _run(omniwasm_cli, "run", "-S", "cli", str(c_module("hello")))
    assert (proc.returncode, proc.stdout) == (0, "hello from wasm\n")
