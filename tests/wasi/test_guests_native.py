"""WASI 0.2 command guests (``tests/fixtures/wasi/``) behave as the WASI spec and native say.

Every test runs under each WASI host in ``MODES`` through ``run_guest``: ``"native"``
(wasmtime's WASI, through ``Runtime.run``) and ``"virtual"`` (omniwasm's Python WASI host),
which must give the same stdout and exit codes. Where the reference ``wasmtime`` CLI is
installed, the deterministic guests (cli, fs, sockets_denied, http_get) are also compared with
``wasmtime run``.

Recorded native behaviour (wasmtime 50 through omniwasm, default deny policy):
- sockets: ``create-tcp-socket`` and ``create-udp-socket`` fail with ``access-denied``,
  ``resolve-addresses`` with ``permanent-resolver-failure`` (name lookup is not an
  access-checked call in the spec); ``Policy(network=True)`` changes nothing yet;
- preopens: a read-only mount refuses every write with ``EPERM``; ``..`` out of a preopen, a
  symlink pointing out (host-made or guest-made) and creating a link with an absolute target
  give ``EPERM``; an absolute path outside every preopen gives ``ENOENT``; a guest may create a
  symlink whose target is ``../secret.txt`` but cannot open through it;
- exit codes: a 0.2 command only reports success or failure, so ``exit(7)`` gives 1;
- HTTP: native WASI links no ``wasi:http``, so the ``http_get`` guest fails with ``LinkError``
  and the HTTP tests run under the hosts that have it (``HTTP_MODES``); their expected outputs
  are checked against ``wasmtime run -S http`` and a real server on 127.0.0.1.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from fixtures.wasi_guests import HTTP_PATHS, FsLayout, HttpOrigin
from omniwasm import LinkError, Policy, RunResult, Runtime, wasi

MODES = ["native", "virtual"]
HTTP_MODES = ["virtual"]  # native WASI links no wasi:http (test_http_is_not_linked_by_native_wasi)

Guest = Callable[[str], Path]
Layout = Callable[[str], FsLayout]


def run_guest(
    mode: str, path: Path, policy: Policy | None = None, *, argv0: str | None = None
) -> RunResult:
    """Run the command component at ``path`` under the WASI host named by ``mode``."""
    if mode == "native":
        return Runtime().run(path, policy, argv0=argv0)
    if mode == "virtual":
        return wasi.run(Runtime(), path, policy, argv0=argv0)
    raise ValueError(f"unknown WASI mode {mode!r}")


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest) -> str:
    """The WASI host a test runs its guests under."""
    return str(request.param)


def _wasmtime_run(
    exe: str, path: Path, args: list[str], *, flags: tuple[str, ...] = (), stdin: bytes = b""
) -> subprocess.CompletedProcess[bytes]:
    cmd = [exe, "run", *flags, str(path), *args]
    return subprocess.run(cmd, input=stdin, capture_output=True, check=False, timeout=60)


def _keyed(stdout: bytes) -> dict[str, str]:
    """Lines ``key: value`` as a dict (the clocks and random guests print only those)."""
    return dict(line.split(": ", 1) for line in stdout.decode().splitlines())


# ---- cli ----------------------------------------------------------------------------------


def test_cli_args_env_and_stdin(mode: str, wasi_guest: Guest) -> None:
    """argv, the policy's environment (sorted) and binary stdin reach the guest verbatim."""
    policy = Policy(
        args=["one", "two words", ""], env={"B": "2", "A": "x = y"}, stdin=b"line\n\x00bin"
    )
    result = run_guest(mode, wasi_guest("cli"), policy, argv0="cli")
    assert result.stdout == (
        b"argc=4\nargv[0]=cli\nargv[1]=one\nargv[2]=two words\nargv[3]=\n"
        b"env A=x = y\nenv B=2\nenv count=2\ngetenv CLI_MISSING=(unset)\n"
        b"stdin bytes=9\nline\n\x00bin\n"
    )
    assert result.stderr == b"stderr: exiting 0\n"
    assert result.exit_code == 0


def test_cli_default_policy_gives_nothing(mode: str, wasi_guest: Guest) -> None:
    """A default policy gives no arguments, no environment and an empty stdin (no hang)."""
    result = run_guest(mode, wasi_guest("cli"), argv0="cli")
    assert result.stdout == (
        b"argc=1\nargv[0]=cli\nenv count=0\ngetenv CLI_MISSING=(unset)\nstdin bytes=0\n\n"
    )
    assert result.exit_code == 0


