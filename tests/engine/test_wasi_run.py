"""Running WASI commands (p1 modules and 0.2 components) through ``Runtime.run``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from omniwasm import Mount, Policy, Runtime

Build = Callable[[str], Path]

DataDir = Callable[[str], Path]


@pytest.fixture(scope="module")
def rt() -> Runtime:
    """One runtime shared by the tests of this module (it is thread-safe and reusable)."""
    return Runtime()


@pytest.fixture(params=["module", "component"])
def build(request: pytest.FixtureRequest, c_module: Build, c_component: Build) -> Build:
    """Build a C fixture as a p1 module or as a 0.2 command component."""
    return c_module if request.param == "module" else c_component


def test_hello_stdout_is_captured(rt: Runtime, build: Build) -> None:
    """A guest's stdout is returned on the RunResult with exit code 0."""
    result = rt.run(build("hello"))
    assert result.exit_code == 0
    assert result.stdout == b"hello from wasm\n"
    assert result.stderr == b""


def test_args_are_passed_after_argv0(rt: Runtime, build: Build) -> None:
    """Policy.args arrive as argv[1:] verbatim (spaces included) after the argv0 given to run."""
    result = rt.run(build("args"), Policy(args=["one", "two words", ""]), argv0="prog")
    assert result.stdout.decode().splitlines() == [
        "argc=4",
        "argv[0]=prog",
        "argv[1]=one",
        "argv[2]=two words",
        "argv[3]=",
    ]


def test_argv0_defaults_to_file_name(rt: Runtime, c_module: Build) -> None:
    """Without argv0, the guest sees the source file's name as argv[0]."""
    path = c_module("args")
    assert f"argv[0]={path.name}\n".encode() in rt.run(path).stdout


def test_default_policy_gives_no_args(rt: Runtime, build: Build) -> None:
    """The deny-all default policy passes only argv[0]."""
    assert rt.run(build("args")).stdout.startswith(b"argc=1\n")


def test_env_is_explicit_only(rt: Runtime, build: Build, monkeypatch: pytest.MonkeyPatch) -> None:
    """The guest sees exactly the policy's env pairs, never the host's environment."""
    monkeypatch.setenv("OMNI_HOST_SECRET", "leak")
    result = rt.run(build("env"), Policy(env={"A": "1", "B": "x=y"}))
    assert result.stdout.decode().splitlines() == ["A=1", "B=x=y", "count=2"]


def test_env_empty_by_default(rt: Runtime, build: Build, monkeypatch: pytest.MonkeyPatch) -> None:
    """A default policy gives the guest an empty environment."""
    monkeypatch.setenv("OMNI_HOST_SECRET", "leak")
    assert rt.run(build("env")).stdout == b"count=0\n"


def test_inherit_env_passes_host_env_and_explicit_wins(
    rt: Runtime, c_module: Build, monkeypatch: pytest.MonkeyPatch
) -> None:
    """inherit_env=True exposes the host's variables, and explicit pairs override them."""
    monkeypatch.setenv("OMNI_HOST_VAR", "from-host")
    monkeypatch.setenv("OMNI_OVERRIDDEN", "host")
    policy = Policy(env={"OMNI_OVERRIDDEN": "policy"}, inherit_env=True)
    lines = rt.run(c_module("env"), policy).stdout.decode().splitlines()
    assert "OMNI_HOST_VAR=from-host" in lines
    assert "OMNI_OVERRIDDEN=policy" in lines
    assert "OMNI_OVERRIDDEN=host" not in lines


def test_stdout_and_stderr_are_captured_separately(rt: Runtime, build: Build) -> None:
    """stdout and stderr are captured into their own buffers."""
    result = rt.run(build("streams"))
    assert result.stdout == b"to stdout\n"
    assert result.stderr == b"to stderr\n"


def test_stdout_to_file_and_stderr_discarded(rt: Runtime, c_module: Build, tmp_path: Path) -> None:
    """stdout=Path writes the guest's stdout to that file; stderr='discard' drops it."""
    out = tmp_path / "out.txt"
    result = rt.run(c_module("streams"), Policy(stdout=out, stderr="discard"))
    assert out.read_bytes() == b"to stdout\n"
    assert result.stdout == b"" and result.stderr == b""


def test_stdin_bytes_are_fed_to_guest(rt: Runtime, build: Build) -> None:
    """stdin=bytes is what the guest reads, binary-safe."""
    data = b"line 1\nline\x002\n" * 100
    assert rt.run(build("echo"), Policy(stdin=data)).stdout == data


def test_stdin_from_file(rt: Runtime, c_module: Build, tmp_path: Path) -> None:
    """stdin=Path feeds that file's contents to the guest."""
    src = tmp_path / "in.bin"
    src.write_bytes(b"from a file\n")
    assert rt.run(c_module("echo"), Policy(stdin=src)).stdout == b"from a file\n"


