"""`--dir` mistakes each get their own message: extra '::', unknown modes, files, missing paths."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from omniwasm import Mount, PolicyError

Build = Callable[[str], Path]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("a::b::c", "more than one '::'"),
        ("/data::/g:rw", "unknown mode ':rw'"),
        ("./nope:rx", "unknown mode ':rx'"),
        ("/data::", "the guest path after '::' is empty"),
        ("::/g", "needs a host directory"),
    ],
)
def test_malformed_dir_specs_are_refused(spec: str, message: str) -> None:
    """Each malformed HOST[::GUEST][:ro] is a PolicyError naming what is wrong."""
    with pytest.raises(PolicyError, match=message):
        Mount.parse(spec)


def test_good_dir_specs_still_parse(tmp_path: Path) -> None:
    """HOST, HOST::GUEST, :ro, and a directory whose name has a colon all parse."""
    assert Mount.parse("/a::/g:ro") == Mount("/a", "/g", True)
    odd = tmp_path / "data:rx"
    odd.mkdir()
    assert Mount.parse(str(odd)) == Mount(str(odd), str(odd), False)


def test_problem_tells_a_file_from_a_missing_path(tmp_path: Path) -> None:
    """Mount.problem() says 'is a file' for a file and 'not found' for nothing there."""
    (tmp_path / "f.txt").write_text("x")
    assert Mount(str(tmp_path), "/d").problem() is None
    assert "is a file, not a directory" in str(Mount(str(tmp_path / "f.txt"), "/d").problem())
    assert "not found" in str(Mount(str(tmp_path / "gone"), "/d").problem())


@pytest.mark.parametrize(
    "case",
    [
        (lambda d: f"{d / 'f.txt'}::/data", "is a file, not a directory"),
        (lambda d: f"{d / 'data'}:rx", "unknown mode ':rx'"),
        (lambda d: f"{d / 'data'}::/data:rw", "unknown mode ':rw'"),
        (lambda d: f"{d / 'data'}::/a::/b", "more than one '::'"),
        (lambda d: f"{d / 'missing'}", "not found"),
    ],
)
def test_cli_dir_messages(
    omniwasm_cli: list[str],
    c_module: Build,
    c_component: Build,
    tmp_path: Path,
    case: tuple[Callable[[Path], str], str],
) -> None:
    """`run --dir` with each mistake exits 78 with its own message, for modules and components."""
    make, message = case
    (tmp_path / "f.txt").write_text("x")
    (tmp_path / "data").mkdir()
    for guest in (c_module("hello"), c_component("hello")):
        proc = subprocess.run(
            [*omniwasm_cli, "run", "--dir", make(tmp_path), str(guest)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert proc.returncode == 78, proc.stderr
        assert message in proc.stderr
