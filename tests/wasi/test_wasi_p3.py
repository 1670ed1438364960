"""WASI 0.3 commands on the virtual host (``omniwasm.wasi.p3``), compared with wasmtime 49.

The guests are hand-written WAT components in ``tests/fixtures/async/`` (``p3_*.wat``). Every
run is bounded by the policy's timeout and by :func:`bounded`.
"""

from __future__ import annotations

import subprocess
from functools import partial
from pathlib import Path
from typing import Any

import pytest

import omniwasm
from fixtures.bounded import bounded_call
from fixtures.wat_components import assemble
from omniwasm.wasi import p3

ASYNC = Path(__file__).parent.parent / "fixtures" / "async"
LIMIT = 20.0
POLICY = omniwasm.Policy(timeout=5)


bounded = partial(bounded_call, limit=LIMIT)


def guest(name: str) -> Path:
    """A WASI 0.3 fixture, assembled."""
    return assemble(ASYNC / f"{name}.wat", "p3-")


def wasmtime_run(exe: str, path: Path) -> tuple[int, bytes]:
    """``wasmtime run -Sp3 -W component-model-async=y``: exit code and stdout."""
    cmd = [exe, "run", "-Sp3", "-W", "component-model-async=y", str(path)]
    run = subprocess.run(cmd, capture_output=True, timeout=LIMIT, check=False)
    return run.returncode, run.stdout


def test_stdout_is_a_stream_the_host_drains() -> None:
    """A command's write-via-stream output is captured, and run() ends after it is drained."""
    result = bounded(lambda: p3.run(omniwasm.Runtime(), guest("p3_hello"), POLICY))
    assert (result.exit_code, result.stdout) == (0, b"hello from wasi 0.3\n")


def test_exit_with_code() -> None:
    """wasi:cli/exit@0.3.0 exit-with-code gives the run its exit code."""
    result = bounded(lambda: p3.run(omniwasm.Runtime(), guest("p3_exit"), POLICY))
    assert result.exit_code == 7


@pytest.mark.reference
@pytest.mark.parametrize(
    "name", ["p3_hello", "p3_exit", "p3_sleep", "p3_fail", "p3_run_err", "p3_mixed", "p3_random"]
)
def test_same_as_wasmtime(reference_wasmtime: str, name: str) -> None:
    """wasmtime 49 gives the same exit code and stdout for the same file."""
    path = guest(name)
    result = bounded(lambda: p3.run(omniwasm.Runtime(), path, POLICY))
    assert wasmtime_run(reference_wasmtime, path) == (result.exit_code, result.stdout)


@pytest.mark.parametrize("deterministic", [False, True])
def test_random_draws_differ_and_fill_what_was_asked(deterministic: bool) -> None:
    """wasi:random 0.3: two u64 draws differ; get-random-bytes(16) gives 16 bytes, not all 0.

    The guest's exit code is 1 + 2 + 4 when all three hold, on the seeded deterministic
    entropy too.
    """
    policy = POLICY.with_(deterministic=deterministic)
    result = bounded(lambda: p3.run(omniwasm.Runtime(), guest("p3_random"), policy))
    assert result.exit_code == 7


def test_output_then_a_0_2_exit_keeps_both() -> None:
    """A command writing through 0.3 stdout and exiting through 0.2 exit keeps its output.

    The guest exits in the callback the stdout drain runs: the exit is the run's end (code 1),
    not a failure of the host's drain.
    """
    result = bounded(lambda: p3.run(omniwasm.Runtime(), guest("p3_mixed"), POLICY))
    assert (result.exit_code, result.stdout) == (1, b"hello from wasi 0.3\n")


def test_both_versions_are_defined(tmp_path: Path) -> None:
    """The linker defines 0.3.0 and the test suite's 0.3.0-rc-2026-03-15 names."""
    assert p3.VERSIONS == ("0.3.0", "0.3.0-rc-2026-03-15")
    src = (ASYNC / "p3_hello.wat").read_text().replace("@0.3.0", "@0.3.0-rc-2026-03-15")
    rc = tmp_path / "p3_hello_rc.wat"
    rc.write_text(src)
    result = bounded(lambda: p3.run(omniwasm.Runtime(), assemble(rc, "p3-"), POLICY))
    assert result.stdout == b"hello from wasi 0.3\n"


def test_stdin_is_a_stream() -> None:
    """stdin.read-via-stream gives the policy's stdin as a stream, to its end (100 KB)."""
    data = bytes(range(256)) * 400

    def run() -> Any:
        return p3.run(omniwasm.Runtime(), guest("p3_cat"), POLICY, stdin=data)

    result = bounded(run)
    assert (result.exit_code, result.stdout) == (0, data)


@pytest.mark.reference
def test_cat_matches_wasmtime(reference_wasmtime: str) -> None:
    """wasmtime 49 copies the same stdin to the same stdout."""
    path = guest("p3_cat")
    flags = "component-model-async=y,component-model-more-async-builtins=y"
    cmd = [reference_wasmtime, "run", "-Sp3", "-W", flags, str(path)]
    run = subprocess.run(
        cmd, input=b"hello\nworld\n", capture_output=True, timeout=LIMIT, check=False
    )
    result = bounded(lambda: p3.run(omniwasm.Runtime(), path, POLICY, stdin=b"hello\nworld\n"))
    assert (
        (run.returncode, run.stdout) == (result.exit_code, result.stdout) == (0, b"hello\nworld\n")
    )


@pytest.mark.parametrize("deterministic", [False, True])
def test_wait_for_moves_the_monotonic_clock(deterministic: bool) -> None:
    """monotonic-clock wait-for (async) ends after the duration; a virtual clock advances."""
    policy = POLICY.with_(deterministic=deterministic)
    result = bounded(lambda: p3.run(omniwasm.Runtime(), guest("p3_sleep"), policy))
    assert result.exit_code == 0