def test_stdin_empty_by_default(rt: Runtime, c_module: Build) -> None:
    """A default policy gives the guest an empty stdin (EOF at once, no hang)."""
    assert rt.run(c_module("echo")).stdout == b""


@pytest.mark.parametrize("code", [0, 1, 3, 42, 125])
def test_module_exit_code_is_exact(rt: Runtime, c_module: Build, code: int) -> None:
    """A p1 module's exit(N) comes back as exit_code N with its output intact."""
    result = rt.run(c_module("exitcode"), Policy(args=[str(code)]))
    assert result.exit_code == code
    assert result.stdout == f"exiting {code}\n".encode()


@pytest.mark.parametrize(("code", "expected"), [(0, 0), (1, 1), (42, 1)])
def test_component_exit_code_is_success_or_failure(
    rt: Runtime, c_component: Build, code: int, expected: int
) -> None:
    """A 0.2 component can only report success or failure, so exit(N>0) becomes 1 (as wasmtime)."""
    result = rt.run(c_component("exitcode"), Policy(args=[str(code)]))
    assert result.exit_code == expected
    assert result.stdout == f"exiting {code}\n".encode()


def test_run_result_check_raises_guest_exit(rt: Runtime, c_module: Build) -> None:
    """RunResult.check() raises GuestExit carrying the non-zero code."""
    from omniwasm import GuestExit

    result = rt.run(c_module("exitcode"), Policy(args=["5"]))
    with pytest.raises(GuestExit) as info:
        result.check()
    assert info.value.code == 5


def test_preopened_dir_read_and_write(
    data_dir: DataDir, rt: Runtime, build: Build, tmp_path: Path
) -> None:
    """A writable preopen lets the guest read existing files and create new ones on the host."""
    data = data_dir("input data")
    result = rt.run(build("files"), Policy(dirs=[Mount(str(data), "/data")], args=["/data"]))
    assert result.stdout == b"read: input data\nwrite ok\n"
    assert result.exit_code == 0
    assert (data / "out.txt").read_text() == "written by wasm"


def test_preopen_string_form(
    data_dir: DataDir, rt: Runtime, c_module: Build, tmp_path: Path
) -> None:
    """The 'HOST::GUEST' string form mounts HOST at GUEST."""
    data = data_dir("input data")
    result = rt.run(c_module("files"), Policy(dirs=[f"{data}::/mnt/x"], args=["/mnt/x"]))
    assert result.exit_code == 0
    assert (data / "out.txt").exists()


def test_read_only_dir_refuses_writes(
    data_dir: DataDir, rt: Runtime, build: Build, tmp_path: Path
) -> None:
    """A read-only preopen can be read, but writes fail in the guest and leave the host as is."""
    data = data_dir("input data")
    policy = Policy(dirs=[f"{data}::/data:ro"], args=["/data"])
    result = rt.run(build("files"), policy)
    lines = result.stdout.decode().splitlines()
    assert lines[0] == "read: input data"
    assert lines[1].startswith("write failed:")
    assert result.exit_code == 1
    assert not (data / "out.txt").exists()


def test_no_preopen_means_no_files(
    data_dir: DataDir, rt: Runtime, c_module: Build, tmp_path: Path
) -> None:
    """Without a preopen the guest cannot read a host file even by its real absolute path."""
    data = data_dir("input data")
    result = rt.run(c_module("files"), Policy(args=[str(data)]))
    assert result.stdout.startswith(b"read failed:")
    assert result.exit_code == 1


def _escape_setup(tmp_path: Path) -> tuple[Path, Path, list[str]]:
    sandbox = tmp_path / "sandbox"
    sandbox.mkdir()
    (sandbox / "ok.txt").write_text("inside")
    (tmp_path / "secret.txt").write_text("SECRET")
    (sandbox / "link").symlink_to(tmp_path / "secret.txt")
    (sandbox / "dirlink").symlink_to(tmp_path)
    paths = [
        "/data/ok.txt",
        "/data/../secret.txt",
        "/data/../sandbox/ok.txt",
        str(tmp_path / "secret.txt"),
        "/secret.txt",
        "/data/link",
        "/data/dirlink/secret.txt",
    ]
    return sandbox, tmp_path / "secret.txt", paths


def test_escapes_from_preopen_are_refused(rt: Runtime, build: Build, tmp_path: Path) -> None:
    """`../`, absolute host paths and symlinks pointing out of a preopen are all refused."""
    sandbox, _, paths = _escape_setup(tmp_path)
    result = rt.run(build("escape"), Policy(dirs=[Mount(str(sandbox), "/data")], args=paths))
    out = result.stdout.decode()
    assert "/data/ok.txt: opened: inside" in out
    assert "SECRET" not in out
    lines = out.splitlines()
    assert len(lines) == len(paths)
    assert all(": refused: " in line for line in lines[1:]), out