@pytest.mark.parametrize(("code", "expected"), [(0, 0), (1, 1), (7, 1), (255, 1)])
def test_cli_exit_code_is_success_or_failure(
    mode: str, wasi_guest: Guest, code: int, expected: int
) -> None:
    """exit(N) from a 0.2 command gives exit code 0 or 1, with stdout and stderr kept."""
    result = run_guest(mode, wasi_guest("cli"), Policy(args=[f"exit={code}"]))
    assert result.exit_code == expected
    assert result.stderr == f"stderr: exiting {code}\n".encode()
    assert b"stdin bytes=0\n" in result.stdout


@pytest.mark.reference
@pytest.mark.parametrize("exit_arg", ["exit=0", "exit=3"])
def test_cli_matches_wasmtime_run(
    mode: str, wasi_guest: Guest, reference_wasmtime: str, exit_arg: str
) -> None:
    """stdout and exit code equal those of `wasmtime run` for the same args, env and stdin."""
    path, stdin = wasi_guest("cli"), b"from stdin\n"
    args = ["a", "b c", exit_arg]
    flags = ("--argv0", "cli", "--env", "K=V", "--env", "EMPTY=")
    ref = _wasmtime_run(reference_wasmtime, path, args, flags=flags, stdin=stdin)
    policy = Policy(args=args, env={"K": "V", "EMPTY": ""}, stdin=stdin)
    ours = run_guest(mode, path, policy, argv0="cli")
    assert ours.stdout == ref.stdout
    assert ours.exit_code == ref.returncode, ref.stderr


# ---- clocks and random --------------------------------------------------------------------

CLOCK_KEYS = [
    "wall",
    "wall_after_2020",
    "time_matches_wall",
    "monotonic_ns",
    "res_realtime_ns",
    "res_monotonic_ns",
    *(
        f"{s}{k}"
        for s in ("nanosleep", "clock_nanosleep", "abstime")
        for k in ("", "_ms", "_enough")
    ),
    "monotonic_increasing",
]


def test_clocks_read_and_sleep(mode: str, wasi_guest: Guest) -> None:
    """Both clocks read sanely, and relative and absolute sleeps last at least as asked."""
    result = run_guest(mode, wasi_guest("clocks"), Policy(args=["15"]))
    assert result.exit_code == 0
    values = _keyed(result.stdout)
    assert list(values) == CLOCK_KEYS
    assert re.fullmatch(r"\d+\.\d{9}", values["wall"])
    assert values["wall_after_2020"] == values["time_matches_wall"] == "yes"
    assert 0 < int(values["res_realtime_ns"]) <= 1_000_000_000
    assert 0 < int(values["res_monotonic_ns"]) <= 1_000_000_000
    for sleep in ("nanosleep", "clock_nanosleep", "abstime"):
        assert values[sleep] == "ok"
        assert values[f"{sleep}_enough"] == "yes"
        assert int(values[f"{sleep}_ms"]) >= 15
    assert values["monotonic_increasing"] == "yes"


@pytest.mark.parametrize("count", [0, 1, 16, 256])
def test_random_bytes(mode: str, wasi_guest: Guest, count: int) -> None:
    """getentropy and arc4random return the number of bytes asked for, and they differ.

    Distinctness is asserted from 16 bytes up: two random single bytes are equal
    one time in 256, which made the count=1 case fail now and then in CI.
    """
    result = run_guest(mode, wasi_guest("random"), Policy(args=[str(count)]))
    assert result.exit_code == 0
    values = _keyed(result.stdout)
    assert list(values) == ["getentropy", "arc4random", "rand", "distinct"]
    assert re.fullmatch(f"[0-9a-f]{{{2 * count}}}", values["getentropy"])
    assert re.fullmatch(f"[0-9a-f]{{{2 * count}}}", values["arc4random"])
    assert re.fullmatch(r"\d+ \d+ \d+", values["rand"])
    if count == 0 or count >= 16:
        assert values["distinct"] == "yes"


def test_random_differs_between_runs(mode: str, wasi_guest: Guest) -> None:
    """Two runs of a non-deterministic host draw different random bytes."""
    runs = [run_guest(mode, wasi_guest("random"), Policy(args=["16"])) for _ in range(2)]
    first, second = (_keyed(r.stdout)["getentropy"] for r in runs)
    assert first != second


# ---- filesystem ---------------------------------------------------------------------------

