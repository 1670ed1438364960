"""The virtual WASI host: C command components behave as under wasmtime's native WASI.

The components are built with zig and the p1->0.2 adapter; they run on omniwasm's Python WASI
0.2, with streams the embedder controls.
"""

from __future__ import annotations

import io
import logging
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

import omniwasm
from omniwasm import Policy, Runtime, wasi

Build = Callable[[str], Path]


@pytest.fixture(scope="module")
def rt() -> Runtime:
    """One runtime for the module."""
    return Runtime()


@pytest.mark.parametrize(
    ("program", "policy"),
    [
        ("hello", Policy()),
        ("args", Policy(args=("a", "b c", "ünï"))),
        ("env", Policy(env={"FOO": "bar", "EMPTY": ""})),
        ("exitcode", Policy(args=("3",))),
        ("exitcode", Policy(args=("0",))),
        ("echo", Policy(stdin=b"line one\nline two\n")),
    ],
)
def test_stdout_and_exit_code_match_native_wasi(
    rt: Runtime, c_component: Build, program: str, policy: Policy
) -> None:
    """Each program's stdout, stderr and exit code are those of wasmtime's native WASI."""
    component = c_component(program)
    native = rt.run(component, policy)
    virtual = wasi.run(rt, component, policy)
    assert (virtual.exit_code, virtual.stdout, virtual.stderr) == (
        native.exit_code,
        native.stdout,
        native.stderr,
    )


def test_stdin_from_an_iterator_of_chunks(rt: Runtime, c_component: Build) -> None:
    """stdin can be an iterator of byte chunks, read in order to the end."""
    chunks = iter([b"ab", b"", b"c\n", b"d\n"])
    result = wasi.run(rt, c_component("echo"), Policy(), stdin=chunks)
    native = rt.run(c_component("echo"), Policy(stdin=b"abc\nd\n"))
    assert result.stdout == native.stdout


def test_stdin_from_a_file_object(rt: Runtime, c_component: Build) -> None:
    """stdin can be a binary file object."""
    result = wasi.run(rt, c_component("echo"), Policy(), stdin=io.BytesIO(b"from a file\n"))
    assert b"from a file" in result.stdout


def test_stdout_to_a_callback_and_stderr_to_a_logger(
    rt: Runtime, c_component: Build, caplog: pytest.LogCaptureFixture
) -> None:
    """stdout can go to a callable and stderr to a line-oriented logger."""
    got: list[bytes] = []
    logger = logging.getLogger("guest.stderr")
    with caplog.at_level(logging.INFO, logger="guest.stderr"):
        result = wasi.run(
            rt,
            c_component("streams"),
            Policy(),
            stdout=got.append,
            stderr=wasi.LineLogger(logger),
        )
    native = rt.run(c_component("streams"), Policy())
    assert b"".join(got) == native.stdout
    assert result.stdout == b""  # not captured: it went to the callback
    lines = [r.getMessage() for r in caplog.records if r.name == "guest.stderr"]
    assert "\n".join(lines) + "\n" == native.stderr.decode()


def test_stdout_to_a_file(rt: Runtime, c_component: Build, tmp_path: Path) -> None:
    """A Path in the policy's stdout receives the guest's output."""
    out = tmp_path / "out.txt"
    wasi.run(rt, c_component("hello"), Policy(stdout=out))
    assert out.read_bytes() == b"hello from wasm\n"


def test_concurrent_instances_never_mix_their_output(rt: Runtime, c_component: Build) -> None:
    """Instances running at once in several threads each capture only their own stdout."""
    component = rt.load(c_component("args"))
    failures: list[str] = []

    def work(n: int) -> None:
        for i in range(15):
            result = wasi.run(rt, component, Policy(args=(f"t{n}-{i}",)), argv0="args")
            if result.stdout != f"argc=2\nargv[0]=args\nargv[1]=t{n}-{i}\n".encode():
                failures.append(result.stdout.decode())

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []


def test_one_linker_serves_many_instances_with_their_own_context(
    rt: Runtime, c_component: Build
) -> None:
    """Instances from the shared linker keep separate contexts (host_data), even when open."""
    component = rt.load(c_component("args"))
    contexts = [wasi.WasiContext(Policy(args=(str(i),)), argv0="p") for i in range(3)]
    instances = [wasi.instantiate(rt, component, c) for c in contexts]
    for inst in reversed(instances):
        inst._inner.run_command()  # type: ignore[union-attr]
        inst.close()
    assert [c.stdout_bytes for c in contexts] == [
        f"argc=2\nargv[0]=p\nargv[1]={i}\n".encode() for i in range(3)
    ]


def test_host_data_outside_a_host_function_is_an_error() -> None:
    """omniwasm.host_data() called from plain Python raises a clear OmniwasmError."""
    with pytest.raises(omniwasm.OmniwasmError, match="only available inside"):
        omniwasm.host_data()


def test_policy_limits_apply_under_the_virtual_host(rt: Runtime, c_component: Build) -> None:
    """The policy's timeout stops a looping guest on the virtual host too."""
    with pytest.raises(omniwasm.Timeout):
        wasi.run(rt, c_component("loop"), Policy(timeout=0.3))


def test_native_wasi_linker_is_refused() -> None:
    """add_to_linker refuses a linker that also provides native WASI."""
    with pytest.raises(omniwasm.PolicyError, match="wasi=False"):
        wasi.add_to_linker(omniwasm.Linker())


def test_cli_run_wasi_virtual(c_component: Build) -> None:
    """`omniwasm run --wasi virtual` prints the guest's output and exits with its code."""
    cli = [sys.executable, "-m", "omniwasm"]
    hello = subprocess.run(
        [*cli, "run", "--wasi", "virtual", str(c_component("hello"))],
        capture_output=True,
        check=False,
    )
    assert (hello.returncode, hello.stdout) == (0, b"hello from wasm\n")
    code = subprocess.run(
        [*cli, "run", "--wasi", "virtual", str(c_component("exitcode")), "3"],
        capture_output=True,
        check=False,
    )
    assert code.returncode == 1  # WASI 0.2's exit carries ok/err only, as natively


def test_cli_deterministic_needs_virtual(c_component: Build) -> None:
    """--deterministic without --wasi virtual is a usage error."""
    run = subprocess.run(
        [sys.executable, "-m", "omniwasm", "run", "--deterministic", str(c_component("hello"))],
        capture_output=True,
        check=False,
    )
    assert run.returncode != 0
    assert b"--wasi virtual" in run.stderr
