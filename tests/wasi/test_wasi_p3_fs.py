"""wasi:filesystem 0.3 and the terminal interfaces, with a componentize-py 0.25 WASI 0.3 guest.

The guest (``tests/fixtures/python/p3fs``) works in its first preopened directory: it writes,
appends and reads a file through streams, lists the directory, renames, removes, and prints
the error codes of a missing file, of a path that leaves the directory and of a write through
a read-only descriptor, then whether stdout is a terminal. ``omniwasm run`` on a host
directory, the Python API on a :class:`~omniwasm.wasi.fs.MemoryFs` and ``wasmtime run``
49 print the same lines.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

import omniwasm
from fixtures.bounded import bounded_call
from omniwasm.wasi import p3
from omniwasm.wasi.fs import MemoryFs

LIMIT = 300.0  # a fresh process compiles the guest's 18 MB of core modules
FLAGS = ["run", "-Sp3", "-W", "component-model-async=y"]
EXPECTED = """\
preopen: /data
write: ok
append: ok
read: b'hello, wasi 0.3\\nwasi 0.3\\nwasi 0.3\\n' Ok(value=None)
tail: b'wasi 0.3'
stat: RegularFile 34
list: [('hello.txt', 'RegularFile'), ('readonly.txt', 'RegularFile'), ('sub', 'Directory')] \
Ok(value=None)
stat-at: 34
rmdir-full: NotEmpty
missing: NoEntry
escape: NotPermitted
write-readonly: BadDescriptor
terminal: False
"""


@pytest.fixture(scope="module")
def guest(py_guest: Callable[[str], Path]) -> Path:
    """The guest, built with componentize-py (cached by source hash)."""
    return py_guest("p3fs")


def _workdir(tmp_path: Path) -> Path:
    work = tmp_path / "data"
    work.mkdir()
    (work / "readonly.txt").write_bytes(b"ro\n")
    (tmp_path / "outside.txt").write_bytes(b"secret\n")
    return work


def _run(cmd: list[str]) -> tuple[int, str]:
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=LIMIT, check=False)
    return run.returncode, run.stdout


def test_omniwasm_run_on_a_host_directory(
    omniwasm_cli: list[str], guest: Path, tmp_path: Path
) -> None:
    """``omniwasm run --dir`` gives the guest a confined host directory through 0.3's API."""
    work = _workdir(tmp_path)
    assert _run([*omniwasm_cli, *FLAGS, "--dir", f"{work}::/data", str(guest)]) == (0, EXPECTED)
    assert sorted(p.name for p in work.iterdir()) == ["readonly.txt"]
    assert (tmp_path / "outside.txt").read_bytes() == b"secret\n"


@pytest.mark.reference
def test_wasmtime_prints_the_same(reference_wasmtime: str, guest: Path, tmp_path: Path) -> None:
    """wasmtime 49 prints the same for the same directory (what the tests here expect)."""
    work = _workdir(tmp_path)
    assert _run([reference_wasmtime, *FLAGS, "--dir", f"{work}::/data", str(guest)]) == (
        0,
        EXPECTED,
    )


def test_memory_filesystem_through_the_python_api(guest: Path) -> None:
    """``p3.run`` with a MemoryFs: the same output, and the tree as the guest left it."""
    fs = MemoryFs({"readonly.txt": b"ro\n"})

    def run() -> omniwasm.RunResult:
        return p3.run(omniwasm.Runtime(), guest, filesystems={"/data": fs})

    result = bounded_call(run, limit=LIMIT)
    assert (result.exit_code, result.stdout.decode()) == (0, EXPECTED)
    assert fs.files() == {"/readonly.txt": b"ro\n"}


def test_read_only_directory_refuses_the_first_write(guest: Path) -> None:
    """A read-only MemoryFs refuses ``open-at`` with ``create``: the guest fails there."""
    fs = MemoryFs({"readonly.txt": b"ro\n"}, read_only=True)

    def run() -> omniwasm.RunResult:
        return p3.run(omniwasm.Runtime(), guest, filesystems={"/data": fs})

    result = bounded_call(run, limit=LIMIT)
    assert result.exit_code != 0
    assert result.stdout.decode() == "preopen: /data\n"
    assert fs.files() == {"/readonly.txt": b"ro\n"}