FS_STEPS = [
    "mkdir: ok",
    "create: ok",
    "create_excl: error File exists [EEXIST]",
    "read: ok",
    r"read = hello\x0a",
    "append: ok",
    "read_appended: ok",
    r"read_appended = hello\x0aworld\x0a",
    "stat: ok",
    "stat = file 12",
    "rename: ok",
    "stat_old: error No such file or directory [ENOENT]",
    "stat_new: ok",
    "stat_new = file 12",
    "open_rw: ok",
    "ftruncate: ok",
    "stat_truncated: ok",
    "stat_truncated = file 3",
    "ftruncate_extend: ok",
    "pread: ok",
    r"pread = hel\x00\x00",
    "pwrite: ok",
    "read_pwritten: ok",
    "read_pwritten = hello",
    "mkdir_sub: ok",
    "populate: ok",
    "readdir: ok",
    "readdir = b.txt:file m.txt:file sub:dir z.txt:file",
    "stat_dir: ok",
    "stat_dir = dir 0",
    "rmdir_nonempty: error Directory not empty [ENOTEMPTY]",
    "unlink: ok",
    "rmdir: ok",
    "stat_removed: error No such file or directory [ENOENT]",
    "open_missing: error No such file or directory [ENOENT]",
    "symlink: ok",
    "readlink: ok",
    "readlink = b.txt",
    "read_via_link: ok",
    "read_via_link = hello",
    "readdir_with_link: ok",
    "readdir_with_link = b.txt:file lnk:link m.txt:file z.txt:file",
    "unlink_link: ok",
    "rename_up: ok",
    "cleanup: ok",
    "readdir_root: ok",
    "readdir_root = dirlink:link hostlink:link kept.txt:file",
]

RO_STEPS = [
    "ro_read: ok",
    r"ro_read = read only\x0a",
    "ro_stat: ok",
    "ro_stat = file 10",
    "ro_readdir: ok",
    "ro_readdir = in.txt:file",
    "ro_create: error Operation not permitted [EPERM]",
    "ro_write_existing: error Operation not permitted [EPERM]",
    "ro_truncate: error Operation not permitted [EPERM]",
    "ro_mkdir: error Operation not permitted [EPERM]",
    "ro_rename: error Operation not permitted [EPERM]",
    "ro_unlink: error Operation not permitted [EPERM]",
    "ro_symlink: error Operation not permitted [EPERM]",
    "ro_read_after: ok",
    r"ro_read_after = read only\x0a",
]

ESCAPE_STEPS = [
    "esc_dotdot: error Operation not permitted [EPERM]",
    "inside_mkdir: ok",
    "esc_dotdot_deep: error Operation not permitted [EPERM]",
    "esc_absolute: error No such file or directory [ENOENT]",
    "esc_root: error No such file or directory [ENOENT]",
    "esc_hostlink: error Operation not permitted [EPERM]",
    "esc_dirlink: error Operation not permitted [EPERM]",
    "esc_make_uplink: ok",
    "esc_uplink: error Operation not permitted [EPERM]",
    "esc_make_abslink: error Operation not permitted [EPERM]",
    "esc_abslink: error No such file or directory [ENOENT]",
    "esc_mkdir: error Operation not permitted [EPERM]",
    "esc_create: error Operation not permitted [EPERM]",
    "esc_rename: error Operation not permitted [EPERM]",
    "inside_dotdot: ok",
    "inside_dotdot = hello",
    "inside_dot: ok",
    "inside_dot = hello",
    "inside_rmdir: ok",
]


def _run_fs(mode: str, wasi_guest: Guest, layout: FsLayout) -> list[str]:
    result = run_guest(mode, wasi_guest("fs"), layout.policy())
    assert result.exit_code == 0, result.stderr
    assert b"SECRET" not in result.stdout
    return result.stdout.decode().splitlines()


def test_fs_steps_in_a_writable_preopen(mode: str, wasi_guest: Guest, fs_layout: Layout) -> None:
    """Create, write, append, rename, stat, truncate, readdir, mkdir/rmdir, symlink and unlink work."""
    lines = _run_fs(mode, wasi_guest, fs_layout("fs"))
    assert lines[: len(FS_STEPS)] == FS_STEPS


def test_fs_leaves_the_expected_host_tree(mode: str, wasi_guest: Guest, fs_layout: Layout) -> None:
    """After the run the writable preopen holds only kept.txt (and the test's links); nothing else changed."""
    layout = fs_layout("fs")
    before = layout.snapshot()
    _run_fs(mode, wasi_guest, layout)
    assert layout.snapshot() == {**before, "box/kept.txt": "hello"}


def test_fs_read_only_preopen_refuses_writes(
    mode: str, wasi_guest: Guest, fs_layout: Layout
) -> None:
    """A read-only preopen can be read and listed, and every write to it fails with EPERM."""
    lines = _run_fs(mode, wasi_guest, fs_layout("fs"))
    assert [line for line in lines if line.startswith("ro_")] == RO_STEPS


def test_fs_escapes_are_refused(mode: str, wasi_guest: Guest, fs_layout: Layout) -> None:
    """`..`, absolute paths and symlinks out of the preopen fail, while `..` that stays inside works."""
    lines = _run_fs(mode, wasi_guest, fs_layout("fs"))
    assert lines[len(FS_STEPS) + len(RO_STEPS) :] == ESCAPE_STEPS


@pytest.mark.reference
def test_fs_matches_wasmtime_run(
    mode: str, wasi_guest: Guest, fs_layout: Layout, reference_wasmtime: str
) -> None:
    """stdout, exit code and the resulting host tree equal those of `wasmtime run` (no read-only mount)."""
    path = wasi_guest("fs")
    theirs, ours = fs_layout("ref"), fs_layout("ours")
    ref = _wasmtime_run(
        reference_wasmtime, path, theirs.args(read_only=False), flags=tuple(theirs.wasmtime_flags())
    )
    result = run_guest(mode, path, ours.policy(read_only=False))
    assert result.stdout == ref.stdout
    assert result.exit_code == ref.returncode, ref.stderr
    assert result.stdout.decode().splitlines() == FS_STEPS + ESCAPE_STEPS

    def tree(layout: FsLayout) -> dict[str, str]:
        return {k: v.replace(str(layout.root), "ROOT") for k, v in layout.snapshot().items()}

    assert tree(ours) == tree(theirs)


# ---- sockets ------------------------------------------------------------------------------

SOCKETS_DENIED = (
    b"instance-network: ok\n"
    b"tcp-create: error access-denied\n"
    b"udp-create: error access-denied\n"
    b"resolve: error permanent-resolver-failure\n"
)


def test_sockets_are_denied_by_default(mode: str, wasi_guest: Guest) -> None:
    """Under a deny policy socket creation fails with access-denied and lookups fail: no trap, no hang."""
    result = run_guest(mode, wasi_guest("sockets_denied"))
    assert result.stdout == SOCKETS_DENIED
    assert result.exit_code == 0


@pytest.mark.reference
def test_sockets_match_wasmtime_run(mode: str, wasi_guest: Guest, reference_wasmtime: str) -> None:
    """The socket error codes equal those of `wasmtime run` with its default (denied) network."""
    path = wasi_guest("sockets_denied")
    ref = _wasmtime_run(reference_wasmtime, path, [])
    result = run_guest(mode, path)
    assert result.stdout == ref.stdout == SOCKETS_DENIED
    assert result.exit_code == ref.returncode == 0


# ---- componentize-py command --------------------------------------------------------------


def test_python_command_guest(mode: str, py_cli_guest: Path, fs_layout: Layout) -> None:
    """A CPython command sees its args, env and stdin, sleeps, draws random bytes and works in preopens."""
    layout = fs_layout("py")
    policy = Policy(
        args=["a b", "dir=/data", "ro=/ro"],
        env={"Z": "1", "A": "2"},
        stdin=b"hi\n",
        dirs=layout.policy().dirs,
    )
    result = run_guest(mode, py_cli_guest, policy)
    assert result.stdout.decode().splitlines() == [
        "argv: ['a b', 'dir=/data', 'ro=/ro']",
        "env: A=2",
        "env: Z=1",
        "stdin: 3 b'hi\\n'",
        "wall_after_2020: True",
        "sleep_enough: True",
        "urandom: 16",
        "random_in_range: True",
        "read: 'from python\\nappended\\n'",
        "listdir: ['dirlink', 'hostlink', 'py2.txt', 'sub']",
        "isdir: True",
        "size: 21",
        "escape_dotdot: PermissionError",
        "escape_root: FileNotFoundError",
        "ro_read: 'read only\\n'",
        "ro_create: PermissionError",
    ]
    assert result.stderr == b"to stderr: 0\n"
    assert result.exit_code == 0
    assert (layout.box / "py2.txt").read_text() == "from python\nappended\n"
    assert not (layout.ro / "new.txt").exists()


@pytest.mark.parametrize(
    ("args", "expected"), [(["exit=0"], 0), (["exit=4"], 1), (["hard_exit=3"], 1)]
)
def test_python_command_exit(mode: str, py_cli_guest: Path, args: list[str], expected: int) -> None:
    """A CPython command fails (exit 1) when run returns err or it calls os._exit(N>0)."""
    result = run_guest(mode, py_cli_guest, Policy(args=args))
    assert result.exit_code == expected
    assert b"random_in_range: True\n" in result.stdout


# ---- outgoing HTTP ------------------------------------------------------------------------

TIMEOUT_NS = "200000000"  # 0.2 s, against the origin's 1 s "/slow"


def _http_cases(origin: HttpOrigin) -> dict[str, tuple[list[str], bytes]]:
    """Guest arguments and the stdout `wasmtime run -S http` gives for them."""
    big = HTTP_PATHS["/big"][1]
    return {
        "ok": (
            [origin.authority, "/hello"],
            b"handle: ok\nstatus: 200\nbody: hello over http\n\nbody-bytes: 16\nbody-end: closed\n",
        ),
        "not-found": (
            [origin.authority, "/nope?q=1"],
            b"handle: ok\nstatus: 404\nbody: not found\n\nbody-bytes: 10\nbody-end: closed\n",
        ),
        "no-content": (
            [origin.authority, "/empty"],
            b"handle: ok\nstatus: 204\nbody: \nbody-bytes: 0\nbody-end: closed\n",
        ),
        "big-body": (
            [origin.authority, "/big"],
            b"handle: ok\nstatus: 200\nbody: " + big + b"\nbody-bytes: 102400\nbody-end: closed\n",
        ),
        "refused": (
            [origin.closed, "/hello"],
            b"handle: ok\nresponse: error connection-refused\n",
        ),
        "first-byte-timeout": (
            [origin.authority, "/slow", "http", TIMEOUT_NS],
            b"handle: ok\nresponse: error connection-read-timeout\n",
        ),
        "bad-authority": (
            ["bad host", "/hello"],
            b"set-authority: error\nhandle: error HTTP-request-URI-invalid\n",
        ),
    }


HTTP_CASE_NAMES = [
    "ok",
    "not-found",
    "no-content",
    "big-body",
    "refused",
    "first-byte-timeout",
    "bad-authority",
]


def _allow(args: list[str]) -> Policy:
    return Policy(args=args, network=True, allowed_hosts=(f"http://{args[0]}",))


def test_http_is_not_linked_by_native_wasi(wasi_guest: Guest) -> None:
    """omniwasm's native WASI links no wasi:http, so an outgoing-handler guest fails to link."""
    with pytest.raises(LinkError, match=r"wasi:http/types@0\.2\.0"):
        run_guest("native", wasi_guest("http_get"), Policy(args=["127.0.0.1:9", "/"]))


@pytest.mark.parametrize("mode", HTTP_MODES)
@pytest.mark.parametrize("case", HTTP_CASE_NAMES)
def test_http_get(mode: str, wasi_guest: Guest, http_origin: HttpOrigin, case: str) -> None:
    """An allowed GET to a real server on 127.0.0.1 prints what `wasmtime run -S http` prints."""
    args, expected = _http_cases(http_origin)[case]
    result = run_guest(mode, wasi_guest("http_get"), _allow(args))
    assert result.stdout == expected
    assert result.exit_code == 0


@pytest.mark.parametrize("mode", HTTP_MODES)
@pytest.mark.parametrize(
    "allowed",
    [(), ("http://example.com",), ("https://127.0.0.1:*",)],
    ids=["none", "other", "https"],
)
def test_http_denied(
    mode: str, wasi_guest: Guest, http_origin: HttpOrigin, allowed: tuple[str, ...]
) -> None:
    """A request to a host the policy does not allow is answered with HTTP-request-denied."""
    policy = Policy(args=[http_origin.authority, "/hello"], network=True, allowed_hosts=allowed)
    result = run_guest(mode, wasi_guest("http_get"), policy)
    assert result.stdout == b"handle: error HTTP-request-denied\n"
    assert result.exit_code == 0


@pytest.mark.reference
@pytest.mark.parametrize("case", HTTP_CASE_NAMES)
def test_http_expectations_match_wasmtime_run(
    wasi_guest: Guest, http_origin: HttpOrigin, reference_wasmtime: str, case: str
) -> None:
    """The expected HTTP outputs are what `wasmtime run -S http` prints for the same request."""
    args, expected = _http_cases(http_origin)[case]
    ref = _wasmtime_run(reference_wasmtime, wasi_guest("http_get"), args, flags=("-S", "http"))
    assert ref.stdout == expected
    assert ref.returncode == 0, ref.stderr


@pytest.mark.parametrize("mode", HTTP_MODES)
def test_http_usage_without_arguments_fails(mode: str, wasi_guest: Guest) -> None:
    """Without arguments the guest prints its usage and run returns err (exit code 1)."""
    result = run_guest(mode, wasi_guest("http_get"))
    assert result.stdout == b"usage: http_get AUTHORITY PATH [SCHEME [TIMEOUT]]\n"
    assert result.exit_code == 1
